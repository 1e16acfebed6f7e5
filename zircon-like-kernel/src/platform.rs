//! Platform discovery through ACPI (the `acpi` crate): CPUs and interrupt
//! controllers from the MADT, the HPET from its table.

use crate::mem::phys_to_virt;
use acpi::madt::{Madt, MadtEntry};
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
            _ => {}
        }
    }
    platform.hpet = HpetInfo::new(&tables)
        .ok()
        .map(|hpet| hpet.base_address as u64);
    Ok(platform)
}
