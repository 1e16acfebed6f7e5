//! Processes and threads, in their first form: a process is an address
//! space and a name; a thread is a saved register frame in a process.
//!
//! Known gap: these become full kernel objects (handles, jobs, several
//! threads per process) with the kernel-objects work; this is what the boot
//! path needs to run one user program at a time.

use crate::arch::x86_64::trap::TrapFrame;
use crate::mem::address_space::AddressSpace;
use alloc::boxed::Box;
use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};

/// A kernel object id: unique for the life of the system, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Koid(pub u64);

impl core::fmt::Display for Koid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

static NEXT_KOID: AtomicU64 = AtomicU64::new(1024);

impl Koid {
    /// A fresh koid.
    pub fn next() -> Koid {
        Koid(NEXT_KOID.fetch_add(1, Ordering::Relaxed))
    }
}

/// A process: an address space that threads run in.
pub struct Process {
    /// Its id.
    pub koid: Koid,
    /// Its name (the bootfs path of its program, for now).
    pub name: String,
    /// Its page tables.
    pub address_space: AddressSpace,
}

/// A thread: where it runs and its registers while it is not running.
pub struct Thread {
    /// Its id.
    pub koid: Koid,
    /// The process it belongs to.
    pub process: Process,
    /// Saved registers (current only while the thread is off the CPU).
    pub frame: Box<TrapFrame>,
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It called `process_exit` with this code.
    Exited(i64),
    /// The kernel killed it after an exception.
    Killed,
}
