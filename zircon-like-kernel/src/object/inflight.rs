//! Channel endpoints in flight, and the collector of the cycles they can
//! form.
//!
//! A handle written into a message stays a handle, so an endpoint whose
//! handles all sit in queued messages stays open. Two endpoints can sit in
//! each other's queues (A's handle queued on B, B's on A): no process can
//! ever read them again, yet neither reaches zero handles, and without help
//! their queues — and the bytes charged for them — would live forever.
//!
//! The collector finds such cycles as Linux's garbage collector for file
//! descriptors in flight on Unix sockets does:
//!
//! 1. Every endpoint that has been carried in a message is registered here.
//!    Each counts its handles inside messages (`in_flight`).
//! 2. A *candidate* is an endpoint all of whose handles are in flight.
//! 3. For each candidate, count the handles to it found in candidates'
//!    queues. A candidate with fewer than `in_flight` such handles is held
//!    from outside (a live endpoint's queue, a reply on its way to a
//!    caller): it is reachable, and so is everything in its queue,
//!    transitively.
//! 4. The candidates left are unreachable: their queues are dropped, which
//!    closes the handles in them, and ordinary teardown does the rest.
//!
//! It runs at a kernel exit once enough endpoints have been carried since
//! the last run (as many as stayed registered after it, at least 64:
//! amortized, a constant amount of work per endpoint carried), and at once
//! when a write is refused for lack of memory, before the refusal is
//! final.

use super::channel::Channel;
use super::{Handle, KernelObject};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use spin::Mutex;
use zx_abi::{ObjectType, Status};

/// Endpoints that have been in flight since the last collection.
static REGISTRY: Mutex<Vec<Weak<Channel>>> = Mutex::new(Vec::new());
/// Endpoints carried since the last collection, and how many make the
/// next one due: as many as were registered after the last (at least 64).
static CARRIED: AtomicUsize = AtomicUsize::new(0);
static DUE_AT: AtomicUsize = AtomicUsize::new(MIN_DUE);
const MIN_DUE: usize = 64;

const LIVE: u8 = 0;
const CANDIDATE: u8 = 1;
const REACHABLE: u8 = 2;

/// An endpoint's part in the collector.
pub struct InFlight {
    /// Handles to the endpoint inside messages.
    count: AtomicUsize,
    registered: AtomicBool,
    /// The collector's marks (meaningful during a collection only).
    state: AtomicU8,
    inner: AtomicUsize,
}

