//! Virtual memory address regions: the tree that describes a process's
//! address space.
//!
//! The root VMAR spans all of user space. A region can be split into child
//! VMARs (`vmar_allocate`) and hold mappings of VMOs (`vmar_map`). Mappings
//! are lazy: a page enters the page tables when it is first touched, through
//! the page-fault handler (`mem::fault`), which commits the VMO page and maps
//! it with the mapping's access. W^X is enforced: no mapping is writable and
//! executable at once.
//!
//! Known gap: unmap and protect work on whole mappings and whole child
//! regions; they do not split a mapping.

use super::process::Process;
use super::vmo::Vmo;
use super::{impl_into_any, KernelObject, ObjectBase};
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use paging::Access;
use pmm::FRAME_SIZE;
use spin::Mutex;
use zx_abi::{ObjectType, Signals, Status};

/// A mapping of a VMO range into a region.
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// Length in bytes (page multiple).
    pub size: u64,
    /// The mapped VMO.
    pub vmo: Arc<Vmo>,
    /// Offset of `start` in the VMO.
    pub vmo_offset: u64,
    access: Mutex<Access>,
    /// The most `protect` may grant: what the VMO handle allowed at map
    /// time.
    max_access: Access,
    /// Its kernel memory, charged to the process's job while it exists.
    _charge: Option<super::ObjectCharge>,
}

impl Mapping {
    /// The mapping's current access.
    pub fn access(&self) -> Access {
        *self.access.lock()
    }
}

enum Region {
    Child(Arc<Vmar>),
    Mapping(Arc<Mapping>),
}

impl Region {
    fn span(&self) -> (u64, u64) {
        match self {
            Region::Child(vmar) => (vmar.start, vmar.size),
            Region::Mapping(mapping) => (mapping.start, mapping.size),
        }
    }
}

struct VmarState {
    regions: BTreeMap<u64, Region>,
    destroyed: bool,
}

/// A VMAR.
pub struct Vmar {
    base: ObjectBase,
    start: u64,
    size: u64,
    process: Weak<Process>,
    /// Nesting below the root (bounded by [`MAX_VMAR_DEPTH`], so walking
    /// the tree recursively cannot overflow the kernel stack).
    depth: usize,
    state: Mutex<VmarState>,
}

/// Deepest nesting of VMARs.
pub const MAX_VMAR_DEPTH: usize = 16;

fn page_aligned(value: u64) -> bool {
    value.is_multiple_of(FRAME_SIZE)
}

impl Vmar {
    /// The root region of `process`, spanning `[start, start + size)`.
    pub fn new_root(process: Weak<Process>, start: u64, size: u64) -> Arc<Vmar> {
        Arc::new(Vmar {
            base: ObjectBase::new(Signals::empty()),
            start,
            size,
            depth: 0,
            process,
            state: Mutex::new(VmarState {
                regions: BTreeMap::new(),
                destroyed: false,
            }),
        })
    }

    /// First address.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Picks `[start, start + size)` inside this region: at `offset` if
    /// given, else the first gap that fits. Checks it overlaps nothing.
    fn place(&self, state: &VmarState, offset: Option<u64>, size: u64) -> Result<u64, Status> {
        if size == 0 || !page_aligned(size) {
            return Err(Status::INVALID_ARGS);
        }
        let fits = |start: u64| -> bool {
            let Some(end) = start.checked_add(size) else {
                return false;
            };
            if start < self.start || end > self.start + self.size {
                return false;
            }
            // The region starting before `end` with the highest start must
            // end at or before `start`.
            match state.regions.range(..end).next_back() {
                Some((_, region)) => {
                    let (s, len) = region.span();
                    s + len <= start
                }
                None => true,
            }
        };
        match offset {
            Some(offset) => {
                if !page_aligned(offset) {
                    return Err(Status::INVALID_ARGS);
                }
                let start = self.start.checked_add(offset).ok_or(Status::INVALID_ARGS)?;
                if fits(start) {
                    Ok(start)
                } else {
                    Err(Status::NO_RESOURCES)
                }
            }
            None => {
                let mut candidate = self.start;
                for region in state.regions.values() {
                    let (s, len) = region.span();
                    if candidate + size <= s {
                        break;
                    }
                    candidate = candidate.max(s + len);
                }
                if fits(candidate) {
                    Ok(candidate)
                } else {
                    Err(Status::NO_RESOURCES)
                }
            }
        }
    }

