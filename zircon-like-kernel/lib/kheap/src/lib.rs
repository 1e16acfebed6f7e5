//! The kernel heap's allocator: small blocks live in slab pages, large
//! blocks in whole pages, and every page goes back to the frame allocator
//! once nothing in it is in use.
//!
//! Why not a general-purpose heap over a growing range (what the kernel
//! used before): such a heap never shrinks. A program that makes the kernel
//! allocate a lot (thousands of handles, a flood of queued messages) and
//! then exits left that memory in the heap's free lists for good, lost to
//! every user program (an attack measured 70 MiB of 245). Here:
//!
//! - **Small blocks** (at most [`MAX_SMALL`] bytes, alignment at most 16)
//!   come from slab pages: one page (a frame reached through the kernel's
//!   direct map) holds blocks of one size class behind a 32-byte header.
//!   A page whose last block is freed goes back to the frame allocator,
//!   except for [`KEEP_EMPTY`] empty pages per class kept against churn.
//! - **Page-sized blocks** (up to a page, alignment at most a page) are one
//!   frame through the direct map.
//! - **Large blocks** get a run of virtual pages in the heap's own range,
//!   mapped page by page (the frames need not be contiguous). Runs are
//!   sized in powers of two pages ("orders"), aligned to their size, and
//!   reused per order; only the pages the block needs are mapped, and they
//!   are unmapped and freed when the block is. One freed run per small
//!   order stays mapped against churn (a 64 KiB message buffer freed and
//!   allocated again per message).
//!
//! The virtual range grows like a stack: a new run is made at its top,
//! and once the runs at the top are free again the top comes back down to
//! the highest run still in use (each run remembers the top it was made
//! on), and the metadata pages past it (32 bytes per virtual page) go back
//! to the backing. Runs between are reused per order, never split or
//! merged. So the metadata follows the highest large block in use, not
//! the most ever used: after a flood is freed, what stays is what the
//! heap keeps against churn: the empty slab pages, the cached runs (the
//! lowest freed run of each small order, so that a cached run does not
//! hold the range up after a flood), one metadata page past the top and up to [`KEEP_PAGES`]
//! free pages (together well under 1 MiB).
//!
//! (The range's page tables belong to the [`Backing`]: the kernel's frees
//! a table once it maps nothing.)
//!
//! The crate does no I/O and takes its pages from a [`Backing`], so the
//! same code runs in host tests over ordinary memory.
#![cfg_attr(not(test), no_std)]

use core::alloc::Layout;
use core::ptr;

/// Size of a page.
pub const PAGE: usize = 4096;
/// Bytes at the start of a slab page for its header.
const HEADER: usize = 32;
/// Block sizes of the slab classes: each is a multiple of 16 chosen so
/// that its blocks fill a page's `PAGE - HEADER` bytes well.
pub const CLASS_SIZES: [usize; 12] = [16, 32, 48, 64, 96, 128, 192, 256, 336, 496, 672, 1008];
/// The largest block a slab class serves.
pub const MAX_SMALL: usize = 1008;
/// Alignment of every slab block.
const SMALL_ALIGN: usize = 16;
/// Empty slab pages a class keeps instead of giving them back.
pub const KEEP_EMPTY: u32 = 2;
/// Run orders: a run of order `k` spans `2^k` pages (order 19: 2 GiB).
const ORDERS: usize = 20;
/// The largest order of which one freed run stays mapped.
const CACHE_ORDER: usize = 4;
/// Free pages kept for the next slab page or page-sized block (a 4 KiB
/// message buffer freed and allocated again per message would otherwise
/// cost a trip through the frame allocator, and a zero-fill, each time).
pub const KEEP_PAGES: usize = 32;

/// Where the heap's memory comes from.
///
/// # Safety
///
/// An implementation must keep these promises, on which the allocator's
/// memory safety rests: `alloc_page` returns the address of a page-aligned,
/// readable and writable page that nothing else uses until it is given to
/// `free_page`; after `map(virt, page)` returns true, `[virt, virt + PAGE)`
/// is readable and writable memory that nothing else uses until
/// `unmap(virt)`, which returns the same `page` (then owned by the caller
/// again, to be freed or mapped elsewhere).
pub unsafe trait Backing {
    /// A fresh page, or `None` when memory is exhausted.
    fn alloc_page(&mut self) -> Option<usize>;
    /// Gives back a page from [`Backing::alloc_page`].
    fn free_page(&mut self, page: usize);
    /// Makes `virt` (page-aligned, in the heap's virtual range) show `page`.
    fn map(&mut self, virt: usize, page: usize) -> bool;
    /// Removes the mapping at `virt` and returns its page.
    fn unmap(&mut self, virt: usize) -> usize;
}

