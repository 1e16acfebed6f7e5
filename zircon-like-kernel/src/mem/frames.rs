//! The kernel's global frame allocator: the `pmm` crate's bitmap allocator
//! over the firmware memory map, with the bitmap itself, the kernel image,
//! the low megabyte and the boot modules reserved.

use super::{phys_to_virt, KERNEL_VIRT_BASE};
use crate::arch::x86_64::pvh::BootInfo;
use core::sync::atomic::{AtomicU64, Ordering};
use pmm::{bitmap_words_for, top_of_usable, Frame, FrameAllocator, RegionKind, FRAME_SIZE};
use spin::Mutex;

static FRAMES: Mutex<Option<FrameAllocator<'static>>> = Mutex::new(None);

/// Frames kept for the kernel: syscalls that would make the kernel allocate
/// fail with `NO_MEMORY` when fewer are free, and demand paging stops.
pub const RESERVE_FRAMES: u64 = 1024;

/// Whether free memory is down to the kernel's reserve (syscalls that
/// would allocate are refused).
pub fn below_reserve() -> bool {
    free_frames() < RESERVE_FRAMES
}

/// Whether free memory is down to the last quarter of the reserve (page
/// faults are no longer served). Lower than [`below_reserve`], so that a
/// program refused by a syscall can still run its own code and react.
pub fn below_fault_reserve() -> bool {
    free_frames() < RESERVE_FRAMES / 4
}

/// The boot page tables map only the first GiB; early allocations must come
/// from there.
pub const EARLY_LIMIT: u64 = 1 << 30;

extern "C" {
    static __kernel_phys_start: u8;
    static __kernel_virt_end: u8;
}

/// Physical range `[start, end)` of the loaded kernel image (with .bss).
pub fn kernel_image_range() -> (u64, u64) {
    // Linker-script symbols: only their addresses are used.
    (
        core::ptr::addr_of!(__kernel_phys_start) as u64,
        core::ptr::addr_of!(__kernel_virt_end) as u64 - KERNEL_VIRT_BASE,
    )
}

fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Summary of physical memory after initialisation.
pub struct MemoryStats {
    /// Bytes of usable RAM in the map.
    pub usable_bytes: u64,
    /// Number of usable ranges.
    pub usable_ranges: usize,
    /// Free bytes after the kernel's reservations.
    pub free_bytes: u64,
    /// Highest usable physical address.
    pub top: u64,
}

/// Builds the allocator from the boot memory map.
pub fn init(boot: &BootInfo) -> MemoryStats {
    let regions = boot.regions();
    let top = top_of_usable(regions);
    let words = bitmap_words_for(top);
    let bitmap_bytes = (words * 8) as u64;
    let kernel = kernel_image_range();
    let mut taken: [(u64, u64); 2 + crate::arch::x86_64::pvh::MAX_MODULES] = [(0, 0); 6];
    taken[0] = (0, 0x10_0000);
    taken[1] = kernel;
    for (slot, module) in taken[2..].iter_mut().zip(boot.modules()) {
        *slot = (module.phys, module.phys + module.len);
    }
    // Place the bitmap in the first usable, page-aligned spot below 1 GiB
    // that collides with nothing already in use.
    let mut place = None;
    'regions: for region in regions.iter().filter(|r| r.kind == RegionKind::Usable) {
        let mut start = region.start.next_multiple_of(FRAME_SIZE);
        while start + bitmap_bytes <= region.end().min(EARLY_LIMIT) {
            let candidate = (start, start + bitmap_bytes);
            match taken.iter().find(|t| overlaps(**t, candidate)) {
                Some(t) => start = t.1.next_multiple_of(FRAME_SIZE),
                None => {
                    place = Some(start);
                    break 'regions;
                }
            }
        }
    }
    let Some(bitmap_phys) = place else {
        panic!("no room below 1 GiB for the {bitmap_bytes}-byte frame bitmap");
    };
    // SAFETY: the range is usable RAM that nothing else uses (checked
    // above), mapped by the boot tables, and this is its only reference.
    let bitmap =
        unsafe { core::slice::from_raw_parts_mut(phys_to_virt(bitmap_phys) as *mut u64, words) };
    let mut allocator = match FrameAllocator::new(regions, bitmap) {
        Ok(allocator) => allocator,
        Err(error) => panic!("frame allocator: {error:?}"),
    };
    allocator.reserve(bitmap_phys, bitmap_bytes);
    for (start, end) in taken {
        allocator.reserve(start, end - start);
    }
    let stats = MemoryStats {
        usable_bytes: allocator.usable_frames() * FRAME_SIZE,
        usable_ranges: regions
            .iter()
            .filter(|r| r.kind == RegionKind::Usable)
            .count(),
        free_bytes: allocator.free_frames() * FRAME_SIZE,
        top,
    };
    FREE_FRAMES.store(allocator.free_frames(), Ordering::Relaxed);
    TOTAL_FRAMES.store(allocator.free_frames(), Ordering::Relaxed);
    *FRAMES.lock() = Some(allocator);
    stats
}

/// The allocator's free-frame count as of its last use, readable without
/// its lock (every syscall checks it against the reserve).
static FREE_FRAMES: AtomicU64 = AtomicU64::new(0);

/// Frames free once the kernel's own image and boot data were reserved.
static TOTAL_FRAMES: AtomicU64 = AtomicU64::new(0);

fn with<R>(f: impl FnOnce(&mut FrameAllocator<'static>) -> R) -> R {
    let mut guard = FRAMES.lock();
    let allocator = guard.as_mut().expect("frame allocator used before init");
    let result = f(allocator);
    FREE_FRAMES.store(allocator.free_frames(), Ordering::Relaxed);
    result
}

/// Allocates one zeroed frame.
pub fn alloc_zeroed() -> Option<Frame> {
    alloc_zeroed_below(u64::MAX)
}

/// Allocates one zeroed frame below physical address `limit`.
pub fn alloc_zeroed_below(limit: u64) -> Option<Frame> {
    let frame = with(|a| a.alloc_contiguous_below(1, 1, limit)).ok()?;
    // SAFETY: the frame was just allocated, so nothing else refers to it,
    // and it is RAM reachable through the direct map.
    unsafe { core::ptr::write_bytes(phys_to_virt(frame.addr()), 0, FRAME_SIZE as usize) };
    Some(frame)
}

/// Allocates `count` contiguous frames (not zeroed).
pub fn alloc_contiguous(count: u64) -> Option<Frame> {
    with(|a| a.alloc_contiguous(count, 1)).ok()
}

/// Returns a frame.
pub fn free(frame: Frame) {
    if let Err(error) = with(|a| a.free(frame)) {
        panic!("frame allocator: bad free: {error:?}");
    }
}

/// Frames the allocator hands out (free or not): those free at boot.
pub fn total_frames() -> u64 {
    TOTAL_FRAMES.load(Ordering::Relaxed)
}

/// Free frames now.
pub fn free_frames() -> u64 {
    FREE_FRAMES.load(Ordering::Relaxed)
}