    /// Creates a child region.
    pub fn allocate(&self, offset: Option<u64>, size: u64) -> Result<Arc<Vmar>, Status> {
        let mut state = self.state.lock();
        if state.destroyed {
            return Err(Status::BAD_STATE);
        }
        if self.depth + 1 >= MAX_VMAR_DEPTH {
            return Err(Status::OUT_OF_RANGE);
        }
        let start = self.place(&state, offset, size)?;
        let process = self.process.upgrade();
        let charge = match &process {
            Some(process) => Some(process.charge_region(0)?),
            None => None,
        };
        let child = Arc::new(Vmar {
            base: ObjectBase::new(Signals::empty()),
            start,
            size,
            depth: self.depth + 1,
            process: self.process.clone(),
            state: Mutex::new(VmarState {
                regions: BTreeMap::new(),
                destroyed: false,
            }),
        });
        if let Some(charge) = charge {
            child.base.hold(charge);
        }
        state
            .regions
            .insert(start, Region::Child(Arc::clone(&child)));
        Ok(child)
    }

    /// Maps `len` bytes of `vmo` from `vmo_offset`; returns the address.
    pub fn map(
        &self,
        offset: Option<u64>,
        vmo: Arc<Vmo>,
        vmo_offset: u64,
        len: u64,
        access: Access,
        max_access: Access,
    ) -> Result<u64, Status> {
        if access.write && access.execute {
            return Err(Status::ACCESS_DENIED);
        }
        if !page_aligned(vmo_offset) {
            return Err(Status::INVALID_ARGS);
        }
        let len = len
            .checked_next_multiple_of(FRAME_SIZE)
            .ok_or(Status::OUT_OF_RANGE)?;
        vmo.check_range(vmo_offset, len)?;
        let mut state = self.state.lock();
        if state.destroyed {
            return Err(Status::BAD_STATE);
        }
        let start = self.place(&state, offset, len)?;
        let charge = match self.process.upgrade() {
            Some(process) => Some(process.charge_region(len)?),
            None => None,
        };
        vmo.mapped();
        let access = Access {
            user: true,
            uncached: vmo.is_physical(),
            ..access
        };
        let mapping = Arc::new(Mapping {
            start,
            size: len,
            vmo,
            vmo_offset,
            access: Mutex::new(access),
            max_access,
            _charge: charge,
        });
        state.regions.insert(start, Region::Mapping(mapping));
        Ok(start)
    }

    /// Checks `[address, address + len)`: page-aligned, inside this
    /// region, cutting no region. Returns its end and how many regions lie
    /// in it. Looks only at the regions in the range (a range query), not
    /// at every region.
    fn whole_regions(
        &self,
        state: &VmarState,
        address: u64,
        len: u64,
    ) -> Result<(u64, usize), Status> {
        if !page_aligned(address) || len == 0 {
            return Err(Status::INVALID_ARGS);
        }
        let end = address
            .checked_add(len.next_multiple_of(FRAME_SIZE))
            .ok_or(Status::INVALID_ARGS)?;
        if address < self.start || end > self.start + self.size {
            return Err(Status::INVALID_ARGS);
        }
        // A region starting before the range must end before it.
        if let Some((_, region)) = state.regions.range(..address).next_back() {
            let (s, size) = region.span();
            if s + size > address {
                return Err(Status::INVALID_ARGS);
            }
        }
        let mut count = 0;
        for region in state.regions.range(address..end).map(|(_, r)| r) {
            let (s, size) = region.span();
            if s + size > end {
                return Err(Status::INVALID_ARGS);
            }
            count += 1;
        }
        Ok((end, count))
    }

    /// Removes the mappings and child regions inside the range, one at a
    /// time (nothing is allocated: unmapping frees, so it must work when
    /// memory is short).
    pub fn unmap(&self, address: u64, len: u64) -> Result<(), Status> {
        let end = {
            let state = self.state.lock();
            let (end, count) = self.whole_regions(&state, address, len)?;
            if count == 0 {
                return Err(Status::NOT_FOUND);
            }
            end
        };
        loop {
            let region = {
                let mut state = self.state.lock();
                let Some((&start, _)) = state.regions.range(address..end).next() else {
                    break;
                };
                state.regions.remove(&start)
            };
            if let Some(region) = region {
                self.tear_down(region);
            }
        }
        Ok(())
    }