/// The header at the start of every slab page.
#[repr(C)]
struct Slab {
    /// Next and previous page on the class's partial list (0: none).
    next: usize,
    prev: usize,
    /// Offset of the first freed block (0: none); each freed block holds
    /// the offset of the next in its first two bytes.
    free: u16,
    /// Blocks handed out at least once (the rest are untouched).
    bump: u16,
    /// Blocks in use.
    used: u16,
}

const _: () = assert!(core::mem::size_of::<Slab>() <= HEADER);

#[derive(Clone, Copy)]
struct Class {
    /// First page with a free block (0: none).
    partial: usize,
    /// Pages on the partial list with no block in use.
    empty: u32,
}

/// How many pages the heap holds, by use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Slab pages (small blocks).
    pub slab_pages: usize,
    /// Single pages handed out as blocks.
    pub page_blocks: usize,
    /// Pages mapped in the virtual range for large blocks (in use or cached).
    pub run_pages: usize,
    /// Pages of the virtual range's metadata.
    pub meta_pages: usize,
    /// Free pages kept for reuse.
    pub cached_pages: usize,
}

impl Stats {
    /// Every page the heap holds.
    pub fn total(&self) -> usize {
        self.slab_pages + self.page_blocks + self.run_pages + self.meta_pages + self.cached_pages
    }
}

/// The heap. `B` supplies pages.
pub struct Heap<B> {
    backing: B,
    classes: [Class; CLASS_SIZES.len()],
    /// Start of the metadata (one [`Entry`] per data page) and of the data.
    meta: usize,
    data: usize,
    /// End of the virtual range, and the first data address never used.
    limit: usize,
    top: usize,
    /// Metadata pages mapped (from `meta` on).
    meta_mapped: usize,
    /// First unmapped free run per order (0: none), doubly linked through
    /// the metadata entries of the runs' first pages.
    free_runs: [usize; ORDERS],
    /// A freed run per small order kept mapped (0: none); its metadata
    /// holds how many of its pages are mapped.
    cached: [usize; CACHE_ORDER + 1],
    /// Free pages kept (linked through their first word; 0: none).
    pages: usize,
    stats: Stats,
}

const fn align_up(value: usize, align: usize) -> usize {
    (value + align - 1) & !(align - 1)
}

/// The class serving `layout`, if a slab class does.
fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > SMALL_ALIGN || layout.size() > MAX_SMALL {
        return None;
    }
    Some(CLASS_BY_STEP[layout.size().div_ceil(16)] as usize)
}

/// Blocks of each class in one page.
const CAPACITY: [u16; CLASS_SIZES.len()] = {
    let mut capacity = [0; CLASS_SIZES.len()];
    let mut class = 0;
    while class < CLASS_SIZES.len() {
        capacity[class] = ((PAGE - HEADER) / CLASS_SIZES[class]) as u16;
        class += 1;
    }
    capacity
};

/// The class of each size in 16-byte steps (index `(size + 15) / 16`).
const CLASS_BY_STEP: [u8; MAX_SMALL / 16 + 1] = {
    let mut table = [0; MAX_SMALL / 16 + 1];
    let mut step = 0;
    let mut class = 0;
    while step < table.len() {
        while CLASS_SIZES[class] < step * 16 {
            class += 1;
        }
        table[step] = class as u8;
        step += 1;
    }
    table
};

/// Pages and order of the run for a large `layout`.
fn run_shape(layout: Layout) -> Option<(usize, usize)> {
    let pages = layout.size().div_ceil(PAGE).max(1);
    let needed = pages.max(layout.align() / PAGE).next_power_of_two();
    let order = needed.trailing_zeros() as usize;
    (order < ORDERS).then_some((pages, order))
}

/// Whether `layout` is served by one page of its own.
fn is_page_block(layout: Layout) -> bool {
    layout.size() <= PAGE && layout.align() <= PAGE
}

impl<B: Backing> Heap<B> {
    /// A heap over the virtual range `[base, base + size)` (page-aligned),
    /// used for large blocks and its metadata.
    pub const fn new(backing: B, base: usize, size: usize) -> Heap<B> {
        // One entry of metadata per page of the whole range (a little more
        // than the data needs), mapped only as far as the runs reach.
        let meta_bytes = align_up(size / PAGE * core::mem::size_of::<Entry>(), PAGE);
        Heap {
            backing,
            classes: [Class {
                partial: 0,
                empty: 0,
            }; CLASS_SIZES.len()],
            meta: base,
            data: base + meta_bytes,
            limit: base + size,
            top: base + meta_bytes,
            meta_mapped: 0,
            free_runs: [0; ORDERS],
            cached: [0; CACHE_ORDER + 1],
            pages: 0,
            stats: Stats {
                slab_pages: 0,
                page_blocks: 0,
                run_pages: 0,
                meta_pages: 0,
                cached_pages: 0,
            },
        }
    }

