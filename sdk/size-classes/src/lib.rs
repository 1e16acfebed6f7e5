//! Size classes: free lists of small blocks kept in front of a general
//! allocator (`linked_list_allocator` in user programs).
//!
//! A block of at most [`MAX_CLASS_SIZE`] bytes and alignment at most
//! [`CLASS_ALIGN`] is allocated with its class's layout ([`class_layout`]);
//! when it is freed, it goes on its class's list ([`SizeClasses::push`]),
//! and the next allocation of that class takes it back
//! ([`SizeClasses::pop`]) in a few instructions instead of a first-fit walk
//! of the allocator's hole list. Each list keeps at most [`MAX_CACHED`]
//! blocks; beyond that the caller gives the block back to the allocator.
//!
//! The lists are threaded through the free blocks' first word, so they
//! need no memory of their own. The type keeps addresses, not pointers, so
//! that a heap holding it can live in a `static`.
#![no_std]

use core::alloc::Layout;

/// Block sizes of the classes.
pub const CLASS_SIZES: [usize; 12] = [16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024];
/// The largest block a class serves.
pub const MAX_CLASS_SIZE: usize = 1024;
/// Alignment of every class block.
pub const CLASS_ALIGN: usize = 16;
/// Most free blocks one class keeps. Large: a block given back to the
/// allocator costs a walk of its hole list, so tearing down many small
/// objects at once (a process with thousands of mappings) would be
/// quadratic if most frees went there.
pub const MAX_CACHED: usize = 16_384;

/// The class serving `layout`, if one does.
#[inline]
pub fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > CLASS_ALIGN || layout.size() > MAX_CLASS_SIZE {
        return None;
    }
    CLASS_SIZES.iter().position(|&size| layout.size() <= size)
}

/// The layout every block of `class` is allocated with (at least as large
/// and as aligned as any layout the class serves).
#[inline]
pub fn class_layout(class: usize) -> Layout {
    // Class sizes are non-zero multiples of the (power-of-two) alignment.
    Layout::from_size_align(CLASS_SIZES[class], CLASS_ALIGN).unwrap_or(Layout::new::<u128>())
}

#[derive(Clone, Copy)]
struct FreeList {
    /// Address of the first free block (0: none).
    head: usize,
    len: usize,
}

/// The free lists of every class.
pub struct SizeClasses {
    lists: [FreeList; CLASS_SIZES.len()],
}

impl Default for SizeClasses {
    fn default() -> Self {
        Self::new()
    }
}

impl SizeClasses {
    /// No free blocks.
    #[inline]
    pub const fn new() -> SizeClasses {
        SizeClasses {
            lists: [FreeList { head: 0, len: 0 }; CLASS_SIZES.len()],
        }
    }

    /// A free block of `class`, if the list has one.
    ///
    /// # Safety
    ///
    /// Every block on the list was given by [`SizeClasses::push`] under
    /// its contract and has not been written since.
    #[inline]
    pub unsafe fn pop(&mut self, class: usize) -> Option<*mut u8> {
        let list = &mut self.lists[class];
        if list.head == 0 {
            return None;
        }
        let block = list.head as *mut usize;
        // SAFETY: (the caller's contract) `block` is a free block of this
        // class whose first word holds the next free block's address.
        list.head = unsafe { block.read() };
        list.len -= 1;
        Some(block.cast())
    }

    /// Keeps `block` on the list of `class`; false (and nothing done) if
    /// the list is full: the caller then frees it to the allocator.
    ///
    /// # Safety
    ///
    /// `block` was allocated with [`class_layout`]`(class)`, is no longer
    /// used, and is not on any list.
    #[inline]
    pub unsafe fn push(&mut self, class: usize, block: *mut u8) -> bool {
        let list = &mut self.lists[class];
        if list.len >= MAX_CACHED {
            return false;
        }
        // SAFETY: (the caller's contract) the block is ours, at least 16
        // bytes long and 16-aligned: its first word can hold the link.
        unsafe { block.cast::<usize>().write(list.head) };
        list.head = block as usize;
        list.len += 1;
        true
    }

    /// Free blocks kept in `class`.
    pub fn cached(&self, class: usize) -> usize {
        self.lists[class].len
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::alloc::{alloc, dealloc};
    use std::vec::Vec;

    #[test]
    fn layouts_find_the_smallest_class_that_fits() {
        let layout = |size, align| Layout::from_size_align(size, align).unwrap();
        assert_eq!(class_of(layout(1, 1)), Some(0));
        assert_eq!(class_of(layout(16, 16)), Some(0));
        assert_eq!(class_of(layout(17, 8)), Some(1));
        assert_eq!(class_of(layout(1024, 8)), Some(11));
        assert_eq!(class_of(layout(1025, 8)), None);
        assert_eq!(class_of(layout(64, 32)), None, "over-aligned");
        for class in 0..CLASS_SIZES.len() {
            let l = class_layout(class);
            assert_eq!(class_of(l), Some(class));
            assert_eq!(l.align(), CLASS_ALIGN);
        }
    }

    #[test]
    fn freed_blocks_come_back_last_in_first_out_up_to_the_cap() {
        let mut classes = SizeClasses::new();
        let layout = class_layout(3);
        let blocks: Vec<*mut u8> = (0..MAX_CACHED + 2)
            // SAFETY: a non-zero layout.
            .map(|_| unsafe { alloc(layout) })
            .collect();
        // SAFETY: `pop` of an empty list touches no block.
        assert_eq!(unsafe { classes.pop(3) }, None);
        let mut refused = Vec::new();
        for &block in &blocks {
            // SAFETY: each block was allocated with the class's layout and
            // is pushed once.
            if !unsafe { classes.push(3, block) } {
                refused.push(block);
            }
        }
        assert_eq!(classes.cached(3), MAX_CACHED);
        assert_eq!(refused, blocks[MAX_CACHED..]);
        let mut popped = Vec::new();
        // SAFETY: the list holds only pushed, untouched blocks.
        while let Some(block) = unsafe { classes.pop(3) } {
            popped.push(block);
        }
        let mut expected = blocks[..MAX_CACHED].to_vec();
        expected.reverse();
        assert_eq!(popped, expected);
        for block in blocks {
            // SAFETY: allocated above with `layout`, freed once.
            unsafe { dealloc(block, layout) };
        }
    }
}
