//! Executes a privileged instruction (`hlt`) in ring 3. The kernel must
//! kill this process with a general-protection report and keep running.
#![no_std]
#![no_main]

zx_runtime::entry!(main);

fn main() -> i64 {
    zx_runtime::println!("fault-privileged: executing hlt in ring 3");
    // SAFETY: not safe at all, on purpose: this must fault.
    unsafe { core::arch::asm!("hlt") };
    zx_runtime::println!("fault-privileged: hlt returned: the kernel did not stop me");
    0
}
