/* A host client of a running system, through the bridge and the C SDK
 * (`build-image sdk`): lists the components, then calls
 * examples.echo.Echo CALLS times, checking every reply; every 100th call
 * asks for three `OnEcho` events first (`EchoEvents`), which are taken
 * after the call, and at the end for more than `MAX_EVENTS`: each event's
 * payload and order is checked.
 *
 *   make -C <sdk>/c && cc -std=c11 -I <sdk>/c ls_echo.c <sdk>/c/libidl.a -o ls_echo
 *   ./ls_echo <bridge socket> [CALLS]
 *
 * The bridge system test (`bridge.python_and_c_clients`) runs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "examples_echo.h"
#include "idl_bridge.h"
#include "zx_host.h"

/* Messages and what decoding places beside them. */
static uint8_t buffer[IDL_BRIDGE_MAX_PAYLOAD];
static uint64_t arena[16384];

static int fail(const char *what, idl_status_t status) {
  fprintf(stderr, "c: %s: %s\n", what, idl_status_name(status));
  return 1;
}

static idl_string_t text(const char *s) {
  idl_string_t string = {s, strlen(s)};
  return string;
}

static int same(idl_string_t string, const char *s) {
  return string.size == strlen(s) && memcmp(string.data, s, string.size) == 0;
}

/* Asks for `count` OnEcho events carrying `value`; 0 when `expected` were sent. */
static int ask_events(const idl_transport_t *echo, const char *value, uint32_t count,
                      uint32_t expected) {
  examples_echo_EchoEchoEventsRequest request = {text(value), count};
  examples_echo_EchoEchoEventsResult result;
  idl_status_t status = examples_echo_Echo_EchoEvents_call(echo, &request, buffer, sizeof buffer,
                                                           arena, sizeof arena, &result);
  if (status != IDL_OK) return fail("EchoEvents", status);
  if (result.tag != examples_echo_EchoEchoEventsResult_TAG_response ||
      result.response.sent != expected) {
    fprintf(stderr, "c: EchoEvents(%s, %u): not %u sent\n", value, (unsigned)count,
            (unsigned)expected);
    return 1;
  }
  return 0;
}

/* Takes `count` events; 0 when they are OnEcho(value, 0..count), in order. */
static int take_events(const idl_transport_t *echo, const char *value, uint32_t count) {
  for (uint32_t index = 0; index < count; index++) {
    examples_echo_Echo_event event;
    idl_status_t status =
        examples_echo_Echo_next_event(echo, buffer, sizeof buffer, arena, sizeof arena, &event);
    if (status != IDL_OK) return fail("next_event", status);
    if (event.ordinal != examples_echo_Echo_OnEcho_ORDINAL ||
        !same(event.payload.OnEcho.value, value) || event.payload.OnEcho.index != index) {
      fprintf(stderr, "c: event %u of %s: ordinal %llx\n", (unsigned)index, value,
              (unsigned long long)event.ordinal);
      return 1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s <bridge socket> [calls]\n", argv[0]);
    return 2;
  }
  int calls = argc > 2 ? atoi(argv[2]) : 1000;
  idl_bridge_t *bridge = malloc(sizeof *bridge);
  if (bridge == NULL) return 1;
  idl_status_t status = idl_bridge_open(bridge, argv[1]);
  if (status != IDL_OK) return fail("open", status);
  idl_bridge_channel_t control;
  idl_bridge_channel(bridge, 0, &control);

  zx_host_RemoteControlHelloRequest hello = {zx_host_PROTOCOL_VERSION};
  zx_host_RemoteControlHelloResponse welcome;
  status = zx_host_RemoteControl_Hello_call(&control.transport, &hello, buffer, sizeof buffer,
                                            arena, sizeof arena, &welcome);
  if (status != IDL_OK) return fail("Hello", status);

  zx_host_RemoteControlListComponentsResponse list;
  status = zx_host_RemoteControl_ListComponents_call(&control.transport, buffer, sizeof buffer,
                                                     arena, sizeof arena, &list);
  if (status != IDL_OK) return fail("ListComponents", status);
  const zx_host_ComponentInfo *components = list.components.data;
  for (uint64_t i = 0; i < list.components.count; i++) {
    printf("component %.*s %u %.*s\n", (int)components[i].moniker.size,
           components[i].moniker.data, (unsigned)components[i].state,
           (int)components[i].binary.size, components[i].binary.data);
  }

  zx_host_RemoteControlConnectRequest connect = {
      text("root/echo_server"), text(examples_echo_Echo_NAME), 1};
  zx_host_RemoteControlConnectResult connected;
  status = zx_host_RemoteControl_Connect_call(&control.transport, &connect, buffer, sizeof buffer,
                                              arena, sizeof arena, &connected);
  if (status != IDL_OK) return fail("Connect", status);
  if (connected.tag != zx_host_RemoteControlConnectResult_TAG_response) {
    fprintf(stderr, "c: Connect refused: status %d\n", (int)connected.err);
    return 1;
  }
  idl_bridge_channel_t echo;
  idl_bridge_channel(bridge, 1, &echo);
  char value[64];
  char asked[64];
  unsigned received = 0;
  for (int i = 0; i < calls; i++) {
    snprintf(value, sizeof value, "c call %d", i);
    snprintf(asked, sizeof asked, "c events %d", i);
    if (i % 100 == 50 && ask_events(&echo.transport, asked, 3, 3) != 0) return 1;
    examples_echo_EchoEchoStringRequest request = {text(value)};
    examples_echo_EchoEchoStringResponse reply;
    status = examples_echo_Echo_EchoString_call(&echo.transport, &request, buffer, sizeof buffer,
                                                arena, sizeof arena, &reply);
    if (status != IDL_OK) return fail("EchoString", status);
    if (reply.response.size != strlen(value) ||
        memcmp(reply.response.data, value, reply.response.size) != 0) {
      fprintf(stderr, "c: call %d: echoed %.*s\n", i, (int)reply.response.size,
              reply.response.data);
      return 1;
    }
    if (i % 100 == 50) {
      /* The events came before both replies and waited. */
      if (take_events(&echo.transport, asked, 3) != 0) return 1;
      received += 3;
    }
  }
  printf("c: %d calls answered, every reply correct\n", calls);
  if (ask_events(&echo.transport, "c last", examples_echo_MAX_EVENTS + 4,
                 examples_echo_MAX_EVENTS) != 0 ||
      take_events(&echo.transport, "c last", examples_echo_MAX_EVENTS) != 0)
    return 1;
  received += examples_echo_MAX_EVENTS;
  printf("c: %u events received in order, every payload correct (%llu dropped)\n", received,
         (unsigned long long)bridge->events_dropped);
  idl_bridge_close(bridge);
  free(bridge);
  return 0;
}
