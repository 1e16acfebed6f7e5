//! A user address space's page tables: the lower half belongs to the
//! process, the upper half is the kernel's, shared by copying the kernel's
//! top-level entries at creation.
//!
//! The tables only cache what the process's VMAR tree says: pages enter
//! them on demand (`mem::fault`) and leave when a mapping is removed. The
//! frames they point at belong to VMOs, so tearing the tables down frees
//! the table frames only.

use super::kernel_space::{kernel_root, DirectMapTables};
use paging::{Access, PageSize, PhysAddr, TableAccess};
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::PhysFrame;
use zx_abi::USER_ADDRESS_LIMIT;

/// One process's page tables.
pub struct AddressSpace {
    root: PhysAddr,
}

/// Number of top-level entries of the user half.
const USER_SLOTS: usize = 256;

fn flush(page: u64) {
    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(page));
}

impl AddressSpace {
    /// A new, empty address space.
    pub fn new() -> Option<AddressSpace> {
        let mut tables = DirectMapTables::new();
        let root = tables.alloc_table()?;
        let kernel = tables.table(kernel_root()).clone();
        tables.table(root).entries[USER_SLOTS..].copy_from_slice(&kernel.entries[USER_SLOTS..]);
        Some(AddressSpace { root })
    }

    fn is_active(&self) -> bool {
        Cr3::read().0.start_address().as_u64() == self.root.as_u64()
    }

    /// Maps the frame at `phys` at user page `virt`.
    pub fn map_frame(
        &mut self,
        virt: u64,
        phys: u64,
        access: Access,
    ) -> Result<(), paging::MapError> {
        if virt >= USER_ADDRESS_LIMIT {
            return Err(paging::MapError::NonCanonical);
        }
        let access = Access {
            user: true,
            ..access
        };
        paging::map(
            &mut DirectMapTables::new(),
            self.root,
            virt,
            PhysAddr::new(phys),
            PageSize::Size4K,
            access,
        )
    }

    /// Removes the page at `virt` if it is mapped.
    pub fn unmap_page(&mut self, virt: u64) {
        if paging::unmap(&mut DirectMapTables::new(), self.root, virt).is_ok() && self.is_active() {
            flush(virt);
        }
    }

    /// Changes the access of the page at `virt` if it is mapped.
    pub fn protect_page(&mut self, virt: u64, access: Access) {
        if paging::protect(&mut DirectMapTables::new(), self.root, virt, access).is_ok()
            && self.is_active()
        {
            flush(virt);
        }
    }

    /// Makes this address space current on this CPU.
    pub fn activate(&self) {
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
        // Never free the tables the CPU is using: fall back to the kernel's.
        if self.is_active() {
            let kernel =
                PhysFrame::containing_address(x86_64::PhysAddr::new(kernel_root().as_u64()));
            // SAFETY: the kernel root maps the whole kernel half.
            unsafe { Cr3::write(kernel, Cr3Flags::empty()) };
        }
        let mut tables = DirectMapTables::new();
        // Leaf frames belong to VMOs: only the tables are freed here.
        paging::free_subtrees(&mut tables, self.root, 0..USER_SLOTS, &mut |_, _| {});
        tables.free_table(self.root);
    }
}
