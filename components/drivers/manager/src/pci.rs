//! Enumerating PCI through ECAM (the ACPI MCFG, reported by
//! `system_get_pci_ecam`), and preparing each function for a driver:
//! memory decoding and bus mastering on, its BARs and interrupt line found.
//!
//! Interrupt routing: a function's INTx pin reaches an I/O APIC input
//! through the chipset, described by the ACPI `_PRT` method in AML. Without
//! an AML interpreter the manager uses the routing QEMU's q35 DSDT
//! declares for bus 0 slots below 0x18: pin `p` (1 = INTA#) of slot `s`
//! goes to PIRQ E–H, which are GSIs 20–23: `20 + (s + p - 1) % 4`.

use alloc::vec::Vec;
use zx::{Resource, Status, Vmo};
use zx_driver::mmio::Mapping;
use zx_driver::pci::{function_offset, BusAccess, BUS_BYTES};
use zx_driver::startup::Address;
use zx_driver::virtio_drivers::transport::pci::bus::{
    BarInfo, Command, ConfigurationAccess, DeviceFunction, PciRoot,
};

/// A memory BAR.
#[derive(Debug, Clone, Copy)]
pub struct Bar {
    /// Its index (0–5).
    pub index: u8,
    /// Physical address.
    pub address: u64,
    /// Size in bytes.
    pub size: u64,
}

/// A PCI function found on the bus.
#[derive(Debug, Clone)]
pub struct Function {
    pub address: Address,
    pub vendor: u16,
    pub device: u16,
    pub class: u8,
    pub subclass: u8,
    pub bars: Vec<Bar>,
    /// The GSI its INTx pin is routed to, if it has a pin.
    pub gsi: Option<u32>,
    /// Whether it has an MSI-X capability.
    pub msix: bool,
}

/// The bus and where its configuration space is.
pub struct Bus {
    /// Physical address of bus 0's configuration space.
    pub ecam_base: u64,
    /// Its functions.
    pub functions: Vec<Function>,
}

impl Bus {
    /// Physical address of `address`'s 4 KiB of configuration space.
    pub fn config_address(&self, address: Address) -> u64 {
        self.ecam_base
            + ((address.bus as u64) << 20)
            + function_offset(DeviceFunction {
                bus: address.bus,
                device: address.device,
                function: address.function,
            })
    }
}

/// The MSI-X capability's id (PCI Local Bus Specification 3.0, appendix H).
const CAP_MSIX: u8 = 0x11;

/// The q35 routing of INTx pin `pin` (1–4) of bus 0 slot `slot`.
fn q35_gsi(slot: u8, pin: u8) -> Option<u32> {
    if pin == 0 || pin > 4 || slot >= 0x18 {
        return None;
    }
    Some(20 + (slot as u32 + pin as u32 - 1) % 4)
}

/// Scans bus 0.
pub fn scan(mmio: &Resource) -> Result<Bus, Status> {
    let ecam = zx::pci_ecam(mmio)?;
    let bus = 0u8;
    let vmo = Vmo::create_physical(mmio, ecam.base, BUS_BYTES)?;
    let mapping = Mapping::map(&vmo, BUS_BYTES)?;
    // The mapping stays for the manager's life: keep the VMO too.
    core::mem::forget(vmo);
    let reader = BusAccess::new(bus, mapping);
    let mut root = PciRoot::new(BusAccess::new(bus, mapping));
    let mut functions = Vec::new();
    let found: Vec<_> = root.enumerate_bus(bus).collect();
    for (function, info) in found {
        let (_, command) = root.get_status_command(function);
        root.set_command(
            function,
            (command | Command::MEMORY_SPACE | Command::BUS_MASTER) - Command::INTERRUPT_DISABLE,
        );
        let mut bars = Vec::new();
        if let Ok(infos) = root.bars(function) {
            for (index, info) in infos.iter().enumerate() {
                if let Some(BarInfo::Memory { address, size, .. }) = info {
                    if *address != 0 && *size != 0 {
                        bars.push(Bar {
                            index: index as u8,
                            address: *address,
                            size: *size,
                        });
                    }
                }
            }
        }
        let msix = root.capabilities(function).any(|cap| cap.id == CAP_MSIX);
        // Interrupt pin: byte 1 of the register at 0x3c.
        let pin = (reader.read_word(function, 0x3c) >> 8) as u8;
        functions.push(Function {
            address: Address {
                bus: function.bus,
                device: function.device,
                function: function.function,
            },
            vendor: info.vendor_id,
            device: info.device_id,
            class: info.class,
            subclass: info.subclass,
            bars,
            gsi: q35_gsi(function.device, pin),
            msix,
        });
    }
    Ok(Bus {
        ecam_base: ecam.base,
        functions,
    })
}
