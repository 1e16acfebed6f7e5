//! Sockets: two linked endpoints carrying bytes, as Zircon's.
//!
//! Each end has an *inbox*: what its peer wrote and it has not read yet.
//! A write appends to the peer's inbox and raises its `SOCKET_READABLE`; a
//! read takes from the reader's own inbox. A stream socket's inbox is a
//! ring of bytes (a write takes what fits, a read takes what it asks for);
//! a datagram socket's is a queue of datagrams (a write is one datagram or
//! nothing, a read takes one whole, truncating it to the reader's buffer).
//!
//! Accounting (DESIGN §8): an inbox holds at most [`SOCKET_MAX_BUFFER`]
//! bytes (a datagram inbox also at most [`SOCKET_MAX_DATAGRAMS`]
//! datagrams); past that, writes return `SHOULD_WAIT`, and `SOCKET_WRITABLE`
//! is cleared on the writer's end until the reader makes room. Buffered
//! bytes are charged to the writer's job account (`account.rs`) from the
//! write until they are read or dropped, as a channel message's are. A
//! stream ring records which account each run of its bytes belongs to (a
//! single run while one job writes; at most [`MAX_RUNS`] runs). Its storage
//! grows fallibly by doubling and halves once it is a quarter full, so it
//! stays within four times what is buffered and charged (and at least 256
//! bytes); it is freed whenever the ring empties. A datagram queue, like a
//! channel's, charges each datagram's bytes and its overhead, and gives
//! its room back when it empties. Sockets carry no handles, so dropping an inbox never closes
//! anything and teardown cannot recurse.
//!
//! Shutdown: "this end cannot write" lives in the peer's inbox
//! (`writes_disabled`), so `SOCKET_SHUTDOWN_WRITE` on one end and
//! `SOCKET_SHUTDOWN_READ` on the other are the same state.
//!
//! Thresholds (Zircon's `PROP_SOCKET_RX_THRESHOLD`/`_TX_THRESHOLD`, set
//! with `socket_set_threshold`): an end with a read threshold has
//! `SOCKET_READ_THRESHOLD` while its inbox holds at least that many
//! bytes; one with a write threshold has `SOCKET_WRITE_THRESHOLD` while
//! the peer's inbox has room for at least that many and it may write
//! there. Every write, read, shutdown and close recomputes the signals of
//! the inbox it touched (its reader's read threshold, its writer's write
//! threshold). Thresholds are two words per end: nothing to charge.

use super::account::Account;
use super::peered::PeerLink;
use super::{impl_into_any, KernelObject, ObjectBase};
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};
use spin::Mutex;
use zx_abi::{ObjectType, Signals, Status, SOCKET_MAX_BUFFER, SOCKET_MAX_DATAGRAMS};

/// Most runs of bytes from different accounts a stream inbox keeps apart
/// (a write that would start one more waits, `SHOULD_WAIT`).
pub const MAX_RUNS: usize = 64;

/// Smallest storage a stream ring allocates.
const MIN_RING: usize = 256;

/// Capacity past which an emptied datagram queue gives its room back.
const SHRINK_QUEUE: usize = 64;

/// What a socket carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SocketKind {
    /// A byte stream.
    Stream,
    /// Datagrams that keep their boundaries.
    Datagram,
}

/// Bytes charged to one account; dropping it gives them back.
struct Charge {
    account: Arc<Account>,
    bytes: usize,
}

impl Charge {
    /// Charges `bytes` to `account` (`NO_MEMORY` past its limit).
    fn new(account: &Arc<Account>, bytes: usize) -> Result<Charge, Status> {
        account.charge(bytes as u64)?;
        Ok(Charge {
            account: Arc::clone(account),
            bytes,
        })
    }

    /// Gives back `bytes` of it (at most what it holds).
    fn release(&mut self, bytes: usize) {
        let bytes = bytes.min(self.bytes);
        self.account.uncharge(bytes as u64);
        self.bytes -= bytes;
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.account.uncharge(self.bytes as u64);
    }
}

/// A stream inbox: a ring of bytes and who they are charged to.
struct Ring {
    /// The storage (all of it initialized; its length is the capacity).
    storage: Vec<u8>,
    /// Index of the first buffered byte.
    head: usize,
    /// Buffered bytes.
    len: usize,
    /// Runs of the buffered bytes, oldest first, by account; their sizes
    /// sum to `len`.
    runs: VecDeque<Charge>,
}

impl Ring {
    const fn new() -> Ring {
        Ring {
            storage: Vec::new(),
            head: 0,
            len: 0,
            runs: VecDeque::new(),
        }
    }

