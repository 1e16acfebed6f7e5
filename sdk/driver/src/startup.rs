//! The start-up handles the driver manager gives a driver (kinds from
//! `processargs::USER_BASE` on; each kind's argument says which).

use alloc::vec::Vec;
use zx::{processargs, Event, Resource, Vmo};

/// Kind of the VMO over the device's PCI configuration space (one 4 KiB
/// function); the argument is the function's address, `bus << 8 | device
/// << 3 | function`.
pub const DEVICE_CONFIG: u32 = processargs::USER_BASE + 1;
/// Kind of a VMO over one of the device's memory BARs; the argument is
/// the BAR's index.
pub const DEVICE_BAR: u32 = processargs::USER_BASE + 2;
/// Kind of the IRQ resource covering the device's interrupt line; the
/// argument is the line (a GSI).
pub const DEVICE_IRQ: u32 = processargs::USER_BASE + 3;
/// Kind of the IRQ resource covering the MSI number the device may use
/// (for MSI-X); the argument is the number.
pub const DEVICE_MSI: u32 = processargs::USER_BASE + 5;
/// Kind of the device token, which the driver shows the driver manager's
/// registry when it publishes the device.
pub const DEVICE_TOKEN: u32 = processargs::USER_BASE + 4;

/// The start-up handle kind `kind` with argument `arg`.
pub const fn kind(kind: u32, arg: u16) -> u32 {
    kind | (arg as u32) << 16
}

/// A PCI function's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    /// Bus.
    pub bus: u8,
    /// Device (slot).
    pub device: u8,
    /// Function.
    pub function: u8,
}

impl Address {
    /// As a 16-bit start-up argument.
    pub fn to_arg(self) -> u16 {
        (self.bus as u16) << 8 | (self.device as u16) << 3 | self.function as u16
    }

    /// From a 16-bit start-up argument.
    pub fn from_arg(arg: u16) -> Address {
        Address {
            bus: (arg >> 8) as u8,
            device: ((arg >> 3) & 0x1f) as u8,
            function: (arg & 7) as u8,
        }
    }
}

impl core::fmt::Display for Address {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

/// A driver's device, as its start-up handles describe it.
pub struct DeviceHandles {
    /// Where the device is.
    pub address: Address,
    /// Its configuration space.
    pub config: Vmo,
    /// Its memory BARs, by index.
    pub bars: Vec<(u8, Vmo)>,
    /// Its interrupt line and the resource to claim it.
    pub irq: Option<(u32, Resource)>,
    /// An MSI number for it and the resource to claim it, if the device
    /// can signal by message (MSI-X).
    pub msi: Option<(u32, Resource)>,
    /// The token to publish the device with.
    pub token: Event,
}

impl DeviceHandles {
    /// Takes the device's start-up handles; `None` if there is no
    /// configuration space or token (the program was not started by the
    /// driver manager).
    pub fn take() -> Option<DeviceHandles> {
        let (config_kind, config) = zx_runtime::take_startup_handle_of_type(DEVICE_CONFIG)?;
        let address = Address::from_arg(processargs::kind_arg(config_kind));
        let mut bars = Vec::new();
        while let Some((kind, handle)) = zx_runtime::take_startup_handle_of_type(DEVICE_BAR) {
            bars.push((processargs::kind_arg(kind) as u8, Vmo::from_handle(handle)));
        }
        let irq = zx_runtime::take_startup_handle_of_type(DEVICE_IRQ).map(|(kind, handle)| {
            (
                processargs::kind_arg(kind) as u32,
                Resource::from_handle(handle),
            )
        });
        let msi = zx_runtime::take_startup_handle_of_type(DEVICE_MSI).map(|(kind, handle)| {
            (
                processargs::kind_arg(kind) as u32,
                Resource::from_handle(handle),
            )
        });
        let (_, token) = zx_runtime::take_startup_handle_of_type(DEVICE_TOKEN)?;
        Some(DeviceHandles {
            address,
            config: Vmo::from_handle(config),
            bars,
            irq,
            msi,
            token: Event::from_handle(token),
        })
    }
}
