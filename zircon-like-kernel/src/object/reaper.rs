//! Process teardown after the process has ended, in bounded steps.
//!
//! Ending a process ([`Process::end`]) does only what must happen at once:
//! it records the outcome, marks its threads dead and gives back the
//! requests it read. The rest — closing its handles, freeing its address
//! space and its VMAR tree — is teardown whose size the program chose (up
//! to its job's handle limit and [`super::process::MAX_REGIONS`] regions),
//! and killing a job ends every process in it at once. So the rest goes on
//! the *reap list* (linked through the processes, no allocation) and runs
//! before the kernel returns to user mode ([`super::run_deferred`]), for
//! at most [`BUDGET_NANOS`] each time (and at least one process): a kill
//! of thousands of processes is torn down across many kernel exits, with
//! interrupts (and other threads) served between them. A process signals
//! `TASK_TERMINATED`, and leaves its job's process count, once its
//! teardown is done, so what waits for its end sees its memory freed, and
//! the processes waiting to be reaped are bounded by the process limits.

use super::process::Process;
use alloc::sync::Arc;
use spin::Mutex;

/// The most time one kernel exit spends tearing processes down (after the
/// first, which always runs).
pub const BUDGET_NANOS: u64 = 1_000_000;

/// The reap list: its oldest process (torn down first) and its newest.
struct List {
    head: Option<Arc<Process>>,
    tail: Option<Arc<Process>>,
}

static LIST: Mutex<List> = Mutex::new(List {
    head: None,
    tail: None,
});

/// Puts an ended process on the reap list (once: [`Process::end`] is
/// idempotent).
pub fn push(process: Arc<Process>) {
    let mut list = LIST.lock();
    match list.tail.take() {
        Some(tail) => {
            *tail.next_reap.lock() = Some(Arc::clone(&process));
        }
        None => list.head = Some(Arc::clone(&process)),
    }
    list.tail = Some(process);
    super::defer(super::DEFER_REAP);
}

/// Tears down processes from the list until it is empty or the budget is
/// spent; returns whether some are left.
pub fn run() -> bool {
    let start = crate::clock::monotonic_nanos();
    loop {
        let next = {
            let mut list = LIST.lock();
            let Some(head) = list.head.take() else {
                return false;
            };
            list.head = head.next_reap.lock().take();
            if list.head.is_none() {
                list.tail = None;
            }
            head
        };
        next.finish_end();
        drop(next);
        if crate::clock::monotonic_nanos().saturating_sub(start) >= BUDGET_NANOS {
            return LIST.lock().head.is_some();
        }
    }
}
