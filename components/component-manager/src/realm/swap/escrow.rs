//! The escrow provider: the channel on which the kernel returns a dying
//! new version's endpoints (`handle_bind_escrow`, docs/hot-swap.md), and
//! the lifecycle requests of a swap (`Prepare`, `Escrow`, `Resume`,
//! `Stop`, `idl/lifecycle.idl`), each awaited without blocking the manager:
//! until its reply, the process's end or a deadline.

use alloc::vec::Vec;
use core::future::Future;
use core::pin::pin;
use core::task::Poll;
use idlc_runtime::{IncomingMessage, OutgoingMessage, TransactionHeader, Wire};
use zx::{AsHandleRef, Channel, Handle, Process, Signals, Status, Time};
use zx_async::{on_signals, with_deadline};
use zx_idl::ChannelTransport;

/// The manager's end of one swap's escrow channel.
pub(in super::super) struct Escrow {
    reader: Channel,
}

impl Escrow {
    /// A new escrow, and the end to give the new version (`Prepare`).
    pub fn create() -> Result<(Escrow, Channel), Status> {
        let (reader, writer) = Channel::create()?;
        Ok((Escrow { reader }, writer))
    }

    /// Every handle the kernel moved here so far (a version ended while
    /// holding them), in the order they came.
    pub fn drain(&self) -> Vec<Handle> {
        let mut handles = Vec::new();
        loop {
            let mut message = zx::MessageBuf::default();
            if self.reader.read(&mut message).is_err() {
                return handles;
            }
            handles.append(&mut message.handles);
        }
    }
}

/// Why a lifecycle request got no answer.
#[derive(Debug)]
pub(in super::super) enum NoAnswer {
    /// The process ended first (its return code).
    Ended(i64),
    /// Not by the deadline.
    TimedOut,
    /// The message could not be sent or read.
    Transport(Status),
}

impl core::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NoAnswer::Ended(code) => write!(f, "it ended (exit code {code})"),
            NoAnswer::TimedOut => f.write_str("it did not answer in time"),
            NoAnswer::Transport(status) => write!(f, "the lifecycle channel failed: {status}"),
        }
    }
}

/// The txid of the manager's lifecycle requests (below the kernel's call
/// txids; one request is outstanding at a time).
const TXID: u32 = 1;

/// An encoded lifecycle message, ordinal `ordinal`, body `body`.
pub(in super::super) fn message<T: Wire>(
    ordinal: u64,
    body: Option<&mut T>,
) -> Result<OutgoingMessage, Status> {
    let header = TransactionHeader::new(TXID, ordinal, false);
    match body {
        Some(body) => OutgoingMessage::encode(header, body).map_err(|_| Status::INVALID_ARGS),
        None => Ok(OutgoingMessage::empty(header)),
    }
}

/// Writes `message` on `lifecycle`.
pub(in super::super) fn send(
    lifecycle: &ChannelTransport,
    mut message: OutgoingMessage,
) -> Result<(), Status> {
    let handles: Vec<Handle> = core::mem::take(&mut message.handles)
        .into_iter()
        .map(|d| Handle::from_raw(d.handle.into_raw()))
        .collect();
    lifecycle.channel().write(&message.bytes, handles)
}

