//! The idle frame: what the CPU runs when no thread is runnable. It is a
//! kernel-mode frame on its own small stack whose code enables interrupts
//! and halts; a timer interrupt then finds it in `trap_dispatch` and the
//! scheduler replaces it with a thread's frame. Nothing of it needs saving.
//! While a teardown backlog is left (`object::idle_step`), the idle loop
//! works through it before it halts.

use super::gdt::{KERNEL_CS, KERNEL_DS};
use super::trap::{TrapFrame, RFLAGS_IF};

const IDLE_STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct IdleStack([u8; IDLE_STACK_SIZE]);

static mut IDLE_STACK: IdleStack = IdleStack([0; IDLE_STACK_SIZE]);

extern "C" fn idle_loop() -> ! {
    loop {
        // Teardown left over from the last kernel exit (a mass kill) goes
        // on here, a bounded step at a time with interrupts off (the step
        // takes the kernel's locks), interrupts on between steps: an
        // interrupt then replaces this frame with a thread's, and nothing
        // of it needs saving. It stops once a thread is runnable (the next
        // tick runs it).
        if x86_64::instructions::interrupts::without_interrupts(crate::object::idle_step) {
            continue;
        }
        x86_64::instructions::interrupts::enable_and_hlt();
    }
}

/// A frame that resumes in the idle loop.
pub fn idle_frame() -> TrapFrame {
    // Only the address of the static is taken; the idle loop is the stack's
    // only user, and it keeps nothing there across interrupts.
    let top = core::ptr::addr_of!(IDLE_STACK) as u64 + IDLE_STACK_SIZE as u64;
    // As if called: the ABI expects rsp = 8 (mod 16) at function entry.
    let top = top - 8;
    let mut frame = TrapFrame::new_user(idle_loop as *const () as u64, top, 0);
    frame.cs = KERNEL_CS as u64;
    frame.ss = KERNEL_DS as u64;
    frame.rflags = RFLAGS_IF;
    frame
}
