//! The hot-swap system test (docs/hot-swap.md), run as two components of
//! the `swap-tests` product:
//!
//! - `swaptest client` calls `examples.echo.Echo` (version 1's bindings) at
//!   a steady rate until it is asked to stop, checks every reply, and
//!   reports how many calls it made, how many replies were wrong, and the
//!   longest time between two replies (guest time). A failed call (a
//!   closed channel) ends it at once with the failure.
//! - `swaptest driver` swaps the echo server under it through the
//!   component manager's `SwapController`: one refused swap to the
//!   incompatible version 4, 100 swaps alternating between versions 1 and 2
//!   (each to a new process; version 2 adds the flexible `Calls` and a
//!   state field, version 1 answers `Calls` as unknown and keeps the field),
//!   and 5 swaps to a failing version 3 among them (rolled back). Then it
//!   stops the client, calls `Calls` on version 1 (`UNKNOWN_METHOD`, the
//!   channel stays open), swaps once more to version 2, asks it how many
//!   calls were counted over all the versions, and shuts the machine down.
//!   The test compares the counts.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use idlc_runtime::client::ClientError;
use zx_idl::ChannelTransport;
use zx_runtime::println;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use bindings::examples_echo::{EchoClient, EchoEchoStringRequest, EchoMarker};
use bindings::examples_echo_v2::EchoClient as EchoV2Client;
use bindings::zx_component::{RealmClient, RealmShutdownRequest, RealmStopRequest};
use bindings::zx_component_swap::{Outcome, SwapControllerClient, SwapControllerSwapRequest};

zx_runtime::entry!(main);

mod bench;
mod grace;
mod race;
mod spam;

/// Pause between two calls of the client.
const CALL_INTERVAL_NANOS: i64 = 200_000;
/// Swaps alternating between versions 1 and 2 (1 → 2, 2 → 1, ...; the
/// last one back to version 1).
const SWAPS: usize = 100;
/// Swaps to a failing version 3, spread among them.
const FAILING_SWAPS: usize = 5;

fn main() -> i64 {
    match zx_runtime::args().get(1).map(String::as_str) {
        Some("client") => client(),
        Some("driver") => driver(),
        Some("bench-client") => bench::client(),
        Some("bench-driver") => bench::driver(),
        Some("race") => race::race(),
        Some("unbound") => race::unbound(),
        Some("unbound-driver") => race::unbound_driver(),
        Some("spam") => spam::spam(),
        Some("spam-driver") => spam::driver(),
        Some("grab") => race::grab(),
        Some("grab-driver") => race::grab_driver(),
        Some("bind-extra") => grace::bind_extra(),
        Some("grace-driver") => grace::grace_driver(),
        _ => {
            println!("swaptest: say client or driver");
            2
        }
    }
}

/// Waits (up to 30 s) for the answer to a `SwapController.Swap` sent
/// earlier on `channel` and decodes its report; `None` if none came or
/// it does not decode.
fn swap_answer(channel: &zx::Channel) -> Option<bindings::zx_component_swap::SwapReport> {
    use zx::AsHandleRef;
    channel
        .wait_one(
            zx::Signals::CHANNEL_READABLE | zx::Signals::PEER_CLOSED,
            zx::deadline_after(30_000_000_000),
        )
        .ok()?;
    let mut answer = zx::MessageBuf::default();
    channel.read(&mut answer).ok()?;
    let mut incoming = idlc_runtime::IncomingMessage {
        bytes: core::mem::take(&mut answer.bytes),
        handles: Vec::new(),
    };
    incoming
        .decode_body::<bindings::zx_component_swap::SwapControllerSwapResponse>()
        .ok()
        .map(|r| r.report)
}

fn connect(name: &str) -> Option<ChannelTransport> {
    match zx_component::connect(name) {
        Ok(channel) => Some(ChannelTransport::new(channel)),
        Err(status) => {
            println!("swaptest: cannot reach {}: {}", name, status);
            None
        }
    }
}

