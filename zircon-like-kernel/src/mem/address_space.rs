//! A user address space's page tables: the lower half belongs to the
//! process, the upper half is the kernel's, shared by copying the kernel's
//! top-level entries at creation.
//!
//! The tables only cache what the process's VMAR tree says: pages enter
//! them on demand (`mem::fault`) and leave when a mapping is removed. The
//! frames they point at belong to VMOs, so tearing the tables down frees
//! the table frames only.
//!
//! Table frames are charged to the process's job (its memory account),
//! like the pages of its VMOs: a program mapping single pages far apart
//! makes the kernel allocate up to three tables per page, and those count
//! against its memory limit.

use super::kernel_space::{kernel_root, DirectMapTables};
use crate::object::account::MemoryAccount;
use alloc::sync::Arc;
use paging::{Access, PageSize, PageTable, PhysAddr, TableAccess};
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::PhysFrame;
use zx_abi::USER_ADDRESS_LIMIT;

/// One process's page tables.
pub struct AddressSpace {
    root: PhysAddr,
    /// Who the table frames are charged to, and how many are.
    account: Arc<MemoryAccount>,
    tables: u64,
}

/// Table frames allocated for a process: charged to its account first.
struct ChargedTables<'a> {
    direct: DirectMapTables,
    account: &'a MemoryAccount,
    allocated: &'a mut u64,
}

impl TableAccess for ChargedTables<'_> {
    fn table(&mut self, phys: PhysAddr) -> &mut PageTable {
        self.direct.table(phys)
    }

    fn alloc_table(&mut self) -> Option<PhysAddr> {
        self.account.charge(pmm::FRAME_SIZE).ok()?;
        let Some(table) = self.direct.alloc_table() else {
            self.account.uncharge(pmm::FRAME_SIZE);
            return None;
        };
        *self.allocated += 1;
        Some(table)
    }

    fn free_table(&mut self, phys: PhysAddr) {
        self.direct.free_table(phys);
        *self.allocated -= 1;
        self.account.uncharge(pmm::FRAME_SIZE);
    }
}

/// Number of top-level entries of the user half.
const USER_SLOTS: usize = 256;

fn flush(page: u64) {
    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(page));
}

impl AddressSpace {
    /// A new, empty address space whose tables are charged to `account`.
    pub fn new(account: &Arc<MemoryAccount>) -> Option<AddressSpace> {
        let mut tables = 0;
        let root = ChargedTables {
            direct: DirectMapTables::new(),
            account,
            allocated: &mut tables,
        }
        .alloc_table()?;
        let mut direct = DirectMapTables::new();
        let kernel = direct.table(kernel_root()).clone();
        direct.table(root).entries[USER_SLOTS..].copy_from_slice(&kernel.entries[USER_SLOTS..]);
        Some(AddressSpace {
            root,
            account: Arc::clone(account),
            tables,
        })
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
            &mut ChargedTables {
                direct: DirectMapTables::new(),
                account: &self.account,
                allocated: &mut self.tables,
            },
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
        self.account.uncharge(self.tables * pmm::FRAME_SIZE);
    }
}
