//! The kernel heap: `linked_list_allocator` over a virtual range of its own
//! (`KERNEL_HEAP_BASE`, in the kernel half every address space shares),
//! backed by frames mapped as the heap grows.
//!
//! It starts at 1/64 of RAM (256 KiB to 4 MiB) and grows in steps of at
//! least 256 KiB whenever an allocation does not fit, up to
//! [`KERNEL_HEAP_MAX`]. Growth needs frames that are not physically
//! contiguous, so the heap never fails for lack of a contiguous run.
//!
//! Small blocks (at most 1 KiB) go through size classes (the
//! `size-classes` crate) in front of it: a freed block is kept on its
//! class's free list and handed out again by the next allocation of that
//! class, in a few instructions instead of a first-fit walk of the hole
//! list (the IPC path allocates and frees a handful of blocks per message).
//!
//! User space cannot drive the kernel out of memory: syscalls that make
//! the kernel allocate refuse with `NO_MEMORY` once free memory falls below
//! [`super::frames::RESERVE_FRAMES`] (see `syscalls::dispatch`), which keeps
//! frames for the kernel's own needs.

use super::frames;
use super::kernel_space::{kernel_root, DirectMapTables};
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use linked_list_allocator::Heap;
use paging::{Access, PageSize, PhysAddr};
use size_classes::{class_layout, class_of, SizeClasses};
use spin::Mutex;

/// Where the heap lives (PML4 slot 510, created at boot and shared).
pub const KERNEL_HEAP_BASE: u64 = 0xffff_ff00_0000_0000;
/// Most the heap may grow to.
pub const KERNEL_HEAP_MAX: u64 = 4 << 30;
const STEP: u64 = 256 * 1024;

struct KernelHeap {
    heap: Heap,
    mapped: u64,
    classes: SizeClasses,
}

struct LockedHeap(Mutex<KernelHeap>);

#[global_allocator]
static HEAP: LockedHeap = LockedHeap(Mutex::new(KernelHeap {
    heap: Heap::empty(),
    mapped: 0,
    classes: SizeClasses::new(),
}));

impl KernelHeap {
    /// Maps `bytes` more (rounded up to pages) at the heap's end.
    fn map_more(&mut self, bytes: u64) -> bool {
        let bytes = bytes.next_multiple_of(pmm::FRAME_SIZE);
        if self.mapped + bytes > KERNEL_HEAP_MAX {
            return false;
        }
        let mut tables = DirectMapTables::new();
        let access = Access {
            write: true,
            global: true,
            ..Access::READ
        };
        let mut offset = 0;
        while offset < bytes {
            let Some(frame) = frames::alloc_zeroed() else {
                break;
            };
            let virt = KERNEL_HEAP_BASE + self.mapped + offset;
            let phys = PhysAddr::new(frame.addr());
            if paging::map(
                &mut tables,
                kernel_root(),
                virt,
                phys,
                PageSize::Size4K,
                access,
            )
            .is_err()
            {
                frames::free(frame);
                break;
            }
            offset += pmm::FRAME_SIZE;
        }
        if offset == 0 {
            return false;
        }
        if self.mapped == 0 {
            // SAFETY: the range was just mapped read-write for the heap alone.
            unsafe { self.heap.init(KERNEL_HEAP_BASE as *mut u8, offset as usize) };
        } else {
            // SAFETY: the new pages start exactly at the heap's top.
            unsafe { self.heap.extend(offset as usize) };
        }
        self.mapped += offset;
        offset == bytes
    }
}

impl KernelHeap {
    /// A block for `layout` from the hole list, growing the heap if needed.
    fn allocate_first_fit(&mut self, layout: Layout) -> *mut u8 {
        if let Ok(block) = self.heap.allocate_first_fit(layout) {
            return block.as_ptr();
        }
        let needed = (layout.size() + layout.align()) as u64;
        self.map_more(needed.max(STEP));
        self.heap
            .allocate_first_fit(layout)
            .map_or(core::ptr::null_mut(), |block| block.as_ptr())
    }
}

// SAFETY: blocks come from linked_list_allocator under a lock, either
// directly or through a class free list that only holds blocks it returned
// for that class's layout (at least as large and as aligned as any layout
// the class serves); a block is on at most one list and never also in use.
unsafe impl GlobalAlloc for LockedHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.0.lock();
        let Some(class) = class_of(layout) else {
            return heap.allocate_first_fit(layout);
        };
        // SAFETY: only `dealloc` below pushes, under its contract.
        if let Some(block) = unsafe { heap.classes.pop(class) } {
            return block;
        }
        heap.allocate_first_fit(class_layout(class))
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(block) = NonNull::new(ptr) else {
            return;
        };
        let mut heap = self.0.lock();
        match class_of(layout) {
            // SAFETY: the caller gives back a block it no longer uses,
            // which `alloc` made with the class's layout.
            Some(class) if unsafe { heap.classes.push(class, ptr) } => {}
            Some(class) => {
                // SAFETY: a class block came from the hole list with the
                // class's layout.
                unsafe { heap.heap.deallocate(block, class_layout(class)) }
            }
            // SAFETY: the caller (the alloc machinery) passes a block this
            // allocator returned, with its layout.
            None => unsafe { heap.heap.deallocate(block, layout) },
        }
    }
}

/// Creates the heap; returns its initial size in bytes.
pub fn init(usable_bytes: u64) -> u64 {
    let size = (usable_bytes / 64).clamp(STEP, 4 << 20);
    let mut heap = HEAP.0.lock();
    if !heap.map_more(size) {
        panic!("no memory for the kernel heap");
    }
    heap.mapped
}
