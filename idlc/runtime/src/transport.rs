//! What bindings need from a channel, and the messages that cross it.

use alloc::vec::Vec;

use crate::handle::{HandleDisposition, HandleInfo};
use crate::header::{TransactionHeader, EPITAPH_ORDINAL, HEADER_SIZE};
use crate::{DecodeError, EncodeError, Wire};

/// A bidirectional message pipe: a kernel channel in the OS (implemented by
/// the SDK), an in-memory queue in host tests.
pub trait Transport {
    type Error: core::fmt::Debug;

    /// Sends one message, transferring its handles.
    fn send(&self, message: OutgoingMessage) -> Result<(), Self::Error>;

    /// Waits for the next message.
    fn receive(&self) -> Result<IncomingMessage, Self::Error>;

    /// Whether [`Transport::call`] sends a request and takes its reply in
    /// one step (a kernel `channel_call`), leaving other messages queued.
    fn can_call(&self) -> bool {
        false
    }

    /// Sends a two-way request and waits for the reply with its
    /// transaction id, which the transport may choose (the kernel does).
    /// Only used when [`Transport::can_call`]; the default sends and
    /// receives. A peer that closes while the call waits is the
    /// transport's error; an epitaph it sent stays queued.
    fn call(&self, message: OutgoingMessage) -> Result<IncomingMessage, Self::Error> {
        self.send(message)?;
        self.receive()
    }

    /// [`Transport::call`] with the request's bytes borrowed (the client
    /// reuses one buffer) and the reply handed to `decode` where the
    /// transport keeps it (a transport that receives into a buffer of its
    /// own reuses it: no copy, no allocation). Only used when
    /// [`Transport::can_call`]; the default goes through
    /// [`Transport::call`].
    fn call_in_place<R>(
        &self,
        bytes: &[u8],
        handles: Vec<HandleDisposition>,
        decode: impl FnOnce(&mut IncomingMessage) -> R,
    ) -> Result<R, Self::Error> {
        let mut reply = self.call(OutgoingMessage {
            bytes: bytes.to_vec(),
            handles,
        })?;
        Ok(decode(&mut reply))
    }
}

/// An encoded message with the handles to transfer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub bytes: Vec<u8>,
    pub handles: Vec<HandleDisposition>,
}

impl OutgoingMessage {
    /// A message with a header and a payload.
    pub fn encode<T: Wire>(header: TransactionHeader, body: &mut T) -> Result<Self, EncodeError> {
        let mut bytes = Vec::with_capacity(HEADER_SIZE + T::INLINE_SIZE);
        let mut handles = Vec::new();
        encode_into(&mut bytes, &mut handles, header, body)?;
        Ok(OutgoingMessage { bytes, handles })
    }

    /// A message with a header and a payload, encoded into the memory of
    /// `spare` (taken, so it is empty afterwards): a server reuses the
    /// bytes of its last reply instead of allocating for each one.
    pub fn encode_reusing<T: Wire>(
        spare: &mut Vec<u8>,
        header: TransactionHeader,
        body: &mut T,
    ) -> Result<Self, EncodeError> {
        let mut bytes = core::mem::take(spare);
        let mut handles = Vec::new();
        encode_into(&mut bytes, &mut handles, header, body)?;
        Ok(OutgoingMessage { bytes, handles })
    }

    /// A message with an empty payload.
    pub fn empty(header: TransactionHeader) -> Self {
        OutgoingMessage {
            bytes: header.to_bytes().to_vec(),
            handles: Vec::new(),
        }
    }

    /// The last message of a server before it closes the channel.
    pub fn epitaph(status: i32) -> Self {
        let mut message = OutgoingMessage::empty(TransactionHeader::new(0, EPITAPH_ORDINAL, false));
        message.bytes.extend_from_slice(&status.to_le_bytes());
        message.bytes.extend_from_slice(&[0; 4]);
        message
    }

    pub fn set_txid(&mut self, txid: u32) {
        if let Some(slot) = self.bytes.get_mut(0..4) {
            slot.copy_from_slice(&txid.to_le_bytes());
        }
    }
}

/// Encodes a message with `header` and `body` into `bytes` (emptied
/// first; its memory is reused) and `handles`.
pub fn encode_into<T: Wire>(
    bytes: &mut Vec<u8>,
    handles: &mut Vec<HandleDisposition>,
    header: TransactionHeader,
    body: &mut T,
) -> Result<(), EncodeError> {
    bytes.clear();
    bytes.reserve(HEADER_SIZE + T::INLINE_SIZE);
    bytes.extend_from_slice(&header.to_bytes());
    let mut encoder = crate::Encoder::new(bytes, handles);
    let offset = encoder.alloc(T::INLINE_SIZE);
    body.encode(&mut encoder, offset, 0)
}

/// A received message.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct IncomingMessage {
    pub bytes: Vec<u8>,
    pub handles: Vec<HandleInfo>,
}

impl IncomingMessage {
    /// Turns an outgoing message into what the peer receives (for
    /// in-memory transports): handles keep the declared type and rights.
    pub fn from_outgoing(message: OutgoingMessage) -> Self {
        IncomingMessage {
            bytes: message.bytes,
            handles: message
                .handles
                .into_iter()
                .map(|d| HandleInfo {
                    handle: d.handle,
                    object_type: d.object_type,
                    rights: if d.rights == crate::NO_RIGHTS_CHECK {
                        u32::MAX
                    } else {
                        d.rights
                    },
                })
                .collect(),
        }
    }

    pub fn header(&self) -> Result<TransactionHeader, DecodeError> {
        TransactionHeader::parse(&self.bytes).map(|(header, _)| header)
    }

    /// Decodes the payload, requiring all bytes and handles to be used.
    pub fn decode_body<T: Wire>(&mut self) -> Result<T, DecodeError> {
        let body = self
            .bytes
            .get(HEADER_SIZE..)
            .ok_or(DecodeError::InvalidHeader)?;
        crate::decode(body, &mut self.handles)
    }

    /// Checks that the payload is empty.
    pub fn decode_empty(&self) -> Result<(), DecodeError> {
        let extra = self.bytes.len().saturating_sub(HEADER_SIZE);
        if extra != 0 {
            return Err(DecodeError::ExtraBytes { count: extra });
        }
        if !self.handles.is_empty() {
            return Err(DecodeError::ExtraHandles {
                count: self.handles.len(),
            });
        }
        Ok(())
    }

    /// The status of an epitaph message.
    pub fn epitaph_status(&self) -> Result<i32, DecodeError> {
        let body = self
            .bytes
            .get(HEADER_SIZE..)
            .ok_or(DecodeError::InvalidHeader)?;
        crate::decode::<EpitaphBody>(body, &mut []).map(|b| b.0)
    }
}

struct EpitaphBody(i32);

impl Wire for EpitaphBody {
    const INLINE_SIZE: usize = 4;
    const ALIGN: usize = 4;

    fn encode(
        &mut self,
        encoder: &mut crate::Encoder<'_>,
        offset: usize,
        depth: usize,
    ) -> Result<(), EncodeError> {
        self.0.encode(encoder, offset, depth)
    }

    fn decode(
        decoder: &mut crate::Decoder<'_>,
        offset: usize,
        depth: usize,
    ) -> Result<Self, DecodeError> {
        i32::decode(decoder, offset, depth).map(EpitaphBody)
    }
}
