//! bench: the in-guest side of `build-image bench` (issue 6).
//!
//! Runs each case many times between `lfence; rdtsc` pairs — which count
//! guest instructions under QEMU `-icount shift=0,sleep=off` — and prints
//! one line per case for the host to parse:
//!
//! ```text
//! BENCH name=<case> iters=<N> median=<X> min=<Y>
//! ```
//!
//! The Linux peer (`build-image/bench/linux-peer/peer.c`) prints the same
//! cases with the same iteration counts; `build-image/src/bench/cases.rs`
//! says which case is compared with which.
//!
//! Known gaps: the cases that need kernel objects (channel write + read,
//! channel call round trip, port wake-up, process create) are not here
//! yet; the table shows them as pending until this program prints them.
//! To add one, run it with [`stats::Bench::run`] under the name
//! `cases.rs` gives it and the iteration count its Linux peer uses.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod exclusive;
mod stats;
mod tsc;

use core::hint::black_box;
use exclusive::Exclusive;
use stats::Bench;
use zx_runtime::println;

zx_runtime::entry!(main);

// Iteration counts: the same as the Linux peer's (`ITERS_*` in peer.c).
const ITERS_SYSCALL: usize = 10_000;
const ITERS_MEMCPY: usize = 1_000;
/// For channel write + read (to come).
#[allow(dead_code)]
const ITERS_MESSAGE: usize = 1_000;
/// For channel call round trips (to come).
#[allow(dead_code)]
const ITERS_ROUNDTRIP: usize = 1_000;
/// For port wake-ups (to come).
#[allow(dead_code)]
const ITERS_WAKEUP: usize = 1_000;
/// For process create + start + exit (to come).
#[allow(dead_code)]
const ITERS_PROCESS: usize = 100;

const MAX_ITERS: usize = ITERS_SYSCALL;
const MEMCPY_BYTES: usize = 64 * 1024;
/// A syscall number the kernel does not have: exercises decode and return.
const BAD_SYSCALL_NUMBER: u64 = 0xffff;

static SAMPLES: Exclusive<[u64; MAX_ITERS]> = Exclusive::new([0; MAX_ITERS]);
static COPY_SOURCE: Exclusive<[u8; MEMCPY_BYTES]> = Exclusive::new([0; MEMCPY_BYTES]);
static COPY_DESTINATION: Exclusive<[u8; MEMCPY_BYTES]> = Exclusive::new([0; MEMCPY_BYTES]);

fn main() -> i64 {
    // First thing: the TSC since QEMU's reset, and the monotonic clock
    // (nanoseconds since kernel entry; one instruction per nanosecond under
    // icount).
    let boot = tsc::read();
    let since_kernel_entry = zx::clock_get_monotonic().into_nanos() as u64;
    println!("BENCH-START ours");
    stats::line("boot", 1, boot, boot);
    stats::line("boot_kernel", 1, since_kernel_entry, since_kernel_entry);

    let mut bench = Bench::new(SAMPLES.take(), ITERS_SYSCALL);

    bench.run("null_syscall", ITERS_SYSCALL, || {
        black_box(zx::clock_get_monotonic());
    });
    bench.run("bad_syscall", ITERS_SYSCALL, || {
        black_box(zx::syscall_by_number(black_box(BAD_SYSCALL_NUMBER)));
    });

    let source = COPY_SOURCE.take();
    source.fill(0x5a);
    let destination = COPY_DESTINATION.take();
    bench.run("memcpy_64k", ITERS_MEMCPY, || {
        black_box(&mut *destination).copy_from_slice(black_box(&*source));
    });

    println!("BENCH-END");
    0
}
