//! Kernel channels as the transport of idlc-generated bindings.
//!
//! The bindings (`idlc-runtime`) are transport-agnostic: they encode a
//! message into bytes plus handle dispositions and hand it to a
//! [`Transport`]. [`ChannelTransport`] moves those bytes and handles over a
//! `zx::Channel`; on receipt it asks the kernel for each handle's type and
//! rights (`object_get_info`), which the decoder checks against what the
//! IDL declared.
//!
//! Two-way calls use the kernel's call fastpath: `channel_call` writes the
//! request and takes its reply in one syscall (the kernel chooses the
//! transaction id), and a server loop ([`ChannelTransport::serve`]) replies
//! and waits for the next request in one `channel_recv`, reusing one
//! buffer.
//!
//! ```ignore
//! let echo = EchoClient::new(ChannelTransport::new(channel));
//! let reply = echo.echo_string(EchoEchoStringRequest { value: "hi".into() })?;
//! ```
#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use core::cell::RefCell;
use idlc_runtime::{Handle as WireHandle, HandleDisposition, HandleInfo};
use idlc_runtime::{IncomingMessage, OutgoingMessage, Transport};
use zx::{AsHandleRef, Channel, Handle, MessageBuf, Signals, Status};

/// A channel carrying IDL messages.
pub struct ChannelTransport {
    channel: Channel,
    /// Room for the largest reply, kept between calls (a reply is copied
    /// out at its own size).
    reply: RefCell<MessageBuf>,
}

/// Turns received handles into what the decoder checks.
fn handle_infos(handles: Vec<Handle>) -> Vec<HandleInfo> {
    if handles.is_empty() {
        return Vec::new(); // most messages carry none
    }
    handles
        .into_iter()
        .map(|handle| {
            let info = handle.basic_info().unwrap_or_default();
            HandleInfo {
                handle: WireHandle::from_raw(handle.into_raw()),
                object_type: info.object_type,
                rights: info.rights,
            }
        })
        .collect()
}

/// The handles of an outgoing message, as kernel handles.
fn outgoing_handles(message: &mut OutgoingMessage) -> Vec<Handle> {
    wire_handles(core::mem::take(&mut message.handles))
}

/// Handles to transfer, as kernel handles.
fn wire_handles(handles: Vec<HandleDisposition>) -> Vec<Handle> {
    if handles.is_empty() {
        return Vec::new(); // most messages carry none
    }
    handles
        .into_iter()
        .map(|d| Handle::from_raw(d.handle.into_raw()))
        .collect()
}

impl ChannelTransport {
    /// Serves requests until the peer closes or a receive fails (the
    /// status says why): `handle` answers each request (`None`: no
    /// reply), and the reply goes out in the same `channel_recv` that
    /// waits for the next request. One buffer is reused for every
    /// request.
    pub fn serve(
        &self,
        mut handle: impl FnMut(&mut IncomingMessage) -> Option<OutgoingMessage>,
    ) -> Status {
        self.serve_reusing(|request, _| handle(request))
    }

    /// Like [`ChannelTransport::serve`], and `handle` also gets the bytes
    /// of the reply sent last (empty at first) to encode the next reply
    /// into (the generated `dispatch_*_reusing`), so replies need no
    /// allocation either.
    pub fn serve_reusing(
        &self,
        mut handle: impl FnMut(&mut IncomingMessage, &mut Vec<u8>) -> Option<OutgoingMessage>,
    ) -> Status {
        let mut buffer = MessageBuf::default();
        let mut reply: Option<OutgoingMessage> = None;
        let mut spare = Vec::new();
        loop {
            let result = match reply.as_mut() {
                Some(message) => {
                    let handles = outgoing_handles(message);
                    self.channel.recv(
                        Some((&message.bytes, handles)),
                        &mut buffer,
                        zx::TIME_INFINITE,
                    )
                }
                None => self.channel.recv(None, &mut buffer, zx::TIME_INFINITE),
            };
            if let Err(status) = result {
                return status;
            }
            if let Some(sent) = reply.take() {
                spare = sent.bytes;
            }
            let mut request = IncomingMessage {
                bytes: core::mem::take(&mut buffer.bytes),
                handles: handle_infos(core::mem::take(&mut buffer.handles)),
            };
            reply = handle(&mut request, &mut spare);
            // The request's memory holds the next one.
            buffer.bytes = request.bytes;
        }
    }

