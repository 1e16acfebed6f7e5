//! Channels: two linked endpoints carrying messages of bytes and handles.
//!
//! A write appends to the *peer's* queue and raises its `CHANNEL_READABLE`;
//! a read pops the reader's own queue. Order is preserved. Handles written
//! into a message leave the writer's table and stay alive inside the
//! message until the reader takes them, so an endpoint can travel to
//! another process with its queue intact and no message is lost.
//!
//! When an endpoint's last handle goes, its queue is dropped (closing the
//! handles in it) and the peer sees `PEER_CLOSED`; writes to a closed peer
//! fail with `PEER_CLOSED`, while reads still drain what is queued.
//!
//! A queued message's bytes are charged to the writer's job
//! (`account.rs`) until it is read or dropped; endpoints carried in
//! messages are tracked so that cycles no process can reach are found and
//! dropped (`inflight.rs`).
//!
//! The receive fastpath (`channel_recv`): a thread may wait *inside* a
//! receive on an endpoint (it registers as a receiver). A message written
//! to an endpoint with a waiting receiver skips the queue and the signals:
//! it goes straight into that receiver's wait, and a `channel_call` then
//! switches to the receiver directly (`sched::block_current_and_switch`).
//! A request (a message with a call txid) read through `channel_recv`
//! stays the kernel's until it is answered: a *reply record* keeps its
//! bytes (still charged to the writer) on the endpoint. The reply removes
//! the record; if the reader's process ends first, or the reader hands it
//! back (`CHANNEL_RECV_RETURN`), the request goes back to the front of the
//! endpoint's queue, so an endpoint that outlives its server (hot-swap)
//! loses no request. The handles a request carried go to the reader; the
//! record notes them (value, koid), and if the reader's process ends
//! still holding every one of them they go back into the request
//! (`Process::reclaim_handles`); otherwise it comes back without them.

use super::account::Account;
use super::fastpath::Origin;
use super::inflight::{self, InFlight};
use super::peered::PeerLink;
use super::room::trim;
use super::thread::{Thread, WakeReason};
use super::{impl_into_any, Handle, KernelObject, ObjectBase};
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::sync::Weak;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use spin::Mutex;
use zx_abi::{ObjectType, Signals, Status};

/// What a queued message costs beyond its bytes (its header, its slot in
/// the queue), charged with them.
const MESSAGE_OVERHEAD: u64 = core::mem::size_of::<Message>() as u64 + 16;

/// Most messages a channel endpoint queues before writes are refused
/// (as Zircon's limit, so a stuck reader cannot exhaust kernel memory).
pub const MAX_PENDING_MESSAGES: usize = 3500;

/// One message. Its bytes are charged to the writer's job while it
/// exists; the endpoints among its handles count as in flight.
pub struct Message {
    bytes: Vec<u8>,
    handles: Vec<Handle>,
    /// Who its bytes are charged to (`None`: the kernel's own messages).
    account: Option<Arc<Account>>,
}