    /// The pages the heap holds now.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The backing (for tests).
    #[cfg(test)]
    fn backing(&self) -> &B {
        &self.backing
    }

    /// A block for `layout`, or null when memory is exhausted.
    pub fn alloc(&mut self, layout: Layout) -> *mut u8 {
        if let Some(class) = class_of(layout) {
            return self.alloc_small(class);
        }
        if is_page_block(layout) {
            return match self.take_page() {
                Some(page) => {
                    self.stats.page_blocks += 1;
                    page as *mut u8
                }
                None => ptr::null_mut(),
            };
        }
        self.alloc_large(layout)
    }

    /// Gives back a block.
    ///
    /// # Safety
    ///
    /// `block` came from [`Heap::alloc`] of this heap with this `layout`
    /// and is not used any more.
    pub unsafe fn dealloc(&mut self, block: *mut u8, layout: Layout) {
        if block.is_null() {
            return;
        }
        if let Some(class) = class_of(layout) {
            // SAFETY: passed on from the caller.
            unsafe { self.free_small(block as usize, class) };
        } else if is_page_block(layout) {
            self.stats.page_blocks -= 1;
            self.give_page(block as usize);
        } else {
            self.free_large(block as usize, layout);
        }
    }

    fn slab(page: usize) -> *mut Slab {
        page as *mut Slab
    }

    /// A free page: a kept one, or a new one from the backing.
    fn take_page(&mut self) -> Option<usize> {
        let page = self.pages;
        if page == 0 {
            return self.backing.alloc_page();
        }
        // SAFETY: a kept page is ours; its first word links the next.
        self.pages = unsafe { (page as *const usize).read() };
        self.stats.cached_pages -= 1;
        Some(page)
    }

    /// Keeps a free page for reuse, or gives it back to the backing.
    fn give_page(&mut self, page: usize) {
        if self.stats.cached_pages == KEEP_PAGES {
            self.backing.free_page(page);
            return;
        }
        // SAFETY: the page is ours again (freed by its user).
        unsafe { (page as *mut usize).write(self.pages) };
        self.pages = page;
        self.stats.cached_pages += 1;
    }

    fn alloc_small(&mut self, class: usize) -> *mut u8 {
        let mut page = self.classes[class].partial;
        if page == 0 {
            let Some(new) = self.take_page() else {
                return ptr::null_mut();
            };
            self.stats.slab_pages += 1;
            // SAFETY: a fresh page from the backing, ours alone.
            unsafe {
                Self::slab(new).write(Slab {
                    next: 0,
                    prev: 0,
                    free: 0,
                    bump: 0,
                    used: 0,
                })
            };
            self.push_partial(class, new);
            self.classes[class].empty += 1;
            page = new;
        }
        let slab = Self::slab(page);
        // SAFETY: pages on a partial list are slab pages of this class that
        // the heap owns; their free blocks are not in use.
        unsafe {
            let block = if (*slab).free != 0 {
                let block = page + (*slab).free as usize;
                (*slab).free = (block as *const u16).read();
                block
            } else {
                let block = page + HEADER + (*slab).bump as usize * CLASS_SIZES[class];
                (*slab).bump += 1;
                block
            };
            if (*slab).used == 0 {
                self.classes[class].empty -= 1;
            }
            (*slab).used += 1;
            if (*slab).used == CAPACITY[class] {
                self.remove_partial(class, page);
            }
            block as *mut u8
        }
    }

    /// # Safety
    ///
    /// `block` is a block of `class` in use, from this heap.
    unsafe fn free_small(&mut self, block: usize, class: usize) {
        let page = block & !(PAGE - 1);
        let slab = Self::slab(page);
        // SAFETY: the block lies in a slab page of this class (the caller's
        // promise), whose header is ours; the block is ours again.
        unsafe {
            let was_full = (*slab).used == CAPACITY[class];
            (block as *mut u16).write((*slab).free);
            (*slab).free = (block - page) as u16;
            (*slab).used -= 1;
            if was_full {
                self.push_partial(class, page);
            }
            if (*slab).used == 0 {
                if self.classes[class].empty < KEEP_EMPTY {
                    self.classes[class].empty += 1;
                } else {
                    self.remove_partial(class, page);
                    self.stats.slab_pages -= 1;
                    self.give_page(page);
                }
            }
        }
    }

