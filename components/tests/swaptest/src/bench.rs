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
use alloc::vec;
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

/// Gaps up to this many nanoseconds are counted one by one in the
/// histogram the median is read from; longer ones in its last slot.
const HISTOGRAM_NANOS: usize = 1 << 16;
/// Gaps longer than this are kept one by one (end, length), to be printed
/// if over the final bound.
const LONG_FLOOR_NANOS: i64 = 20_000;
/// Most long gaps kept.
const LONG_CAPACITY: usize = 1 << 15;

/// What the client records: every gap counted in a histogram (for the
/// median) and the long ones listed. Both are allocated and touched
/// before the first call, so recording never allocates or faults: a
/// growing list of every gap (as first written) reallocated and copied
/// megabytes in the calling loop, 0.1–1.3 ms of the client's own time that
/// the bench took for swap gaps.
struct Recorder {
    histogram: Vec<u32>,
    long: Vec<(i64, i64)>,
    dropped: u64,
}

impl Recorder {
    fn new() -> Recorder {
        let mut histogram = vec![0u32; HISTOGRAM_NANOS + 1];
        // A zeroed allocation may not be touched yet: write it.
        for slot in histogram.iter_mut() {
            *slot = core::hint::black_box(0);
        }
        let mut long = Vec::with_capacity(LONG_CAPACITY);
        // Write every page of the list once (then empty it) so that no
        // page is first touched while calling.
        long.resize(LONG_CAPACITY, (1i64, 1i64));
        long.clear();
        Recorder {
            histogram: core::hint::black_box(histogram),
            long: core::hint::black_box(long),
            dropped: 0,
        }
    }

    fn record(&mut self, end: i64, len: i64) {
        let slot = usize::try_from(len.max(0))
            .unwrap_or(HISTOGRAM_NANOS)
            .min(HISTOGRAM_NANOS);
        self.histogram[slot] += 1;
        if len > LONG_FLOOR_NANOS {
            if self.long.len() < self.long.capacity() {
                self.long.push((end, len));
            } else {
                self.dropped += 1;
            }
        }
    }

    /// The median gap (nanoseconds; `HISTOGRAM_NANOS` if over it).
    fn median(&self) -> i64 {
        let total: u64 = self.histogram.iter().map(|&n| u64::from(n)).sum();
        let mut seen = 0u64;
        for (nanos, &count) in self.histogram.iter().enumerate() {
            seen += u64::from(count);
            if seen > total / 2 {
                return nanos as i64;
            }
        }
        0
    }
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
    let mut recorder = Recorder::new();
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
                recorder.record(t, t - last);
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
    let median = recorder.median();
    println!(
        "swap-bench-client: {} calls, {} wrong, {} reconnects, median gap {} ns",
        calls, wrong, reconnects, median
    );
    if recorder.dropped > 0 {
        println!(
            "swap-bench-client: {} long gaps not kept (list full)",
            recorder.dropped
        );
    }
    // Only the long gaps: back to back, the client makes some 200,000
    // calls; a window with none printed had no gap over this bound.
    let bound = (GAP_PRINT_FACTOR * median).max(LONG_FLOOR_NANOS);
    println!("swap-bench-client: gaps over {} ns follow", bound);
    for (end, len) in recorder.long.iter().filter(|&&(_, len)| len > bound) {
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
