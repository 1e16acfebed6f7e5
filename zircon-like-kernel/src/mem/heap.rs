//! The kernel heap: `linked_list_allocator` over one physically contiguous
//! block reached through the direct map, sized from installed RAM (1/16 of
//! it, between 1 and 64 MiB).
//!
//! Known gap: the heap does not grow; kernel objects that scale with user
//! demand (VMO pages) come from the frame allocator, not from here.

use super::{frames, phys_to_virt};
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use linked_list_allocator::Heap;
use spin::Mutex;

struct KernelHeap(Mutex<Heap>);

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(Mutex::new(Heap::empty()));

// SAFETY: allocation is delegated to linked_list_allocator under a lock;
// it returns blocks that satisfy the layout or null.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0
            .lock()
            .allocate_first_fit(layout)
            .map_or(core::ptr::null_mut(), |block| block.as_ptr())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(block) = NonNull::new(ptr) {
            // SAFETY: the caller (the alloc machinery) passes a block this
            // allocator returned, with its layout.
            unsafe { self.0.lock().deallocate(block, layout) }
        }
    }
}

/// Creates the heap; returns its size in bytes.
pub fn init(usable_bytes: u64) -> u64 {
    const MIB: u64 = 1 << 20;
    let size = (usable_bytes / 16).clamp(MIB, 64 * MIB) & !(pmm::FRAME_SIZE - 1);
    let first =
        frames::alloc_contiguous(size / pmm::FRAME_SIZE).expect("no memory for the kernel heap");
    // SAFETY: the block was just allocated for the heap alone and is mapped
    // read-write through the direct map.
    unsafe {
        HEAP.0
            .lock()
            .init(phys_to_virt(first.addr()), size as usize)
    };
    size
}