    fn push_partial(&mut self, class: usize, page: usize) {
        let head = self.classes[class].partial;
        // SAFETY: `page` and `head` (if any) are slab pages the heap owns.
        unsafe {
            (*Self::slab(page)).next = head;
            (*Self::slab(page)).prev = 0;
            if head != 0 {
                (*Self::slab(head)).prev = page;
            }
        }
        self.classes[class].partial = page;
    }

    fn remove_partial(&mut self, class: usize, page: usize) {
        // SAFETY: `page` is on the class's partial list; its neighbours are
        // slab pages the heap owns.
        unsafe {
            let (next, prev) = ((*Self::slab(page)).next, (*Self::slab(page)).prev);
            if prev != 0 {
                (*Self::slab(prev)).next = next;
            } else {
                self.classes[class].partial = next;
            }
            if next != 0 {
                (*Self::slab(next)).prev = prev;
            }
        }
    }

    /// The metadata entry of the data page at `page`.
    fn entry(&self, page: usize) -> *mut Entry {
        (self.meta + (page - self.data) / PAGE * core::mem::size_of::<Entry>()) as *mut Entry
    }

    /// Metadata pages needed for the entries of the data pages below `end`.
    fn meta_pages_for(&self, end: usize) -> usize {
        if end <= self.data {
            return 0;
        }
        (self.entry(end - PAGE) as usize + core::mem::size_of::<Entry>() - self.meta).div_ceil(PAGE)
    }

    /// Maps metadata pages (zeroed) until the entry of the data page
    /// before `end` is mapped.
    fn map_meta_for(&mut self, end: usize) -> bool {
        let needed = self.meta_pages_for(end);
        while self.meta_mapped < needed {
            let Some(page) = self.backing.alloc_page() else {
                return false;
            };
            // SAFETY: a fresh page from the backing, ours alone. Zeroed so
            // that every entry not written since reads as no run.
            unsafe { ptr::write_bytes(page as *mut u8, 0, PAGE) };
            if !self.backing.map(self.meta + self.meta_mapped * PAGE, page) {
                self.backing.free_page(page);
                return false;
            }
            self.meta_mapped += 1;
            self.stats.meta_pages += 1;
        }
        true
    }

    /// Gives back the metadata pages past those the runs below `top` need
    /// (keeping one against churn at the boundary).
    fn release_meta(&mut self) {
        let keep = (self.meta_pages_for(self.top) + 1).min(self.meta_mapped);
        while self.meta_mapped > keep {
            self.meta_mapped -= 1;
            let page = self.backing.unmap(self.meta + self.meta_mapped * PAGE);
            self.backing.free_page(page);
            self.stats.meta_pages -= 1;
        }
    }

    /// A run of `order` whose pages are not mapped, with its metadata
    /// mapped and marked in use; 0 when the range or memory is exhausted.
    fn new_run(&mut self, order: usize) -> usize {
        let run = self.free_runs[order];
        if run != 0 {
            self.unlink_free(run, order);
            // SAFETY: a run's entry is mapped while the run exists.
            unsafe { (*self.entry(run)).state = Entry::state(order, IN_USE) };
            return run;
        }
        let bytes = PAGE << order;
        let start = align_up(self.top, bytes);
        let Some(end) = start.checked_add(bytes) else {
            return 0;
        };
        if end > self.limit || !self.map_meta_for(end) {
            self.release_meta();
            return 0;
        }
        // SAFETY: mapped just above.
        unsafe {
            self.entry(start).write(Entry {
                link: 0,
                prev: 0,
                below: self.top,
                state: Entry::state(order, IN_USE),
            })
        };
        self.top = end;
        start
    }

    /// Maps pages `from..to` of `run`; on failure unmaps those mapped here.
    fn map_pages(&mut self, run: usize, from: usize, to: usize) -> bool {
        for index in from..to {
            let mapped = match self.backing.alloc_page() {
                Some(page) if self.backing.map(run + index * PAGE, page) => true,
                Some(page) => {
                    self.backing.free_page(page);
                    false
                }
                None => false,
            };
            if !mapped {
                self.unmap_pages(run, from, index);
                return false;
            }
            self.stats.run_pages += 1;
        }
        true
    }

    fn unmap_pages(&mut self, run: usize, from: usize, to: usize) {
        for index in from..to {
            let page = self.backing.unmap(run + index * PAGE);
            self.backing.free_page(page);
            self.stats.run_pages -= 1;
        }
    }

