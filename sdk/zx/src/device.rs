//! What drivers use: physical VMOs over device memory, interrupt objects,
//! and where PCI configuration space is. Each call needs a resource.

use crate::handle::{AsHandleRef, Handle};
use crate::objects::{Port, Resource, Vmo};
use crate::raw;
use zx_abi::{syscall as nr, InterruptInfo, PciEcam, Status, Time, HANDLE_INVALID};

/// An interrupt object (`interrupt_create`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Interrupt(Handle);

impl AsHandleRef for Interrupt {
    fn raw_handle(&self) -> zx_abi::HandleValue {
        self.0.raw_handle()
    }
}

impl Interrupt {
    /// Claims `vector` (a GSI, an ISA IRQ or a virtual interrupt, by
    /// `options`: `INTERRUPT_GSI`, `INTERRUPT_ISA`, `INTERRUPT_VIRTUAL`);
    /// `resource` must cover it as `RSRC_KIND_IRQ`.
    pub fn create(resource: &Resource, vector: u32, options: u32) -> Result<Interrupt, Status> {
        let mut out = HANDLE_INVALID;
        // SAFETY: `out` is valid for the kernel to write.
        crate::status(unsafe {
            raw::syscall4(
                nr::INTERRUPT_CREATE,
                resource.raw_handle() as u64,
                vector as u64,
                options as u64,
                &mut out as *mut u32 as u64,
            )
        })?;
        Ok(Interrupt(Handle::from_raw(out)))
    }

    /// Wraps an untyped handle (the kernel checks the type on use).
    pub fn from_handle(handle: Handle) -> Interrupt {
        Interrupt(handle)
    }

    /// Unwraps the untyped handle.
    pub fn into_handle(self) -> Handle {
        self.0
    }

    /// Queues a `PACKET_INTERRUPT` packet with `key` on `port` each time
    /// the interrupt fires.
    pub fn bind(&self, port: &Port, key: u64) -> Result<(), Status> {
        // SAFETY: no pointers.
        crate::status(unsafe {
            raw::syscall4(
                nr::INTERRUPT_BIND,
                self.raw_handle() as u64,
                port.raw_handle() as u64,
                key,
                0,
            )
        })
    }

    /// Waits until the interrupt is pending or `deadline` passes.
    pub fn wait(&self, deadline: Time) -> Result<(), Status> {
        // SAFETY: no pointers.
        crate::status(unsafe {
            raw::syscall2(
                nr::INTERRUPT_WAIT,
                self.raw_handle() as u64,
                deadline as u64,
            )
        })
    }

    /// Acknowledges the interrupt: unmasks the line.
    pub fn ack(&self) -> Result<(), Status> {
        // SAFETY: no pointers.
        crate::status(unsafe { raw::syscall1(nr::INTERRUPT_ACK, self.raw_handle() as u64) })
    }

    /// Fires a virtual interrupt.
    pub fn trigger(&self) -> Result<(), Status> {
        // SAFETY: no pointers.
        crate::status(unsafe { raw::syscall1(nr::INTERRUPT_TRIGGER, self.raw_handle() as u64) })
    }

    /// The interrupt's line, fire count and state.
    pub fn info(&self) -> Result<InterruptInfo, Status> {
        let mut info = InterruptInfo::default();
        // SAFETY: `info` is valid for the kernel to write.
        crate::status(unsafe {
            raw::syscall2(
                nr::INTERRUPT_GET_INFO,
                self.raw_handle() as u64,
                &mut info as *mut InterruptInfo as u64,
            )
        })?;
        Ok(info)
    }
}

impl Vmo {
    /// A VMO over device memory `[paddr, paddr + size)` (page-aligned),
    /// mapped uncached; `resource` must cover it as `RSRC_KIND_MMIO`.
    pub fn create_physical(resource: &Resource, paddr: u64, size: u64) -> Result<Vmo, Status> {
        let mut out = HANDLE_INVALID;
        // SAFETY: `out` is valid for the kernel to write.
        crate::status(unsafe {
            raw::syscall4(
                nr::VMO_CREATE_PHYSICAL,
                resource.raw_handle() as u64,
                paddr,
                size,
                &mut out as *mut u32 as u64,
            )
        })?;
        Ok(Vmo::from_handle(Handle::from_raw(out)))
    }
}

/// Where PCI Express configuration space is; `resource` must cover bus 0's
/// as `RSRC_KIND_MMIO`.
pub fn pci_ecam(resource: &Resource) -> Result<PciEcam, Status> {
    let mut info = PciEcam::default();
    // SAFETY: `info` is valid for the kernel to write.
    crate::status(unsafe {
        raw::syscall2(
            nr::SYSTEM_GET_PCI_ECAM,
            resource.raw_handle() as u64,
            &mut info as *mut PciEcam as u64,
        )
    })?;
    Ok(info)
}
