//! bigprog-over: a program past the package resolver's 16 MiB limit
//! (`zx.pkg.MAX_PROGRAM`): 16 MiB of padding (`build.rs`) on top of its
//! code. The resolver refuses its package with `OUT_OF_RANGE` before
//! reading it, and the component manager says which package; were it ever
//! launched it would say so (`storage.large_program` fails on that line).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use zx_runtime::println;

zx_runtime::entry!(main);

/// The padding.
static PAD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pad-over.bin"));

fn main() -> i64 {
    let pad = core::hint::black_box(PAD);
    println!("bigprog-over: started with {} bytes of padding", pad.len());
    0
}
