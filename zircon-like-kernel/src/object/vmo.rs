//! Virtual memory objects: pages of memory that can be read, written and
//! mapped.
//!
//! A paged VMO commits a zeroed frame the first time a page is touched
//! (written with `vmo_write`, or faulted on through a mapping); reading an
//! uncommitted page reads zeros without committing it. A contiguous VMO is
//! committed at creation, physically contiguous, and can report its
//! physical address — what a device driver needs for DMA. A physical VMO
//! names device memory (a PCI BAR, configuration space) that is not RAM:
//! its pages are never allocated or freed, mappings of it are uncached, and
//! the kernel never reads or writes it itself.
//!
//! Frames belong to the VMO and are freed when its last reference goes;
//! mappings hold a reference, so a frame is never freed while mapped.
//!
//! A VMO a program creates is charged to its job's memory account
//! (`account.rs`): a page is charged before it is committed and given
//! back when it is freed, so a job's memory limit bounds what its subtree
//! commits however the pages are touched (`vmo_write`, faults, the kernel's
//! own copies).

use super::account::MemoryAccount;
use super::{impl_into_any, KernelObject, ObjectBase};
use crate::mem::{frames, phys_to_virt};
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicUsize, Ordering};
use pmm::{Frame, FRAME_SIZE};

/// What one committed page of a paged VMO costs its job: the frame and
/// its entry in the VMO's page list (a B-tree node holds 5 to 11 entries
/// of 16 bytes beside its links, so at most about 48 bytes an entry,
/// inner nodes included). Given back with the page.
pub const PAGED_PAGE_COST: u64 = FRAME_SIZE + 48;
use spin::Mutex;
use zx_abi::{ObjectType, Signals, Status, VMO_MAX_SIZE};

enum Backing {
    /// Pages committed on demand.
    Paged(BTreeMap<u64, Frame>),
    /// One physically contiguous run, committed at creation.
    Contiguous { first: Frame, count: u64 },
    /// Device memory from `first` on (not RAM: never freed).
    Physical { first: Frame },
}

struct VmoState {
    size: u64,
    backing: Backing,
}

/// A VMO.
pub struct Vmo {
    base: ObjectBase,
    resizable: bool,
    mappings: AtomicUsize,
    state: Mutex<VmoState>,
    /// Who its committed pages are charged to (none: the kernel's own).
    account: spin::Once<Arc<MemoryAccount>>,
}

fn page_count(size: u64) -> Result<u64, Status> {
    if size > VMO_MAX_SIZE {
        return Err(Status::OUT_OF_RANGE);
    }
    Ok(size.div_ceil(FRAME_SIZE))
}

impl Vmo {
    /// A paged VMO of `size` bytes (rounded up to pages).
    pub fn new_paged(size: u64, resizable: bool) -> Result<Arc<Vmo>, Status> {
        let pages = page_count(size)?;
        Ok(Arc::new(Vmo {
            base: ObjectBase::new(Signals::empty()),
            resizable,
            mappings: AtomicUsize::new(0),
            state: Mutex::new(VmoState {
                size: pages * FRAME_SIZE,
                backing: Backing::Paged(BTreeMap::new()),
            }),
            account: spin::Once::new(),
        }))
    }

    /// A contiguous, committed VMO of `size` bytes (rounded up to pages).
    pub fn new_contiguous(size: u64) -> Result<Arc<Vmo>, Status> {
        let count = page_count(size)?;
        if count == 0 {
            return Err(Status::INVALID_ARGS);
        }
        if frames::free_frames().saturating_sub(count) < frames::RESERVE_FRAMES {
            return Err(Status::NO_MEMORY);
        }
        let first = frames::alloc_contiguous(count).ok_or(Status::NO_MEMORY)?;
        // SAFETY: the run was just allocated for this VMO alone and is RAM
        // reachable through the direct map.
        unsafe {
            core::ptr::write_bytes(phys_to_virt(first.addr()), 0, (count * FRAME_SIZE) as usize)
        };
        Ok(Arc::new(Vmo {
            base: ObjectBase::new(Signals::empty()),
            resizable: false,
            mappings: AtomicUsize::new(0),
            state: Mutex::new(VmoState {
                size: count * FRAME_SIZE,
                backing: Backing::Contiguous { first, count },
            }),
            account: spin::Once::new(),
        }))
    }

    /// Charges the VMO's pages, those committed already and those to
    /// come, to `account` (once, right after creation).
    pub fn charge_to(&self, account: &Arc<MemoryAccount>) -> Result<(), Status> {
        let state = self.state.lock();
        let committed = match &state.backing {
            Backing::Paged(pages) => pages.len() as u64 * PAGED_PAGE_COST,
            Backing::Contiguous { count, .. } => *count * FRAME_SIZE,
            Backing::Physical { .. } => 0,
        };
        account.charge(committed)?;
        self.account.call_once(|| Arc::clone(account));
        Ok(())
    }

