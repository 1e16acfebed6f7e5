//! Physical memory manager: the frame allocator of the kernel.
//!
//! The allocator is built from the firmware's memory map (the PVH
//! `hvm_memmap_table` under QEMU, an E820 map on real machines). Only ranges
//! the firmware reports as usable RAM become allocatable, and the kernel
//! carves out what it already uses (its own image, boot modules, the low
//! megabyte) with [`FrameAllocator::reserve`] before handing frames out.
//!
//! Design choice: one bit per 4 KiB frame over `[0, top of RAM)`. A bitmap
//! costs 32 KiB per GiB, answers "is this frame free" in O(1), frees in O(1),
//! and finds physically contiguous runs (needed for contiguous VMOs and DMA)
//! without a second structure. Allocation is next-fit from a rotating cursor
//! so that repeated single-frame allocations stay O(1) amortised.
//!
//! The crate is `no_std` and does no I/O; the kernel supplies the bitmap
//! storage, so the same code runs in host unit tests.
//!
//! Known gaps: no NUMA awareness and no per-CPU caches; a 1 TiB machine needs
//! a 32 MiB bitmap.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

/// Size of one physical frame (a 4 KiB page).
pub const FRAME_SIZE: u64 = 4096;

/// The kind of a memory-map range, as firmware reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// Usable RAM.
    Usable,
    /// Reserved by firmware or devices (MMIO, ROM): never allocated.
    Reserved,
    /// ACPI tables: reclaimable once parsed; kept reserved here.
    AcpiReclaimable,
    /// ACPI non-volatile storage.
    AcpiNvs,
    /// Memory reported as faulty.
    Unusable,
}

/// One range of the physical memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First byte of the range.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// What the firmware says the range is.
    pub kind: RegionKind,
}

impl Region {
    /// One past the last byte (saturating, so a hostile map cannot overflow).
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }
}

/// A physical frame number: physical address / [`FRAME_SIZE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Frame(pub u64);

impl Frame {
    /// The frame containing physical address `addr`.
    pub fn containing(addr: u64) -> Frame {
        Frame(addr / FRAME_SIZE)
    }

    /// Physical address of the first byte of the frame.
    pub fn addr(self) -> u64 {
        self.0 * FRAME_SIZE
    }
}

/// Errors of the frame allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PmmError {
    /// No free run of the requested size exists.
    OutOfMemory,
    /// The bitmap storage is too small for the top of usable RAM.
    BitmapTooSmall {
        /// Number of 64-bit words that would be needed.
        needed_words: usize,
    },
    /// A frame was freed that is not allocated (double free, or never RAM).
    NotAllocated(Frame),
    /// The request was malformed (zero frames, bad alignment).
    InvalidRequest,
}

/// Number of `u64` bitmap words needed to track frames below `top` bytes.
pub fn bitmap_words_for(top: u64) -> usize {
    let frames = top.div_ceil(FRAME_SIZE);
    frames.div_ceil(64) as usize
}

/// Highest end address of usable RAM in `map` (0 if there is none).
pub fn top_of_usable(map: &[Region]) -> u64 {
    map.iter()
        .filter(|r| r.kind == RegionKind::Usable)
        .map(|r| r.end())
        .max()
        .unwrap_or(0)
}

/// A bitmap frame allocator. A set bit means "not available" (allocated,
/// reserved, or not RAM at all); a clear bit means free.
pub struct FrameAllocator<'a> {
    bitmap: &'a mut [u64],
    frame_count: u64,
    free: u64,
    total_usable: u64,
    cursor: u64,
}

