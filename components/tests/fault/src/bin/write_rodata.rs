//! Writes to its own read-only data. The kernel maps `.rodata` read-only,
//! so this must end in a page-fault report and the process being killed.
#![no_std]
#![no_main]

zx_runtime::entry!(main);

static GREETING: &str = "read-only";

fn main() -> i64 {
    let target = GREETING.as_ptr() as *mut u8;
    zx_runtime::println!("fault-write-rodata: writing to .rodata at {:p}", target);
    // SAFETY: not safe at all, on purpose: this must fault.
    unsafe { target.write_volatile(b'X') };
    zx_runtime::println!("fault-write-rodata: the write went through: the kernel did not stop me");
    0
}
