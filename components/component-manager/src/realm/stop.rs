//! Stopping components: a subtree, children first, each asked through its
//! lifecycle channel and killed if it does not exit in time.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::future::Future;
use core::pin::Pin;
use zx::{Job, Process, Rights, Signals};
use zx_async::{on_signals, with_deadline};
use zx_runtime::println;

use super::State;

/// How long a component asked to stop (`Lifecycle.Stop`) may take to exit
/// before its job is killed.
const STOP_DEADLINE_NANOS: i64 = 1_000_000_000;

/// Stops instance `index` and everything under it: children first (the
/// latest declared first), then the instance itself. Each instance is
/// followed by its generation: one destroyed (and its slot reused) while
/// this waits is left alone.
pub(super) fn stop_tree(
    state: Rc<RefCell<State>>,
    index: usize,
) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let (generation, children) = {
            let guard = state.borrow();
            let instance = &guard.instances[index];
            let children: Vec<(usize, u32)> = instance
                .children
                .iter()
                .map(|&c| (c, guard.instances[c].generation))
                .collect();
            (instance.generation, children)
        };
        for &(child, child_generation) in children.iter().rev() {
            if state.borrow().live(child, child_generation) {
                stop_tree(Rc::clone(&state), child).await;
            }
        }
        if state.borrow().live(index, generation) {
            stop_one(&state, index).await;
        }
    })
}

/// Asks instance `index` to stop through its lifecycle channel, and kills
/// its job if it has not exited by the deadline.
async fn stop_one(state: &Rc<RefCell<State>>, index: usize) {
    let (process, asked, moniker, generation) = {
        let mut guard = state.borrow_mut();
        let instance = &mut guard.instances[index];
        if instance.destroyed {
            return;
        }
        // Also cancels a restart waiting out its back-off.
        instance.stopping = true;
        let Some(process) = instance.process.as_ref() else {
            return;
        };
        let Ok(process) = process.handle().duplicate(Rights::SAME_RIGHTS) else {
            return;
        };
        let asked = instance
            .lifecycle
            .as_ref()
            .is_some_and(|lifecycle| lifecycle.stop().is_ok());
        (
            Process::from_handle(process),
            asked,
            instance.moniker.clone(),
            instance.generation,
        )
    };
    if asked {
        let ended = with_deadline(
            zx::deadline_after(STOP_DEADLINE_NANOS),
            on_signals(&process, Signals::TASK_TERMINATED),
        )
        .await;
        if matches!(ended, Ok(Ok(_))) {
            return;
        }
        println!(
            "component_manager: {} did not stop within {} ms; killing it",
            moniker,
            STOP_DEADLINE_NANOS / 1_000_000
        );
    }
    if !state.borrow().live(index, generation) {
        return; // destroyed meanwhile, which killed it
    }
    let job = state.borrow().instances[index]
        .job
        .as_ref()
        .and_then(|job| job.handle().duplicate(Rights::SAME_RIGHTS).ok());
    if let Some(job) = job {
        let _ = zx::task_kill(&Job::from_handle(job));
    }
    let _ = on_signals(&process, Signals::TASK_TERMINATED).await;
}
