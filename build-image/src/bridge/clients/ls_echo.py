"""A host client of a running system, through the bridge and the Python
SDK (`build-image sdk`): lists the components, then calls
examples.echo.Echo CALLS times, checking every reply; every 100th call
asks for three `OnEcho` events first (`EchoEvents`), which are taken
after the call, and at the end for more than `MAX_EVENTS`: each event's
payload and order is checked.

    PYTHONPATH=<sdk>/python python3 ls_echo.py <bridge socket> [CALLS]

The bridge system test (`bridge.python_and_c_clients`) runs it.
"""

import sys

from zircon_like_idl import Bridge, examples_echo as echo


def main() -> int:
    socket = sys.argv[1]
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    with Bridge(socket) as system:
        for component in system.list_components():
            print(f"component {component.moniker} {component.state.name} {component.binary}")
        client = echo.EchoClient(system.connect("root/echo_server", echo.Echo))
        received = 0
        for i in range(calls):
            value = f"python call {i}"
            asked = f"python events {i}"
            if i % 100 == 50:
                sent = client.echo_events(value=asked, count=3).sent
                if sent != 3:
                    print(f"call {i}: {sent} events sent, not 3")
                    return 1
            reply = client.echo_string(value=value)
            if reply.response != value:
                print(f"call {i}: echoed {reply.response!r}, not {value!r}")
                return 1
            if i % 100 == 50:
                # The events came before both replies and waited.
                if not take_events(client, asked, 3):
                    return 1
                received += 3
        print(f"python: {calls} calls answered, every reply correct")
        sent = client.echo_events(value="python last", count=echo.MAX_EVENTS + 4).sent
        if sent != echo.MAX_EVENTS or not take_events(client, "python last", sent):
            print(f"python: {sent} events sent, not {echo.MAX_EVENTS}")
            return 1
        received += sent
        print(f"python: {received} events received in order, every payload correct")
    return 0


def take_events(client: echo.EchoClient, value: str, count: int) -> bool:
    """Takes `count` events and checks they are `OnEcho(value, 0..count)`."""
    for index in range(count):
        event = client.next_event()
        if event.name != "OnEcho" or event.payload != echo.EchoOnEchoRequest(value=value, index=index):
            print(f"python: event {index} of {value!r}: {event}")
            return False
    return True


if __name__ == "__main__":
    sys.exit(main())
