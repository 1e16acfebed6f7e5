//! Idle time: TSC ticks the CPU has spent halted in the idle frame since
//! boot (`info::CPU_STATS`). Under QEMU `-icount shift=0,sleep=off` a
//! halt jumps the clock to the next timer, so `build-image bench`
//! subtracts this figure from a TSC interval to count the instructions
//! the system really ran (the network cases, which wait for the host).
//!
//! An idle period starts when the scheduler picks the idle frame, or when
//! an interrupt of the idle loop switches to nothing, and ends at the next
//! trap or when the scheduler picks a thread after all in the same trap
//! (one CPU: plain atomics suffice). The direct switch of a call to its
//! server never involves the idle frame and pays nothing.

use core::sync::atomic::{AtomicU64, Ordering};

/// TSC at the start of the current idle period, or 0 when not idle.
static SINCE: AtomicU64 = AtomicU64::new(0);
/// Ticks of the idle periods that have ended.
static TOTAL: AtomicU64 = AtomicU64::new(0);

/// The scheduler has picked the idle frame.
pub fn enter() {
    if SINCE.load(Ordering::Relaxed) == 0 {
        SINCE.store(crate::arch::x86_64::read_tsc().max(1), Ordering::Relaxed);
    }
}

/// A trap began, or a thread was picked: the idle period (if any) ends.
#[inline(always)]
pub fn leave() {
    let since = SINCE.swap(0, Ordering::Relaxed);
    if since != 0 {
        let now = crate::arch::x86_64::read_tsc();
        TOTAL.fetch_add(now.saturating_sub(since), Ordering::Relaxed);
    }
}

/// Idle ticks so far, the current period included.
pub fn total() -> u64 {
    let since = SINCE.load(Ordering::Relaxed);
    let running = if since == 0 {
        0
    } else {
        crate::arch::x86_64::read_tsc().saturating_sub(since)
    };
    TOTAL.load(Ordering::Relaxed) + running
}
