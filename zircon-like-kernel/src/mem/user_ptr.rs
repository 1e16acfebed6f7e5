//! Validated access to user memory. Syscalls turn raw `(address, length)`
//! arguments into a [`UserSlice`] (or a typed [`UserOut`] / [`UserIn`])
//! first — which checks that the range lies entirely in user space and does
//! not wrap — and only then copy, through the fault-tolerant routine in
//! `arch::x86_64::usercopy`. A missing or read-only user page makes the copy
//! fail with `INVALID_ARGS`; it never crashes the kernel.

use crate::arch::x86_64::usercopy;
use zerocopy::{FromBytes, Immutable, IntoBytes};
use zx_abi::{Status, USER_ADDRESS_LIMIT};

/// Largest byte buffer kept for reuse (see [`recycle`]).
const SPARE_MAX: usize = 512;

/// Byte buffers of freed messages, kept for the next ones: a call and its
/// reply each free one and need one, so the IPC path runs without the
/// heap. At most two small buffers are kept (kernel memory, bounded).
static SPARE: spin::Mutex<[Option<alloc::vec::Vec<u8>>; 2]> = spin::Mutex::new([None, None]);

/// An empty kept buffer with room for `len` bytes, if one is kept.
#[inline]
fn take_spare(len: usize) -> Option<alloc::vec::Vec<u8>> {
    if len > SPARE_MAX {
        return None;
    }
    let mut spare = SPARE.lock();
    spare
        .iter_mut()
        .find(|slot| slot.as_ref().is_some_and(|v| v.capacity() >= len))
        .and_then(Option::take)
}

/// Gives a message's byte buffer back for reuse (or frees it).
#[inline]
pub fn recycle(mut bytes: alloc::vec::Vec<u8>) {
    let capacity = bytes.capacity();
    if capacity == 0 || capacity > SPARE_MAX {
        return;
    }
    bytes.clear();
    let mut spare = SPARE.lock();
    if let Some(slot) = spare.iter_mut().find(|slot| slot.is_none()) {
        *slot = Some(bytes);
        return;
    }
    drop(spare);
    drop(bytes);
}

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

    /// First address.
    pub fn address(&self) -> u64 {
        self.address
    }

    /// Copies the whole range into `buffer` (which must be as long).
    pub fn read(&self, buffer: &mut [u8]) -> Result<(), Status> {
        if buffer.len() != self.len {
            return Err(Status::INTERNAL);
        }
        // SAFETY: the buffer is valid kernel memory of `len` bytes; the user
        // range was validated to lie below USER_ADDRESS_LIMIT.
        unsafe { usercopy::copy(buffer.as_mut_ptr(), self.address as *const u8, self.len) }
            .map_err(|_| Status::INVALID_ARGS)
    }

    /// Copies the range into a new vector (without zero-filling it
    /// first: the copy writes every byte).
    pub fn read_to_vec(&self) -> Result<alloc::vec::Vec<u8>, Status> {
        if self.len == 0 {
            return Ok(alloc::vec::Vec::new());
        }
        if let Some(mut bytes) = take_spare(self.len) {
            // SAFETY: the spare vector is empty with room for `len` bytes;
            // the user range was validated. On success every byte was
            // written, so `set_len` is sound; on failure the length stays 0
            // (and the vector is freed).
            unsafe {
                usercopy::copy(bytes.as_mut_ptr(), self.address as *const u8, self.len)
                    .map_err(|_| Status::INVALID_ARGS)?;
                bytes.set_len(self.len);
            }
            return Ok(bytes);
        }
        // Allocated directly rather than with `try_reserve_exact`: this is
        // on every message write, and the direct call is the short path.
        let layout = core::alloc::Layout::array::<u8>(self.len).map_err(|_| Status::NO_MEMORY)?;
        // SAFETY: the layout's size is not zero (checked above).
        let buffer = unsafe { alloc::alloc::alloc(layout) };
        if buffer.is_null() {
            return Err(Status::NO_MEMORY);
        }
        // SAFETY: `buffer` was allocated by the global allocator with the
        // layout of `len` bytes of `u8`: exactly what a vector of capacity
        // `len` owns. Its length is 0, so nothing uninitialized is read.
        let mut bytes = unsafe { alloc::vec::Vec::from_raw_parts(buffer, 0, self.len) };
        // SAFETY: the spare capacity holds `len` bytes; the user range was
        // validated. On success every byte was written, so `set_len` is
        // sound; on failure the length stays 0.
        unsafe {
            usercopy::copy(bytes.as_mut_ptr(), self.address as *const u8, self.len)
                .map_err(|_| Status::INVALID_ARGS)?;
            bytes.set_len(self.len);
        }
        Ok(bytes)
    }

    /// Copies `data` (which must not be longer) to the start of the range.
    pub fn write(&self, data: &[u8]) -> Result<(), Status> {
        if data.len() > self.len {
            return Err(Status::INTERNAL);
        }
        // SAFETY: as in `read`, in the other direction.
        unsafe { usercopy::copy(self.address as *mut u8, data.as_ptr(), data.len()) }
            .map_err(|_| Status::INVALID_ARGS)
    }
}

/// A user pointer the kernel writes one `T` to (an "out" argument).
/// Address 0 means "not wanted" where a syscall allows that.
#[derive(Clone, Copy, Debug)]
pub struct UserOut<T> {
    slice: Option<UserSlice>,
    _type: core::marker::PhantomData<T>,
}

impl<T: IntoBytes + Immutable> UserOut<T> {
    /// A required out pointer: must be valid.
    pub fn required(address: u64) -> Result<UserOut<T>, Status> {
        if address == 0 {
            return Err(Status::INVALID_ARGS);
        }
        Ok(UserOut {
            slice: Some(UserSlice::new(address, core::mem::size_of::<T>())?),
            _type: core::marker::PhantomData,
        })
    }

    /// An optional out pointer: 0 means the caller does not want the value.
    pub fn optional(address: u64) -> Result<UserOut<T>, Status> {
        if address == 0 {
            return Ok(UserOut {
                slice: None,
                _type: core::marker::PhantomData,
            });
        }
        Self::required(address)
    }

    /// Writes the value (nothing for an absent optional pointer).
    pub fn write(&self, value: &T) -> Result<(), Status> {
        match self.slice {
            Some(slice) => slice.write(value.as_bytes()),
            None => Ok(()),
        }
    }
}

/// Reads a `T` from user memory.
pub fn read_value<T: FromBytes + IntoBytes>(address: u64) -> Result<T, Status> {
    let slice = UserSlice::new(address, core::mem::size_of::<T>())?;
    // Straight into the value (on the stack): syscall arguments such as
    // `ChannelCallArgs` cost no heap allocation.
    let mut value = T::new_zeroed();
    slice.read(value.as_mut_bytes())?;
    Ok(value)
}