    fn room(&self) -> usize {
        SOCKET_MAX_BUFFER - self.len
    }

    /// Grows the storage to hold `extra` more bytes (doubling, up to
    /// `SOCKET_MAX_BUFFER`), linearizing what is buffered.
    fn reserve(&mut self, extra: usize) -> Result<(), Status> {
        let needed = self.len + extra;
        let capacity = self.storage.len();
        if needed <= capacity {
            return Ok(());
        }
        let target = needed.max(capacity * 2).clamp(MIN_RING, SOCKET_MAX_BUFFER);
        let mut storage = Vec::new();
        storage
            .try_reserve_exact(target)
            .map_err(|_| Status::NO_MEMORY)?;
        let (first, second) = self.filled(self.len);
        storage.extend_from_slice(first);
        storage.extend_from_slice(second);
        storage.resize(target, 0);
        self.storage = storage;
        self.head = 0;
        Ok(())
    }

    /// The first `n` buffered bytes, as the two parts of the ring.
    fn filled(&self, n: usize) -> (&[u8], &[u8]) {
        let capacity = self.storage.len();
        if n == 0 || capacity == 0 {
            return (&[], &[]);
        }
        let first = n.min(capacity - self.head);
        (
            &self.storage[self.head..self.head + first],
            &self.storage[..n - first],
        )
    }

    /// The `n` free bytes after the buffered ones (`n` at most the free
    /// storage), as the two parts of the ring.
    fn spare(&mut self, n: usize) -> (&mut [u8], &mut [u8]) {
        let capacity = self.storage.len();
        if n == 0 || capacity == 0 {
            return (&mut [], &mut []);
        }
        let tail = (self.head + self.len) % capacity;
        let first = n.min(capacity - tail);
        let (before, after) = self.storage.split_at_mut(tail);
        (&mut after[..first], &mut before[..n - first])
    }

    /// Takes the first `n` buffered bytes out, giving back their charges.
    fn consume(&mut self, n: usize) {
        let mut left = n;
        while left > 0 {
            let Some(run) = self.runs.front_mut() else {
                break;
            };
            let taken = left.min(run.bytes);
            run.release(taken);
            left -= taken;
            if run.bytes == 0 {
                self.runs.pop_front();
            }
        }
        self.len -= n;
        if self.len == 0 {
            // Nothing buffered: give the storage back.
            self.storage = Vec::new();
            self.runs = VecDeque::new();
            self.head = 0;
        } else {
            self.head = (self.head + n) % self.storage.len();
            if self.storage.len() > MIN_RING && self.len <= self.storage.len() / 4 {
                self.shrink();
            }
        }
    }

    /// Halves the storage (or more) once it is mostly empty, so that it
    /// stays within four times what is buffered and charged. If the heap
    /// cannot give the smaller block, the ring keeps the larger one.
    fn shrink(&mut self) {
        let target = (self.len * 2).max(MIN_RING);
        let mut storage = Vec::new();
        if storage.try_reserve_exact(target).is_err() {
            return;
        }
        let (first, second) = self.filled(self.len);
        storage.extend_from_slice(first);
        storage.extend_from_slice(second);
        storage.resize(target, 0);
        self.storage = storage;
        self.head = 0;
    }
}

/// One datagram and its charge.
struct Datagram {
    bytes: Vec<u8>,
    _charge: Charge,
}

/// What a queued datagram costs beyond its bytes (its header, its slot in
/// the queue), charged with them as a channel message's is.
const DATAGRAM_OVERHEAD: usize = core::mem::size_of::<Datagram>() + 16;

/// What an end holds for its reader.
enum Buffered {
    Stream(Ring),
    Datagrams {
        queue: VecDeque<Datagram>,
        /// Sum of the queued datagrams' lengths.
        bytes: usize,
    },
}

impl Buffered {
    /// Bytes buffered (a datagram queue counts its datagrams' bytes).
    fn len(&self) -> usize {
        match self {
            Buffered::Stream(ring) => ring.len,
            Buffered::Datagrams { bytes, .. } => *bytes,
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Buffered::Stream(ring) => ring.len == 0,
            Buffered::Datagrams { queue, .. } => queue.is_empty(),
        }
    }

    /// Whether no write can succeed until the reader reads.
    fn is_full(&self) -> bool {
        match self {
            Buffered::Stream(ring) => ring.room() == 0,
            Buffered::Datagrams { queue, bytes } => {
                *bytes >= SOCKET_MAX_BUFFER || queue.len() >= SOCKET_MAX_DATAGRAMS
            }
        }
    }
}

