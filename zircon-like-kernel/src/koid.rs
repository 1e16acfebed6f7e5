//! Kernel object ids: unique for the life of the system, never reused.

use core::sync::atomic::{AtomicU64, Ordering};

/// A kernel object id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Koid(pub u64);

impl core::fmt::Display for Koid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Koids start above the small numbers Zircon reserves.
static NEXT_KOID: AtomicU64 = AtomicU64::new(1024);

impl Koid {
    /// A fresh koid.
    pub fn next() -> Koid {
        Koid(NEXT_KOID.fetch_add(1, Ordering::Relaxed))
    }
}
