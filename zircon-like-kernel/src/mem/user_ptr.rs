//! Validated access to user memory. Syscalls turn raw `(address, length)`
//! arguments into a [`UserSlice`] first — which checks the range lies
//! entirely in user space and does not wrap — and only then copy, through
//! the fault-tolerant routine in `arch::x86_64::usercopy`.

use crate::arch::x86_64::usercopy;
use zx_abi::{Status, USER_ADDRESS_LIMIT};

/// A range of the current process's memory that lies wholly in user space.
#[derive(Clone, Copy, Debug)]
pub struct UserSlice {
    address: u64,
    len: usize,
}

impl UserSlice {
    /// Validates `[address, address + len)`. An empty range is valid at any
    /// user address.
    pub fn new(address: u64, len: usize) -> Result<UserSlice, Status> {
        let end = address
            .checked_add(len as u64)
            .ok_or(Status::INVALID_ARGS)?;
        if end > USER_ADDRESS_LIMIT {
            return Err(Status::INVALID_ARGS);
        }
        Ok(UserSlice { address, len })
    }

    /// Copies the whole range into `buffer` (which must be as long).
    /// Unmapped or inaccessible user pages give `INVALID_ARGS`.
    pub fn read(&self, buffer: &mut [u8]) -> Result<(), Status> {
        if buffer.len() != self.len {
            return Err(Status::INTERNAL);
        }
        // SAFETY: the buffer is valid kernel memory of `len` bytes; the user
        // range was validated to lie below USER_ADDRESS_LIMIT.
        unsafe { usercopy::copy(buffer.as_mut_ptr(), self.address as *const u8, self.len) }
            .map_err(|_| Status::INVALID_ARGS)
    }
}