/// An end's inbox.
struct Inbox {
    buffered: Buffered,
    /// The peer can no longer write here (it shut down writing, or this
    /// end shut down reading).
    writes_disabled: bool,
}

impl Inbox {
    /// Room for a writer: what a stream or datagram write may still add
    /// (0 once writes are disabled).
    fn room(&self) -> usize {
        if self.writes_disabled {
            0
        } else {
            SOCKET_MAX_BUFFER - self.buffered.len().min(SOCKET_MAX_BUFFER)
        }
    }
}

/// Which threshold `socket_set_threshold` sets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Threshold {
    /// Bytes waiting to be read from this end.
    Read,
    /// Room in the peer's inbox for this end's writes.
    Write,
}

/// Whether a threshold (0: off) is met by `amount`.
fn met(threshold: usize, amount: usize) -> bool {
    threshold != 0 && amount >= threshold
}

/// The signal change that sets `signal` if `on`, clears it otherwise.
fn toggle(signal: Signals, on: bool) -> (Signals, Signals) {
    if on {
        (Signals::empty(), signal)
    } else {
        (signal, Signals::empty())
    }
}

/// Why a read returned nothing.
pub enum ReadError {
    /// Nothing buffered; more may come.
    ShouldWait,
    /// Nothing buffered and the peer is closed.
    PeerClosed,
    /// Nothing buffered and the peer can no longer write.
    WritesDisabled,
    /// Delivering to the reader failed (nothing was taken).
    Copy(Status),
}

impl ReadError {
    /// The status a syscall returns for it.
    pub fn status(&self) -> Status {
        match self {
            ReadError::ShouldWait => Status::SHOULD_WAIT,
            ReadError::PeerClosed => Status::PEER_CLOSED,
            ReadError::WritesDisabled => Status::BAD_STATE,
            ReadError::Copy(status) => *status,
        }
    }
}

/// One endpoint of a socket.
pub struct Socket {
    base: ObjectBase,
    link: PeerLink<Socket>,
    kind: SocketKind,
    inbox: Mutex<Inbox>,
    /// Read threshold in bytes (0: off).
    read_threshold: AtomicUsize,
    /// Write threshold in bytes (0: off).
    write_threshold: AtomicUsize,
}

impl Socket {
    /// A new linked pair of endpoints.
    pub fn create(kind: SocketKind) -> (Arc<Socket>, Arc<Socket>) {
        let new = || {
            Arc::new(Socket {
                base: ObjectBase::new(Signals::SOCKET_WRITABLE),
                link: PeerLink::new(),
                kind,
                inbox: Mutex::new(Inbox {
                    buffered: match kind {
                        SocketKind::Stream => Buffered::Stream(Ring::new()),
                        SocketKind::Datagram => Buffered::Datagrams {
                            queue: VecDeque::new(),
                            bytes: 0,
                        },
                    },
                    writes_disabled: false,
                }),
                read_threshold: AtomicUsize::new(0),
                write_threshold: AtomicUsize::new(0),
            })
        };
        let (a, b) = (new(), new());
        a.link.link(&b);
        b.link.link(&a);
        (a, b)
    }

    fn live_peer(&self) -> Option<Arc<Socket>> {
        self.link.live_peer(|peer| peer.link.is_closed())
    }

    /// Writes up to `len` bytes to the peer's inbox (all of them or none
    /// for a datagram), charged to `account`. `fill` receives the
    /// destination as two parts (their lengths sum to the count written)
    /// and copies the bytes in; if it fails nothing is written. Returns
    /// the count written.
    pub fn write(
        &self,
        len: usize,
        account: &Arc<Account>,
        fill: impl FnOnce(&mut [u8], &mut [u8]) -> Result<(), Status>,
    ) -> Result<usize, Status> {
        let peer = self.live_peer().ok_or(Status::PEER_CLOSED)?;
        let (written, now_full, buffered, room) = {
            let mut inbox = peer.inbox.lock();
            if inbox.writes_disabled {
                return Err(Status::BAD_STATE);
            }
            let written = match &mut inbox.buffered {
                Buffered::Stream(ring) => write_stream(ring, len, account, fill)?,
                Buffered::Datagrams { queue, bytes } => {
                    write_datagram(queue, bytes, len, account, fill)?
                }
            };
            (
                written,
                inbox.buffered.is_full(),
                inbox.buffered.len(),
                inbox.room(),
            )
        };
        if written > 0 {
            let (clear, set) = toggle(
                Signals::SOCKET_READ_THRESHOLD,
                met(peer.read_threshold.load(Ordering::Relaxed), buffered),
            );
            peer.base
                .update_signals(clear, set | Signals::SOCKET_READABLE);
        }
        let (clear, set) = toggle(
            Signals::SOCKET_WRITE_THRESHOLD,
            met(self.write_threshold.load(Ordering::Relaxed), room),
        );
        let clear = if now_full {
            clear | Signals::SOCKET_WRITABLE
        } else {
            clear
        };
        self.base.update_signals(clear, set);
        Ok(written)
    }

