//! The heap: memory from VMOs, mapped on demand.
//!
//! Before the start-up message is read there is no VMAR handle to map
//! anything with, so the first allocations come from a 64 KiB block in
//! `.bss`. Then [`grow_into_vmos`] reserves a 1 GiB region (reserving costs
//! nothing: only mappings count against the job's memory limit) and maps a
//! first VMO at its start; when an allocation does not fit, another VMO is
//! mapped right after the last one and the heap extends over it. Pages are
//! committed by the kernel on first touch, so memory follows use.
//!
//! Small blocks of the main heap go through size classes (the
//! `size-classes` crate, as in the kernel): a freed block is reused by the
//! next allocation of its class without a walk of the hole list.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use linked_list_allocator::Heap;
use size_classes::{class_layout, class_of, SizeClasses};
use spin::Mutex;
use zx::{HandleRef, VmOptions};

const BOOTSTRAP_SIZE: usize = 64 * 1024;
/// Address space reserved for the heap.
const RESERVATION: u64 = 1 << 30;
/// Smallest growth step.
const CHUNK: u64 = 256 * 1024;

#[repr(C, align(16))]
struct Bootstrap([u8; BOOTSTRAP_SIZE]);

static mut BOOTSTRAP_MEMORY: Bootstrap = Bootstrap([0; BOOTSTRAP_SIZE]);

struct Heaps {
    bootstrap: Heap,
    main: Heap,
    /// Free small blocks of `main`.
    classes: SizeClasses,
    /// The reserved region, once made: (its VMAR, bytes mapped so far).
    region: Option<(zx::Vmar, u64)>,
}

struct RuntimeHeap(Mutex<Heaps>);

#[global_allocator]
static HEAP: RuntimeHeap = RuntimeHeap(Mutex::new(Heaps {
    bootstrap: Heap::empty(),
    main: Heap::empty(),
    classes: SizeClasses::new(),
    region: None,
}));

fn bootstrap_range() -> (usize, usize) {
    let start = core::ptr::addr_of!(BOOTSTRAP_MEMORY) as usize;
    (start, start + BOOTSTRAP_SIZE)
}

impl Heaps {
    fn ensure_bootstrap(&mut self) {
        if self.bootstrap.size() == 0 {
            let (start, _) = bootstrap_range();
            // SAFETY: the block is a static used by this heap alone, and it
            // is initialised once (size 0 means not yet).
            unsafe { self.bootstrap.init(start as *mut u8, BOOTSTRAP_SIZE) };
        }
    }

    /// Maps `bytes` (rounded up to CHUNK) more at the end of the region.
    fn grow(&mut self, bytes: u64) -> bool {
        let Some((vmar, mapped)) = self.region.as_mut() else {
            return false;
        };
        let size = bytes.next_multiple_of(CHUNK).max(CHUNK);
        if *mapped + size > RESERVATION {
            return false;
        }
        let Ok(vmo) = zx::Vmo::create(size, 0) else {
            return false;
        };
        let options = VmOptions::PERM_READ | VmOptions::PERM_WRITE | VmOptions::SPECIFIC;
        let Ok(address) = vmar.map(*mapped, &vmo, 0, size, options) else {
            return false;
        };
        if *mapped == 0 {
            // SAFETY: the mapping is fresh, read-write, and used by this
            // heap alone.
            unsafe { self.main.init(address as *mut u8, size as usize) };
        } else {
            // SAFETY: the new mapping starts exactly at the heap's top (it
            // follows the previous one in the reserved region).
            unsafe { self.main.extend(size as usize) };
        }
        *mapped += size;
        true
    }
}

/// Switches the heap to VMO-backed memory in a region of `root`.
#[cfg_attr(not(baremetal), allow(dead_code))]
pub fn grow_into_vmos(root: HandleRef) {
    let root = core::mem::ManuallyDrop::new(zx::Vmar::from_handle(zx::Handle::from_raw(root.0)));
    let options = VmOptions::CAN_MAP_READ | VmOptions::CAN_MAP_WRITE | VmOptions::CAN_MAP_SPECIFIC;
    let Ok((region, _)) = root.allocate(0, RESERVATION, options) else {
        return;
    };
    let mut heaps = HEAP.0.lock();
    heaps.region = Some((region, 0));
    heaps.grow(CHUNK);
}

// SAFETY: blocks come from linked_list_allocator heaps over memory only the
// heap uses; each block is returned to the heap whose range holds it.
unsafe impl GlobalAlloc for RuntimeHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heaps = self.0.lock();
        if heaps.region.is_some() {
            let class = class_of(layout);
            if let Some(class) = class {
                // SAFETY: only `dealloc` below pushes, under its contract.
                if let Some(block) = unsafe { heaps.classes.pop(class) } {
                    return block;
                }
            }
            // A class block is made with the class's layout, so that any
            // allocation of the class can reuse it.
            let layout = class.map_or(layout, class_layout);
            if let Ok(block) = heaps.main.allocate_first_fit(layout) {
                return block.as_ptr();
            }
            let needed = (layout.size() + layout.align()) as u64;
            if heaps.grow(needed) {
                if let Ok(block) = heaps.main.allocate_first_fit(layout) {
                    return block.as_ptr();
                }
            }
        }
        heaps.ensure_bootstrap();
        heaps
            .bootstrap
            .allocate_first_fit(layout)
            .map_or(core::ptr::null_mut(), |b| b.as_ptr())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(block) = NonNull::new(ptr) else {
            return;
        };
        let (start, end) = bootstrap_range();
        let mut heaps = self.0.lock();
        if (start..end).contains(&(ptr as usize)) {
            // SAFETY: the block came from the bootstrap heap with this layout.
            unsafe { heaps.bootstrap.deallocate(block, layout) };
            return;
        }
        match class_of(layout) {
            // SAFETY: a main-heap block of this class, made with the class's
            // layout by `alloc`, that the caller no longer uses.
            Some(class) if unsafe { heaps.classes.push(class, ptr) } => {}
            // SAFETY: the block came from the main heap with the class's
            // layout.
            Some(class) => unsafe { heaps.main.deallocate(block, class_layout(class)) },
            // SAFETY: the block came from the main heap with this layout.
            None => unsafe { heaps.main.deallocate(block, layout) },
        }
    }
}