    /// A VMO over device memory `[paddr, paddr + size)`; the caller has
    /// checked the range (page-aligned, not RAM, covered by a resource).
    pub fn new_physical(paddr: u64, size: u64) -> Result<Arc<Vmo>, Status> {
        let count = page_count(size)?;
        if count == 0 || !paddr.is_multiple_of(FRAME_SIZE) {
            return Err(Status::INVALID_ARGS);
        }
        Ok(Arc::new(Vmo {
            base: ObjectBase::new(Signals::empty()),
            resizable: false,
            mappings: AtomicUsize::new(0),
            state: Mutex::new(VmoState {
                size: count * FRAME_SIZE,
                backing: Backing::Physical {
                    first: Frame(paddr / FRAME_SIZE),
                },
            }),
            account: spin::Once::new(),
        }))
    }

    /// Whether the VMO is device memory (mapped uncached).
    pub fn is_physical(&self) -> bool {
        matches!(self.state.lock().backing, Backing::Physical { .. })
    }

    /// Size in bytes (a multiple of the page size).
    pub fn size(&self) -> u64 {
        self.state.lock().size
    }

    /// The frame behind page `index`, committing a zeroed one if needed.
    pub fn commit(&self, index: u64) -> Result<Frame, Status> {
        let mut state = self.state.lock();
        if index >= state.size / FRAME_SIZE {
            return Err(Status::OUT_OF_RANGE);
        }
        match &mut state.backing {
            Backing::Contiguous { first, .. } | Backing::Physical { first } => {
                Ok(Frame(first.0 + index))
            }
            Backing::Paged(pages) => {
                if let Some(frame) = pages.get(&index) {
                    return Ok(*frame);
                }
                // User-driven growth stops at the kernel's reserve, and at
                // the job's limit.
                if frames::below_fault_reserve() {
                    return Err(Status::NO_MEMORY);
                }
                let account = self.account.get();
                if let Some(account) = account {
                    account.charge(PAGED_PAGE_COST)?;
                }
                let Some(frame) = frames::alloc_zeroed() else {
                    if let Some(account) = account {
                        account.uncharge(PAGED_PAGE_COST);
                    }
                    return Err(Status::NO_MEMORY);
                };
                pages.insert(index, frame);
                Ok(frame)
            }
        }
    }

    /// The committed frame of page `index`, if any.
    fn committed(&self, index: u64) -> Option<Frame> {
        let state = self.state.lock();
        match &state.backing {
            Backing::Contiguous { first, count } => {
                (index < *count).then(|| Frame(first.0 + index))
            }
            Backing::Physical { first } => {
                (index < state.size / FRAME_SIZE).then(|| Frame(first.0 + index))
            }
            Backing::Paged(pages) => pages.get(&index).copied(),
        }
    }

    /// Checks that `[offset, offset + len)` lies inside the VMO.
    pub fn check_range(&self, offset: u64, len: u64) -> Result<(), Status> {
        let end = offset.checked_add(len).ok_or(Status::OUT_OF_RANGE)?;
        if end > self.size() {
            return Err(Status::OUT_OF_RANGE);
        }
        Ok(())
    }

    /// Runs `f(page frame or None, offset in page, chunk length, position
    /// in the request)` over each page-sized chunk of `[offset, offset +
    /// len)`, committing pages first if `commit`.
    pub fn for_each_chunk(
        &self,
        offset: u64,
        len: u64,
        commit: bool,
        mut f: impl FnMut(Option<Frame>, usize, usize, usize) -> Result<(), Status>,
    ) -> Result<(), Status> {
        // Device memory may lie outside the direct map, and reading it can
        // have side effects: only mappings reach it.
        if self.is_physical() {
            return Err(Status::NOT_SUPPORTED);
        }
        self.check_range(offset, len)?;
        let mut done = 0u64;
        while done < len {
            let position = offset + done;
            let index = position / FRAME_SIZE;
            let in_page = position % FRAME_SIZE;
            let chunk = (FRAME_SIZE - in_page).min(len - done);
            let frame = if commit {
                Some(self.commit(index)?)
            } else {
                self.committed(index)
            };
            f(frame, in_page as usize, chunk as usize, done as usize)?;
            done += chunk;
        }
        Ok(())
    }

    /// Changes the size of a resizable VMO; pages past the new end are
    /// freed. Shrinking a mapped VMO is refused (its pages may be mapped).
    /// Neither way allocates: growing only moves the end (pages commit on
    /// demand), and shrinking frees, so it works when memory is short.
    pub fn set_size(&self, size: u64) -> Result<(), Status> {
        if !self.resizable {
            return Err(Status::NOT_SUPPORTED);
        }
        let pages = page_count(size)?;
        let mut state = self.state.lock();
        let new_size = pages * FRAME_SIZE;
        if new_size < state.size && self.mappings.load(Ordering::Acquire) > 0 {
            return Err(Status::BAD_STATE);
        }
        let Backing::Paged(committed) = &mut state.backing else {
            return Err(Status::NOT_SUPPORTED);
        };
        let mut freed = 0;
        while let Some(entry) = committed.last_entry() {
            if *entry.key() < pages {
                break;
            }
            frames::free(entry.remove());
            freed += 1;
        }
        state.size = new_size;
        drop(state);
        if let Some(account) = self.account.get() {
            account.uncharge(freed * PAGED_PAGE_COST);
        }
        Ok(())
    }