    /// Reads up to `max` bytes from this end's inbox (a datagram is
    /// truncated to `max`). `deliver` receives the bytes as two parts and
    /// copies them out; only if it succeeds are they taken (never with
    /// `peek`). Returns the count read.
    pub fn read(
        &self,
        max: usize,
        peek: bool,
        deliver: impl FnOnce(&[u8], &[u8]) -> Result<(), Status>,
    ) -> Result<usize, ReadError> {
        let (count, now_empty, has_room, buffered, room) = {
            let mut inbox = self.inbox.lock();
            if inbox.buffered.is_empty() {
                let closed = inbox.writes_disabled;
                drop(inbox);
                return Err(if self.live_peer().is_none() {
                    ReadError::PeerClosed
                } else if closed {
                    ReadError::WritesDisabled
                } else {
                    ReadError::ShouldWait
                });
            }
            let count = match &mut inbox.buffered {
                Buffered::Stream(ring) => {
                    let count = max.min(ring.len);
                    let (first, second) = ring.filled(count);
                    deliver(first, second).map_err(ReadError::Copy)?;
                    if !peek {
                        ring.consume(count);
                    }
                    count
                }
                Buffered::Datagrams { queue, bytes } => {
                    let first = queue.front().expect("inbox is not empty");
                    let count = max.min(first.bytes.len());
                    deliver(&first.bytes[..count], &[]).map_err(ReadError::Copy)?;
                    if !peek && max > 0 {
                        let taken = queue.pop_front().expect("inbox is not empty");
                        *bytes -= taken.bytes.len();
                        if queue.is_empty() && queue.capacity() > SHRINK_QUEUE {
                            // Give back the room a burst of datagrams took.
                            *queue = VecDeque::new();
                        }
                    }
                    count
                }
            };
            let has_room = !inbox.buffered.is_full() && !inbox.writes_disabled;
            (
                count,
                inbox.buffered.is_empty(),
                has_room,
                inbox.buffered.len(),
                inbox.room(),
            )
        };
        if peek {
            return Ok(count);
        }
        let (clear, set) = toggle(
            Signals::SOCKET_READ_THRESHOLD,
            met(self.read_threshold.load(Ordering::Relaxed), buffered),
        );
        let clear = if now_empty {
            clear | Signals::SOCKET_READABLE
        } else {
            clear
        };
        self.base.update_signals(clear, set);
        if let Some(peer) = self.live_peer() {
            let (clear, set) = toggle(
                Signals::SOCKET_WRITE_THRESHOLD,
                met(peer.write_threshold.load(Ordering::Relaxed), room),
            );
            let set = if has_room {
                set | Signals::SOCKET_WRITABLE
            } else {
                set
            };
            peer.base.update_signals(clear, set);
        }
        Ok(count)
    }

    /// Shuts down writing from this end, reading into it, or both, for
    /// good.
    pub fn shutdown(&self, write: bool, read: bool) {
        if read {
            self.inbox.lock().writes_disabled = true;
            self.base
                .update_signals(Signals::empty(), Signals::SOCKET_PEER_WRITE_DISABLED);
        }
        if write {
            self.base.update_signals(
                Signals::SOCKET_WRITABLE | Signals::SOCKET_WRITE_THRESHOLD,
                Signals::SOCKET_WRITE_DISABLED,
            );
        }
        let Some(peer) = self.live_peer() else {
            return;
        };
        if write {
            peer.inbox.lock().writes_disabled = true;
            peer.base
                .update_signals(Signals::empty(), Signals::SOCKET_PEER_WRITE_DISABLED);
        }
        if read {
            peer.base.update_signals(
                Signals::SOCKET_WRITABLE | Signals::SOCKET_WRITE_THRESHOLD,
                Signals::SOCKET_WRITE_DISABLED,
            );
        }
    }

