//! What a driver links.
//!
//! Drivers are user-space components (as in Fuchsia). The driver manager
//! finds a device on PCI and starts a driver with that device's handles
//! alone ([`startup`]): its configuration space and BARs as physical VMOs,
//! an IRQ resource narrowed to its interrupt line, and a token naming the
//! device; the component manager adds the `dma` resource the driver's
//! manifest uses. This crate turns those into what the `virtio-drivers`
//! crate needs:
//!
//! - [`pci`]: `ConfigurationAccess` over mapped configuration space (the
//!   whole bus for the manager, one function for a driver);
//! - [`mmio`]: mapping physical VMOs;
//! - [`hal`]: the `virtio_drivers::Hal` over kernel objects — DMA memory
//!   from contiguous VMOs (the `dma` resource), BARs through [`mmio`], and
//!   buffers shared with the device through bounce buffers in DMA memory;
//! - [`publish`]: publishing the device to the driver manager, which
//!   serves it in `/dev`;
//! - [`virtio`]: virtio-blk, -net and -console devices whose requests wait
//!   for the device's interrupt (the kernel's interrupt object) instead of
//!   spinning on the used ring.
//!
//! The `unsafe` steps (raw MMIO and DMA pointers, the non-blocking
//! virtio-drivers calls) live here, argued, so that drivers stay
//! `forbid(unsafe_code)`.
//!
//! Known gaps: no IOMMU (a driver's device can reach all memory, as on any
//! machine without one), so a driver is trusted as far as its device's DMA
//! goes; bounce buffers cost a copy per request; `flush` and the disk's
//! serial use virtio-drivers' blocking calls, which spin.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

/// Bindings of `idl/driver.idl` (the driver manager's registry).
pub mod bindings {
    #![allow(clippy::all, dead_code, unused_imports, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}
pub mod hal;
pub mod mmio;
pub mod pci;
pub mod publish;
pub mod startup;
pub mod virtio;

pub use virtio_drivers;
