//! Futexes: wait queues keyed by a 32-bit word's address in a process.
//! User-space locks spin in user space and only ask the kernel to sleep
//! (`futex_wait`, if the word still holds the value they saw) and to wake
//! sleepers (`futex_wake`). Futexes are not objects: a futex exists while a
//! thread waits on it.

use super::thread::{Thread, WakeReason};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use spin::Mutex;
use zx_abi::Signals;

/// A futex's identity: the process (by koid) and the word's address.
pub type FutexKey = (u64, u64);

/// The threads waiting on one futex, with their wait tokens.
type WaitQueue = VecDeque<(Weak<Thread>, u64)>;

static QUEUES: Mutex<BTreeMap<FutexKey, WaitQueue>> = Mutex::new(BTreeMap::new());

/// Queues `thread` (waiting with `token`) on `key`.
pub fn enqueue(key: FutexKey, thread: &Arc<Thread>, token: u64) {
    QUEUES
        .lock()
        .entry(key)
        .or_default()
        .push_back((Arc::downgrade(thread), token));
}

/// Removes the waiter with `token` (its wait timed out).
pub fn remove(key: FutexKey, token: u64) {
    let mut queues = QUEUES.lock();
    if let Some(queue) = queues.get_mut(&key) {
        queue.retain(|(_, t)| *t != token);
        if queue.is_empty() {
            queues.remove(&key);
        }
    }
}

/// Wakes up to `count` waiters of `key`; returns how many woke.
pub fn wake(key: FutexKey, count: u32) -> u32 {
    let mut woken = 0;
    while woken < count {
        let next = {
            let mut queues = QUEUES.lock();
            let Some(queue) = queues.get_mut(&key) else {
                break;
            };
            let next = queue.pop_front();
            if queue.is_empty() {
                queues.remove(&key);
            }
            next
        };
        let Some((thread, token)) = next else { break };
        if let Some(thread) = thread.upgrade() {
            let reason = WakeReason::Signaled {
                index: 0,
                observed: Signals::empty(),
            };
            if crate::sched::wake(&thread, token, reason) {
                woken += 1;
            }
        }
    }
    woken
}
