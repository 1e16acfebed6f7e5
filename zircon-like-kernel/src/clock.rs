//! The monotonic clock and the timer tick count.
//!
//! Monotonic time is read from the TSC, scaled to nanoseconds with a
//! multiplier measured at boot against the HPET (or PIT). The LAPIC timer,
//! calibrated in the same window, interrupts at [`TIMER_HZ`]; its ticks drive
//! preemption and timeouts and are counted here.
//!
//! Why not count ticks as the clock: a tick clock has the tick's resolution
//! (milliseconds) and drifts by every lost tick; the TSC has nanosecond
//! resolution and cannot lose time. Under QEMU with `-icount shift=0` the
//! TSC advances one tick per guest instruction, which makes benchmarks
//! deterministic. Known gap: the TSC is assumed invariant (true on QEMU and
//! on every x86 CPU since ~2008).

use core::sync::atomic::{AtomicU64, Ordering};

/// Frequency of the LAPIC timer interrupt.
pub const TIMER_HZ: u64 = 100;

static TSC_AT_BOOT: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per TSC tick, as a 32.32 fixed-point number.
static NANOS_PER_TICK_FIXED: AtomicU64 = AtomicU64::new(0);
static TIMER_TICKS: AtomicU64 = AtomicU64::new(0);

/// Remembers the TSC at kernel entry: time zero.
pub fn record_boot_tsc() {
    TSC_AT_BOOT.store(crate::arch::x86_64::read_tsc(), Ordering::Relaxed);
}

/// Starts the clock once the TSC frequency is known.
pub fn init(tsc_hz: u64) {
    let fixed = ((1_000_000_000u128 << 32) / tsc_hz.max(1) as u128) as u64;
    NANOS_PER_TICK_FIXED.store(fixed, Ordering::Relaxed);
}

/// Nanoseconds since kernel entry (0 until calibrated).
pub fn monotonic_nanos() -> u64 {
    let elapsed = crate::arch::x86_64::read_tsc().wrapping_sub(TSC_AT_BOOT.load(Ordering::Relaxed));
    ((elapsed as u128 * NANOS_PER_TICK_FIXED.load(Ordering::Relaxed) as u128) >> 32) as u64
}

/// Counts one LAPIC timer interrupt.
pub fn on_timer_tick() {
    TIMER_TICKS.fetch_add(1, Ordering::Relaxed);
}

/// LAPIC timer interrupts since the timer started.
pub fn timer_ticks() -> u64 {
    TIMER_TICKS.load(Ordering::Relaxed)
}
