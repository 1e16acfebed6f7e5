//! `virtio_drivers::Hal` over kernel objects.
//!
//! - DMA memory (`dma_alloc`): a contiguous VMO made with the `dma`
//!   resource, mapped read-write, its physical address from
//!   `vmo_get_physical`.
//! - MMIO (`mmio_phys_to_virt`): the device's BARs, mapped from the
//!   physical VMOs the driver manager gave ([`register_bar`]).
//! - Sharing a driver buffer with the device (`share`/`unshare`): the
//!   driver's memory is paged (no physical address, and it may not be
//!   contiguous), so the bytes travel through a bounce buffer of DMA
//!   memory, copied in before the device reads and back after it wrote.
//!   Bounce buffers are kept in a pool for the next request.
//!
//! `Hal`'s functions take no `self`, so the state is one global, behind a
//! lock ([`init`] sets it up once).

use crate::mmio::Mapping;
use alloc::vec::Vec;
use core::ptr::NonNull;
use spin::Mutex;
use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};
use zx::{Resource, Status, Vmo};

/// A run of DMA memory.
struct DmaRun {
    paddr: u64,
    vaddr: usize,
    pages: usize,
    /// Keeps the pages (and their mapping) alive.
    _vmo: Vmo,
}

impl Drop for DmaRun {
    fn drop(&mut self) {
        let root = core::mem::ManuallyDrop::new(zx::Vmar::from_handle(zx::Handle::from_raw(
            zx_runtime::vmar_root_self().0,
        )));
        // SAFETY: nothing refers to the run any more: `virtio-drivers` gave
        // it back (`dma_dealloc`) or it left the bounce-buffer pool.
        let _ = unsafe { root.unmap(self.vaddr, (self.pages * PAGE_SIZE) as u64) };
    }
}

struct State {
    dma: Option<Resource>,
    /// (physical address, length, mapping) of each BAR.
    bars: Vec<(u64, u64, Mapping)>,
    /// DMA memory handed to `virtio-drivers` (queues).
    allocated: Vec<DmaRun>,
    /// Bounce buffers lent out by `share`, by physical address.
    shared: Vec<DmaRun>,
    /// Bounce buffers returned by `unshare`, ready for reuse.
    pool: Vec<DmaRun>,
}

static STATE: Mutex<State> = Mutex::new(State {
    dma: None,
    bars: Vec::new(),
    allocated: Vec::new(),
    shared: Vec::new(),
    pool: Vec::new(),
});

/// Most bounce buffers kept for reuse.
const POOL_LIMIT: usize = 32;

/// Gives the Hal the `dma` resource it allocates DMA memory with.
pub fn init(dma: Resource) {
    STATE.lock().dma = Some(dma);
}

/// Maps the BAR in `vmo` (a physical VMO) for `mmio_phys_to_virt`.
pub fn register_bar(vmo: &Vmo) -> Result<(), Status> {
    let paddr = vmo.physical_address(0)?;
    let len = vmo.size()?;
    let mapping = Mapping::map(vmo, len)?;
    STATE.lock().bars.push((paddr, len, mapping));
    Ok(())
}

fn new_run(state: &State, pages: usize) -> Result<DmaRun, Status> {
    let dma = state.dma.as_ref().ok_or(Status::BAD_STATE)?;
    let bytes = (pages * PAGE_SIZE) as u64;
    let vmo = Vmo::create_contiguous(dma, bytes)?;
    let paddr = vmo.physical_address(0)?;
    let mapping = Mapping::map(&vmo, bytes)?;
    Ok(DmaRun {
        paddr,
        vaddr: mapping.address(),
        pages,
        _vmo: vmo,
    })
}

fn take_run(state: &mut State, pages: usize) -> DmaRun {
    if let Some(index) = state.pool.iter().position(|run| run.pages == pages) {
        return state.pool.swap_remove(index);
    }
    match new_run(state, pages) {
        Ok(run) => run,
        // virtio-drivers' Hal cannot fail: without DMA memory the driver
        // cannot work at all.
        Err(status) => panic!("no DMA memory for {pages} pages: {status:?}"),
    }
}

/// The Hal. See the module documentation.
pub struct ZxHal;

// SAFETY: `dma_alloc` returns zeroed (fresh contiguous VMOs are zeroed),
// page-aligned, mapped memory owned by one `DmaRun` until `dma_dealloc`;
// `mmio_phys_to_virt` returns addresses inside a BAR mapping that is never
// unmapped; `share` returns the physical address of a bounce buffer large
// enough for the buffer, owned by it until `unshare`.
unsafe impl Hal for ZxHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let mut state = STATE.lock();
        let run = match new_run(&state, pages) {
            Ok(run) => run,
            Err(status) => panic!("no DMA memory for {pages} pages: {status:?}"),
        };
        let result = (
            run.paddr,
            NonNull::new(run.vaddr as *mut u8).expect("mappings are never at 0"),
        );
        state.allocated.push(run);
        result
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, _vaddr: NonNull<u8>, _pages: usize) -> i32 {
        let mut state = STATE.lock();
        match state.allocated.iter().position(|run| run.paddr == paddr) {
            Some(index) => {
                // The mapping stays (mappings are permanent); the pages
                // go when their last reference does.
                drop(state.allocated.swap_remove(index));
                0
            }
            None => -1,
        }
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        let state = STATE.lock();
        for (base, len, mapping) in &state.bars {
            if paddr >= *base && paddr + size as u64 <= base + len {
                let address = mapping.address() + (paddr - base) as usize;
                return NonNull::new(address as *mut u8).expect("mappings are never at 0");
            }
        }
        panic!("MMIO {paddr:#x}+{size:#x} is in none of the device's BARs");
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let len = buffer.len();
        let pages = len.div_ceil(PAGE_SIZE).max(1);
        let mut state = STATE.lock();
        let run = take_run(&mut state, pages);
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: the caller guarantees `buffer` is valid for reads for
            // the call; the bounce buffer holds at least `len` bytes and is
            // this run's alone.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    buffer.as_ptr() as *const u8,
                    run.vaddr as *mut u8,
                    len,
                )
            };
        }
        let paddr = run.paddr;
        state.shared.push(run);
        paddr
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let mut state = STATE.lock();
        let Some(index) = state.shared.iter().position(|run| run.paddr == paddr) else {
            return;
        };
        let run = state.shared.swap_remove(index);
        if direction != BufferDirection::DriverToDevice {
            // SAFETY: the caller guarantees `buffer` is valid for writes
            // for the call; the bounce buffer holds what the device wrote,
            // at least `buffer.len()` bytes.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    run.vaddr as *const u8,
                    buffer.as_ptr() as *mut u8,
                    buffer.len(),
                )
            };
        }
        if state.pool.len() < POOL_LIMIT {
            state.pool.push(run);
        }
    }
}
