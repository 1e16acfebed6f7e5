//! The kernel's clock calibration estimator, kept apart from the hardware
//! access so the host can test it.
//!
//! The kernel measures the TSC and the local APIC timer against a reference
//! clock (HPET or PIT) over a short window. Under QEMU's TCG the virtual CPU
//! can be descheduled by the host at any instruction; if that happens
//! between reading the TSC and reading the reference, the TSC keeps
//! counting (it follows host time) while the reference reading is taken
//! late, and a single window then overstates the rate (a 10 ms stall in a
//! 10 ms window once gave a TSC of 6006 MHz instead of 3003, so the guest
//! clock ran at half speed).
//!
//! So each end of a window is a [`Mark`]: the reference event (a reference
//! counter reading, or the moment the PIT output was seen to go high) is
//! bracketed by a TSC reading just before and just after it, and the LAPIC
//! count is read inside the same bracket. The width of the bracket bounds
//! how far the TSC can be off at that end. The kernel takes several
//! windows, and [`estimate`] uses the one whose two brackets are narrowest
//! (a stall widens a bracket, it can never narrow one), measuring the TSC
//! at the middle of each bracket.

#![no_std]
#![forbid(unsafe_code)]

/// Readings taken around one reference event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// TSC read just before the event was observed.
    pub tsc_before: u64,
    /// TSC read just after the event was observed.
    pub tsc_after: u64,
    /// LAPIC timer ticks elapsed (counting up), read inside the bracket.
    pub lapic: u64,
}

impl Mark {
    /// The bracket's width in TSC ticks: how uncertain this end is.
    pub fn width(&self) -> u64 {
        self.tsc_after.saturating_sub(self.tsc_before)
    }

    /// The TSC at the middle of the bracket.
    fn middle(&self) -> u64 {
        self.tsc_before + self.width() / 2
    }
}

/// One calibration window: two marks and the reference time between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Readings at the start of the window.
    pub start: Mark,
    /// Readings at the end of the window.
    pub end: Mark,
    /// Reference time between the two events, in nanoseconds.
    pub reference_nanos: u64,
}

impl Window {
    /// The sum of both brackets' widths: the window's uncertainty in TSC
    /// ticks.
    pub fn uncertainty(&self) -> u64 {
        self.start.width().saturating_add(self.end.width())
    }
}

/// Measured rates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rates {
    /// TSC frequency in Hz.
    pub tsc_hz: u64,
    /// LAPIC timer frequency (after its divider) in Hz.
    pub lapic_hz: u64,
    /// The chosen window's uncertainty in TSC ticks (for the boot log).
    pub uncertainty: u64,
}

/// The rates from the least disturbed usable window, or `None` if no window
/// is usable (no reference time passed, or the TSC or LAPIC went
/// backwards).
pub fn estimate(windows: &[Window]) -> Option<Rates> {
    let window = windows
        .iter()
        .filter(|w| {
            w.reference_nanos > 0
                && w.end.tsc_before >= w.start.tsc_after
                && w.end.lapic >= w.start.lapic
        })
        .min_by_key(|w| w.uncertainty())?;
    let scale = |ticks: u64| -> u64 {
        let hz = u128::from(ticks) * 1_000_000_000 / u128::from(window.reference_nanos);
        u64::try_from(hz).unwrap_or(u64::MAX)
    };
    Some(Rates {
        tsc_hz: scale(window.end.middle() - window.start.middle()),
        lapic_hz: scale(window.end.lapic - window.start.lapic),
        uncertainty: window.uncertainty(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TSC_HZ: u64 = 3_003_000_000;
    const LAPIC_HZ: u64 = 62_500_000;

    /// A window of `nanos` starting at TSC `at`, with `stall_start` and
    /// `stall_end` ticks of stall inside the two brackets (after the TSC
    /// read, before the reference event), as the host can cause.
    fn window(at: u64, nanos: u64, stall_start: u64, stall_end: u64) -> Window {
        let ticks = TSC_HZ * nanos / 1_000_000_000;
        let lapic = LAPIC_HZ * nanos / 1_000_000_000;
        let start_event = at + stall_start + 20;
        let end_event = start_event + ticks;
        Window {
            start: Mark {
                tsc_before: at,
                tsc_after: start_event + 20,
                lapic: 1000,
            },
            end: Mark {
                tsc_before: end_event - 20 - stall_end,
                tsc_after: end_event + 20,
                lapic: 1000 + lapic,
            },
            reference_nanos: nanos,
        }
    }

    fn close(measured: u64, truth: u64) -> bool {
        measured.abs_diff(truth) * 10_000 < truth
    }

    #[test]
    fn undisturbed_window_gives_the_rates() {
        let rates = estimate(&[window(5_000, 2_000_000, 0, 0)]).unwrap();
        assert!(close(rates.tsc_hz, TSC_HZ), "{rates:?}");
        assert!(close(rates.lapic_hz, LAPIC_HZ), "{rates:?}");
    }

    #[test]
    fn a_stalled_window_is_not_chosen() {
        // One window's start bracket holds a stall as long as the window
        // (what halved the guest clock once); read as one window it would
        // say about twice the rate.
        let stalled = window(1_000, 2_000_000, TSC_HZ / 500, 0);
        let naive = (stalled.end.tsc_after - stalled.start.tsc_before) * 500;
        assert!(naive > TSC_HZ * 19 / 10);
        let windows = [
            stalled,
            window(50_000_000, 2_000_000, 0, 0),
            window(60_000_000, 2_000_000, 0, TSC_HZ / 1000),
        ];
        let rates = estimate(&windows).unwrap();
        assert!(close(rates.tsc_hz, TSC_HZ), "{rates:?}");
        assert!(close(rates.lapic_hz, LAPIC_HZ), "{rates:?}");
        assert_eq!(rates.uncertainty, windows[1].uncertainty());
    }

    #[test]
    fn unusable_windows_are_rejected() {
        assert_eq!(estimate(&[]), None);
        assert_eq!(estimate(&[window(0, 0, 0, 0)]), None);
        let mut backwards = window(0, 2_000_000, 0, 0);
        backwards.end.lapic = 0;
        assert_eq!(estimate(&[backwards]), None);
        let good = window(10, 2_000_000, 0, 0);
        assert_eq!(estimate(&[backwards, good]), estimate(&[good]));
    }
}
