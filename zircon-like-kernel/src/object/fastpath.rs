//! The copy-once fastpath of `channel_call` and `channel_recv` (issue 18).
//!
//! When a `channel_call` without handles meets a thread waiting in
//! `channel_recv` that the CPU switches to directly (its priority is at
//! least that of every runnable thread, and its buffers take the request),
//! no kernel [`Message`] is built: the request's bytes go from the caller's
//! buffer into this CPU's bounce buffer and, in the same trap, once the
//! receiver's address space is active, into the receiver's buffer. Nothing
//! is allocated, charged or dropped. A reply without handles to a blocked
//! caller that the CPU switches straight back to goes the same way.
//!
//! The bounce is needed because the two buffers are in different address
//! spaces and the receiver's pages may not be present yet (demand paging
//! resolves faults only for the current process); reaching the receiver's
//! pages through the direct map would need a page-table walk per page and
//! a fault-in path, for a copy of a few words.
//!
//! The reply record (what `channel_recv` keeps of a request until it is
//! answered, docs/hot-swap.md) of a request that came this way holds no
//! bytes: the caller is blocked until it is answered, so its request
//! buffer still holds them, and the kernel re-reads it ([`Origin`]) if the
//! request must go back to the queue (its reader died or returned it). If
//! the caller is gone by then, so is the request — nobody waits for its
//! answer. A re-read request is a queued message like any other, charged
//! to the caller's job.

use super::account::Account;
use super::channel::{Channel, Message};
use super::thread::{Thread, ThreadState, WaitKind, WakeReason};
use crate::mem::user_ptr::UserSlice;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use zx_abi::{Signals, Status, CHANNEL_MAX_MSG_BYTES};

/// The bounce buffer: bytes on their way from one user buffer to another
/// within one trap.
struct Bounce {
    /// The wait token of the wait the bytes were handed to (0: none).
    owner: u64,
    /// How many bytes it holds.
    len: usize,
    bytes: [u8; CHANNEL_MAX_MSG_BYTES],
}

struct BounceCell(UnsafeCell<Bounce>);

// SAFETY: one CPU, touched only from syscalls (interrupts off, never from
// a nested trap), and every access is a short function of this module
// that creates the only reference for its duration.
unsafe impl Sync for BounceCell {}

static BOUNCE: BounceCell = BounceCell(UnsafeCell::new(Bounce {
    owner: 0,
    len: 0,
    bytes: [0; CHANNEL_MAX_MSG_BYTES],
}));

/// Runs `f` on the bounce buffer.
#[inline]
fn with_bounce<R>(f: impl FnOnce(&mut Bounce) -> R) -> R {
    // SAFETY: see `BounceCell`: no other reference exists while `f` runs
    // (`f` never calls back into this module).
    f(unsafe { &mut *BOUNCE.0.get() })
}

/// Copies `len` bytes of the current process at `address` into the bounce
/// buffer, with `txid` (if any) over the first four; they are for no wait
/// yet ([`hand_over`] names it).
#[inline]
pub fn fill(address: u64, len: usize, txid: Option<u32>) -> Result<(), Status> {
    let slice = UserSlice::new(address, len)?;
    if len > CHANNEL_MAX_MSG_BYTES {
        return Err(Status::OUT_OF_RANGE);
    }
    with_bounce(|bounce| {
        bounce.owner = 0;
        bounce.len = 0;
        slice.read(&mut bounce.bytes[..len])?;
        if let Some(txid) = txid {
            bounce.bytes[..4].copy_from_slice(&txid.to_le_bytes());
        }
        bounce.len = len;
        Ok(())
    })
}

/// The bytes just [`fill`]ed are for the wait with `token`.
#[inline]
pub fn hand_over(token: u64) {
    with_bounce(|bounce| bounce.owner = token);
}

/// Copies the bytes handed to wait `token` into the current process at
/// `address` (room for `capacity` bytes) and returns how many; the
/// bounce keeps them (see [`release`]).
#[inline]
pub fn copy_out(token: u64, address: u64, capacity: usize) -> Result<usize, Status> {
    with_bounce(|bounce| {
        if bounce.owner != token || token == 0 {
            return Err(Status::INTERNAL);
        }
        let len = bounce.len;
        if len > capacity {
            return Err(Status::BUFFER_TOO_SMALL);
        }
        UserSlice::new(address, len)?.write(&bounce.bytes[..len])?;
        Ok(len)
    })
}

/// The bytes handed to wait `token` are used up.
#[inline]
pub fn release(token: u64) {
    with_bounce(|bounce| {
        if bounce.owner == token {
            bounce.owner = 0;
        }
    });
}

/// A message's worth of bytes in a kernel vector, or `None` if the kernel
/// has no memory for it.
fn vec_from(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut vec = Vec::new();
    vec.try_reserve_exact(bytes.len()).ok()?;
    vec.extend_from_slice(bytes);
    Some(vec)
}

/// What a writer handed to a waiting thread: a queued-style message, or
/// bytes in the bounce buffer (copy-once).
pub enum Payload {
    /// A kernel message (it has handles, or it did not go directly).
    Queued(Message),
    /// Bytes in the bounce buffer, handed to the wait they were given to.
    Bounced(Bounced),
}

/// Bytes in the bounce buffer (no handles).
pub struct Bounced {
    /// For a request: the caller, whose buffer still holds it.
    pub origin: Option<Origin>,
}

