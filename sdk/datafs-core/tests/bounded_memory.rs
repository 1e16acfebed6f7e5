//! Appends stream in bounded memory: a file larger than the datafs
//! component's 16 MiB memory limit is built by appends while the heap
//! this process holds beyond what it held before each append (measured by
//! a counting allocator) stays far below the file's size.

use datafs_core::{DataFs, Device, IoError};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting the bytes held and their peak.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; the
// counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let held = HELD.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(held, Ordering::SeqCst);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: `pointer` came from `alloc` with this `layout`.
        unsafe { System.dealloc(pointer, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A disk in memory (allocated once, before anything is measured).
struct MemoryDisk(Vec<u8>);

impl Device for MemoryDisk {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read(&mut self, offset: u64, buffer: &mut [u8]) -> Result<(), IoError> {
        let at = offset as usize;
        buffer.copy_from_slice(self.0.get(at..at + buffer.len()).ok_or(IoError)?);
        Ok(())
    }
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), IoError> {
        let at = offset as usize;
        self.0
            .get_mut(at..at + data.len())
            .ok_or(IoError)?
            .copy_from_slice(data);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

/// Byte `at` of the file.
fn byte(at: u64) -> u8 {
    (at.wrapping_mul(2_654_435_761) >> 7) as u8
}

#[test]
fn a_file_larger_than_the_memory_limit_is_appended_in_bounded_memory() {
    const LIMIT: u64 = 16 << 20; // the datafs component's memory limit
    const PIECE: usize = 1 << 20;
    const FILE: u64 = 20 << 20;
    let disk = MemoryDisk(vec![0; 64 << 20]);
    let mut fs = DataFs::format(disk).unwrap();
    let mut written = 0u64;
    let mut worst = 0usize;
    while written < FILE {
        // An odd length keeps the old content's last block partial.
        let length = if written == 0 { PIECE - 3 } else { PIECE };
        let piece: Vec<u8> = (written..written + length as u64).map(byte).collect();
        let before = HELD.load(Ordering::SeqCst);
        PEAK.store(before, Ordering::SeqCst);
        fs.write("big", &piece, true).unwrap();
        worst = worst.max(PEAK.load(Ordering::SeqCst) - before);
        written += length as u64;
    }
    assert_eq!(fs.size_of("big"), Some(written));
    assert!(written > LIMIT);
    // What an append holds beyond its caller's piece: a copy of the
    // piece with the old last block, and 64 KiB of copying.
    assert!(
        worst < PIECE + 256 * 1024,
        "an append of {PIECE} bytes to a file of up to {written} bytes held {worst} bytes"
    );
    // Every byte read back, in pieces.
    let mut at = 0u64;
    while at < written {
        let back = fs.read("big", at, 256 * 1024).unwrap();
        assert!(!back.is_empty());
        for (i, b) in back.iter().enumerate() {
            assert_eq!(*b, byte(at + i as u64), "byte {}", at + i as u64);
        }
        at += back.len() as u64;
    }
    // The volume mounts again with the file whole.
    let disk = fs.into_device();
    let (mut fs, _) = DataFs::mount(disk).unwrap();
    assert_eq!(fs.size_of("big"), Some(written));
    let tail = fs.read("big", written - 10, 100).unwrap();
    assert_eq!(tail, (written - 10..written).map(byte).collect::<Vec<_>>());
}