impl Message {
    /// A message charged to `account`, if it has room for the bytes (if
    /// not, unreachable channel cycles are collected first, in case they
    /// hold what the account is missing).
    pub fn new(
        bytes: Vec<u8>,
        handles: Vec<Handle>,
        account: Option<&Arc<Account>>,
    ) -> Result<Message, (Status, Vec<Handle>)> {
        // A message costs its bytes and its place in the queue: an empty
        // message is not free.
        let len = bytes.len() as u64 + MESSAGE_OVERHEAD;
        if let Some(account) = account {
            if account.charge(len).is_err() {
                if let Err(status) = charge_after_collecting(account, len) {
                    return Err((status, handles));
                }
            }
        }
        if !handles.is_empty() {
            if let Err(status) = charge_handles(account, &handles) {
                if let Some(account) = account {
                    account.uncharge(len);
                }
                return Err((status, handles));
            }
        }
        Ok(Message {
            bytes,
            handles,
            account: account.cloned(),
        })
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The handles, in order.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// Takes the handles out (for the reader's table).
    #[inline]
    pub fn take_handles(&mut self) -> Vec<Handle> {
        if !self.handles.is_empty() {
            self.uncharge_handles();
        }
        core::mem::take(&mut self.handles)
    }

    /// Puts back into a message whose handles were taken (a request its
    /// dead reader did not answer) the handles `reclaim` takes back from
    /// the reader, if any. They are charged again to its writer first, so
    /// a refused charge leaves them where they are (the reader's table:
    /// closed or escrowed as it ends); only if the in-flight count of
    /// the endpoints among them then fails (out of memory) are they
    /// dropped, which closes them.
    fn restore_handles(&mut self, taken: &[(zx_abi::HandleValue, u64)], reclaim: Reclaim<'_>) {
        if !self.handles.is_empty() || taken.is_empty() {
            return;
        }
        let count = taken.len() as u64;
        if let Some(account) = &self.account {
            if account.charge_handles(count).is_err() {
                return;
            }
        }
        let uncharge = |message: &Message| {
            if let Some(account) = &message.account {
                account.uncharge_handles(count);
            }
        };
        let Some(handles) = reclaim(taken) else {
            uncharge(self);
            return;
        };
        if inflight::count_in(&handles).is_err() {
            uncharge(self);
            drop(handles);
            return;
        }
        self.handles = handles;
    }

    /// The handles leave the message (taken, or dropped with it).
    fn uncharge_handles(&self) {
        inflight::count_out(&self.handles);
        if let Some(account) = &self.account {
            account.uncharge_handles(self.handles.len() as u64);
        }
    }
}

/// Charges a message's handles to the writer's account and counts the
/// endpoints among them as in flight.
fn charge_handles(account: Option<&Arc<Account>>, handles: &[Handle]) -> Result<(), Status> {
    if let Some(account) = account {
        account.charge_handles(handles.len() as u64)?;
    }
    inflight::count_in(handles).inspect_err(|_| {
        if let Some(account) = account {
            account.uncharge_handles(handles.len() as u64);
        }
    })
}

/// The room an endpoint's queue, reply-record table, call list and
/// receiver list keep at rest, in bytes: a burst grows them (each message,
/// record, call or receiver is charged while it is there, not the room it
/// leaves), and [`trim`] gives back all but `room::KEPT_SLOTS` slots of
/// each, which are charged with the endpoint (`channel_create`).
pub const KEPT_ROOM: usize = super::room::KEPT_SLOTS
    * (core::mem::size_of::<Message>()
        + core::mem::size_of::<ReplyRecord>()
        + core::mem::size_of::<(u32, Weak<Thread>, u64)>()
        + core::mem::size_of::<(Weak<Thread>, u64)>());

/// Makes room for one more message in a full queue.
#[cold]
fn grow(queue: &mut VecDeque<Message>) -> Result<(), Status> {
    queue.try_reserve(1).map_err(|_| Status::NO_MEMORY)
}

/// Collects unreachable channel cycles, which may hold what `account`
/// is missing, and charges it again.
#[cold]
fn charge_after_collecting(account: &Account, len: u64) -> Result<(), Status> {
    inflight::collect_if_changed();
    super::run_deferred();
    account.charge(len)
}

impl Drop for Message {
    #[inline]
    fn drop(&mut self) {
        if let Some(account) = &self.account {
            account.uncharge(self.bytes.len() as u64 + MESSAGE_OVERHEAD);
        }
        if !self.handles.is_empty() {
            self.uncharge_handles();
        }
        crate::mem::user_ptr::recycle(core::mem::take(&mut self.bytes));
    }
}

/// One endpoint of a channel.
pub struct Channel {
    base: ObjectBase,
    link: PeerLink<Channel>,
    queue: Mutex<VecDeque<Message>>,
    /// Handles to this endpoint inside messages (see `inflight.rs`).
    in_flight: InFlight,
    /// Threads blocked in `channel_call` on this endpoint: (txid, thread,
    /// wait token). A reply whose txid matches goes straight to its caller.
    calls: Mutex<Vec<(u32, Weak<Thread>, u64)>>,
    /// Threads blocked in `channel_recv` on this endpoint, first come
    /// first served: (thread, wait token).
    receivers: Mutex<VecDeque<(Weak<Thread>, u64)>>,
    /// Whether `receivers` may hold a thread (so a write to an endpoint
    /// nobody receives on takes no extra lock).
    has_receivers: AtomicBool,
    /// Requests read through `channel_recv` and not yet answered.
    replies: Mutex<Vec<ReplyRecord>>,
}

/// A request read through `channel_recv`, kept until it is answered.
pub struct ReplyRecord {
    /// Its call txid.
    txid: u32,
    /// Koid of the process that read it.
    reader: u64,
    /// The request.
    kept: Kept,
    /// The handles it carried, as its reader received them (boxed: most
    /// requests carry none, and records are moved on the fastpath).
    taken: Option<alloc::boxed::Box<Taken>>,
}

/// The handles a request read through `channel_recv` carried, as its
/// reader received them: (value in the reader's table, koid). If the
/// reader ends without answering and still holds every one of them, they
/// go back into the request with its bytes ([`Channel::return_requests_of`]).
/// The list is charged to the request's writer, like the kept bytes, for
/// as long as the record is kept.
#[derive(Default)]
pub struct Taken {
    list: Vec<(zx_abi::HandleValue, u64)>,
    account: Option<Arc<Account>>,
}

/// Takes back from a dead reader the handles listed in a [`Taken`] (see
/// [`Channel::return_requests_of`]).
pub type Reclaim<'a> = &'a mut dyn FnMut(&[(zx_abi::HandleValue, u64)]) -> Option<Vec<Handle>>;

impl ReplyRecord {
    /// Whether dropping it drops nothing but itself (no kept message, no
    /// handle list).
    #[inline]
    fn holds_nothing(&self) -> bool {
        matches!(self.kept, Kept::Caller(_)) && self.taken.is_none()
    }
}

impl Taken {
    fn charge(&self) -> u64 {
        (core::mem::size_of::<Taken>()
            + self.list.capacity() * core::mem::size_of::<(zx_abi::HandleValue, u64)>())
            as u64
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        if let Some(account) = &self.account {
            account.uncharge(self.charge());
        }
    }
}

/// What a reply record keeps of its request.
pub enum Kept {
    /// The request's bytes (its handles went to the reader).
    Message(Message),
    /// Nothing: it came by the copy-once fastpath, and its caller's buffer
    /// still holds it (`fastpath.rs`).
    Caller(Origin),
}

/// Most unanswered requests one endpoint keeps records of; past it, a
/// request is read without a record (as by `channel_read`).
pub const MAX_REPLY_RECORDS: usize = 4096;

static NEXT_CALL_TXID: AtomicU32 = AtomicU32::new(0);

/// A transaction id for a `channel_call`: the kernel chooses them, in
/// `0x8000_0000..=0xffff_ffff` (ids below are the user's to choose).
pub fn new_call_txid() -> u32 {
    0x8000_0000 | NEXT_CALL_TXID.fetch_add(1, Ordering::Relaxed)
}

/// The call txid a message carries, if any.
pub fn call_txid(bytes: &[u8]) -> Option<u32> {
    let txid = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    (txid & 0x8000_0000 != 0).then_some(txid)
}

/// What a read found when it could not return a message.
pub enum ReadError {
    /// No message and the peer is open: try later.
    ShouldWait,
    /// No message and the peer is closed.
    PeerClosed,
    /// The first message needs larger buffers (its sizes).
    TooSmall {
        /// Bytes in the message.
        bytes: usize,
        /// Handles in the message.
        handles: usize,
    },
}

impl Channel {
    /// A new linked pair of endpoints.
    pub fn create() -> (Arc<Channel>, Arc<Channel>) {
        let new = || {
            Arc::new(Channel {
                base: ObjectBase::new(Signals::CHANNEL_WRITABLE),
                link: PeerLink::new(),
                queue: Mutex::new(VecDeque::new()),
                in_flight: InFlight::new(),
                calls: Mutex::new(Vec::new()),
                receivers: Mutex::new(VecDeque::new()),
                has_receivers: AtomicBool::new(false),
                replies: Mutex::new(Vec::new()),
            })
        };
        let (a, b) = (new(), new());
        a.link.link(&b);
        b.link.link(&a);
        (a, b)
    }