    /// Sets this end's read or write threshold (`socket_set_threshold`;
    /// 0 turns it off) and updates its signal at once.
    pub fn set_threshold(&self, which: Threshold, threshold: usize) -> Result<(), Status> {
        if threshold > SOCKET_MAX_BUFFER {
            return Err(Status::INVALID_ARGS);
        }
        match which {
            Threshold::Read => {
                // Under the inbox lock, so a concurrent write sees either
                // the old threshold before or the new one after.
                let buffered = {
                    let inbox = self.inbox.lock();
                    self.read_threshold.store(threshold, Ordering::Relaxed);
                    inbox.buffered.len()
                };
                let (clear, set) = toggle(Signals::SOCKET_READ_THRESHOLD, met(threshold, buffered));
                self.base.update_signals(clear, set);
            }
            Threshold::Write => {
                self.write_threshold.store(threshold, Ordering::Relaxed);
                let room = match self.live_peer() {
                    Some(peer) => peer.inbox.lock().room(),
                    None => 0,
                };
                let room = if self.base.signals().contains(Signals::SOCKET_WRITE_DISABLED) {
                    0
                } else {
                    room
                };
                let (clear, set) = toggle(Signals::SOCKET_WRITE_THRESHOLD, met(threshold, room));
                self.base.update_signals(clear, set);
            }
        }
        Ok(())
    }
}

/// Appends what fits of `len` bytes to a stream ring.
fn write_stream(
    ring: &mut Ring,
    len: usize,
    account: &Arc<Account>,
    fill: impl FnOnce(&mut [u8], &mut [u8]) -> Result<(), Status>,
) -> Result<usize, Status> {
    let count = len.min(ring.room());
    if count == 0 {
        if len == 0 {
            fill(&mut [], &mut [])?;
            return Ok(0);
        }
        return Err(Status::SHOULD_WAIT);
    }
    let same_account = ring
        .runs
        .back()
        .is_some_and(|run| Arc::ptr_eq(&run.account, account));
    if !same_account {
        if ring.runs.len() >= MAX_RUNS {
            return Err(Status::SHOULD_WAIT);
        }
        ring.runs.try_reserve(1).map_err(|_| Status::NO_MEMORY)?;
    }
    let charge = Charge::new(account, count)?;
    ring.reserve(count)?;
    let (first, second) = ring.spare(count);
    if let Err(status) = fill(first, second) {
        if ring.len == 0 {
            ring.storage = Vec::new();
        }
        return Err(status);
    }
    ring.len += count;
    match ring.runs.back_mut() {
        Some(run) if same_account => {
            // One run per account: the new charge joins it (and the
            // emptied one gives back nothing when dropped).
            let mut charge = charge;
            run.bytes += core::mem::take(&mut charge.bytes);
        }
        _ => ring.runs.push_back(charge),
    }
    Ok(count)
}

/// Queues `len` bytes as one datagram.
fn write_datagram(
    queue: &mut VecDeque<Datagram>,
    bytes: &mut usize,
    len: usize,
    account: &Arc<Account>,
    fill: impl FnOnce(&mut [u8], &mut [u8]) -> Result<(), Status>,
) -> Result<usize, Status> {
    if len == 0 {
        return Err(Status::INVALID_ARGS);
    }
    if len > SOCKET_MAX_BUFFER {
        return Err(Status::OUT_OF_RANGE);
    }
    if len > SOCKET_MAX_BUFFER - *bytes || queue.len() >= SOCKET_MAX_DATAGRAMS {
        return Err(Status::SHOULD_WAIT);
    }
    queue.try_reserve(1).map_err(|_| Status::NO_MEMORY)?;
    let mut data = Vec::new();
    data.try_reserve_exact(len).map_err(|_| Status::NO_MEMORY)?;
    data.resize(len, 0);
    let charge = Charge::new(account, len + DATAGRAM_OVERHEAD)?;
    fill(&mut data, &mut [])?;
    queue.push_back(Datagram {
        bytes: data,
        _charge: charge,
    });
    *bytes += len;
    Ok(len)
}

impl KernelObject for Socket {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> ObjectType {
        ObjectType::Socket
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
        // No one can read what is buffered here any more: drop it (and
        // its charges) now rather than when the last reference goes.
        let buffered = {
            let mut inbox = self.inbox.lock();
            inbox.writes_disabled = true;
            let empty = match self.kind {
                SocketKind::Stream => Buffered::Stream(Ring::new()),
                SocketKind::Datagram => Buffered::Datagrams {
                    queue: VecDeque::new(),
                    bytes: 0,
                },
            };
            core::mem::replace(&mut inbox.buffered, empty)
        };
        drop(buffered);
        if let Some(peer) = self.live_peer() {
            peer.base.update_signals(
                Signals::SOCKET_WRITABLE | Signals::SOCKET_WRITE_THRESHOLD,
                Signals::PEER_CLOSED,
            );
        }
    }

    impl_into_any!();
}
