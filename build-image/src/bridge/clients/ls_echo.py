"""A host client of a running system, through the bridge and the Python
SDK (`build-image sdk`): lists the components, then calls
examples.echo.Echo CALLS times, checking every reply.

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
        for i in range(calls):
            value = f"python call {i}"
            reply = client.echo_string(value=value)
            if reply.response != value:
                print(f"call {i}: echoed {reply.response!r}, not {value!r}")
                return 1
        print(f"python: {calls} calls answered, every reply correct")
    return 0


if __name__ == "__main__":
    sys.exit(main())
