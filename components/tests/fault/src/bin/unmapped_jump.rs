//! Jumps to an unmapped address. The kernel must kill this process with an
//! instruction-fetch page-fault report and keep running.
#![no_std]
#![no_main]

zx_runtime::entry!(main);

fn main() -> i64 {
    zx_runtime::println!("fault-unmapped-jump: jumping to 0xdead0000");
    // SAFETY: not safe at all, on purpose: this must fault.
    let target: extern "C" fn() = unsafe { core::mem::transmute(0xdead_0000usize) };
    target();
    zx_runtime::println!("fault-unmapped-jump: returned: the kernel did not stop me");
    0
}
