//! Large buffers in static memory, handed out once as `&'static mut`.
//!
//! The program's stack is 64 KiB (the kernel's loader), too small for the
//! sample array and the two 64 KiB `memcpy` buffers; there is no heap yet.
//! So they live in `.bss`, and this wrapper makes taking them safe: each
//! can be taken once, so no two mutable references to one ever exist.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// A value in static memory that can be borrowed mutably exactly once.
pub struct Exclusive<T> {
    taken: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reachable through `take`, which hands out one
// reference ever (the atomic flag decides which caller gets it), so sharing
// the wrapper between threads never shares the value.
#[allow(unsafe_code)]
unsafe impl<T: Send> Sync for Exclusive<T> {}

impl<T> Exclusive<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        Exclusive {
            taken: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// The value; panics if it was taken before.
    #[allow(unsafe_code)]
    // A `&mut` from a `&`: the point of the type; the flag makes it unique.
    #[allow(clippy::mut_from_ref)]
    pub fn take(&'static self) -> &'static mut T {
        let already = self.taken.swap(true, Ordering::AcqRel);
        assert!(!already, "a static buffer was taken twice");
        // SAFETY: the flag was clear, so this is the first and only
        // reference to the value, and it lives as long as the static.
        unsafe { &mut *self.value.get() }
    }
}