    /// The other endpoint, unless it is closed.
    pub fn live_peer(&self) -> Option<Arc<Channel>> {
        self.link.live_peer(|peer| peer.link.is_closed())
    }

    /// Queues `message` for the peer. On failure the message is returned
    /// so the caller decides when its handles are dropped.
    #[inline]
    pub fn write(&self, message: Message) -> Result<(), (Status, Message)> {
        // The common case, kept short: not a reply, nobody receiving.
        if call_txid(&message.bytes).is_none() {
            if let Some(peer) = self.live_peer() {
                if !peer.has_receivers.load(Ordering::Acquire) {
                    return peer.enqueue(message);
                }
            }
        }
        self.write_direct(message, false).map(|_| ())
    }

    /// [`Channel::write`]; with `direct`, a thread that was handed the
    /// message (a caller waiting for this reply, or a receiver waiting on
    /// the peer) is not made runnable but returned, for the caller to
    /// switch to (or make runnable).
    pub fn write_direct(
        &self,
        message: Message,
        direct: bool,
    ) -> Result<Option<Arc<Thread>>, (Status, Message)> {
        let Some(peer) = self.live_peer() else {
            if let Some(txid) = call_txid(&message.bytes) {
                self.forget_record(txid);
            }
            return Err((Status::PEER_CLOSED, message));
        };
        // A reply to a waiting `channel_call` goes to its caller directly.
        let mut message = message;
        if let Some(txid) = call_txid(&message.bytes) {
            // An answer to a request read through `channel_recv`.
            self.forget_record(txid);
            let caller = {
                let mut calls = peer.calls.lock();
                let index = calls.iter().position(|(t, _, _)| *t == txid);
                let caller = index.map(|index| calls.swap_remove(index));
                trim(&mut *calls);
                caller
            };
            if let Some((_, thread, token)) = caller {
                if let Some(thread) = thread.upgrade() {
                    match crate::sched::deliver_reply(&thread, token, message, !direct) {
                        Ok(()) => return Ok(direct.then_some(thread)),
                        Err(unclaimed) => message = unclaimed,
                    }
                }
            }
        }
        if peer.has_receivers.load(Ordering::Acquire) {
            match peer.hand_to_receiver(message, direct) {
                Ok(thread) => return Ok(thread),
                Err(unclaimed) => message = unclaimed,
            }
        }
        peer.enqueue(message).map(|()| None)
    }

