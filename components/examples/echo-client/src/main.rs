//! The echo client: connects to `examples.echo.Echo` through its `/svc`
//! (the component manager routes the connection to whichever component its
//! manifest's parent offers it from, starting that component if needed),
//! makes 1,000 calls with the generated client, and reports.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use zx_idl::ChannelTransport;
use zx_runtime::println;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use bindings::examples_echo::{EchoClient, EchoEchoStringRequest, EchoMarker};

zx_runtime::entry!(main);

const CALLS: u32 = 1000;

fn main() -> i64 {
    let name = EchoMarker::DISCOVERABLE_NAME.unwrap_or("examples.echo.Echo");
    let channel = match zx_component::connect(name) {
        Ok(channel) => channel,
        Err(status) => {
            println!("echo-client: cannot connect to {}: {}", name, status);
            return 1;
        }
    };
    let echo = EchoClient::new(ChannelTransport::new(channel));
    let start = zx::clock_get_monotonic().into_nanos();
    for i in 0..CALLS {
        let value = alloc::format!("hello {i}");
        match echo.echo_string(EchoEchoStringRequest {
            value: value.clone(),
        }) {
            Ok(reply) if reply.response == value => {}
            Ok(reply) => {
                println!("echo-client: call {} came back as {:?}", i, reply.response);
                return 1;
            }
            Err(error) => {
                println!("echo-client: call {} failed: {:?}", i, error);
                return 1;
            }
        }
    }
    let micros = (zx::clock_get_monotonic().into_nanos() - start) / 1000;
    println!("echo-client: {} calls answered in {} us", CALLS, micros);
    zx_component::log(&alloc::format!(
        "echo-client: {CALLS} calls answered in {micros} us"
    ));

    // Something the manifest does not `use` cannot be reached: the
    // component manager closes the request.
    if let Ok(channel) = zx_component::connect("zx.io.Directory") {
        let closed = zx::AsHandleRef::wait_one(
            &channel,
            zx::Signals::PEER_CLOSED,
            zx::deadline_after(1_000_000_000),
        );
        if closed.is_ok() {
            println!("echo-client: zx.io.Directory is not routed to me: refused");
        } else {
            println!("echo-client: an unrouted protocol stayed open");
            return 1;
        }
    }
    0
}
