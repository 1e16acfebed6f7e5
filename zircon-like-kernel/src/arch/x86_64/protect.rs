//! SMEP and SMAP: the CPU refuses to let the kernel run user pages (SMEP)
//! or touch them (SMAP) except inside the user-copy routine, which opens
//! the window with `stac` and closes it with `clac` (patched in, see
//! `usercopy.rs`). A kernel bug that
//! follows a user pointer then faults instead of obeying user space.
//!
//! Both are turned on when the CPU offers them (CPUID leaf 7); QEMU's
//! `qemu64` model does not, so the products' machines ask for them
//! (`-cpu qemu64,+smep,+smap`), while the benchmarks keep the plain model.

use core::sync::atomic::{AtomicBool, Ordering};
use x86_64::registers::control::{Cr4, Cr4Flags};

static SMAP: AtomicBool = AtomicBool::new(false);

/// What the CPU offered and the kernel turned on.
#[derive(Clone, Copy, Debug)]
pub struct Protections {
    /// Supervisor-mode execution prevention.
    pub smep: bool,
    /// Supervisor-mode access prevention.
    pub smap: bool,
}

/// Turns on SMEP and SMAP if the CPU has them.
pub fn init() -> Protections {
    // CPUID leaf 0 reports the highest leaf; leaf 7 is read only when it
    // exists.
    let leaf7 =
        (core::arch::x86_64::__cpuid(0).eax >= 7).then(|| core::arch::x86_64::__cpuid_count(7, 0));
    let ebx = leaf7.map_or(0, |leaf| leaf.ebx);
    let protections = Protections {
        smep: ebx & (1 << 7) != 0,
        smap: ebx & (1 << 20) != 0,
    };
    // SAFETY: setting SMEP/SMAP only restricts the kernel; it never runs
    // or touches user pages outside the user-copy routine, which opens
    // the window itself (`stac`).
    unsafe {
        Cr4::update(|flags| {
            if protections.smep {
                flags.insert(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION);
            }
            if protections.smap {
                flags.insert(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION);
            }
        });
    }
    SMAP.store(protections.smap, Ordering::Relaxed);
    if protections.smap {
        super::usercopy::patch_for_smap();
    }
    protections
}

/// Closes the user window (`clac`): run on every kernel entry, so that an
/// AC flag user space set never reaches kernel code.
#[inline]
pub fn close_user_window() {
    if SMAP.load(Ordering::Relaxed) {
        // SAFETY: `clac` only clears RFLAGS.AC; it exists when SMAP does.
        unsafe { core::arch::asm!("clac", options(nomem, nostack)) };
    }
}
