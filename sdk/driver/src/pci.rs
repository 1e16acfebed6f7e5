//! PCI configuration space through physical VMOs, as `virtio-drivers`'
//! `ConfigurationAccess`: a whole bus for the driver manager (which
//! enumerates it), one function for a driver (which reaches nothing else).
//!
//! Layout (PCI Express Base Specification, "Enhanced Configuration Access
//! Mechanism"): function `(bus, device, function)` has 4 KiB at
//! `bus << 20 | device << 15 | function << 12` from the ECAM base.

use crate::mmio::Mapping;
use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction};

/// Bytes of configuration space per function.
pub const FUNCTION_BYTES: u64 = 4096;
/// Bytes of configuration space per bus.
pub const BUS_BYTES: u64 = 1 << 20;

/// The byte offset of `function` from its bus's configuration space.
pub fn function_offset(function: DeviceFunction) -> u64 {
    (function.device as u64) << 15 | (function.function as u64) << 12
}

/// Configuration space of one bus (mapped from its ECAM window).
pub struct BusAccess {
    bus: u8,
    mapping: Mapping,
}

impl BusAccess {
    /// Over `mapping`, bus `bus`'s 1 MiB of configuration space.
    pub fn new(bus: u8, mapping: Mapping) -> BusAccess {
        BusAccess { bus, mapping }
    }
}

impl ConfigurationAccess for BusAccess {
    fn read_word(&self, function: DeviceFunction, register: u8) -> u32 {
        if function.bus != self.bus {
            return u32::MAX; // nothing answers
        }
        self.mapping
            .read_u32(function_offset(function) as usize + register as usize)
    }

    fn write_word(&mut self, function: DeviceFunction, register: u8, data: u32) {
        if function.bus == self.bus {
            self.mapping
                .write_u32(function_offset(function) as usize + register as usize, data);
        }
    }

    unsafe fn unsafe_clone(&self) -> Self {
        BusAccess {
            bus: self.bus,
            mapping: self.mapping,
        }
    }
}

/// Configuration space of one function: every other function reads as
/// absent.
pub struct FunctionAccess {
    function: DeviceFunction,
    mapping: Mapping,
}

impl FunctionAccess {
    /// Over `mapping`, `function`'s 4 KiB of configuration space.
    pub fn new(function: DeviceFunction, mapping: Mapping) -> FunctionAccess {
        FunctionAccess { function, mapping }
    }
}

impl ConfigurationAccess for FunctionAccess {
    fn read_word(&self, function: DeviceFunction, register: u8) -> u32 {
        if function != self.function {
            return u32::MAX;
        }
        self.mapping.read_u32(register as usize)
    }

    fn write_word(&mut self, function: DeviceFunction, register: u8, data: u32) {
        if function == self.function {
            self.mapping.write_u32(register as usize, data);
        }
    }

    unsafe fn unsafe_clone(&self) -> Self {
        FunctionAccess {
            function: self.function,
            mapping: self.mapping,
        }
    }
}
