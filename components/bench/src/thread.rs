//! Starting a second thread of this process, for the cases that need a
//! partner (an echo, a sleeper).

use alloc::vec;
use alloc::vec::Vec;
use core::mem::ManuallyDrop;
use zx::{Handle, Process, Status, Thread};

/// Stack of a partner thread.
const STACK_BYTES: usize = 16 * 1024;

/// The entry of a partner thread: two arguments, never returns.
pub type Entry = extern "C" fn(u64, u64) -> !;

/// Creates and starts a thread running `entry(arg1, arg2)`.
pub fn spawn(name: &str, entry: Entry, arg1: u64, arg2: u64) -> Result<Thread, Status> {
    // Borrowed from the runtime, which owns the handle: never closed here.
    let process = ManuallyDrop::new(Process::from_handle(Handle::from_raw(
        zx_runtime::process_self().0,
    )));
    let thread = process.create_thread(name)?;
    // The stack is leaked: it must outlive the thread, and the program
    // ends soon anyway.
    let stack = Vec::leak(vec![0u8; STACK_BYTES]);
    // 16-byte aligned minus 8, as if `entry` had been called.
    let top = ((stack.as_ptr() as usize + stack.len()) & !15) - 8;
    thread.start(entry as *const () as usize, top, arg1, arg2)?;
    Ok(thread)
}
