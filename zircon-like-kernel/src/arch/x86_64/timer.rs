//! Reference clocks for calibration: the HPET when ACPI describes one, the
//! PIT otherwise. Both are only used at boot, to measure the TSC and the
//! LAPIC timer over a known interval.

use super::{apic, read_tsc};
use crate::mem::phys_to_virt;
use calibrate::{Mark, Window};
use x86_64::instructions::port::Port;

/// A source that can time a precise interval.
pub enum Reference {
    /// The HPET's main counter (MMIO).
    Hpet {
        /// Direct-map address of the register block.
        base: u64,
        /// Counter period in femtoseconds.
        period_fs: u64,
    },
    /// PIT channel 2, gated through port 0x61.
    Pit,
}

impl Reference {
    /// Enables the HPET at physical `base` and returns it.
    pub fn hpet(base: u64) -> Reference {
        let base = phys_to_virt(base) as u64;
        // SAFETY: the HPET register block the ACPI table describes, through
        // the uncached direct map. Offsets: 0x00 capabilities, 0x10 config.
        let period_fs = unsafe {
            let capabilities = core::ptr::read_volatile(base as *const u64);
            let config = (base + 0x10) as *mut u64;
            core::ptr::write_volatile(config, core::ptr::read_volatile(config) | 1);
            capabilities >> 32
        };
        Reference::Hpet { base, period_fs }
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Reference::Hpet { .. } => "HPET",
            Reference::Pit => "PIT",
        }
    }

    /// Measures one calibration window of about `millis` milliseconds (at
    /// most 50 with the PIT): each end's reference event is bracketed by
    /// TSC reads, with the LAPIC count read inside the bracket, so a host
    /// stall shows as a wide bracket instead of a wrong rate (see the
    /// `calibrate` crate, which picks among several windows).
    pub fn window(&self, millis: u64) -> Window {
        let mark = |before: u64, lapic: u32| Mark {
            tsc_before: before,
            tsc_after: read_tsc(),
            lapic: u64::from(lapic),
        };
        match *self {
            Reference::Hpet { base, period_fs } => {
                let counter = (base + 0xf0) as *const u64;
                // SAFETY: main counter register of the enabled HPET.
                let read = || unsafe { core::ptr::read_volatile(counter) };
                let period_fs = period_fs.max(1);
                let ticks = millis * 1_000_000_000_000 / period_fs;
                let before = read_tsc();
                let first = read();
                let start = mark(before, apic::timer_calibration_elapsed());
                loop {
                    let before = read_tsc();
                    let now = read();
                    let lapic = apic::timer_calibration_elapsed();
                    let elapsed = now.wrapping_sub(first);
                    if elapsed >= ticks {
                        let end = mark(before, lapic);
                        let femtos = u128::from(elapsed) * u128::from(period_fs);
                        return Window {
                            start,
                            end,
                            reference_nanos: (femtos / 1_000_000) as u64,
                        };
                    }
                    core::hint::spin_loop();
                }
            }
            Reference::Pit => {
                const PIT_HZ: u64 = 1_193_182;
                let count = (PIT_HZ * millis.min(50) / 1000) as u16;
                // SAFETY: PIT channel 2 and the port-0x61 gate: programming
                // them affects only the PC speaker line, which is kept off.
                unsafe {
                    let mut gate: Port<u8> = Port::new(0x61);
                    let value = gate.read();
                    gate.write((value & !0x02) | 0x01); // gate on, speaker off
                    Port::<u8>::new(0x43).write(0b1011_0000); // ch2, lo/hi, mode 0
                    Port::<u8>::new(0x42).write(count as u8);
                    // Counting starts with the high byte.
                    let before = read_tsc();
                    let lapic = apic::timer_calibration_elapsed();
                    Port::<u8>::new(0x42).write((count >> 8) as u8);
                    let start = mark(before, lapic);
                    // The output went high after the last poll that saw it
                    // low began: bracket from there to after the poll that
                    // saw it high.
                    let mut last_low = read_tsc();
                    loop {
                        let before = read_tsc();
                        let lapic = apic::timer_calibration_elapsed();
                        if gate.read() & 0x20 != 0 {
                            let end = mark(last_low, lapic);
                            return Window {
                                start,
                                end,
                                reference_nanos: u64::from(count) * 1_000_000_000 / PIT_HZ,
                            };
                        }
                        last_low = before;
                        core::hint::spin_loop();
                    }
                }
            }
        }
    }
}
