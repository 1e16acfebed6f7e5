//! Mapping physical VMOs (device memory) into the driver's address space.

use zx::{Handle, Status, VmOptions, Vmar, Vmo};

/// A read-write mapping of device memory that stays for the rest of the
/// process's life (the Hal and `virtio-drivers` keep raw pointers into
/// it, so it is never unmapped).
#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    address: usize,
    len: usize,
}

impl Mapping {
    /// Maps the first `len` bytes of `vmo` readable and writable (a
    /// physical VMO: uncached).
    pub fn map(vmo: &Vmo, len: u64) -> Result<Mapping, Status> {
        let root = core::mem::ManuallyDrop::new(Vmar::from_handle(Handle::from_raw(
            zx_runtime::vmar_root_self().0,
        )));
        let address = root.map(0, vmo, 0, len, VmOptions::PERM_READ | VmOptions::PERM_WRITE)?;
        Ok(Mapping {
            address,
            len: len as usize,
        })
    }

    /// Where it starts.
    pub fn address(&self) -> usize {
        self.address
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The 32-bit register at `offset` (4-aligned, inside the mapping).
    pub fn read_u32(&self, offset: usize) -> u32 {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.len,
            "register outside the mapping"
        );
        // SAFETY: the address is inside the mapping (checked), which is
        // readable and never unmapped; device registers are read volatile.
        unsafe { core::ptr::read_volatile((self.address + offset) as *const u32) }
    }

    /// The 16-bit register at `offset` (2-aligned, inside the mapping).
    pub fn read_u16(&self, offset: usize) -> u16 {
        assert!(
            offset.is_multiple_of(2) && offset + 2 <= self.len,
            "register outside the mapping"
        );
        // SAFETY: as in `read_u32`.
        unsafe { core::ptr::read_volatile((self.address + offset) as *const u16) }
    }

    /// Writes the 16-bit register at `offset`.
    pub fn write_u16(&self, offset: usize, value: u16) {
        assert!(
            offset.is_multiple_of(2) && offset + 2 <= self.len,
            "register outside the mapping"
        );
        // SAFETY: as in `write_u32`.
        unsafe { core::ptr::write_volatile((self.address + offset) as *mut u16, value) }
    }

    /// Writes the 32-bit register at `offset`.
    pub fn write_u32(&self, offset: usize, value: u32) {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.len,
            "register outside the mapping"
        );
        // SAFETY: as in `read_u32`; the mapping is writable.
        unsafe { core::ptr::write_volatile((self.address + offset) as *mut u32, value) }
    }
}
