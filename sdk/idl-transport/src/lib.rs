//! Kernel channels as the transport of idlc-generated bindings.
//!
//! The bindings (`idlc-runtime`) are transport-agnostic: they encode a
//! message into bytes plus handle dispositions and hand it to a
//! [`Transport`]. [`ChannelTransport`] moves those bytes and handles over a
//! `zx::Channel`; on receipt it asks the kernel for each handle's type and
//! rights (`object_get_info`), which the decoder checks against what the
//! IDL declared.
//!
//! ```ignore
//! let echo = EchoClient::new(ChannelTransport::new(channel));
//! let reply = echo.echo_string(EchoEchoStringRequest { value: "hi".into() })?;
//! ```
#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use idlc_runtime::{Handle as WireHandle, HandleInfo};
use idlc_runtime::{IncomingMessage, OutgoingMessage, Transport};
use zx::{AsHandleRef, Channel, Handle, MessageBuf, Signals, Status};

/// A channel carrying IDL messages.
pub struct ChannelTransport {
    channel: Channel,
}

impl ChannelTransport {
    /// Wraps a channel endpoint.
    pub fn new(channel: Channel) -> ChannelTransport {
        ChannelTransport { channel }
    }

    /// The endpoint.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Gives the endpoint back.
    pub fn into_channel(self) -> Channel {
        self.channel
    }

    /// Receives a message if one is queued, without waiting.
    pub fn try_receive(&self) -> Result<IncomingMessage, Status> {
        let mut message = MessageBuf::default();
        self.channel.read(&mut message)?;
        let handles = message
            .handles
            .into_iter()
            .map(|handle| {
                let info = handle.basic_info().unwrap_or_default();
                HandleInfo {
                    handle: WireHandle::from_raw(handle.into_raw()),
                    object_type: info.object_type,
                    rights: info.rights,
                }
            })
            .collect();
        Ok(IncomingMessage {
            bytes: message.bytes,
            handles,
        })
    }
}

impl Transport for ChannelTransport {
    type Error = Status;

    fn send(&self, message: OutgoingMessage) -> Result<(), Status> {
        let handles: Vec<Handle> = message
            .handles
            .into_iter()
            .map(|d| Handle::from_raw(d.handle.into_raw()))
            .collect();
        self.channel.write(&message.bytes, handles)
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