    /// Queues `message` on this endpoint and raises `CHANNEL_READABLE`.
    #[inline]
    fn enqueue(&self, message: Message) -> Result<(), (Status, Message)> {
        let peer = self;
        {
            let mut queue = peer.queue.lock();
            if queue.len() >= MAX_PENDING_MESSAGES {
                return Err((Status::SHOULD_WAIT, message));
            }
            if queue.len() == queue.capacity() && grow(&mut queue).is_err() {
                return Err((Status::NO_MEMORY, message));
            }
            queue.push_back(message);
        }
        peer.base
            .update_signals(Signals::empty(), Signals::CHANNEL_READABLE);
        Ok(())
    }

    /// Whether a thread may be waiting in `channel_recv` here.
    #[inline]
    pub fn has_receivers(&self) -> bool {
        self.has_receivers.load(Ordering::Acquire)
    }

    /// Puts a receiver taken with [`Channel::pop_receiver`] back first.
    pub fn restore_receiver(&self, thread: Weak<Thread>, token: u64) {
        let mut receivers = self.receivers.lock();
        // Room is there: it was just taken out.
        if receivers.try_reserve(1).is_ok() {
            receivers.push_front((thread, token));
            self.has_receivers.store(true, Ordering::Release);
        }
    }

    /// Whether no message is queued here.
    #[inline]
    pub fn queue_is_empty(&self) -> bool {
        self.queue.lock().is_empty()
    }

    /// Takes the thread waiting in `channel_call` here for reply `txid`.
    pub fn take_call(&self, txid: u32) -> Option<(Weak<Thread>, u64)> {
        let mut calls = self.calls.lock();
        let index = calls.iter().position(|(t, _, _)| *t == txid)?;
        let (_, thread, token) = calls.swap_remove(index);
        trim(&mut *calls);
        Some((thread, token))
    }

    /// Takes the first thread waiting in `channel_recv` here.
    pub fn pop_receiver(&self) -> Option<(Weak<Thread>, u64)> {
        let mut receivers = self.receivers.lock();
        let first = receivers.pop_front();
        trim(&mut *receivers);
        self.has_receivers
            .store(!receivers.is_empty(), Ordering::Release);
        first
    }

