//! userboot: the first user program the kernel starts.
//!
//! For now it proves that ring 3 works end to end: it prints through the
//! `debug_write` syscall, reads the monotonic clock, and exits with status 0.
//! With the kernel-objects work it becomes what Zircon's userboot is: the
//! process that receives the root job and the bootfs, and loads the
//! component manager from it.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use zx_runtime::println;

zx_runtime::entry!(main);

fn main() -> i64 {
    let now = zx::clock_get_monotonic();
    println!("userboot: hello from ring 3");
    println!("userboot: monotonic clock reads {} ns", now.into_nanos());
    let later = zx::clock_get_monotonic();
    println!(
        "userboot: clock advanced by {} ns while printing; exiting",
        later.into_nanos() - now.into_nanos()
    );
    0
}
