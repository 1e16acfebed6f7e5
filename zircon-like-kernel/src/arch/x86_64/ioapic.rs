//! Routing device interrupts through the I/O APICs: which I/O APIC serves
//! a global system interrupt (GSI), how an ISA IRQ maps to a GSI (the ACPI
//! MADT's interrupt source overrides), and programming, masking and
//! unmasking redirection entries.
//!
//! Interrupt number `n` (what IRQ resources cover) is delivered on CPU
//! vector [`VECTOR_BASE`]` + n`: numbers below `INTERRUPT_MAX_GSI` are
//! GSIs, routed here to the boot CPU in fixed, physical-destination mode;
//! the `INTERRUPT_MSI_COUNT` numbers after them are message-signalled
//! interrupts, which devices raise by writing [`msi_message`]. The vector
//! range stays below the remapped legacy PIC (0xe0). Register layout: the 82093AA I/O
//! APIC datasheet (IOREGSEL at +0, IOWIN at +0x10; entry `n` at registers
//! `0x10 + 2n` (low) and `0x11 + 2n` (high)).

use crate::mem::phys_to_virt;
use crate::platform::{InterruptOverride, IoApic};
use alloc::vec::Vec;
use spin::{Mutex, Once};
use zx_abi::{INTERRUPT_MAX_GSI, INTERRUPT_MSI_BASE, INTERRUPT_MSI_COUNT};

/// The CPU vector of GSI 0.
pub const VECTOR_BASE: u64 = 0x30;

const MASKED: u32 = 1 << 16;
const LEVEL: u32 = 1 << 15;
const ACTIVE_LOW: u32 = 1 << 13;

/// How a line signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// Level-triggered (else edge).
    pub level: bool,
    /// Active-low (else active-high).
    pub active_low: bool,
}

/// A GSI with its trigger mode and polarity.
#[derive(Clone, Copy, Debug)]
pub struct Line {
    /// The global system interrupt.
    pub gsi: u32,
    /// How it signals.
    pub mode: Mode,
}

struct Controllers {
    io_apics: Vec<(IoApic, u32)>,
    overrides: Vec<InterruptOverride>,
}

static CONTROLLERS: Once<Controllers> = Once::new();
/// Serialises IOREGSEL/IOWIN pairs.
static REGISTERS: Mutex<()> = Mutex::new(());

/// Records the I/O APICs (with their entry counts) and the overrides.
pub fn init(io_apics: Vec<(IoApic, u32)>, overrides: Vec<InterruptOverride>) {
    CONTROLLERS.call_once(|| Controllers {
        io_apics,
        overrides,
    });
}

/// Interrupt numbers: GSIs, then MSIs.
pub const NUMBERS: u32 = INTERRUPT_MSI_BASE + INTERRUPT_MSI_COUNT;
const _: () = assert!(INTERRUPT_MSI_BASE == INTERRUPT_MAX_GSI);
const _: () = assert!(VECTOR_BASE + NUMBERS as u64 <= 0xe0);

/// The CPU vector interrupt number `number` is delivered on.
pub fn vector_of(number: u32) -> u64 {
    VECTOR_BASE + number as u64
}

/// The interrupt number delivered on CPU `vector`, if it is a device
/// vector.
pub fn number_of(vector: u64) -> Option<u32> {
    let number = vector.checked_sub(VECTOR_BASE)?;
    (number < NUMBERS as u64).then_some(number as u32)
}

/// Whether `number` is a GSI (else an MSI).
pub fn is_gsi(number: u32) -> bool {
    number < INTERRUPT_MAX_GSI
}

/// Whether `number` is an MSI number.
pub fn is_msi(number: u32) -> bool {
    (INTERRUPT_MSI_BASE..NUMBERS).contains(&number)
}

/// The (address, data) a device writes to raise MSI `number` on the boot
/// CPU: Intel SDM Vol. 3A §11.11 — address `0xfee00000 | destination <<
/// 12` (physical mode), data the vector (fixed delivery, edge).
pub fn msi_message(number: u32) -> (u64, u32) {
    let destination = super::apic::local_id() as u64;
    (0xfee0_0000 | destination << 12, vector_of(number) as u32)
}

/// ISA IRQ `irq` as a line: its override if the MADT has one, else the
/// identity mapping, edge-triggered and active-high (ACPI 6.5 §5.2.12.5).
pub fn isa_line(irq: u8) -> Line {
    let identity = Line {
        gsi: irq as u32,
        mode: Mode {
            level: false,
            active_low: false,
        },
    };
    let Some(controllers) = CONTROLLERS.get() else {
        return identity;
    };
    match controllers.overrides.iter().find(|o| o.irq == irq) {
        // MPS INTI flags: polarity in bits 0–1 (3 = active low), trigger
        // mode in bits 2–3 (3 = level); 0 means "conforms to the bus" (ISA:
        // active-high, edge).
        Some(o) => Line {
            gsi: o.gsi,
            mode: Mode {
                level: (o.flags >> 2) & 3 == 3,
                active_low: o.flags & 3 == 3,
            },
        },
        None => identity,
    }
}

/// The register window of the I/O APIC serving `gsi`, and the entry index.
fn locate(gsi: u32) -> Option<(u64, u32)> {
    let controllers = CONTROLLERS.get()?;
    controllers.io_apics.iter().find_map(|(io, entries)| {
        let index = gsi.checked_sub(io.gsi_base)?;
        (index < *entries).then_some((io.address, index))
    })
}

/// Whether an I/O APIC serves `gsi`.
pub fn serves(gsi: u32) -> bool {
    gsi < INTERRUPT_MAX_GSI && locate(gsi).is_some()
}

fn write_register(base: u64, register: u32, value: u32) {
    let _guard = REGISTERS.lock();
    // SAFETY: `base` is an I/O APIC the MADT described, reached through the
    // direct map (uncached outside RAM); IOREGSEL selects, IOWIN carries.
    unsafe {
        core::ptr::write_volatile(phys_to_virt(base) as *mut u32, register);
        core::ptr::write_volatile(phys_to_virt(base + 0x10) as *mut u32, value);
    }
}

fn read_register(base: u64, register: u32) -> u32 {
    let _guard = REGISTERS.lock();
    // SAFETY: as in `write_register`.
    unsafe {
        core::ptr::write_volatile(phys_to_virt(base) as *mut u32, register);
        core::ptr::read_volatile(phys_to_virt(base + 0x10) as *const u32)
    }
}

/// Programs `line`'s redirection entry (left masked): fixed delivery of
/// its vector to the boot CPU. False if no I/O APIC serves it.
pub fn route(line: Line) -> bool {
    let Some((base, index)) = locate(line.gsi) else {
        return false;
    };
    let mut low = vector_of(line.gsi) as u32 | MASKED;
    if line.mode.level {
        low |= LEVEL;
    }
    if line.mode.active_low {
        low |= ACTIVE_LOW;
    }
    let destination = super::apic::local_id() << 24;
    write_register(base, 0x10 + index * 2, MASKED);
    write_register(base, 0x11 + index * 2, destination);
    write_register(base, 0x10 + index * 2, low);
    true
}

fn set_masked(gsi: u32, masked: bool) {
    if let Some((base, index)) = locate(gsi) {
        let low = read_register(base, 0x10 + index * 2);
        let low = if masked { low | MASKED } else { low & !MASKED };
        write_register(base, 0x10 + index * 2, low);
    }
}

/// Masks `gsi`.
pub fn mask(gsi: u32) {
    set_masked(gsi, true);
}

/// Unmasks `gsi`.
pub fn unmask(gsi: u32) {
    set_masked(gsi, false);
}