    /// Changes the access of the mappings inside the range.
    pub fn protect(&self, address: u64, len: u64, access: Access) -> Result<(), Status> {
        if access.write && access.execute {
            return Err(Status::ACCESS_DENIED);
        }
        let access = Access {
            user: true,
            ..access
        };
        let mappings: Vec<Arc<Mapping>> = {
            let state = self.state.lock();
            let (end, count) = self.whole_regions(&state, address, len)?;
            let mut mappings = Vec::new();
            mappings
                .try_reserve_exact(count)
                .map_err(|_| Status::NO_MEMORY)?;
            for (_, region) in state.regions.range(address..end) {
                match region {
                    Region::Mapping(mapping) => mappings.push(Arc::clone(mapping)),
                    Region::Child(_) => return Err(Status::INVALID_ARGS),
                }
            }
            if mappings.is_empty() {
                return Err(Status::NOT_FOUND);
            }
            // Never more than the VMO handle allowed when it was mapped.
            let exceeds = |m: &Arc<Mapping>| {
                (access.write && !m.max_access.write) || (access.execute && !m.max_access.execute)
            };
            if mappings.iter().any(exceeds) {
                return Err(Status::ACCESS_DENIED);
            }
            mappings
        };
        let process = self.process.upgrade();
        for mapping in mappings {
            let access = Access {
                uncached: mapping.vmo.is_physical(),
                ..access
            };
            *mapping.access.lock() = access;
            if let Some(process) = &process {
                for_each_committed_page(&mapping, |page| {
                    process.with_address_space(|space| space.protect_page(page, access));
                });
            }
        }
        Ok(())
    }

    fn tear_down(&self, region: Region) {
        let process = self.process.upgrade();
        match region {
            Region::Mapping(mapping) => {
                if let Some(process) = &process {
                    // Only committed pages can be in the page tables: walk
                    // those, not every page of a possibly huge mapping (and
                    // none once the address space is gone: an ended
                    // process's tables are freed whole).
                    if process.has_address_space() {
                        for_each_committed_page(&mapping, |page| {
                            process.with_address_space(|space| space.unmap_page(page));
                        });
                    }
                    process.release_region(mapping.size);
                }
                mapping.vmo.unmapped();
            }
            Region::Child(child) => {
                if let Some(process) = &process {
                    process.release_region(0);
                }
                child.destroy();
            }
        }
    }

    /// Unmaps everything in the region and refuses further use. Allocates
    /// nothing (a process's teardown runs it).
    pub fn destroy(&self) {
        let mut regions = {
            let mut state = self.state.lock();
            state.destroyed = true;
            core::mem::take(&mut state.regions)
        };
        while let Some((_, region)) = regions.pop_first() {
            self.tear_down(region);
        }
    }

    /// The mapping covering `address`, searching child regions.
    pub fn find_mapping(&self, address: u64) -> Option<Arc<Mapping>> {
        let region = {
            let state = self.state.lock();
            let (_, region) = state.regions.range(..=address).next_back()?;
            let (s, size) = region.span();
            if address >= s + size {
                return None;
            }
            match region {
                Region::Mapping(mapping) => return Some(Arc::clone(mapping)),
                Region::Child(child) => Arc::clone(child),
            }
        };
        region.find_mapping(address)
    }
}

/// Runs `f` on the address of every page of `mapping` whose VMO page is
/// committed (only those can be in the page tables), a batch at a time:
/// nothing is allocated, and no VMO lock is held while `f` runs.
fn for_each_committed_page(mapping: &Mapping, mut f: impl FnMut(u64)) {
    let mut batch = [0u64; 64];
    let mut from = 0;
    loop {
        let found =
            mapping
                .vmo
                .committed_pages_from(mapping.vmo_offset, mapping.size, from, &mut batch);
        for &index in &batch[..found] {
            f(mapping.start + index * FRAME_SIZE);
        }
        if found < batch.len() {
            return;
        }
        from = batch[found - 1] + 1;
    }
}

impl KernelObject for Vmar {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> ObjectType {
        ObjectType::Vmar
    }

    impl_into_any!();
}
