//! Reads kernel memory (the direct map of physical memory) from ring 3. The kernel must kill this process with
//! a page-fault report and keep running.
#![no_std]
#![no_main]

zx_runtime::entry!(main);

fn main() -> i64 {
    zx_runtime::println!("fault-kernel-read: reading kernel memory at 0xffff800000100000");
    // SAFETY: not safe at all, on purpose: this must fault.
    let value = unsafe { core::ptr::read_volatile(0xffff_8000_0010_0000 as *const u64) };
    zx_runtime::println!(
        "fault-kernel-read: read {:#x}: the kernel did not stop me",
        value
    );
    0
}