impl<'a> FrameAllocator<'a> {
    /// Builds an allocator from a memory map. Only whole frames inside
    /// `Usable` ranges become free; a usable range that overlaps a
    /// non-usable one loses the overlap (firmware maps do overlap).
    pub fn new(map: &[Region], bitmap: &'a mut [u64]) -> Result<Self, PmmError> {
        let top = top_of_usable(map);
        let needed_words = bitmap_words_for(top);
        if bitmap.len() < needed_words {
            return Err(PmmError::BitmapTooSmall { needed_words });
        }
        bitmap.fill(u64::MAX);
        let frame_count = top / FRAME_SIZE;
        let mut allocator = FrameAllocator {
            bitmap,
            frame_count,
            free: 0,
            total_usable: 0,
            cursor: 0,
        };
        for region in map.iter().filter(|r| r.kind == RegionKind::Usable) {
            // Round inwards: a partial frame is not usable.
            let first = region.start.div_ceil(FRAME_SIZE);
            let end = region.end() / FRAME_SIZE;
            for frame in first..end.min(frame_count) {
                if allocator.is_set(frame) {
                    allocator.clear(frame);
                    allocator.free += 1;
                }
            }
        }
        for region in map.iter().filter(|r| r.kind != RegionKind::Usable) {
            allocator.reserve(region.start, region.len);
        }
        // RAM the firmware also calls something else is not usable RAM.
        allocator.total_usable = allocator.free;
        Ok(allocator)
    }

    /// Marks `[start, start + len)` as not available (rounded outwards to
    /// whole frames). Frames already unavailable are left as they are.
    pub fn reserve(&mut self, start: u64, len: u64) {
        if len == 0 {
            return;
        }
        let first = start / FRAME_SIZE;
        let end = start.saturating_add(len).div_ceil(FRAME_SIZE);
        for frame in first..end.min(self.frame_count) {
            if !self.is_set(frame) {
                self.set(frame);
                self.free -= 1;
            }
        }
    }

    /// Allocates one frame.
    pub fn alloc(&mut self) -> Result<Frame, PmmError> {
        self.alloc_contiguous(1, 1)
    }

    /// Allocates `count` physically contiguous frames whose first frame
    /// number is a multiple of `align_frames` (a power of two).
    pub fn alloc_contiguous(&mut self, count: u64, align_frames: u64) -> Result<Frame, PmmError> {
        self.alloc_contiguous_below(count, align_frames, u64::MAX)
    }

    /// Like [`Self::alloc_contiguous`], but the whole run must lie below
    /// physical address `limit` (for early boot, when only low memory is
    /// mapped, and for devices with address limits).
    pub fn alloc_contiguous_below(
        &mut self,
        count: u64,
        align_frames: u64,
        limit: u64,
    ) -> Result<Frame, PmmError> {
        if count == 0 || align_frames == 0 || !align_frames.is_power_of_two() {
            return Err(PmmError::InvalidRequest);
        }
        if count > self.free {
            return Err(PmmError::OutOfMemory);
        }
        let end = self.frame_count.min(limit / FRAME_SIZE);
        // Two passes: from the cursor to the end, then from 0 to the cursor.
        let start = if self.cursor < end { self.cursor } else { 0 };
        for (from, to) in [(start, end), (0, start.saturating_add(count).min(end))] {
            if let Some(first) = self.find_run(from, to, count, align_frames) {
                for frame in first..first + count {
                    self.set(frame);
                }
                self.free -= count;
                self.cursor = first + count;
                return Ok(Frame(first));
            }
        }
        Err(PmmError::OutOfMemory)
    }

    /// Frees `count` frames starting at `first`. Freeing a frame that is not
    /// allocated is reported and changes nothing.
    pub fn free_contiguous(&mut self, first: Frame, count: u64) -> Result<(), PmmError> {
        let end = first.0.checked_add(count).ok_or(PmmError::InvalidRequest)?;
        if end > self.frame_count {
            return Err(PmmError::NotAllocated(Frame(self.frame_count)));
        }
        if let Some(frame) = (first.0..end).find(|&f| !self.is_set(f)) {
            return Err(PmmError::NotAllocated(Frame(frame)));
        }
        for frame in first.0..end {
            self.clear(frame);
        }
        self.free += count;
        Ok(())
    }

    /// Frees one frame.
    pub fn free(&mut self, frame: Frame) -> Result<(), PmmError> {
        self.free_contiguous(frame, 1)
    }

    /// Number of free frames.
    pub fn free_frames(&self) -> u64 {
        self.free
    }

    /// Number of frames of usable RAM the firmware reported (free, allocated
    /// or reserved by the kernel since).
    pub fn usable_frames(&self) -> u64 {
        self.total_usable
    }

