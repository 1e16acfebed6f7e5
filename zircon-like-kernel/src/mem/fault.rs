//! Demand paging: resolving a page fault on a user address by committing
//! the VMO page behind the mapping and entering it in the page tables.
//!
//! A fault is resolvable when the address lies in a mapping of the current
//! process, the page is not present, the access is one the mapping allows
//! (write needs write, instruction fetch needs execute), and the VMO can
//! commit the page. Anything else is a real fault: the thread's process is
//! killed (or, inside the kernel's user-copy routine, the syscall fails).

use pmm::FRAME_SIZE;
use zx_abi::USER_ADDRESS_LIMIT;

const PRESENT: u64 = 1 << 0;
const WRITE: u64 = 1 << 1;
const FETCH: u64 = 1 << 4;

/// Tries to resolve a page fault at `address` with `error_code` for the
/// current thread's process. True if the access can be retried.
pub fn resolve(address: u64, error_code: u64) -> bool {
    if address >= USER_ADDRESS_LIMIT || error_code & PRESENT != 0 {
        return false;
    }
    let Some(thread) = crate::sched::current() else {
        return false;
    };
    if super::frames::below_fault_reserve() {
        // Out of memory for user pages: the faulting process dies, the
        // kernel keeps its reserve.
        return false;
    }
    let process = &thread.process;
    let Some(mapping) = process.root_vmar().find_mapping(address) else {
        return false;
    };
    let access = mapping.access();
    if (error_code & WRITE != 0 && !access.write) || (error_code & FETCH != 0 && !access.execute) {
        return false;
    }
    let page = address & !(FRAME_SIZE - 1);
    let index = (page - mapping.start + mapping.vmo_offset) / FRAME_SIZE;
    let Ok(frame) = mapping.vmo.commit(index) else {
        return false;
    };
    process
        .with_address_space(|space| space.map_frame(page, frame.addr(), access))
        .is_some_and(|result| result.is_ok())
}
