//! Rust bindings to the kernel's system calls.
//!
//! `raw` holds one `unsafe` stub per calling shape (the `syscall` instruction
//! with 0–8 arguments, per the convention in [`zx_abi`]); the functions at
//! the crate root are the safe wrappers a program uses, taking slices and
//! returning `Result<_, Status>`.
//!
//! Only meaningful inside the OS: on the host the stubs would talk to Linux,
//! so they are compiled only with `--cfg baremetal` (set by build-image); the
//! host sees the types and signatures, which keeps `cargo check` and clippy
//! useful on the whole workspace.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]

pub use zx_abi::{syscall as numbers, Status, USER_ADDRESS_LIMIT};

/// Time since boot, in nanoseconds, from the monotonic clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MonotonicTime(pub i64);

impl MonotonicTime {
    /// Nanoseconds since boot.
    pub fn into_nanos(self) -> i64 {
        self.0
    }
}

#[cfg(baremetal)]
pub mod raw {
    //! The raw `syscall` stubs.
    use core::arch::asm;

    /// Issues syscall `number` with up to six arguments.
    ///
    /// # Safety
    /// Pointer arguments must be valid for what the syscall does with them.
    #[inline(always)]
    pub unsafe fn syscall6(
        number: u64,
        a0: u64,
        a1: u64,
        a2: u64,
        a3: u64,
        a4: u64,
        a5: u64,
    ) -> u64 {
        let ret: u64;
        // SAFETY: the kernel preserves every register but rax (result), rcx
        // and r11 (clobbered by `syscall` itself); memory effects are those
        // of the syscall, covered by the caller's contract.
        unsafe {
            asm!("syscall",
                 inlateout("rax") number => ret,
                 in("rdi") a0, in("rsi") a1, in("rdx") a2,
                 in("r10") a3, in("r8") a4, in("r9") a5,
                 lateout("rcx") _, lateout("r11") _,
                 options(nostack));
        }
        ret
    }
}

/// Writes `bytes` to the kernel's debug console.
pub fn debug_write(bytes: &[u8]) -> Result<(), Status> {
    for chunk in bytes.chunks(zx_abi::DEBUG_WRITE_MAX) {
        // SAFETY: `chunk` is a valid slice for the duration of the call.
        let status = unsafe { debug_write_raw(chunk.as_ptr(), chunk.len()) };
        status.ok()?;
    }
    Ok(())
}

/// `debug_write` with an unchecked pointer, for tests of the kernel's own
/// pointer validation.
///
/// # Safety
/// The kernel validates the range; the call itself cannot corrupt the
/// caller's memory (the kernel only reads it), so any value is allowed. It is
/// `unsafe` because reading an arbitrary address is not a Rust operation.
pub unsafe fn debug_write_raw(ptr: *const u8, len: usize) -> Status {
    #[cfg(baremetal)]
    {
        // SAFETY: debug_write only reads [ptr, ptr + len), which the kernel
        // validates.
        let raw =
            unsafe { raw::syscall6(numbers::DEBUG_WRITE, ptr as u64, len as u64, 0, 0, 0, 0) };
        Status::from_raw(raw)
    }
    #[cfg(not(baremetal))]
    {
        let _ = (ptr, len);
        Status::NOT_SUPPORTED
    }
}

/// Issues an arbitrary syscall number with no arguments, for tests of the
/// kernel's dispatch.
pub fn syscall_by_number(number: u64) -> u64 {
    #[cfg(baremetal)]
    {
        // SAFETY: no pointers are passed, so no memory can be affected by
        // the kernel's answer.
        unsafe { raw::syscall6(number, 0, 0, 0, 0, 0, 0) }
    }
    #[cfg(not(baremetal))]
    {
        let _ = number;
        Status::NOT_SUPPORTED.0 as i64 as u64
    }
}

/// The monotonic clock: nanoseconds since boot.
pub fn clock_get_monotonic() -> MonotonicTime {
    MonotonicTime(syscall_by_number(numbers::CLOCK_GET_MONOTONIC) as i64)
}

/// Ends the calling process with `code`.
pub fn process_exit(code: i64) -> ! {
    #[cfg(baremetal)]
    {
        // SAFETY: process_exit takes no pointers and does not return.
        unsafe { raw::syscall6(numbers::PROCESS_EXIT, code as u64, 0, 0, 0, 0, 0) };
    }
    let _ = code;
    #[allow(clippy::empty_loop)]
    loop {}
}
