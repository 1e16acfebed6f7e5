//! Version 2 of the echo server, for the hot-swap tests (docs/hot-swap.md).
//!
//! It serves `examples.echo.Echo` as declared in `idl/echo_v2.idl`: the
//! same `EchoString` as version 1, plus `Calls`, and a state with one more
//! field than version 1's (the last string echoed). Swapped in for a
//! version 1 server, it reads its state (the new field empty) and goes on
//! counting.
//!
//! With an argument it is the failing "version 3" of the tests
//! (`manifests/components/echo_server_v3*.json5`): `crash-on-start` ends
//! before it is handed anything; `crash-after-takeover` ends right after
//! it took the endpoints and the state; `crash-after-pause` 300 ms after
//! it took them; `crash-on-request` serves, and ends when asked to echo
//! [`CRASH`], before answering. Either way the swap is rolled back. With
//! `exit-after-handover` it is a version 2 that exits as soon as it has
//! handed over (an old version that ends in the new one's grace period).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use zx_component::serve::Server;
use zx_runtime::println;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use bindings::examples_echo_v2::{
    dispatch_echo, EchoCallsResponse, EchoEchoStringRequest, EchoEchoStringResponse, EchoMarker,
    EchoServer, EchoState,
};

zx_runtime::entry!(main);

/// With `crash-on-request`: ends the server, unanswered.
const CRASH: &str = "crash now";

/// Echoing, counting and remembering what was echoed.
struct Echo<'a> {
    state: &'a mut EchoState,
    /// `crash-on-request`.
    on_request: bool,
}

impl EchoServer for Echo<'_> {
    fn echo_string(&mut self, request: EchoEchoStringRequest) -> EchoEchoStringResponse {
        if self.on_request && request.value == CRASH {
            panic!(
                "echo-server-v3: crashing on request at {} calls (as the test asks)",
                self.state.calls.unwrap_or(0)
            );
        }
        self.state.calls = Some(self.state.calls.unwrap_or(0) + 1);
        self.state.last = Some(request.value.clone());
        EchoEchoStringResponse {
            response: request.value,
        }
    }

    fn calls(&mut self) -> EchoCallsResponse {
        EchoCallsResponse {
            calls: self.state.calls.unwrap_or(0),
        }
    }
}

fn main() -> i64 {
    let crash: Option<&str> = zx_runtime::args().get(1).map(String::as_str);
    if crash == Some("crash-on-start") {
        panic!("echo-server-v3: crashing during start-up (as the test asks)");
    }
    let on_request = crash == Some("crash-on-request");
    Server::new(
        EchoMarker::DISCOVERABLE_NAME.unwrap_or_default(),
        move |state: &mut EchoState, request| {
            dispatch_echo(&mut Echo { state, on_request }, request)
        },
    )
    .on_takeover(move |state| {
        if crash == Some("crash-after-pause") {
            let _ = zx::nanosleep(zx::deadline_after(300_000_000));
            panic!(
                "echo-server-v3: crashing 300 ms after taking over at {} calls (as the test asks)",
                state.calls.unwrap_or(0)
            );
        }
        if crash == Some("crash-after-takeover") {
            panic!(
                "echo-server-v3: crashing right after taking over at {} calls (as the test asks)",
                state.calls.unwrap_or(0)
            );
        }
        // `last` is version 2's field: after a stint of version 1 it is
        // still here (version 1 kept it as an unknown field of its state).
        let message = format!(
            "echo-server-v2: serving, {} calls so far, last echoed {:?}",
            state.calls.unwrap_or(0),
            state.last.as_deref().unwrap_or("")
        );
        println!("{}", message);
        zx_component::log(&message);
    })
    .on_handover(move || {
        if crash == Some("exit-after-handover") {
            println!("echo-server-v2: handed over, exiting (as the test asks)");
            zx::process_exit(9);
        }
    })
    .on_stop(|reason, state| {
        println!(
            "echo-server-v2: stopping ({:?}) after {} calls",
            reason,
            state.calls.unwrap_or(0)
        );
    })
    .run()
}