    fn alloc_large(&mut self, layout: Layout) -> *mut u8 {
        let Some((pages, order)) = run_shape(layout) else {
            return ptr::null_mut();
        };
        if order <= CACHE_ORDER && self.cached[order] != 0 {
            let run = core::mem::take(&mut self.cached[order]);
            // SAFETY: a cached run's entry is mapped and holds how many of
            // its pages are mapped.
            let mapped = unsafe { (*self.entry(run)).link };
            // SAFETY: as above.
            unsafe { (*self.entry(run)).state = Entry::state(order, IN_USE) };
            if mapped > pages {
                self.unmap_pages(run, pages, mapped);
            } else if !self.map_pages(run, mapped, pages) {
                self.unmap_pages(run, 0, mapped);
                self.push_free_run(run, order);
                self.shrink_top();
                return ptr::null_mut();
            }
            return run as *mut u8;
        }
        let run = self.new_run(order);
        if run == 0 {
            return ptr::null_mut();
        }
        if !self.map_pages(run, 0, pages) {
            self.push_free_run(run, order);
            self.shrink_top();
            return ptr::null_mut();
        }
        run as *mut u8
    }

    /// Puts a run (its pages unmapped) on its order's free list.
    fn push_free_run(&mut self, run: usize, order: usize) {
        let head = self.free_runs[order];
        // SAFETY: the entries of existing runs are mapped.
        unsafe {
            let entry = self.entry(run);
            (*entry).link = head;
            (*entry).prev = 0;
            (*entry).state = Entry::state(order, FREE);
            if head != 0 {
                (*self.entry(head)).prev = run;
            }
        }
        self.free_runs[order] = run;
    }

    /// Takes a free run off its order's free list.
    fn unlink_free(&mut self, run: usize, order: usize) {
        // SAFETY: the run and its neighbours on the list exist, so their
        // entries are mapped.
        unsafe {
            let (next, prev) = ((*self.entry(run)).link, (*self.entry(run)).prev);
            if prev != 0 {
                (*self.entry(prev)).link = next;
            } else {
                self.free_runs[order] = next;
            }
            if next != 0 {
                (*self.entry(next)).prev = prev;
            }
        }
    }

    /// The run that ends at `top` and its order (the last one made that
    /// still exists), if any.
    fn top_run(&self) -> Option<(usize, usize, usize)> {
        for order in 1..ORDERS {
            let bytes = PAGE << order;
            let Some(start) = self.top.checked_sub(bytes) else {
                break;
            };
            if start < self.data {
                break;
            }
            if !start.is_multiple_of(bytes) {
                continue;
            }
            // SAFETY: below `top`, so its metadata is mapped.
            let state = unsafe { (*self.entry(start)).state };
            if state != 0 && Entry::order(state) == order {
                return Some((start, order, state & KIND));
            }
        }
        None
    }

    /// Gives back the free runs at the top of the range, newest first, and
    /// the metadata pages they no longer need: runs are made at the top as
    /// on a stack, so once the runs above are free the range shrinks to
    /// the highest run still in use (or cached).
    fn shrink_top(&mut self) {
        while let Some((run, order, kind)) = self.top_run() {
            if kind != FREE {
                break;
            }
            self.unlink_free(run, order);
            // SAFETY: the run's entry is mapped; the run is gone after this.
            unsafe {
                let entry = self.entry(run);
                self.top = (*entry).below;
                entry.write(Entry::default());
            }
        }
        self.release_meta();
    }

    fn free_large(&mut self, run: usize, layout: Layout) {
        let Some((pages, order)) = run_shape(layout) else {
            return;
        };
        if order <= CACHE_ORDER {
            let cached = self.cached[order];
            if cached == 0 || run < cached {
                // Keep the lowest freed run of the order mapped (so a cached
                // run does not hold the range up after a flood).
                // SAFETY: the run's entry is mapped.
                unsafe {
                    (*self.entry(run)).link = pages;
                    (*self.entry(run)).state = Entry::state(order, CACHED);
                }
                self.cached[order] = run;
                if cached == 0 {
                    return;
                }
                // SAFETY: as above; it holds how many of its pages are mapped.
                let mapped = unsafe { (*self.entry(cached)).link };
                self.unmap_pages(cached, 0, mapped);
                self.push_free_run(cached, order);
                self.shrink_top();
                return;
            }
        }
        self.unmap_pages(run, 0, pages);
        self.push_free_run(run, order);
        self.shrink_top();
    }
}

/// What the heap knows of one data page of the virtual range (only the
/// first page of a run has a non-empty entry).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Entry {
    /// A free run: the next on its order's free list (0: none). A cached
    /// run: how many of its pages are mapped.
    link: usize,
    /// A free run: the previous on its order's free list (0: the head).
    prev: usize,
    /// The top of the range before the run was made.
    below: usize,
    /// 0: no run starts here; else the run's order and [`KIND`].
    state: usize,
}

