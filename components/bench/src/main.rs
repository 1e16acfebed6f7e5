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
//! To add a case, run it with [`stats::Bench::run`] under the name
//! `cases.rs` gives it and the iteration count its Linux peer uses.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;

mod channel;
mod port;
mod process;
mod stats;
mod thread;
mod tsc;

use alloc::vec;
use core::hint::black_box;
use stats::Bench;
use zx_runtime::println;

zx_runtime::entry!(main);

// Iteration counts: the same as the Linux peer's (`ITERS_*` in peer.c).
const ITERS_SYSCALL: usize = 10_000;
const ITERS_MEMCPY: usize = 1_000;
const ITERS_MESSAGE: usize = 1_000;
const ITERS_ROUNDTRIP: usize = 1_000;
const ITERS_WAKEUP: usize = 1_000;
/// For process create + start + exit.
const ITERS_PROCESS: usize = 100;

const MAX_ITERS: usize = ITERS_SYSCALL;
const KIB: usize = 1024;
/// A syscall number the kernel does not have: exercises decode and return.
const BAD_SYSCALL_NUMBER: u64 = 0xffff;

fn main() -> i64 {
    // First thing: the TSC since QEMU's reset, and the monotonic clock
    // (nanoseconds since kernel entry; one instruction per nanosecond under
    // icount).
    let boot = tsc::read();
    let since_kernel_entry = zx::clock_get_monotonic().into_nanos() as u64;
    println!("BENCH-START ours");
    stats::line("boot", 1, boot, boot);
    stats::line("boot_kernel", 1, since_kernel_entry, since_kernel_entry);

    let mut bench = Bench::new(MAX_ITERS);

    bench.run("null_syscall", ITERS_SYSCALL, || {
        black_box(zx::clock_get_monotonic());
    });
    bench.run("bad_syscall", ITERS_SYSCALL, || {
        black_box(zx::syscall_by_number(black_box(BAD_SYSCALL_NUMBER)));
    });

    // Heap buffers: the 64 KiB stack could not hold them.
    let source = vec![0x5au8; 64 * KIB];
    let mut destination = vec![0u8; 64 * KIB];
    bench.run("memcpy_64k", ITERS_MEMCPY, || {
        black_box(&mut destination[..]).copy_from_slice(black_box(&source[..]));
    });

    for (name, size) in [
        ("channel_write_read_0", 0),
        ("channel_write_read_64", 64),
        ("channel_write_read_4k", 4 * KIB),
        ("channel_write_read_64k", 64 * KIB),
    ] {
        channel::write_read(
            &mut bench,
            name,
            ITERS_MESSAGE,
            &source[..size],
            &mut destination,
        );
    }
    channel::roundtrip(&mut bench, "thread_roundtrip_0", ITERS_ROUNDTRIP, 0);
    channel::roundtrip(&mut bench, "thread_roundtrip_64", ITERS_ROUNDTRIP, 64);
    port::wakeup(&mut bench, "port_wakeup", ITERS_WAKEUP);
    match process::Launcher::new() {
        Some(launcher) => {
            process::roundtrip(
                &launcher,
                &mut bench,
                "call_roundtrip_0",
                ITERS_ROUNDTRIP,
                0,
            ); // payload bytes; the 4-byte txid comes on top
            process::roundtrip(
                &launcher,
                &mut bench,
                "call_roundtrip_64",
                ITERS_ROUNDTRIP,
                64,
            );
            process::create(&launcher, &mut bench, "process_create", ITERS_PROCESS);
        }
        None => println!("BENCH-ERROR process cases: no job or bootfs start-up handle"),
    }
    // Ours only: where the round trip's instructions go.
    channel::roundtrip_phases(&mut bench, "roundtrip_0_step", ITERS_ROUNDTRIP);

    println!("BENCH-END");
    0
}
