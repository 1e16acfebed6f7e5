//! The kernel heap: the `kheap` allocator (slab pages for small blocks,
//! whole pages for large ones) over frames from the frame allocator, with
//! large blocks mapped into a virtual range of their own
//! ([`KERNEL_HEAP_BASE`], in the kernel half every address space shares).
//!
//! Small blocks and single pages are reached through the direct map, so
//! they need no mapping; large blocks are mapped page by page, so they never
//! need physically contiguous memory. Every page goes back to the frame
//! allocator once nothing in it is in use: memory a program made the kernel
//! allocate returns to user programs when that program is gone (see the
//! `kheap` crate for what the heap keeps, a bounded amount).
//!
//! User space cannot drive the kernel out of memory: syscalls that make
//! the kernel allocate refuse with `NO_MEMORY` once free memory falls below
//! [`super::frames::RESERVE_FRAMES`] (see `syscalls::dispatch`), which keeps
//! frames for the kernel's own needs.

use super::frames;
use super::kernel_space::{kernel_root, DirectMapTables};
use super::{phys_to_virt, DIRECT_MAP_BASE};
use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};
use kheap::{Backing, Heap, Stats};
use paging::{Access, PageSize, PageTable, PhysAddr, TableAccess};
use spin::Mutex;

/// Page-table frames that map the heap's range now.
static TABLE_PAGES: AtomicUsize = AtomicUsize::new(0);

/// The kernel's tables, counting those made and freed for the heap's range
/// (so `KMEM_STATS` shows them, and a table that maps nothing any more is
/// given back: `paging::unmap_and_prune`).
struct HeapTables(DirectMapTables);

impl TableAccess for HeapTables {
    fn table(&mut self, phys: PhysAddr) -> &mut PageTable {
        self.0.table(phys)
    }

    fn alloc_table(&mut self) -> Option<PhysAddr> {
        let table = self.0.alloc_table()?;
        TABLE_PAGES.fetch_add(1, Ordering::Relaxed);
        Some(table)
    }

    fn free_table(&mut self, phys: PhysAddr) {
        TABLE_PAGES.fetch_sub(1, Ordering::Relaxed);
        self.0.free_table(phys);
    }
}

/// Page-table frames that map the heap's range now (held by the heap, not
/// in [`stats`]).
pub fn table_pages() -> usize {
    TABLE_PAGES.load(Ordering::Relaxed)
}

/// Where the heap's virtual range lives (PML4 slot 510, created at boot and
/// shared).
pub const KERNEL_HEAP_BASE: u64 = 0xffff_ff00_0000_0000;
/// Size of the range (half the slot): the largest the large blocks and
/// their metadata can span together.
pub const KERNEL_HEAP_SIZE: u64 = 256 << 30;

/// Pages from the frame allocator, mapped into the kernel's tables.
struct Frames;

// SAFETY: frames come from the frame allocator, which hands each out once
// until it is freed, and are reached through the direct map (all RAM,
// read-write); `map` maps a frame read-write at an address in the heap's own
// range, which nothing else maps, and `unmap` removes that mapping (and
// flushes it) before handing the frame back.
unsafe impl Backing for Frames {
    fn alloc_page(&mut self) -> Option<usize> {
        let frame = frames::alloc_zeroed()?;
        Some(phys_to_virt(frame.addr()) as usize)
    }

    fn free_page(&mut self, page: usize) {
        if page == 0 {
            return;
        }
        frames::free(pmm::Frame::containing(page as u64 - DIRECT_MAP_BASE));
    }

    fn map(&mut self, virt: usize, page: usize) -> bool {
        let access = Access {
            write: true,
            global: true,
            ..Access::READ
        };
        paging::map(
            &mut HeapTables(DirectMapTables::new()),
            kernel_root(),
            virt as u64,
            PhysAddr::new(page as u64 - DIRECT_MAP_BASE),
            PageSize::Size4K,
            access,
        )
        .is_ok()
    }

    fn unmap(&mut self, virt: usize) -> usize {
        // A page table (and directory) left empty is freed at once; the
        // flush below drops the paging-structure caches for `virt` before
        // anything can reuse their frames (the heap's lock is held).
        let Ok((translation, _)) = paging::unmap_and_prune(
            &mut HeapTables(DirectMapTables::new()),
            kernel_root(),
            virt as u64,
        ) else {
            // The heap only unmaps what it mapped: never reached. No log
            // here (logging may allocate, under the heap's lock).
            return 0;
        };
        x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(virt as u64));
        phys_to_virt(translation.phys.as_u64()) as usize
    }
}

struct LockedHeap(Mutex<Heap<Frames>>);

#[global_allocator]
static HEAP: LockedHeap = LockedHeap(Mutex::new(Heap::new(
    Frames,
    KERNEL_HEAP_BASE as usize,
    KERNEL_HEAP_SIZE as usize,
)));

/// The pages the heap holds now.
pub fn stats() -> Stats {
    HEAP.0.lock().stats()
}

// SAFETY: `kheap::Heap` hands out blocks of at least the layout's size and
// alignment that nothing else uses until they are given back; the lock makes
// every call exclusive.
unsafe impl GlobalAlloc for LockedHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0.lock().alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller (the alloc machinery) gives back a block this
        // allocator returned, with its layout.
        unsafe { self.0.lock().dealloc(ptr, layout) }
    }
}