    /// Physical address of byte `offset` of a contiguous VMO.
    pub fn physical_address(&self, offset: u64) -> Result<u64, Status> {
        let state = self.state.lock();
        match state.backing {
            Backing::Contiguous { first, count } if offset < count * FRAME_SIZE => {
                Ok(first.addr() + offset)
            }
            Backing::Physical { first } if offset < state.size => Ok(first.addr() + offset),
            Backing::Contiguous { .. } | Backing::Physical { .. } => Err(Status::OUT_OF_RANGE),
            Backing::Paged(_) => Err(Status::NOT_SUPPORTED),
        }
    }

    /// Fills `out` with the indices of the committed pages in `[offset,
    /// offset + len)`, relative to `offset`'s page (`offset` is
    /// page-aligned), starting at relative index `from`; returns how many
    /// it wrote (fewer than `out` holds: there are no more).
    pub fn committed_pages_from(&self, offset: u64, len: u64, from: u64, out: &mut [u64]) -> usize {
        let first = offset / FRAME_SIZE;
        let end = first + len.div_ceil(FRAME_SIZE);
        let start = first.saturating_add(from).min(end);
        let state = self.state.lock();
        let mut written = 0;
        let mut put = |index: u64| {
            out[written] = index - first;
            written += 1;
            written == out.len()
        };
        match &state.backing {
            Backing::Paged(pages) => {
                for (&index, _) in pages.range(start..end) {
                    if put(index) {
                        break;
                    }
                }
            }
            Backing::Contiguous { count, .. } => {
                for index in start..end.min(*count) {
                    if put(index) {
                        break;
                    }
                }
            }
            Backing::Physical { .. } => {
                for index in start..end.min(state.size / FRAME_SIZE) {
                    if put(index) {
                        break;
                    }
                }
            }
        }
        written
    }

    /// Counts a new mapping of the VMO.
    pub fn mapped(&self) {
        self.mappings.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts a mapping going away.
    pub fn unmapped(&self) {
        self.mappings.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Vmo {
    fn drop(&mut self) {
        let freed = match &mut self.state.get_mut().backing {
            Backing::Paged(pages) => {
                let count = pages.len() as u64;
                for frame in core::mem::take(pages).into_values() {
                    frames::free(frame);
                }
                count * PAGED_PAGE_COST
            }
            Backing::Contiguous { first, count } => {
                for index in 0..*count {
                    frames::free(Frame(first.0 + index));
                }
                *count * FRAME_SIZE
            }
            Backing::Physical { .. } => 0,
        };
        if let Some(account) = self.account.get() {
            account.uncharge(freed);
        }
    }
}

impl KernelObject for Vmo {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> ObjectType {
        ObjectType::Vmo
    }

    impl_into_any!();
}

impl Vmo {
    /// Copies the VMO's bytes at `offset` into `out` (kernel-side reads:
    /// a request re-read from its caller's buffer, `fastpath.rs`); pages
    /// never committed read as zeros, and none is committed. Refused for
    /// device memory.
    pub fn read_bytes(&self, offset: u64, out: &mut [u8]) -> Result<(), Status> {
        self.for_each_chunk(
            offset,
            out.len() as u64,
            false,
            |frame, in_page, len, done| {
                let chunk = &mut out[done..done + len];
                match frame {
                    // SAFETY: the frame is committed to this VMO and
                    // reachable through the direct map; the chunk stays
                    // inside the page.
                    Some(frame) => unsafe {
                        core::ptr::copy_nonoverlapping(
                            phys_to_virt(frame.addr() + in_page as u64),
                            chunk.as_mut_ptr(),
                            len,
                        )
                    },
                    None => chunk.fill(0),
                }
                Ok(())
            },
        )
    }

    /// Copies `data` into the VMO at `offset` (kernel-side writes: the
    /// loader).
    pub fn write_bytes(&self, offset: u64, data: &[u8]) -> Result<(), Status> {
        self.for_each_chunk(
            offset,
            data.len() as u64,
            true,
            |frame, in_page, len, done| {
                let frame = frame.ok_or(Status::INTERNAL)?;
                // SAFETY: the frame is committed to this VMO and reachable through
                // the direct map; the chunk stays inside the page.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        data[done..done + len].as_ptr(),
                        phys_to_virt(frame.addr() + in_page as u64),
                        len,
                    )
                };
                Ok(())
            },
        )
    }
}
