//! The scheduler, in its first form: one user thread runs at a time, and
//! when it ends (exit or fault) the boot program runner starts the next.
//!
//! The mechanism is the one the full scheduler keeps: a thread runs by
//! copying its saved frame over the trap frame on the kernel stack and
//! activating its address space; the common trap exit then resumes it.

use crate::arch::x86_64::trap::{ExceptionReport, TrapFrame};
use crate::process::{Outcome, Thread};
use alloc::boxed::Box;
use spin::Mutex;

static CURRENT: Mutex<Option<Box<Thread>>> = Mutex::new(None);

/// Makes `thread` the running thread: the trap exit will resume it.
pub fn run(frame: &mut TrapFrame, thread: Box<Thread>) {
    thread.process.address_space.activate();
    frame.clone_from(&thread.frame);
    *CURRENT.lock() = Some(thread);
}

/// The current thread's process name and koid, for reports.
pub fn current_name() -> Option<(alloc::string::String, crate::process::Koid)> {
    CURRENT
        .lock()
        .as_ref()
        .map(|t| (t.process.name.clone(), t.process.koid))
}

/// Ends the current thread's process with `outcome` and moves on.
pub fn end_current(frame: &mut TrapFrame, outcome: Outcome) {
    let thread = CURRENT.lock().take();
    if let Some(thread) = thread {
        let name = thread.process.name.clone();
        let koid = thread.process.koid;
        // Dropping the thread frees its address space (switching CR3 to the
        // kernel's tables first).
        drop(thread);
        crate::programs::on_process_end(frame, &name, koid, outcome);
    }
}

/// A user-mode exception: report it in full, kill the process, carry on.
pub fn kill_current_for_fault(frame: &mut TrapFrame, cr2: u64) {
    let (name, koid) = current_name().unwrap_or_else(|| ("?".into(), crate::process::Koid(0)));
    let report = ExceptionReport { frame, cr2 };
    error!("process {name} (koid {koid}) faulted: {report}");
    end_current(frame, Outcome::Killed);
}

/// A timer tick arrived with `frame` interrupted. Nothing to preempt for
/// yet: there is one runnable thread at most.
pub fn on_timer_tick(_frame: &mut TrapFrame) {}