    /// Whether `frame` is currently free.
    pub fn is_free(&self, frame: Frame) -> bool {
        frame.0 < self.frame_count && !self.is_set(frame.0)
    }

    fn find_run(&self, from: u64, to: u64, count: u64, align: u64) -> Option<u64> {
        let mut candidate = from.next_multiple_of(align);
        while candidate.checked_add(count)? <= to {
            // Skip whole words that are fully taken, for single frames.
            if count == 1 && align == 1 && self.bitmap[(candidate / 64) as usize] == u64::MAX {
                candidate = (candidate / 64 + 1) * 64;
                continue;
            }
            match (candidate..candidate + count).find(|&f| self.is_set(f)) {
                None => return Some(candidate),
                Some(taken) => candidate = (taken + 1).next_multiple_of(align),
            }
        }
        None
    }

    fn is_set(&self, frame: u64) -> bool {
        self.bitmap[(frame / 64) as usize] & (1 << (frame % 64)) != 0
    }

    fn set(&mut self, frame: u64) {
        self.bitmap[(frame / 64) as usize] |= 1 << (frame % 64);
    }

    fn clear(&mut self, frame: u64) {
        self.bitmap[(frame / 64) as usize] &= !(1 << (frame % 64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn usable(start: u64, len: u64) -> Region {
        Region {
            start,
            len,
            kind: RegionKind::Usable,
        }
    }

    fn reserved(start: u64, len: u64) -> Region {
        Region {
            start,
            len,
            kind: RegionKind::Reserved,
        }
    }

    fn storage(map: &[Region]) -> Vec<u64> {
        vec![0; bitmap_words_for(top_of_usable(map))]
    }

    #[test]
    fn only_usable_whole_frames_are_free() {
        // A range that starts and ends mid-frame loses the partial frames.
        let map = [usable(0x1800, 0x4000)];
        let mut bits = storage(&map);
        let pmm = FrameAllocator::new(&map, &mut bits).unwrap();
        // 0x1800..0x5800: whole frames 2, 3, 4.
        assert_eq!(pmm.free_frames(), 3);
        assert!(!pmm.is_free(Frame(1)));
        assert!(pmm.is_free(Frame(2)));
        assert!(pmm.is_free(Frame(4)));
        assert!(!pmm.is_free(Frame(5)));
    }

    #[test]
    fn holes_and_reserved_overlaps_are_respected() {
        // Like QEMU with 4 GiB: RAM below the PCI hole, a hole, RAM above 4 GiB,
        // and a reserved range overlapping the first RAM range.
        let map = [
            usable(0, 640 * 1024),
            reserved(0xf0000, 0x10000),
            usable(MIB, 2048 * MIB - MIB),
            reserved(0x7fff_0000, 0x10000),
            usable(4096 * MIB, 2048 * MIB),
        ];
        let mut bits = storage(&map);
        let mut pmm = FrameAllocator::new(&map, &mut bits).unwrap();
        let expected = (640 * 1024 + (2047 * MIB - 0x10000) + 2048 * MIB) / FRAME_SIZE;
        assert_eq!(pmm.free_frames(), expected);
        assert!(!pmm.is_free(Frame::containing(0x7fff_0000)));
        assert!(!pmm.is_free(Frame::containing(3 * 1024 * MIB)), "PCI hole");
        assert!(pmm.is_free(Frame::containing(5 * 1024 * MIB)));
        // Allocating everything never hands out a hole frame.
        let mut n = 0;
        while let Ok(frame) = pmm.alloc() {
            let addr = frame.addr();
            assert!(
                addr < 640 * 1024 || (MIB..0x7fff_0000).contains(&addr) || addr >= 4096 * MIB,
                "allocated a frame outside RAM: {addr:#x}"
            );
            n += 1;
        }
        assert_eq!(n, expected);
        assert_eq!(pmm.alloc(), Err(PmmError::OutOfMemory));
    }

    #[test]
    fn reserve_removes_kernel_and_modules() {
        let map = [usable(0, 32 * MIB)];
        let mut bits = storage(&map);
        let mut pmm = FrameAllocator::new(&map, &mut bits).unwrap();
        pmm.reserve(0, MIB); // low megabyte
        pmm.reserve(MIB, 0x2345); // kernel image, rounded outwards
        pmm.reserve(MIB, 0x1000); // overlapping reservation counts once
        assert_eq!(pmm.free_frames(), (31 * MIB - 0x3000) / FRAME_SIZE);
        let first = pmm.alloc().unwrap();
        assert_eq!(first.addr(), MIB + 0x3000);
    }

    #[test]
    fn contiguous_aligned_runs() {
        let map = [usable(0, 8 * MIB)];
        let mut bits = storage(&map);
        let mut pmm = FrameAllocator::new(&map, &mut bits).unwrap();
        pmm.alloc().unwrap(); // frame 0 taken: an aligned run must skip it
        let run = pmm.alloc_contiguous(512, 512).unwrap(); // 2 MiB aligned
        assert_eq!(run.0 % 512, 0);
        assert_eq!(run.addr(), 2 * MIB);
        for f in run.0..run.0 + 512 {
            assert!(!pmm.is_free(Frame(f)));
        }
        pmm.free_contiguous(run, 512).unwrap();
        assert!(pmm.is_free(run));
        assert_eq!(pmm.alloc_contiguous(0, 1), Err(PmmError::InvalidRequest));
        assert_eq!(pmm.alloc_contiguous(1, 3), Err(PmmError::InvalidRequest));
        assert_eq!(pmm.alloc_contiguous(4096, 1), Err(PmmError::OutOfMemory));
    }

    #[test]
    fn below_limit_is_honoured() {
        let map = [usable(0, 64 * MIB)];
        let mut bits = storage(&map);
        let mut pmm = FrameAllocator::new(&map, &mut bits).unwrap();
        pmm.reserve(0, 16 * MIB);
        assert_eq!(
            pmm.alloc_contiguous_below(1, 1, 16 * MIB),
            Err(PmmError::OutOfMemory)
        );
        let frame = pmm.alloc_contiguous_below(4, 1, 17 * MIB).unwrap();
        assert!(frame.addr() + 4 * FRAME_SIZE <= 17 * MIB);
    }

    #[test]
    fn double_free_is_an_error_and_changes_nothing() {
        let map = [usable(0, MIB)];
        let mut bits = storage(&map);
        let mut pmm = FrameAllocator::new(&map, &mut bits).unwrap();
        let frame = pmm.alloc().unwrap();
        let free_before = pmm.free_frames();
        pmm.free(frame).unwrap();
        assert_eq!(pmm.free(frame), Err(PmmError::NotAllocated(frame)));
        assert_eq!(pmm.free_frames(), free_before + 1);
        assert!(matches!(
            pmm.free(Frame(1 << 40)),
            Err(PmmError::NotAllocated(_))
        ));
        assert_eq!(
            pmm.free_contiguous(Frame(u64::MAX), 2),
            Err(PmmError::InvalidRequest)
        );
    }

    #[test]
    fn next_fit_wraps_around() {
        let map = [usable(0, 16 * FRAME_SIZE)];
        let mut bits = storage(&map);
        let mut pmm = FrameAllocator::new(&map, &mut bits).unwrap();
        let frames: Vec<_> = (0..16).map(|_| pmm.alloc().unwrap()).collect();
        pmm.free(frames[3]).unwrap();
        assert_eq!(pmm.alloc().unwrap(), frames[3]);
    }

    #[test]
    fn bitmap_too_small_is_reported() {
        let map = [usable(0, 64 * MIB)];
        let mut bits = vec![0u64; 1];
        assert!(matches!(
            FrameAllocator::new(&map, &mut bits),
            Err(PmmError::BitmapTooSmall { needed_words: 256 })
        ));
    }

    #[test]
    fn hostile_maps_do_not_overflow() {
        let map = [usable(u64::MAX - 10, 100), usable(0, MIB)];
        let top = top_of_usable(&map);
        assert_eq!(top, u64::MAX);
        // A map whose top is absurd needs an absurd bitmap: refused, no panic.
        let mut bits = vec![0u64; 16];
        assert!(matches!(
            FrameAllocator::new(&map, &mut bits),
            Err(PmmError::BitmapTooSmall { .. })
        ));
    }
}
