//! `syscall-fuzz`: an adversarial syscall fuzzer that runs inside the
//! guest (issue 10's promise: no input from user space crashes, hangs or
//! permanently degrades the kernel).
//!
//! Deterministic from a seed, it makes random calls — random syscall
//! numbers, out-of-range ones included — with hostile arguments: live
//! handles of every object type it creates, junk and stale handle values,
//! pointers into unmapped, read-only, kernel, non-canonical and valid
//! writable memory, boundary lengths and sizes, random flags, rights,
//! signals and deadlines. Several threads call at once, in fresh
//! processes: the supervisor ([`supervisor`]) starts each generation as a
//! child process in its own job with limits on handles, memory, threads
//! and processes; a generation ([`generation`]) makes its calls and ends,
//! or gets itself killed, and the supervisor records it and starts the
//! next. It ends with `syscall-fuzz: N calls in G generations, seed S,
//! done`, which `build-image` (the `kernel.syscall_fuzz` system test and
//! the `build-image fuzz` command) looks for.
//!
//! Options (kernel command line, see [`options`]): `syscall-fuzz.seed=`,
//! `.calls=`, `.per-generation=`, `.threads=`, and for replaying one
//! generation `.first=G` with `.trace=1` (every call printed before it is
//! made; with `.threads=1` the sequence of calls is exactly the same
//! every time, though handle values differ between runs).
//!
//! Known gaps: the children get no resource handles, so calls that need
//! one are only checked for refusal; a generation never fuzzes the
//! supervisor (it has no handle to it); with several threads the
//! interleaving, and so which handles each call sees, is not
//! reproducible.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod arena;
mod calls;
mod generation;
mod options;
mod pool;
mod rng;
mod supervisor;
mod values;

use options::{Options, Role};
use zx_runtime::println;

zx_runtime::entry!(main);

fn main() -> i64 {
    let options = match Options::parse(zx_runtime::args()) {
        Ok(options) => options,
        Err(why) => {
            println!("syscall-fuzz: {why}");
            return 2;
        }
    };
    match options.role {
        Role::Supervisor => supervisor::run(&options),
        Role::Generation => generation::run(&generation::Settings {
            seed: options.seed,
            generation: options.generation,
            calls: options.calls,
            threads: options.threads,
            trace: options.trace,
        }),
    }
}
