//! Resources: the right to use privileged kernel services, as in Zircon.
//!
//! A resource names a kind and a range: physical addresses (`MMIO`),
//! interrupt lines (`IRQ`), I/O ports (`IOPORT`), or one kernel service
//! (`SYSTEM`: console input, the kernel log, power, contiguous memory).
//! Calls that reach past a process's own objects take a resource handle
//! and check that it covers what they do ([`Resource::check`]). The kernel
//! gives the one root resource, which covers everything, to userboot;
//! narrower resources are made from it with `resource_create` and handed
//! on, so a program holds exactly the privileges someone chose to give it.

use super::{impl_into_any, KernelObject, ObjectBase};
use alloc::sync::Arc;
use zx_abi::{
    ObjectType, Signals, Status, RSRC_KIND_IOPORT, RSRC_KIND_IRQ, RSRC_KIND_MMIO, RSRC_KIND_ROOT,
    RSRC_KIND_SYSTEM, RSRC_SYSTEM_COUNT,
};

/// A resource.
pub struct Resource {
    base: ObjectBase,
    kind: u32,
    start: u64,
    size: u64,
}

impl Resource {
    /// The root resource (made once, for userboot).
    pub fn new_root() -> Arc<Resource> {
        Arc::new(Resource {
            base: ObjectBase::new(Signals::empty()),
            kind: RSRC_KIND_ROOT,
            start: 0,
            size: 0,
        })
    }

    /// Whether this resource allows `kind` over `[base, base + size)`.
    pub fn covers(&self, kind: u32, base: u64, size: u64) -> bool {
        if self.kind == RSRC_KIND_ROOT {
            return true;
        }
        let Some(end) = base.checked_add(size) else {
            return false;
        };
        self.kind == kind && base >= self.start && end <= self.start + self.size
    }

    /// `Ok` if this resource allows `kind` over `[base, base + size)`,
    /// `ACCESS_DENIED` otherwise.
    pub fn check(&self, kind: u32, base: u64, size: u64) -> Result<(), Status> {
        if self.covers(kind, base, size) {
            Ok(())
        } else {
            Err(Status::ACCESS_DENIED)
        }
    }

    /// `Ok` if this resource allows the system service `which`.
    pub fn check_system(&self, which: u64) -> Result<(), Status> {
        self.check(RSRC_KIND_SYSTEM, which, 1)
    }

    /// A resource narrower than this one; the arguments are checked.
    pub fn narrow(&self, kind: u32, base: u64, size: u64) -> Result<Arc<Resource>, Status> {
        let known = matches!(
            kind,
            RSRC_KIND_MMIO | RSRC_KIND_IRQ | RSRC_KIND_IOPORT | RSRC_KIND_SYSTEM
        );
        base.checked_add(size).ok_or(Status::INVALID_ARGS)?;
        if !known || size == 0 {
            return Err(Status::INVALID_ARGS);
        }
        if kind == RSRC_KIND_SYSTEM && (size != 1 || base >= RSRC_SYSTEM_COUNT) {
            return Err(Status::INVALID_ARGS);
        }
        self.check(kind, base, size)?;
        Ok(Arc::new(Resource {
            base: ObjectBase::new(Signals::empty()),
            kind,
            start: base,
            size,
        }))
    }
}

impl KernelObject for Resource {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> ObjectType {
        ObjectType::Resource
    }

    impl_into_any!();
}