/// Where a request that came by the fastpath still is: the buffer of its
/// caller, blocked in `channel_call` until it is answered. The caller
/// itself is found through the call it registered on its endpoint (the
/// peer of the endpoint the request was read from).
pub struct Origin {
    /// Its call's wait token.
    pub token: u64,
    /// Its request buffer, in its process.
    pub address: u64,
    /// The request's length.
    pub len: u32,
    /// Its call txid (the caller's buffer holds the caller's own first
    /// four bytes).
    pub txid: u32,
}

impl Origin {
    /// The caller, if it still waits for the answer to this request read
    /// from `endpoint`.
    fn caller(&self, endpoint: &Channel) -> Option<Arc<Thread>> {
        let (thread, token) = endpoint.live_peer()?.caller_of(self.txid)?;
        let thread = thread.upgrade()?;
        (token == self.token && waits_in_call(&thread, token)).then_some(thread)
    }

    /// Rebuilds the request, read from `endpoint`, from the caller's
    /// buffer as a queued message charged to the caller's job. `None` if
    /// the caller no longer waits for it (the request is gone with it); if
    /// it still waits but the request cannot be rebuilt (its buffer was
    /// unmapped meanwhile, or there is no memory or room in its job), the
    /// caller's call ends with `PEER_CLOSED`.
    pub fn reread(&self, endpoint: &Channel) -> Option<Message> {
        let thread = self.caller(endpoint)?;
        let rebuilt = (|| {
            let mut bytes = Vec::new();
            bytes.try_reserve_exact(self.len as usize).ok()?;
            bytes.resize(self.len as usize, 0);
            thread.process.read_memory(self.address, &mut bytes).ok()?;
            bytes
                .get_mut(..4)?
                .copy_from_slice(&self.txid.to_le_bytes());
            Message::new(bytes, Vec::new(), Some(&thread.process.job.account)).ok()
        })();
        if rebuilt.is_none() {
            end_call(&thread, self.token);
        }
        rebuilt
    }
}

/// Ends `thread`'s call (wait `token`) with `PEER_CLOSED`: its request is
/// lost.
fn end_call(thread: &Arc<Thread>, token: u64) {
    let reason = WakeReason::Signaled {
        index: 0,
        observed: Signals::PEER_CLOSED,
    };
    crate::sched::wake(thread, token, reason);
}

/// Whether `thread` is blocked in the `channel_call` with `token`.
fn waits_in_call(thread: &Thread, token: u64) -> bool {
    let inner = thread.inner.lock();
    inner.state == ThreadState::Blocked
        && inner.wake.is_none()
        && inner
            .wait
            .as_ref()
            .is_some_and(|w| w.token == token && matches!(w.kind, WaitKind::Call { .. }))
}

impl Bounced {
    /// The bytes handed to wait `token` as a kernel message, for when they
    /// cannot be delivered by the fastpath after all: charged to the
    /// request's caller (found through `endpoint`, the endpoint it was
    /// read from), or to `writer` for a reply. `None` if there is no
    /// memory or the charge is refused (the message is lost; for a
    /// request, its caller's call ends with `PEER_CLOSED`).
    pub fn into_message(
        self,
        token: u64,
        writer: Option<&Arc<Account>>,
        endpoint: &Channel,
    ) -> Option<Message> {
        let bytes = with_bounce(|bounce| {
            (bounce.owner == token && token != 0).then(|| vec_from(&bounce.bytes[..bounce.len]))
        })
        .flatten();
        release(token);
        let caller = match &self.origin {
            Some(origin) => Some((origin.caller(endpoint)?, origin.token)), // or gone
            None => None,
        };
        let account = match &caller {
            Some((caller, _)) => Some(&caller.process.job.account),
            None => writer,
        };
        let message = bytes.and_then(|bytes| Message::new(bytes, Vec::new(), account).ok());
        if let (None, Some((caller, token))) = (&message, &caller) {
            end_call(caller, *token);
        }
        message
    }
}

/// If `thread`'s wait holds bytes in the bounce buffer, turns them into a
/// kernel message (it will not run in this trap after all: see
/// `sched::block_current_and_switch`); `writer` is charged for a reply.
pub fn settle(thread: &Thread, writer: Option<&Arc<Account>>) {
    let (token, bounced, endpoint) = {
        let mut inner = thread.inner.lock();
        let Some(wait) = inner.wait.as_mut() else {
            return;
        };
        let (slot, endpoint) = match &mut wait.kind {
            WaitKind::Call { reply, channel, .. } => (reply, channel),
            WaitKind::Recv {
                request, channel, ..
            } => (request, channel),
            _ => return,
        };
        if !matches!(slot, Some(Payload::Bounced(_))) {
            return;
        }
        let Some(Payload::Bounced(bounced)) = slot.take() else {
            return;
        };
        (wait.token, bounced, Arc::clone(endpoint))
    };
    // Built outside the thread's lock (the charge may collect cycles).
    let message = bounced.into_message(token, writer, &endpoint);
    let mut inner = thread.inner.lock();
    if let Some(wait) = inner.wait.as_mut().filter(|w| w.token == token) {
        match &mut wait.kind {
            WaitKind::Call { reply, .. } => *reply = message.map(Payload::Queued),
            WaitKind::Recv { request, .. } => *request = message.map(Payload::Queued),
            _ => {}
        }
    }
}