    /// Hands `message` to the first thread waiting in `channel_recv` on
    /// this endpoint (see [`Channel::write_direct`] for `direct`); gives
    /// it back if none takes it.
    #[inline]
    fn hand_to_receiver(
        &self,
        message: Message,
        direct: bool,
    ) -> Result<Option<Arc<Thread>>, Message> {
        let mut message = message;
        while let Some((thread, token)) = self.pop_receiver() {
            let Some(thread) = thread.upgrade() else {
                continue;
            };
            match crate::sched::deliver_request(&thread, token, message, !direct) {
                Ok(()) => return Ok(direct.then_some(thread)),
                Err(unclaimed) => message = unclaimed,
            }
        }
        Err(message)
    }

    /// Registers a thread waiting in `channel_recv` (the queue is empty);
    /// `NO_MEMORY` if there is no room.
    pub fn add_receiver(&self, thread: &Arc<Thread>, token: u64) -> Result<(), Status> {
        let mut receivers = self.receivers.lock();
        // Drop registrations of threads that are gone before growing.
        if receivers.len() == receivers.capacity() {
            receivers.retain(|(t, _)| t.strong_count() > 0);
        }
        receivers.try_reserve(1).map_err(|_| Status::NO_MEMORY)?;
        receivers.push_back((Arc::downgrade(thread), token));
        self.has_receivers.store(true, Ordering::Release);
        Ok(())
    }

    /// Forgets the receiver waiting with `token` (its wait ended).
    pub fn remove_receiver(&self, token: u64) {
        if !self.has_receivers.load(Ordering::Acquire) {
            return;
        }
        let mut receivers = self.receivers.lock();
        receivers.retain(|(_, t)| *t != token);
        trim(&mut *receivers);
        self.has_receivers
            .store(!receivers.is_empty(), Ordering::Release);
    }

    /// Takes a message handed to a receiver back (it could not take it:
    /// it died, timed out or its buffers were bad) to the front of the
    /// queue, or to the next receiver.
    pub fn give_back(&self, message: Message) {
        if let Err(message) = self.hand_to_receiver(message, false) {
            self.unread(message);
        }
    }

    /// Keeps `kept` (of a request with a call txid, its handles taken)
    /// until `reader`'s process answers it. Gives it back (and drops
    /// nothing) if there is no room.
    pub fn keep_record(&self, txid: u32, reader: u64, kept: Kept) -> Result<(), Kept> {
        let mut replies = self.replies.lock();
        if replies.len() >= MAX_REPLY_RECORDS
            || (replies.len() == replies.capacity() && replies.try_reserve(1).is_err())
        {
            return Err(kept);
        }
        replies.push(ReplyRecord {
            txid,
            reader,
            kept,
            taken: None,
        });
        Ok(())
    }

    /// The request `txid` was answered (or can no longer be): drop its
    /// record.
    pub fn forget_record(&self, txid: u32) {
        let mut replies = self.replies.lock();
        let Some(index) = replies.iter().rposition(|r| r.txid == txid) else {
            return;
        };
        if index == replies.len() - 1 && replies[index].holds_nothing() {
            // The usual answer: the newest record, of a request that came
            // by the fastpath without handles. It owns nothing, so it is
            // forgotten rather than moved out to be dropped.
            core::mem::forget(replies.pop());
            trim(&mut *replies);
            return;
        }
        let record = replies.swap_remove(index);
        trim(&mut *replies);
        // Dropped outside the lock (its message may hold the last
        // reference to objects whose teardown takes locks).
        drop(replies);
        drop(record);
    }

    /// Puts request `txid`, read by process `reader` and not answered,
    /// back at the front of the queue; false if there is no such record.
    pub fn return_request(&self, txid: u32, reader: u64) -> bool {
        let record = {
            let mut replies = self.replies.lock();
            let index = replies
                .iter()
                .position(|r| r.txid == txid && r.reader == reader);
            let record = index.map(|index| replies.swap_remove(index));
            trim(&mut *replies);
            record
        };
        match record {
            Some(record) => {
                self.return_to_queue(record.kept);
                true
            }
            None => false,
        }
    }

