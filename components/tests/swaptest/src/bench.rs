//! The hot-swap benchmark (`build-image bench`, the `bench-swap` product):
//! a steady client and a driver that swaps the echo server under it, then
//! stops and starts it (the way Fuchsia reloads a component), the same
//! number of times.
//!
//! The driver prints each operation's window in guest time
//! (`swap-bench: <kind> <n> <start ns> <end ns> <manager's gap ns>`); the
//! client, once stopped, prints its median time between replies and every
//! gap over four times it (`swap-bench-gap <end ns> <length ns>`). The host
//! (`build-image/src/bench/swap.rs`) takes, per window, the longest gap
//! that overlaps it.

use super::connect;
use crate::bindings::examples_echo::{EchoClient, EchoEchoStringRequest, EchoMarker};
use crate::bindings::zx_component::{
    RealmClient, RealmShutdownRequest, RealmStartRequest, RealmStopRequest,
};
use crate::bindings::zx_component_swap::{
    Outcome, SwapControllerClient, SwapControllerSwapRequest,
};
use alloc::format;
use alloc::vec::Vec;
use zx_runtime::println;

/// Operations of each kind: swaps alternating 1 → 2 → 1 …, and stop +
/// start pairs.
const OPERATIONS: usize = 20;
/// Gaps longer than this many times the median are printed.
const GAP_PRINT_FACTOR: i64 = 4;
/// Pause between two operations (the client settles).
const SETTLE_NANOS: i64 = 5_000_000;

fn now() -> i64 {
    zx::clock_get_monotonic().0
}

/// The steady client: calls back to back (a pause would be rounded up to
/// the kernel's 10 ms timer tick, hiding the gaps), reconnecting when the server went away (a
/// stop closes its channel), until stopped; then reports its gaps.
pub fn client() -> i64 {
    let name = EchoMarker::DISCOVERABLE_NAME.unwrap_or_default();
    let Some(channel) = connect(name) else {
        return 1;
    };
    let mut echo = EchoClient::new(channel);
    let lifecycle = zx_component::Lifecycle::take();
    let (mut calls, mut wrong, mut reconnects) = (0u64, 0u64, 0u64);
    let mut gaps: Vec<(i64, i64)> = Vec::new();
    let mut last = now();
    println!("swap-bench-client: calling");
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
                }
                let t = now();
                gaps.push((t, t - last));
                last = t;
            }
            Err(_) => {
                reconnects += 1;
                match connect(name) {
                    Some(channel) => echo = EchoClient::new(channel),
                    None => return 1,
                }
                continue;
            }
        }
    }
    let mut lengths: Vec<i64> = gaps.iter().map(|&(_, len)| len).collect();
    lengths.sort_unstable();
    let median = lengths.get(lengths.len() / 2).copied().unwrap_or(0);
    println!(
        "swap-bench-client: {} calls, {} wrong, {} reconnects, median gap {} ns",
        calls, wrong, reconnects, median
    );
    // Only the long gaps: back to back, the client makes some 200,000
    // calls; a window with none printed had no gap over this bound.
    let bound = GAP_PRINT_FACTOR * median;
    println!("swap-bench-client: gaps over {} ns follow", bound);
    for (end, len) in gaps.iter().filter(|&&(_, len)| len > bound) {
        println!("swap-bench-gap {} {}", end, len);
    }
    println!("swap-bench-client: done");
    0
}

/// The driver: the swaps, then the stop + start pairs, each window
/// printed; then it stops the client and shuts the machine down.
pub fn driver() -> i64 {
    let (Some(swaps), Some(realm)) = (
        connect("zx.component.swap.SwapController"),
        connect("zx.component.Realm"),
    ) else {
        return 1;
    };
    let swaps = SwapControllerClient::new(swaps);
    let realm = RealmClient::new(realm);
    let settle = || {
        let _ = zx::nanosleep(zx::deadline_after(SETTLE_NANOS));
    };
    settle();
    let mut failures = 0;
    for n in 0..OPERATIONS {
        let source = if n % 2 == 0 {
            "echo_server_v2"
        } else {
            "echo_server"
        };
        let start = now();
        let reply = swaps.swap(SwapControllerSwapRequest {
            moniker: "root/echo_server".into(),
            source: source.into(),
        });
        let end = now();
        match reply {
            Ok(reply) if reply.report.outcome == Outcome::Swapped => println!(
                "swap-bench: swap {} {} {} {}",
                n, start, end, reply.report.gap_nanos
            ),
            other => {
                failures += 1;
                println!("swap-bench: swap {} to {} failed: {:?}", n, source, other);
            }
        }
        settle();
    }
    for n in 0..OPERATIONS {
        let start = now();
        let stopped = realm.stop(RealmStopRequest {
            moniker: "root/echo_server".into(),
        });
        let started = realm.start(RealmStartRequest {
            moniker: "root/echo_server".into(),
        });
        let end = now();
        if matches!((&stopped, &started), (Ok(Ok(_)), Ok(Ok(_)))) {
            println!("swap-bench: restart {} {} {} 0", n, start, end);
        } else {
            failures += 1;
            println!(
                "swap-bench: restart {} failed: {:?} {:?}",
                n, stopped, started
            );
        }
        settle();
    }
    let stopped = realm.stop(RealmStopRequest {
        moniker: "root/swap_bench_client".into(),
    });
    if !matches!(stopped, Ok(Ok(_))) {
        failures += 1;
        println!("swap-bench: cannot stop the client: {:?}", stopped);
    }
    println!("swap-bench: done, {} failures", failures);
    let _ = realm.shutdown(RealmShutdownRequest { status: 0 });
    0
}
