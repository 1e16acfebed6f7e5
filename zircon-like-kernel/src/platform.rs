//! Platform discovery through ACPI (the `acpi` crate): CPUs and interrupt
//! controllers (with the ISA interrupt source overrides) from the MADT, the
//! HPET from its table, PCI Express configuration space from the MCFG.

use crate::mem::phys_to_virt;
use acpi::madt::{Madt, MadtEntry};
use acpi::mcfg::Mcfg;
use acpi::{AcpiHandler, AcpiTables, HpetInfo, PhysicalMapping};
use alloc::vec::Vec;
use core::ptr::NonNull;

/// Gives `acpi` the tables through the direct map (ACPI tables are in RAM,
/// which the direct map covers).
#[derive(Clone, Copy)]
struct DirectMapHandler;

impl AcpiHandler for DirectMapHandler {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let virt = NonNull::new(phys_to_virt(physical_address as u64) as *mut T)
            .expect("direct map is never null");
        // SAFETY: the direct map covers all RAM and the low 4 GiB, where
        // firmware places ACPI tables; the mapping is permanent.
        unsafe { PhysicalMapping::new(physical_address, virt, size, size, *self) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// An I/O APIC.
#[derive(Clone, Copy, Debug)]
pub struct IoApic {
    /// Physical address of its registers.
    pub address: u64,
    /// First global system interrupt it handles.
    pub gsi_base: u32,
}

/// An ISA IRQ the MADT routes elsewhere than the GSI of the same number.
#[derive(Clone, Copy, Debug)]
pub struct InterruptOverride {
    /// The ISA IRQ.
    pub irq: u8,
    /// The GSI it arrives on.
    pub gsi: u32,
    /// MPS INTI flags: polarity (bits 0–1) and trigger mode (bits 2–3).
    pub flags: u16,
}

/// PCI Express enhanced configuration space (the MCFG's first entry).
#[derive(Clone, Copy, Debug)]
pub struct PciEcam {
    /// Physical address of bus 0's configuration space.
    pub base: u64,
    /// The PCI segment group.
    pub segment: u16,
    /// First bus decoded.
    pub bus_start: u8,
    /// Last bus decoded.
    pub bus_end: u8,
}

/// What the firmware says about the machine.
pub struct Platform {
    /// APIC ids of the usable CPUs, boot CPU included.
    pub cpu_apic_ids: Vec<u32>,
    /// Physical address of the local APIC.
    pub local_apic: u64,
    /// The I/O APICs.
    pub io_apics: Vec<IoApic>,
    /// Physical address of the HPET, if there is one.
    pub hpet: Option<u64>,
    /// ISA interrupt source overrides.
    pub overrides: Vec<InterruptOverride>,
    /// PCI Express configuration space, if the MCFG describes one.
    pub pci_ecam: Option<PciEcam>,
}

/// Why ACPI could not be used.
#[derive(Debug)]
pub struct PlatformError(pub acpi::AcpiError);

impl core::fmt::Display for PlatformError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "cannot read the ACPI tables: {:?}", self.0)
    }
}

/// Reads the ACPI tables.
pub fn discover(rsdp: Option<u64>) -> Result<Platform, PlatformError> {
    // SAFETY: the RSDP address comes from the boot loader (or the BIOS area
    // search) and the handler maps through the direct map.
    let tables = unsafe {
        match rsdp {
            Some(address) => AcpiTables::from_rsdp(DirectMapHandler, address as usize),
            None => AcpiTables::search_for_rsdp_bios(DirectMapHandler),
        }
    }
    .map_err(PlatformError)?;
    let madt = tables.find_table::<Madt>().map_err(PlatformError)?;
    let madt = madt.get();
    let mut platform = Platform {
        cpu_apic_ids: Vec::new(),
        local_apic: madt.local_apic_address as u64,
        io_apics: Vec::new(),
        hpet: None,
        overrides: Vec::new(),
        pci_ecam: None,
    };
    for entry in madt.entries() {
        match entry {
            MadtEntry::LocalApic(cpu) => {
                let flags = cpu.flags;
                // Bit 0: enabled; bit 1: can be brought online.
                if flags & 0b11 != 0 {
                    platform.cpu_apic_ids.push(cpu.apic_id as u32);
                }
            }
            MadtEntry::LocalX2Apic(cpu) => {
                let flags = cpu.flags;
                if flags & 0b11 != 0 {
                    platform.cpu_apic_ids.push(cpu.x2apic_id);
                }
            }
            MadtEntry::IoApic(io) => platform.io_apics.push(IoApic {
                address: io.io_apic_address as u64,
                gsi_base: io.global_system_interrupt_base,
            }),
            MadtEntry::LocalApicAddressOverride(over) => {
                platform.local_apic = over.local_apic_address
            }
            MadtEntry::InterruptSourceOverride(over) if over.bus == 0 => {
                platform.overrides.push(InterruptOverride {
                    irq: over.irq,
                    gsi: over.global_system_interrupt,
                    flags: over.flags,
                })
            }
            _ => {}
        }
    }
    platform.hpet = HpetInfo::new(&tables)
        .ok()
        .map(|hpet| hpet.base_address as u64);
    if let Ok(mcfg) = tables.find_table::<Mcfg>() {
        platform.pci_ecam = mcfg.get().entries().first().map(|entry| PciEcam {
            base: entry.base_address,
            segment: entry.pci_segment_group,
            bus_start: entry.bus_number_start,
            bus_end: entry.bus_number_end,
        });
    }
    Ok(platform)
}

/// What user space may learn about the machine, and which device memory
/// the kernel keeps for itself; recorded once at boot.
pub struct Devices {
    /// PCI Express configuration space.
    pub pci_ecam: Option<PciEcam>,
    /// Physical pages of devices the kernel drives (local APIC, I/O APICs,
    /// HPET): never handed out as physical VMOs.
    pub kernel_owned: Vec<u64>,
}

static DEVICES: spin::Once<Devices> = spin::Once::new();

/// Records what `discover` found for later calls.
pub fn record(platform: &Platform) {
    DEVICES.call_once(|| {
        let mut kernel_owned = alloc::vec![platform.local_apic & !0xfff];
        kernel_owned.extend(platform.io_apics.iter().map(|io| io.address & !0xfff));
        kernel_owned.extend(platform.hpet.map(|hpet| hpet & !0xfff));
        Devices {
            pci_ecam: platform.pci_ecam,
            kernel_owned,
        }
    });
}

/// What `record` kept.
pub fn devices() -> Option<&'static Devices> {
    DEVICES.get()
}
