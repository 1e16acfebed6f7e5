//! The kernel's panic handler: print where and why, then end the machine
//! with `guest_exit::KERNEL_PANIC` so the host harness sees a distinct
//! status.

use core::sync::atomic::{AtomicBool, Ordering};

static PANICKING: AtomicBool = AtomicBool::new(false);

// On the host (`cargo check`/clippy of the whole workspace, never linked)
// `std` is in the build and has the panic handler: ours is only checked.
#[cfg(not(test))]
#[cfg_attr(baremetal, panic_handler)]
#[cfg_attr(not(baremetal), allow(dead_code))]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    x86_64::instructions::interrupts::disable();
    if PANICKING.swap(true, Ordering::SeqCst) {
        // A panic while panicking: do not risk printing again.
        crate::arch::x86_64::power::power_off(zx_abi::guest_exit::KERNEL_PANIC);
    }
    // SAFETY: we are the panic path; nothing that held the lock runs again.
    unsafe { crate::log::force_unlock_for_panic() };
    let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
    crate::log::write_fmt_raw(format_args!(
        "\nKERNEL PANIC at {}:{}: {}\n",
        file,
        line,
        info.message()
    ));
    crate::arch::x86_64::power::power_off(zx_abi::guest_exit::KERNEL_PANIC)
}