    /// Records the handles the request `txid`, read by process `reader`,
    /// carried: their `values` in the reader's table and their `koids`
    /// (see [`Taken`]). Skipped, as if it carried none, if the list cannot
    /// be allocated or charged.
    pub fn note_taken(
        &self,
        txid: u32,
        reader: u64,
        values: &[zx_abi::HandleValue],
        koids: &[u64],
    ) {
        let mut replies = self.replies.lock();
        let Some(record) = replies
            .iter_mut()
            .rfind(|r| r.txid == txid && r.reader == reader)
        else {
            return;
        };
        let Kept::Message(message) = &record.kept else {
            return;
        };
        let mut taken = Taken::default();
        if taken.list.try_reserve_exact(values.len()).is_err() {
            return;
        }
        if let Some(account) = &message.account {
            if account.charge(taken.charge()).is_err() {
                return;
            }
            taken.account = Some(Arc::clone(account));
        }
        taken
            .list
            .extend(values.iter().copied().zip(koids.iter().copied()));
        record.taken = Some(alloc::boxed::Box::new(taken));
    }

    /// Puts every request process `reader` read and did not answer back
    /// at the front of the queue (its process ended). `reclaim` takes back
    /// from the reader the handles a request carried (all of them, or none:
    /// see `Process::reclaim_handles`); they go back into it.
    pub fn return_requests_of(&self, reader: u64, reclaim: Reclaim<'_>) {
        loop {
            let record = {
                let mut replies = self.replies.lock();
                let index = replies.iter().rposition(|r| r.reader == reader);
                let record = index.map(|index| replies.swap_remove(index));
                trim(&mut *replies);
                record
            };
            let Some(record) = record else { return };
            let ReplyRecord { kept, taken, .. } = record;
            let kept = match kept {
                Kept::Message(mut message)
                    if taken.as_ref().is_some_and(|t| !t.list.is_empty())
                        && !self.link.is_closed() =>
                {
                    if let Some(taken) = &taken {
                        message.restore_handles(&taken.list, &mut *reclaim);
                    }
                    Kept::Message(message)
                }
                kept => kept,
            };
            drop(taken);
            self.return_to_queue(kept);
        }
    }

    /// Whether process `reader` holds requests read here.
    pub fn has_records_of(&self, reader: u64) -> bool {
        self.replies.lock().iter().any(|r| r.reader == reader)
    }

    /// A message taken off this endpoint and not consumed after all (a
    /// `CHANNEL_BIND_RECEIVED` reply or read that could not be taken
    /// bound): back to a waiting receiver or the queue's front; dropped if
    /// this endpoint is closed (nobody can read it).
    pub fn put_back(&self, message: Message) {
        if self.link.is_closed() {
            drop(message);
            return;
        }
        self.give_back(message);
    }

    /// A returned request: to a waiting receiver or the queue's front;
    /// dropped if this endpoint is closed (nobody can read it). One that
    /// came by the fastpath is re-read from its caller's buffer first.
    fn return_to_queue(&self, kept: Kept) {
        if self.link.is_closed() {
            drop(kept);
            return;
        }
        let message = match kept {
            Kept::Message(message) => message,
            Kept::Caller(origin) => match origin.reread(self) {
                Some(message) => message,
                None => return,
            },
        };
        self.give_back(message);
    }

    /// Takes the first message if it fits `max_bytes` and `max_handles`.
    pub fn read(&self, max_bytes: usize, max_handles: usize) -> Result<Message, ReadError> {
        let (message, now_empty) = {
            let mut queue = self.queue.lock();
            let Some(first) = queue.front() else {
                drop(queue);
                return Err(if self.live_peer().is_some() {
                    ReadError::ShouldWait
                } else {
                    ReadError::PeerClosed
                });
            };
            if first.bytes.len() > max_bytes || first.handles.len() > max_handles {
                return Err(ReadError::TooSmall {
                    bytes: first.bytes.len(),
                    handles: first.handles.len(),
                });
            }
            let message = queue.pop_front().expect("front exists");
            trim(&mut *queue);
            (message, queue.is_empty())
        };
        if now_empty {
            self.base
                .update_signals(Signals::CHANNEL_READABLE, Signals::empty());
        }
        Ok(message)
    }