    /// Wraps a channel endpoint.
    pub fn new(channel: Channel) -> ChannelTransport {
        ChannelTransport {
            channel,
            reply: RefCell::new(MessageBuf::default()),
        }
    }

    /// The endpoint.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Gives the endpoint back.
    pub fn into_channel(self) -> Channel {
        self.channel
    }

    /// Receives a request if one is queued, without waiting, through
    /// `channel_recv`: a two-way request read this way stays the kernel's
    /// until it is answered (a reply with its txid on this endpoint), so if
    /// this process ends first it goes back to the front of the queue, for
    /// the next reader (a hot swap's rollback, docs/hot-swap.md). It comes
    /// back without the handles it carried, which this process received.
    /// `SHOULD_WAIT` when nothing is queued.
    pub fn try_recv(&self) -> Result<IncomingMessage, Status> {
        let mut message = MessageBuf::default();
        match self.channel.recv(None, &mut message, 0) {
            Ok(()) => Ok(IncomingMessage {
                bytes: message.bytes,
                handles: handle_infos(message.handles),
            }),
            Err(Status::TIMED_OUT) => Err(Status::SHOULD_WAIT),
            Err(status) => Err(status),
        }
    }

    /// Receives a message if one is queued, without waiting.
    pub fn try_receive(&self) -> Result<IncomingMessage, Status> {
        self.try_receive_etc(0)
    }

    /// [`ChannelTransport::try_receive`] with the options of
    /// `channel_read` (`CHANNEL_BIND_RECEIVED`: the handles arrive bound to
    /// the escrow this endpoint is bound to).
    pub fn try_receive_etc(&self, options: u32) -> Result<IncomingMessage, Status> {
        let mut message = MessageBuf::default();
        self.channel.read_etc(options, &mut message)?;
        Ok(IncomingMessage {
            bytes: message.bytes,
            handles: handle_infos(message.handles),
        })
    }
}

impl Transport for ChannelTransport {
    type Error = Status;

    fn send(&self, mut message: OutgoingMessage) -> Result<(), Status> {
        let handles = outgoing_handles(&mut message);
        self.channel.write(&message.bytes, handles)
    }

    fn can_call(&self) -> bool {
        true
    }

    fn call(&self, mut message: OutgoingMessage) -> Result<IncomingMessage, Status> {
        let handles = outgoing_handles(&mut message);
        let mut reply = self.reply.borrow_mut();
        self.channel
            .call(&message.bytes, handles, zx::TIME_INFINITE, &mut reply)?;
        Ok(IncomingMessage {
            bytes: reply.bytes.as_slice().to_vec(),
            handles: handle_infos(core::mem::take(&mut reply.handles)),
        })
    }

    fn call_in_place<R>(
        &self,
        bytes: &[u8],
        handles: Vec<HandleDisposition>,
        decode: impl FnOnce(&mut IncomingMessage) -> R,
    ) -> Result<R, Status> {
        let handles = wire_handles(handles);
        let mut reply = self.reply.borrow_mut();
        self.channel
            .call(bytes, handles, zx::TIME_INFINITE, &mut reply)?;
        // Decoded where the kernel put it; the buffer stays for the next
        // reply.
        let mut incoming = IncomingMessage {
            bytes: core::mem::take(&mut reply.bytes),
            handles: handle_infos(core::mem::take(&mut reply.handles)),
        };
        let result = decode(&mut incoming);
        reply.bytes = incoming.bytes;
        Ok(result)
    }

    fn receive(&self) -> Result<IncomingMessage, Status> {
        loop {
            match self.try_receive() {
                Err(Status::SHOULD_WAIT) => {
                    let signals = Signals::CHANNEL_READABLE | Signals::PEER_CLOSED;
                    self.channel.wait_one(signals, zx::TIME_INFINITE)?;
                }
                other => return other,
            }
        }
    }
}
