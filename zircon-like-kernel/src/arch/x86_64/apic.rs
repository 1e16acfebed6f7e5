//! The local APIC (per-CPU interrupt controller and timer), the I/O APIC,
//! and retiring the legacy 8259 PIC.
//!
//! Registers are reached through the direct map (the physmap covers the
//! 4 GiB below the top of RAM, uncached where it is not RAM). Intel SDM
//! Vol. 3A chapter 11 describes the xAPIC registers used here.

use crate::mem::phys_to_virt;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::instructions::port::Port;

const REG_ID: u64 = 0x20;
const REG_EOI: u64 = 0xb0;
const REG_SPURIOUS: u64 = 0xf0;
const REG_LVT_TIMER: u64 = 0x320;
const REG_TIMER_INITIAL: u64 = 0x380;
const REG_TIMER_CURRENT: u64 = 0x390;
const REG_TIMER_DIVIDE: u64 = 0x3e0;

const SPURIOUS_ENABLE: u32 = 1 << 8;
const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 1 << 17;
const DIVIDE_BY_16: u32 = 0b0011;

static LAPIC_BASE: AtomicU64 = AtomicU64::new(0);

fn read(register: u64) -> u32 {
    let base = LAPIC_BASE.load(Ordering::Relaxed);
    // SAFETY: base is the LAPIC's MMIO page in the direct map (set by init);
    // registers are 32-bit and 16-byte aligned.
    unsafe { core::ptr::read_volatile((base + register) as *const u32) }
}

fn write(register: u64, value: u32) {
    let base = LAPIC_BASE.load(Ordering::Relaxed);
    // SAFETY: as in `read`.
    unsafe { core::ptr::write_volatile((base + register) as *mut u32, value) }
}

/// Remaps the legacy PIC away from the exception vectors and masks it.
fn disable_legacy_pic() {
    let base = super::idt::PIC_BASE_VECTOR;
    // ICW1..ICW4 for both PICs, then mask every line (OCW1).
    let sequence: [(u16, u8); 10] = [
        (0x20, 0x11),
        (0xa0, 0x11),
        (0x21, base),
        (0xa1, base + 8),
        (0x21, 4),
        (0xa1, 2),
        (0x21, 1),
        (0xa1, 1),
        (0x21, 0xff),
        (0xa1, 0xff),
    ];
    for (port, value) in sequence {
        // SAFETY: the 8259's command and data ports; programming it only
        // changes which vectors it would raise, and we mask it entirely.
        unsafe { Port::new(port).write(value) };
    }
}

/// Enables this CPU's local APIC at physical `base`.
pub fn init_local(base: u64) {
    disable_legacy_pic();
    LAPIC_BASE.store(phys_to_virt(base) as u64, Ordering::Relaxed);
    write(
        REG_SPURIOUS,
        SPURIOUS_ENABLE | super::idt::SPURIOUS_VECTOR as u32,
    );
    write(REG_LVT_TIMER, LVT_MASKED);
}

/// This CPU's APIC id.
pub fn local_id() -> u32 {
    read(REG_ID) >> 24
}

/// Signals the end of the current interrupt.
pub fn end_of_interrupt() {
    write(REG_EOI, 0);
}

/// Starts the timer counting down from the maximum, masked, for calibration.
pub fn timer_start_calibration() {
    write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
    write(REG_LVT_TIMER, LVT_MASKED);
    write(REG_TIMER_INITIAL, u32::MAX);
}

/// Ticks (at the divided rate) elapsed since `timer_start_calibration`.
pub fn timer_calibration_elapsed() -> u32 {
    u32::MAX - read(REG_TIMER_CURRENT)
}

/// Fires the timer vector every `ticks` divided-bus ticks.
pub fn timer_start_periodic(ticks: u32) {
    write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
    write(
        REG_LVT_TIMER,
        LVT_PERIODIC | super::idt::TIMER_VECTOR as u32,
    );
    write(REG_TIMER_INITIAL, ticks.max(1));
}

/// Number of redirection entries of the I/O APIC at physical `base`; all of
/// them are masked (drivers unmask their lines later).
pub fn init_io_apic(base: u64) -> u32 {
    let select = phys_to_virt(base) as *mut u32;
    let window = phys_to_virt(base + 0x10) as *mut u32;
    let read_register = |index: u32| {
        // SAFETY: IOREGSEL/IOWIN of the I/O APIC the MADT described.
        unsafe {
            core::ptr::write_volatile(select, index);
            core::ptr::read_volatile(window)
        }
    };
    let entries = ((read_register(1) >> 16) & 0xff) + 1;
    for entry in 0..entries {
        // SAFETY: as above; bit 16 of the low word masks the line.
        unsafe {
            core::ptr::write_volatile(select, 0x10 + entry * 2);
            core::ptr::write_volatile(window, LVT_MASKED);
        }
    }
    entries
}
