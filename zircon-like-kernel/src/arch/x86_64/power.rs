//! Ending the machine: QEMU's `isa-debug-exit` device (I/O port 0xf4),
//! which `build-image` always attaches. QEMU exits with `(status << 1) | 1`;
//! the status values are part of the host contract in
//! `zx_abi::guest_exit`.

use x86_64::instructions::port::Port;

/// Powers the machine off with `status`. On a machine without the debug
/// device the write does nothing and the CPU halts forever.
pub fn power_off(status: u8) -> ! {
    // SAFETY: port 0xf4 is the debug-exit device; writing it ends QEMU.
    unsafe { Port::<u32>::new(0xf4).write(status as u32) };
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