/// The bits of [`Entry::state`] that say what the run is doing.
const KIND: usize = 3;
const IN_USE: usize = 1;
const FREE: usize = 2;
const CACHED: usize = 3;

impl Entry {
    const fn state(order: usize, kind: usize) -> usize {
        order << 2 | kind
    }

    const fn order(state: usize) -> usize {
        state >> 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{alloc, dealloc};
    use std::collections::{HashMap, HashSet};

    /// Pages from the host allocator; the "virtual range" is one big host
    /// allocation (untouched pages cost nothing) where `map` records the
    /// mapping and `unmap` poisons the page, so a use after free shows.
    struct HostBacking {
        pages: HashSet<usize>,
        mapped: HashMap<usize, usize>,
        limit: Option<usize>,
    }

    const PAGE_LAYOUT: Layout = match Layout::from_size_align(PAGE, PAGE) {
        Ok(layout) => layout,
        Err(_) => panic!(),
    };

    // SAFETY: pages are fresh host allocations owned by the test; mapped
    // virtual pages lie in a host allocation the test owns for the heap.
    unsafe impl Backing for HostBacking {
        fn alloc_page(&mut self) -> Option<usize> {
            if self.limit.is_some_and(|limit| self.pages.len() >= limit) {
                return None;
            }
            // SAFETY: a non-zero layout.
            let page = unsafe { alloc(PAGE_LAYOUT) } as usize;
            assert!(page != 0);
            assert!(self.pages.insert(page));
            Some(page)
        }
        fn free_page(&mut self, page: usize) {
            assert!(self.pages.remove(&page), "double free of page {page:#x}");
            // SAFETY: allocated above with this layout.
            unsafe { dealloc(page as *mut u8, PAGE_LAYOUT) };
        }
        fn map(&mut self, virt: usize, page: usize) -> bool {
            assert_eq!(virt % PAGE, 0);
            assert!(self.pages.contains(&page));
            assert!(self.mapped.insert(virt, page).is_none(), "mapped twice");
            true
        }
        fn unmap(&mut self, virt: usize) -> usize {
            let page = self
                .mapped
                .remove(&virt)
                .expect("unmap of an unmapped page");
            // SAFETY: the page lies in the test's range.
            unsafe { ptr::write_bytes(virt as *mut u8, 0xdd, PAGE) };
            page
        }
    }

    const RANGE: usize = 1 << 30;

    fn heap(limit: Option<usize>) -> (Heap<HostBacking>, *mut u8) {
        let layout = Layout::from_size_align(RANGE, 1 << 21).unwrap();
        // SAFETY: a non-zero layout; freed by `release`.
        let range = unsafe { alloc(layout) };
        assert!(!range.is_null());
        let backing = HostBacking {
            pages: HashSet::new(),
            mapped: HashMap::new(),
            limit,
        };
        (Heap::new(backing, range as usize, RANGE), range)
    }

    fn release(range: *mut u8) {
        // SAFETY: allocated in `heap` with this layout.
        unsafe { dealloc(range, Layout::from_size_align(RANGE, 1 << 21).unwrap()) };
    }

    /// A tiny deterministic generator (xorshift).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Offsets a block's pattern covers: both ends and every 61st byte
    /// (enough to see overlaps and lost pages, cheap for big blocks).
    fn probes(len: usize) -> impl Iterator<Item = usize> {
        (0..len.min(64))
            .chain((64..len).step_by(61))
            .chain(len.saturating_sub(64).max(64)..len)
    }

    fn fill(block: *mut u8, len: usize, seed: u8) {
        for i in probes(len) {
            // SAFETY: the block is live and `len` bytes long.
            unsafe { block.add(i).write(seed.wrapping_add(i as u8)) };
        }
    }

    fn check(block: *mut u8, len: usize, seed: u8) {
        for i in probes(len) {
            // SAFETY: the block is live and `len` bytes long.
            let byte = unsafe { block.add(i).read() };
            assert_eq!(byte, seed.wrapping_add(i as u8), "block {block:?} byte {i}");
        }
    }

    #[test]
    fn random_alloc_free_keeps_contents_and_gives_every_page_back() {
        let (mut heap, range) = heap(None);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        for step in 0..60_000 {
            if live.len() < 3000 && (live.is_empty() || rng.below(100) < 55) {
                let size = match rng.below(10) {
                    0..=5 => 1 + rng.below(1008) as usize,
                    6..=7 => 1009 + rng.below(3087) as usize,
                    8 => 4097 + rng.below(60_000) as usize,
                    _ => 1 + rng.below(300_000) as usize,
                };
                let align = [1, 8, 16, 64, 4096, 16384][rng.below(6) as usize];
                let layout = Layout::from_size_align(size, align).unwrap();
                let block = heap.alloc(layout);
                assert!(!block.is_null());
                assert_eq!(block as usize % align, 0, "misaligned");
                let seed = step as u8;
                fill(block, size, seed);
                live.push((block, layout, seed));
            } else {
                let index = rng.below(live.len() as u64) as usize;
                let (block, layout, seed) = live.swap_remove(index);
                check(block, layout.size(), seed);
                // SAFETY: allocated above with this layout, freed once.
                unsafe { heap.dealloc(block, layout) };
            }
        }
        for (block, layout, seed) in live.drain(..) {
            check(block, layout.size(), seed);
            // SAFETY: as above.
            unsafe { heap.dealloc(block, layout) };
        }
        let stats = heap.stats();
        assert_eq!(stats.page_blocks, 0);
        assert!(stats.slab_pages <= CLASS_SIZES.len() * KEEP_EMPTY as usize);
        // At most one cached run per small order, fully mapped.
        assert!(stats.run_pages <= (1..=CACHE_ORDER).map(|order| 1 << order).sum());
        // The backing holds exactly what the heap says it holds.
        assert_eq!(heap.backing().pages.len(), stats.total());
        assert_eq!(
            heap.backing().mapped.len(),
            stats.run_pages + stats.meta_pages
        );
        release(range);
    }

    #[test]
    fn every_small_size_gets_the_smallest_class_that_fits() {
        for size in 0..=MAX_SMALL {
            let class = class_of(Layout::from_size_align(size, 8).unwrap()).unwrap();
            assert!(CLASS_SIZES[class] >= size);
            assert!(class == 0 || CLASS_SIZES[class - 1] < size, "size {size}");
        }
        assert_eq!(
            class_of(Layout::from_size_align(MAX_SMALL + 1, 8).unwrap()),
            None
        );
        assert_eq!(class_of(Layout::from_size_align(8, 32).unwrap()), None);
        for class in 0..CLASS_SIZES.len() {
            assert!(HEADER + CAPACITY[class] as usize * CLASS_SIZES[class] <= PAGE);
        }
    }

    #[test]
    fn a_flood_of_small_blocks_is_given_back() {
        let (mut heap, range) = heap(None);
        let layout = Layout::new::<[u64; 6]>();
        let blocks: Vec<_> = (0..100_000).map(|_| heap.alloc(layout)).collect();
        assert!(heap.stats().slab_pages >= 100_000 / CAPACITY[2] as usize);
        for block in blocks {
            // SAFETY: allocated above with this layout.
            unsafe { heap.dealloc(block, layout) };
        }
        assert!(heap.stats().slab_pages <= KEEP_EMPTY as usize);
        release(range);
    }

    #[test]
    fn growing_a_table_to_a_megabyte_and_dropping_it_keeps_only_metadata() {
        let (mut heap, range) = heap(None);
        let mut size = 64;
        let mut block = heap.alloc(Layout::from_size_align(size, 8).unwrap());
        while size < 1 << 20 {
            let bigger = heap.alloc(Layout::from_size_align(size * 2, 8).unwrap());
            // SAFETY: both blocks are live and at least `size` long.
            unsafe { ptr::copy_nonoverlapping(block, bigger, size) };
            // SAFETY: allocated with this layout.
            unsafe { heap.dealloc(block, Layout::from_size_align(size, 8).unwrap()) };
            block = bigger;
            size *= 2;
        }
        // SAFETY: as above.
        unsafe { heap.dealloc(block, Layout::from_size_align(size, 8).unwrap()) };
        let stats = heap.stats();
        assert_eq!(
            stats.run_pages,
            16 + 8 + 4 + 2,
            "cached runs of orders 1..=4"
        );
        assert!(stats.total() < 64 + KEEP_PAGES, "{stats:?}");
        release(range);
    }

    /// Frees `blocks` in an order `rng` picks.
    fn free_shuffled(
        heap: &mut Heap<HostBacking>,
        mut blocks: Vec<(*mut u8, Layout)>,
        rng: &mut Rng,
    ) {
        while !blocks.is_empty() {
            let (block, layout) = blocks.swap_remove(rng.below(blocks.len() as u64) as usize);
            // SAFETY: allocated with this layout, freed once.
            unsafe { heap.dealloc(block, layout) };
        }
    }

    #[test]
    fn a_freed_flood_gives_its_metadata_back() {
        let (mut heap, range) = heap(None);
        let mut rng = Rng(77);
        // 30 KiB blocks: runs of order 3.
        let layout = Layout::from_size_align(30 * 1024, 8).unwrap();
        let blocks: Vec<_> = (0..5000).map(|_| (heap.alloc(layout), layout)).collect();
        let peak = heap.stats().meta_pages;
        assert!(
            peak >= 5000 * 8 / (PAGE / core::mem::size_of::<Entry>()),
            "{peak}"
        );
        free_shuffled(&mut heap, blocks, &mut rng);
        let stats = heap.stats();
        // The lowest run stays cached (8 pages mapped); the range comes
        // back down to it, and its metadata to one page and the spare.
        assert_eq!(stats.run_pages, 7 + 1, "{stats:?}");
        assert!(stats.meta_pages <= 2, "{stats:?} after a peak of {peak}");
        assert_eq!(heap.top, heap.data + 8 * PAGE);
        assert_eq!(heap.backing().pages.len(), stats.total());
        assert_eq!(
            heap.backing().mapped.len(),
            stats.run_pages + stats.meta_pages
        );
        release(range);
    }

    #[test]
    fn the_range_shrinks_to_the_highest_block_in_use() {
        let (mut heap, range) = heap(None);
        let mut rng = Rng(5);
        let big = Layout::from_size_align(100 * 1024, 8).unwrap(); // order 5
        let low = heap.alloc(big);
        let mut flood = Vec::new();
        for i in 0..3000usize {
            let layout = Layout::from_size_align(5000 + i * 97 % 200_000, 8).unwrap();
            flood.push((heap.alloc(layout), layout));
        }
        let high = heap.alloc(big);
        let peak = heap.stats().meta_pages;
        free_shuffled(&mut heap, flood, &mut rng);
        // `high` holds the range up.
        assert_eq!(heap.top, high as usize + 32 * PAGE);
        assert_eq!(heap.stats().meta_pages, peak);
        // SAFETY: allocated above with this layout.
        unsafe { heap.dealloc(high, big) };
        // Down to the cached runs of small orders (the lowest of each)
        // and `low`, all made before the flood's peak.
        let stats = heap.stats();
        assert!(
            stats.meta_pages * 8 < peak,
            "{stats:?} after a peak of {peak}"
        );
        assert!(heap.top > low as usize);
        // SAFETY: as above.
        unsafe { heap.dealloc(low, big) };
        // Everything can be had again, and the books balance.
        let again: Vec<_> = (0..100).map(|_| (heap.alloc(big), big)).collect();
        assert!(again.iter().all(|(block, _)| !block.is_null()));
        free_shuffled(&mut heap, again, &mut rng);
        let stats = heap.stats();
        assert_eq!(heap.backing().pages.len(), stats.total());
        assert_eq!(
            heap.backing().mapped.len(),
            stats.run_pages + stats.meta_pages
        );
        release(range);
    }

    #[test]
    fn exhaustion_gives_null_and_loses_nothing() {
        let (mut heap, range) = heap(Some(200));
        let mut live = Vec::new();
        let layouts = [
            Layout::from_size_align(24, 8).unwrap(),
            Layout::from_size_align(3000, 8).unwrap(),
            Layout::from_size_align(70_000, 8).unwrap(),
        ];
        let mut refused = 0;
        for i in 0..5000 {
            let layout = layouts[i % 3];
            let block = heap.alloc(layout);
            if block.is_null() {
                refused += 1;
            } else {
                live.push((block, layout));
            }
            assert_eq!(heap.backing().pages.len(), heap.stats().total());
        }
        assert!(refused > 0);
        for (block, layout) in live {
            // SAFETY: allocated above with this layout.
            unsafe { heap.dealloc(block, layout) };
        }
        // Everything can be had again.
        let block = heap.alloc(layouts[2]);
        assert!(!block.is_null());
        // SAFETY: as above.
        unsafe { heap.dealloc(block, layouts[2]) };
        assert_eq!(heap.backing().pages.len(), heap.stats().total());
        release(range);
    }

    #[test]
    fn refuses_what_the_range_cannot_hold() {
        let (mut heap, range) = heap(None);
        let huge = Layout::from_size_align(RANGE, 8).unwrap();
        assert!(heap.alloc(huge).is_null());
        let absurd = Layout::from_size_align(isize::MAX as usize & !(PAGE - 1), 8).unwrap();
        assert!(heap.alloc(absurd).is_null());
        assert_eq!(heap.stats().run_pages, 0);
        release(range);
    }
}