impl InFlight {
    /// Whether some handle to the endpoint is inside a message.
    pub fn carried(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// Nothing in flight.
    pub const fn new() -> InFlight {
        InFlight {
            count: AtomicUsize::new(0),
            registered: AtomicBool::new(false),
            state: AtomicU8::new(LIVE),
            inner: AtomicUsize::new(0),
        }
    }
}

fn channel_of(handle: &Handle) -> Option<Arc<Channel>> {
    if handle.object().object_type() != ObjectType::Channel {
        return None;
    }
    handle.downcast::<Channel>()
}

fn register(channel: &Arc<Channel>) -> Result<(), Status> {
    let state = channel.in_flight();
    if state.registered.load(Ordering::Acquire) {
        return Ok(());
    }
    let mut registry = REGISTRY.lock();
    registry.try_reserve(1).map_err(|_| Status::NO_MEMORY)?;
    registry.push(Arc::downgrade(channel));
    state.registered.store(true, Ordering::Release);
    Ok(())
}

/// Counts the endpoints among `handles` as in flight (they are going into
/// a message). Fails only if the registry cannot grow.
#[inline]
pub fn count_in(handles: &[Handle]) -> Result<(), Status> {
    if handles.is_empty() {
        return Ok(()); // most messages carry none
    }
    count_in_slow(handles)
}

fn count_in_slow(handles: &[Handle]) -> Result<(), Status> {
    let mut carried = 0;
    for (index, handle) in handles.iter().enumerate() {
        let Some(channel) = channel_of(handle) else {
            continue;
        };
        if let Err(status) = register(&channel) {
            count_out(&handles[..index]);
            return Err(status);
        }
        channel.in_flight().count.fetch_add(1, Ordering::AcqRel);
        carried += 1;
    }
    if carried > 0 {
        let since = CARRIED.fetch_add(carried, Ordering::Relaxed) + carried;
        if since >= DUE_AT.load(Ordering::Relaxed) {
            super::defer(super::DEFER_COLLECT);
        }
    }
    Ok(())
}

/// Counts the endpoints among `handles` as no longer in flight (taken out
/// of a message, or about to be dropped with it).
#[inline]
pub fn count_out(handles: &[Handle]) {
    if !handles.is_empty() {
        count_out_slow(handles);
    }
}

fn count_out_slow(handles: &[Handle]) {
    for handle in handles {
        if let Some(channel) = channel_of(handle) {
            channel.in_flight().count.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Notes that an unreachable cycle may have formed without anything
/// being carried (a handle to an endpoint in flight was closed, a process
/// holding some ended), so the next refusal collects.
pub fn note_change() {
    CARRIED.fetch_add(1, Ordering::Relaxed);
}

/// Collects if anything changed since the last collection (a write
/// refused for lack of budget asks for one; refusals in a row must not
/// each walk every endpoint in flight).
pub fn collect_if_changed() -> usize {
    if CARRIED.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    collect()
}

/// Finds the unreachable endpoints and drops their queues. Returns how
/// many endpoints it found unreachable.
pub fn collect() -> usize {
    CARRIED.store(0, Ordering::Relaxed);
    let mut entries: Vec<Arc<Channel>> = Vec::new();
    {
        let mut registry = REGISTRY.lock();
        if entries.try_reserve_exact(registry.len()).is_err() {
            return 0;
        }
        // Forget what is gone or no longer in flight.
        registry.retain(|weak| match weak.upgrade() {
            Some(channel) if channel.in_flight().count.load(Ordering::Acquire) > 0 => {
                entries.push(channel);
                true
            }
            Some(channel) => {
                channel
                    .in_flight()
                    .registered
                    .store(false, Ordering::Release);
                false
            }
            None => false,
        });
        DUE_AT.store(registry.len().max(MIN_DUE), Ordering::Relaxed);
    }
    let mut stack: Vec<Arc<Channel>> = Vec::new();
    if stack.try_reserve_exact(entries.len()).is_err() {
        return 0;
    }
    // 2. Candidates: every handle in flight.
    for channel in &entries {
        let state = channel.in_flight();
        let all_in_flight = state.count.load(Ordering::Acquire) == channel.base().handle_count();
        state.inner.store(0, Ordering::Relaxed);
        state.state.store(
            if all_in_flight { CANDIDATE } else { LIVE },
            Ordering::Relaxed,
        );
    }
    // 3. Handles to candidates held by candidates...
    for channel in &entries {
        if channel.in_flight().state.load(Ordering::Relaxed) == CANDIDATE {
            channel.for_each_queued_handle(|handle| {
                if let Some(target) = channel_of(handle) {
                    let state = target.in_flight();
                    if state.state.load(Ordering::Relaxed) == CANDIDATE {
                        state.inner.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    }
    // ...so a candidate with others is held from outside, and what its
    // queue holds is reachable too.
    for channel in &entries {
        let state = channel.in_flight();
        if state.state.load(Ordering::Relaxed) == CANDIDATE
            && state.inner.load(Ordering::Relaxed) < state.count.load(Ordering::Acquire)
        {
            state.state.store(REACHABLE, Ordering::Relaxed);
            stack.push(Arc::clone(channel));
        }
    }
    while let Some(channel) = stack.pop() {
        channel.for_each_queued_handle(|handle| {
            if let Some(target) = channel_of(handle) {
                let state = target.in_flight();
                if state.state.load(Ordering::Relaxed) == CANDIDATE {
                    state.state.store(REACHABLE, Ordering::Relaxed);
                    // Within the capacity: each endpoint is pushed once.
                    stack.push(target);
                }
            }
        });
    }
    // 4. What is left is garbage.
    let mut unreachable = 0;
    for channel in &entries {
        let state = channel.in_flight();
        if state.state.swap(LIVE, Ordering::Relaxed) == CANDIDATE {
            unreachable += 1;
            channel.drop_queue();
        }
    }
    if unreachable > 0 {
        debug!("channel collector: {} unreachable endpoints", unreachable);
    }
    unreachable
}