/// Sends `message` and waits for the reply to it, until `process` ends or
/// `deadline`.
pub(in super::super) async fn request(
    lifecycle: &ChannelTransport,
    process: &Process,
    message: OutgoingMessage,
    deadline: Time,
) -> Result<IncomingMessage, NoAnswer> {
    send(lifecycle, message).map_err(NoAnswer::Transport)?;
    let ended =
        |process: &Process| NoAnswer::Ended(process.state().map(|s| s.return_code).unwrap_or(-1));
    let wait = async {
        loop {
            match lifecycle.try_receive() {
                Ok(reply) => {
                    if reply.header().is_ok_and(|h| h.txid == TXID) {
                        return Ok(reply);
                    }
                }
                Err(Status::SHOULD_WAIT) => {
                    match either(
                        on_signals(
                            lifecycle.channel(),
                            Signals::CHANNEL_READABLE | Signals::PEER_CLOSED,
                        ),
                        on_signals(process, Signals::TASK_TERMINATED),
                    )
                    .await
                    {
                        Side::First(_) => {}
                        Side::Second(_) => {
                            // A reply sent just before the end still counts.
                            if let Ok(reply) = lifecycle.try_receive() {
                                return Ok(reply);
                            }
                            return Err(ended(process));
                        }
                    }
                }
                Err(status) => {
                    if process.wait_one(Signals::TASK_TERMINATED, 0).is_ok() {
                        return Err(ended(process));
                    }
                    return Err(NoAnswer::Transport(status));
                }
            }
        }
    };
    match with_deadline(deadline, wait).await {
        Ok(result) => result,
        Err(_) => Err(NoAnswer::TimedOut),
    }
}

/// Waits for a request with ordinal `ordinal` from the version on
/// `lifecycle` (`Takeover.Take`), until `process` ends or `deadline`; its
/// txid. Other messages are dropped.
pub(in super::super) async fn incoming(
    lifecycle: &ChannelTransport,
    process: &Process,
    ordinal: u64,
    deadline: Time,
) -> Result<u32, NoAnswer> {
    let ended =
        |process: &Process| NoAnswer::Ended(process.state().map(|s| s.return_code).unwrap_or(-1));
    let wait = async {
        loop {
            match lifecycle.try_receive() {
                Ok(message) => {
                    if let Ok(header) = message.header() {
                        if header.ordinal == ordinal {
                            return Ok(header.txid);
                        }
                    }
                }
                Err(Status::SHOULD_WAIT) => {
                    match either(
                        on_signals(
                            lifecycle.channel(),
                            Signals::CHANNEL_READABLE | Signals::PEER_CLOSED,
                        ),
                        on_signals(process, Signals::TASK_TERMINATED),
                    )
                    .await
                    {
                        Side::First(_) => {}
                        Side::Second(_) => return Err(ended(process)),
                    }
                }
                Err(status) => {
                    if process.wait_one(Signals::TASK_TERMINATED, 0).is_ok() {
                        return Err(ended(process));
                    }
                    return Err(NoAnswer::Transport(status));
                }
            }
        }
    };
    match with_deadline(deadline, wait).await {
        Ok(result) => result,
        Err(_) => Err(NoAnswer::TimedOut),
    }
}

/// The answer to request `txid` (ordinal `ordinal`), body `body`.
pub(in super::super) fn answer<T: Wire>(
    txid: u32,
    ordinal: u64,
    body: &mut T,
) -> Result<OutgoingMessage, Status> {
    OutgoingMessage::encode(TransactionHeader::new(txid, ordinal, false), body)
        .map_err(|_| Status::INVALID_ARGS)
}

/// Whether `process` ended by `deadline` (its return code) or not.
pub(in super::super) async fn ended_by(process: &Process, deadline: Time) -> Option<i64> {
    match with_deadline(deadline, on_signals(process, Signals::TASK_TERMINATED)).await {
        Ok(Ok(_)) => Some(process.state().map(|s| s.return_code).unwrap_or(-1)),
        _ => None,
    }
}

/// Which of two futures finished first.
enum Side<A, B> {
    First(A),
    Second(B),
}

/// Waits for the first of `a` and `b`.
async fn either<A: Future, B: Future>(a: A, b: B) -> Side<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    core::future::poll_fn(|cx| {
        if let Poll::Ready(out) = a.as_mut().poll(cx) {
            return Poll::Ready(Side::First(out));
        }
        if let Poll::Ready(out) = b.as_mut().poll(cx) {
            return Poll::Ready(Side::Second(out));
        }
        Poll::Pending
    })
    .await
}