fn client() -> i64 {
    let Some(echo) = connect(EchoMarker::DISCOVERABLE_NAME.unwrap_or_default()) else {
        return 1;
    };
    let echo = EchoClient::new(echo);
    let lifecycle = zx_component::Lifecycle::take();
    let (mut calls, mut wrong) = (0u64, 0u64);
    let mut last = zx::clock_get_monotonic().0;
    let mut longest = 0i64;
    println!("swap-client: calling");
    loop {
        if lifecycle
            .as_ref()
            .is_some_and(|l| l.try_stopped().is_some())
        {
            break;
        }
        let value = format!("call {}", calls + 1);
        match echo.echo_string(EchoEchoStringRequest {
            value: value.clone(),
        }) {
            Ok(reply) => {
                calls += 1;
                if reply.response != value {
                    wrong += 1;
                    println!("swap-client: {:?} came back as {:?}", value, reply.response);
                }
            }
            Err(error) => {
                println!(
                    "swap-client: {} failed after {} calls: {:?}",
                    value, calls, error
                );
                return 1;
            }
        }
        let now = zx::clock_get_monotonic().0;
        longest = longest.max(now - last);
        last = now;
        let _ = zx::nanosleep(zx::deadline_after(CALL_INTERVAL_NANOS));
    }
    println!(
        "swap-client: {} calls, {} wrong replies, none failed; longest time between replies {} us",
        calls,
        wrong,
        longest / 1000
    );
    0
}

fn driver() -> i64 {
    let (Some(swaps), Some(realm)) = (
        connect("zx.component.swap.SwapController"),
        connect("zx.component.Realm"),
    ) else {
        return 1;
    };
    let swaps = SwapControllerClient::new(swaps);
    let realm = RealmClient::new(realm);
    // Let the client start calling.
    let _ = zx::nanosleep(zx::deadline_after(50_000_000));
    let swap = |source: &str| {
        let request = SwapControllerSwapRequest {
            moniker: "root/echo_server".into(),
            source: source.into(),
        };
        match swaps.swap(request) {
            Ok(reply) => Some(reply.report),
            Err(error) => {
                println!("swap-driver: swap to {} failed: {:?}", source, error);
                None
            }
        }
    };
    let mut failures = 0;
    let mut expect = |source: &str, outcome: Outcome| -> Option<u64> {
        let report = swap(source)?;
        if report.outcome != outcome {
            failures += 1;
            println!(
                "swap-driver: swap to {} was {:?} ({}), expected {:?}",
                source, report.outcome, report.reason, outcome
            );
            return None;
        }
        if outcome != Outcome::Swapped {
            println!("swap-driver: {:?} as expected: {}", outcome, report.reason);
        }
        Some(report.gap_nanos)
    };
    expect("echo_server_v4", Outcome::Refused);
    let mut gaps: Vec<u64> = Vec::new();
    let mut rolled_back = 0;
    let failing = ["echo_server_v3_start", "echo_server_v3_takeover"];
    for swap_number in 0..SWAPS {
        let version = if swap_number % 2 == 0 {
            "echo_server_v2"
        } else {
            "echo_server"
        };
        if let Some(gap) = expect(version, Outcome::Swapped) {
            gaps.push(gap);
        }
        if swap_number % (SWAPS / FAILING_SWAPS) == 1
            && expect(failing[rolled_back % 2], Outcome::RolledBack).is_some()
        {
            rolled_back += 1;
        }
    }
    gaps.sort_unstable();
    let median = gaps.get(gaps.len() / 2).copied().unwrap_or(0);
    let max = gaps.last().copied().unwrap_or(0);
    println!(
        "swap-driver: {} swaps, {} rolled back, {} unexpected outcomes; manager's gap median {} us, max {} us",
        gaps.len(),
        rolled_back,
        failures,
        median / 1000,
        max / 1000
    );
    // Stop the client (it reports), then ask the server what it counted.
    let stopped = realm.stop(RealmStopRequest {
        moniker: "root/swap_client".into(),
    });
    if !matches!(stopped, Ok(Ok(_))) {
        println!("swap-driver: cannot stop the client: {:?}", stopped);
    }
    let Some(echo) = connect(EchoMarker::DISCOVERABLE_NAME.unwrap_or_default()) else {
        return 1;
    };
    let echo = EchoV2Client::new(echo);
    // Version 1 serves now: `Calls` (version 2's, flexible) is answered as
    // unknown, and the channel stays open.
    match echo.calls() {
        Err(ClientError::UnknownMethod) => {
            println!("swap-driver: version 1 answered Calls with UNKNOWN_METHOD")
        }
        other => println!("swap-driver: version 1 answered Calls with {:?}", other),
    }
    // Once more to version 2, which reads the count.
    match swap("echo_server_v2") {
        Some(report) if report.outcome == Outcome::Swapped => {}
        other => println!("swap-driver: the last swap to version 2 was {:?}", other),
    }
    match echo.calls() {
        Ok(reply) => println!("swap-driver: the server counted {} calls", reply.calls),
        Err(error) => println!("swap-driver: Calls failed: {:?}", error),
    }
    let _ = realm.shutdown(RealmShutdownRequest { status: 0 });
    0
}
