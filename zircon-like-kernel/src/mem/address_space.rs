//! A user address space: a top-level table whose lower half belongs to the
//! process and whose upper half is the kernel's, shared by copying the
//! kernel's top-level entries.
//!
//! Pages mapped here are owned by the address space and freed with it.
//! (With VMOs, mappings will reference VMO pages instead.)

use super::frames;
use super::kernel_space::{kernel_root, DirectMapTables};
use paging::{Access, MapError, PageSize, PhysAddr, TableAccess};
use zx_abi::USER_ADDRESS_LIMIT;

/// One process's page tables.
pub struct AddressSpace {
    root: PhysAddr,
    pages: u64,
}

/// Number of top-level entries of the user half.
const USER_SLOTS: usize = 256;

impl AddressSpace {
    /// A new, empty address space.
    pub fn new() -> Option<AddressSpace> {
        let mut tables = DirectMapTables::new();
        let root = tables.alloc_table()?;
        let kernel = tables.table(kernel_root()).clone();
        tables.table(root).entries[USER_SLOTS..].copy_from_slice(&kernel.entries[USER_SLOTS..]);
        Some(AddressSpace { root, pages: 0 })
    }

    /// Maps a new zeroed page at `virt` (user space) and returns its
    /// physical address.
    pub fn map_new_page(&mut self, virt: u64, access: Access) -> Result<PhysAddr, MapError> {
        if virt >= USER_ADDRESS_LIMIT {
            return Err(MapError::NonCanonical);
        }
        let frame = frames::alloc_zeroed().ok_or(MapError::OutOfTables)?;
        let phys = PhysAddr::new(frame.addr());
        let access = Access {
            user: true,
            ..access
        };
        let result = paging::map(
            &mut DirectMapTables::new(),
            self.root,
            virt,
            phys,
            PageSize::Size4K,
            access,
        );
        if let Err(error) = result {
            frames::free(frame);
            return Err(error);
        }
        self.pages += 1;
        Ok(phys)
    }

    /// Bytes of memory mapped.
    pub fn mapped_bytes(&self) -> u64 {
        self.pages * pmm::FRAME_SIZE
    }

    /// Makes this address space current on this CPU.
    pub fn activate(&self) {
        use x86_64::registers::control::{Cr3, Cr3Flags};
        use x86_64::structures::paging::PhysFrame;
        let frame = PhysFrame::containing_address(x86_64::PhysAddr::new(self.root.as_u64()));
        if Cr3::read().0 != frame {
            // SAFETY: the root maps the kernel half identically to every
            // other address space, so the running kernel code stays mapped.
            unsafe { Cr3::write(frame, Cr3Flags::empty()) };
        }
    }
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        use x86_64::registers::control::{Cr3, Cr3Flags};
        use x86_64::structures::paging::PhysFrame;
        // Never free the tables the CPU is using: fall back to the kernel's.
        if Cr3::read().0.start_address().as_u64() == self.root.as_u64() {
            let kernel =
                PhysFrame::containing_address(x86_64::PhysAddr::new(kernel_root().as_u64()));
            // SAFETY: the kernel root maps the whole kernel half.
            unsafe { Cr3::write(kernel, Cr3Flags::empty()) };
        }
        let mut tables = DirectMapTables::new();
        paging::free_subtrees(&mut tables, self.root, 0..USER_SLOTS, &mut |phys, _| {
            frames::free(pmm::Frame::containing(phys.as_u64()));
        });
        tables.free_table(self.root);
    }
}
