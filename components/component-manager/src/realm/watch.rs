//! Watching running components: crash reports from their jobs' exception
//! channels, and what happens when one ends (`on_terminate`, restarts with
//! back-off).

use alloc::rc::Rc;
use alloc::string::String;
use core::cell::RefCell;
use zx::{Channel, Event, Process, Signals, Status};
use zx_async::{sleep, Spawner};
use zx_runtime::println;

use super::decl::zx_component_decl::OnTerminate;
use super::start::start;
use super::waits::until_signalled;
use super::State;

/// How often a component is restarted before the manager gives up.
const MAX_RESTARTS: u32 = 5;
/// How often the end of a component being swapped looks whether the swap
/// is over.
const SWAP_POLL_NANOS: i64 = 10_000_000;

/// Prints the crash report of each fault in a component's job (the kernel
/// kills the faulting process; `watch` then applies `on_terminate`).
pub(super) async fn report_crashes(moniker: String, exceptions: Channel) {
    loop {
        let mut message = zx::MessageBuf::default();
        match exceptions.read(&mut message) {
            Ok(()) => {
                let word = |i: usize| {
                    message
                        .bytes
                        .get(i * 8..i * 8 + 8)
                        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                };
                let what = match word(2) {
                    0 => "divide error",
                    6 => "invalid opcode",
                    13 => "general protection fault",
                    14 => "page fault",
                    _ => "exception",
                };
                println!(
                    "component_manager: {} crashed: {} (vector {}) at address {:#x}, rip {:#x}",
                    moniker,
                    what,
                    word(2),
                    word(4),
                    word(5)
                );
            }
            Err(Status::SHOULD_WAIT) => {
                let readable = Signals::CHANNEL_READABLE | Signals::PEER_CLOSED;
                let what = alloc::format!("{moniker}'s crash reports");
                if until_signalled(&exceptions, readable, &what).await.is_err() {
                    return;
                }
            }
            Err(_) => return, // the job is gone
        }
    }
}

/// Waits for instance `index`'s process to end; reports it and applies its
/// `on_terminate`.
pub(super) async fn watch(
    state: Rc<RefCell<State>>,
    spawner: Spawner,
    idle: Rc<Event>,
    (index, generation): (usize, u32),
    process: Process,
) {
    // A wait the kernel refuses for now is retried, never taken for an
    // end; one that fails for good (a bad handle) leaves it running.
    let what = alloc::format!("{}'s end", state.borrow().instances[index].moniker);
    if until_signalled(&process, Signals::TASK_TERMINATED, &what)
        .await
        .is_err()
    {
        println!("component_manager: cannot watch {}", what);
        return;
    }
    let code = process.state().map(|s| s.return_code).unwrap_or(-1);
    if !state.borrow().live(index, generation) {
        return; // destroyed meanwhile: nothing to report or restart
    }
    // Ended while a swap of it is under way (the old version, in the new
    // one's grace period, say): the swap decides — it may start it again
    // with the handover — so wait until it is over, then look again.
    loop {
        let busy = {
            let guard = state.borrow();
            if !guard.live(index, generation) {
                return;
            }
            guard.instances[index].swap.busy
        };
        if !busy {
            break;
        }
        let _ = sleep(zx::deadline_after(SWAP_POLL_NANOS)).await;
    }
    if super::swap::replaced(&state.borrow().instances[index], &process) {
        return; // a version a hot swap replaced: the swap retires it
    }
    let (moniker, restart, attempt) = {
        let mut guard = state.borrow_mut();
        let instance = &mut guard.instances[index];
        instance.process = None;
        instance.outgoing = None;
        instance.lifecycle = None;
        if let Some(job) = instance.job.take() {
            let _ = zx::task_kill(&job);
        }
        let restart = instance.on_terminate == OnTerminate::Restart
            && instance.restarts < MAX_RESTARTS
            && !instance.stopping;
        if restart {
            instance.restarts += 1;
            instance.restart_pending = true;
        }
        (instance.moniker.clone(), restart, instance.restarts)
    };
    println!("component_manager: {} exited with {}", moniker, code);
    let (mut restart, mut attempt) = (restart, attempt);
    while restart {
        let delay = 50_000_000i64 << attempt.min(5);
        println!(
            "component_manager: restarting {} in {} ms (attempt {})",
            moniker,
            delay / 1_000_000,
            attempt
        );
        let _ = sleep(zx::deadline_after(delay)).await;
        let cancelled = {
            let mut guard = state.borrow_mut();
            if !guard.live(index, generation) {
                return; // destroyed meanwhile (which uncounted it)
            }
            guard.instances[index].restart_pending = false;
            guard.instances[index].stopping
        };
        if cancelled {
            println!("component_manager: restart of {} cancelled", moniker);
            break;
        }
        let Err(why) = start(&state, &spawner, &idle, index) else {
            return;
        };
        println!("component_manager: cannot restart {}: {}", moniker, why);
        // A start that failed (memory short for a moment, say) counts as
        // an attempt: try again later, as after a crash.
        let mut guard = state.borrow_mut();
        if !guard.live(index, generation) {
            return;
        }
        let instance = &mut guard.instances[index];
        restart = instance.restarts < MAX_RESTARTS && !instance.stopping;
        if restart {
            instance.restarts += 1;
            instance.restart_pending = true;
            attempt = instance.restarts;
        }
    }
    state.borrow_mut().uncount(index);
}