    /// Registers a thread waiting in `channel_call` for reply `txid`.
    pub fn add_call(&self, txid: u32, thread: &Arc<Thread>, token: u64) {
        self.calls
            .lock()
            .push((txid, Arc::downgrade(thread), token));
    }

    /// The thread waiting in `channel_call` here for reply `txid`, and its
    /// wait token.
    pub fn caller_of(&self, txid: u32) -> Option<(Weak<Thread>, u64)> {
        let calls = self.calls.lock();
        let (_, thread, token) = calls.iter().find(|(t, _, _)| *t == txid)?;
        Some((thread.clone(), *token))
    }

    /// Puts a call taken with [`Channel::take_call`] back.
    pub fn restore_call(&self, txid: u32, thread: Weak<Thread>, token: u64) {
        self.calls.lock().push((txid, thread, token));
    }

    /// Forgets the call waiting with `token` (it timed out).
    pub fn remove_call(&self, token: u64) {
        let mut calls = self.calls.lock();
        calls.retain(|(_, _, t)| *t != token);
        trim(&mut *calls);
    }

    /// Its in-flight state.
    pub fn in_flight(&self) -> &InFlight {
        &self.in_flight
    }

    /// Runs `f` on every handle in the queued messages.
    pub fn for_each_queued_handle(&self, mut f: impl FnMut(&Handle)) {
        for message in self.queue.lock().iter() {
            message.handles.iter().for_each(&mut f);
        }
    }

    /// Drops every queued message (the collector found the endpoint
    /// unreachable).
    pub fn drop_queue(&self) {
        let queued = core::mem::take(&mut *self.queue.lock());
        drop(queued);
        let replies = core::mem::take(&mut *self.replies.lock());
        drop(replies);
    }

    /// Puts a message that could not be delivered to the reader back at
    /// the front of the queue.
    pub fn unread(&self, message: Message) {
        self.queue.lock().push_front(message);
        self.base
            .update_signals(Signals::empty(), Signals::CHANNEL_READABLE);
    }
}

impl KernelObject for Channel {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> ObjectType {
        ObjectType::Channel
    }

    fn peer(&self) -> Option<Arc<dyn KernelObject>> {
        self.link
            .any_peer()
            .map(|peer| peer as Arc<dyn KernelObject>)
    }

    fn on_zero_handles(&self) {
        if !self.link.close() {
            return;
        }
        // Nobody can read or answer here any more.
        let receivers = core::mem::take(&mut *self.receivers.lock());
        self.has_receivers.store(false, Ordering::Release);
        drop(receivers);
        let replies = core::mem::take(&mut *self.replies.lock());
        drop(replies);
        // Callers waiting on the peer for a reply from this end will never
        // get one.
        if let Some(peer) = self.link.any_peer() {
            let callers = core::mem::take(&mut *peer.calls.lock());
            for (_, thread, token) in callers {
                if let Some(thread) = thread.upgrade() {
                    let reason = WakeReason::Signaled {
                        index: 0,
                        observed: Signals::PEER_CLOSED,
                    };
                    crate::sched::wake(&thread, token, reason);
                }
            }
        }
        // Dropping the queue closes the handles in it; the objects whose
        // last handle that was go on the closing list (`object/mod.rs`),
        // so a chain of endpoints inside endpoints is torn down one link
        // at a time, never recursively.
        let queued = core::mem::take(&mut *self.queue.lock());
        drop(queued);
        if let Some(peer) = self.link.live_peer(|p| p.link.is_closed()) {
            peer.base
                .update_signals(Signals::CHANNEL_WRITABLE, Signals::PEER_CLOSED);
            // Receivers waiting on the peer wake to drain it or see
            // PEER_CLOSED.
            let receivers = core::mem::take(&mut *peer.receivers.lock());
            peer.has_receivers.store(false, Ordering::Release);
            for (thread, token) in receivers {
                if let Some(thread) = thread.upgrade() {
                    let reason = WakeReason::Signaled {
                        index: 0,
                        observed: Signals::PEER_CLOSED,
                    };
                    crate::sched::wake(&thread, token, reason);
                }
            }
        }
    }

    impl_into_any!();
}
