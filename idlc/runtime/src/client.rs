//! A synchronous, transport-agnostic client: transaction ids, replies
//! matched to calls, events queued while a call waits, epitaphs.

use alloc::collections::VecDeque;
use core::cell::{Cell, RefCell};

use alloc::vec::Vec;

use crate::header::{TransactionHeader, EPITAPH_ORDINAL};
use crate::transport::{IncomingMessage, OutgoingMessage, Transport};
use crate::{DecodeError, EncodeError, Wire};

#[derive(Debug, PartialEq, Eq)]
pub enum ClientError<E> {
    Transport(E),
    Encode(EncodeError),
    Decode(DecodeError),
    /// The server sent an epitaph and closed.
    Closed {
        status: i32,
    },
    /// The server does not know this flexible method.
    UnknownMethod,
    /// A reply to no outstanding call.
    UnexpectedReply {
        txid: u32,
    },
}

impl<E> From<EncodeError> for ClientError<E> {
    fn from(e: EncodeError) -> Self {
        ClientError::Encode(e)
    }
}

impl<E> From<DecodeError> for ClientError<E> {
    fn from(e: DecodeError) -> Self {
        ClientError::Decode(e)
    }
}

/// The framework error a server sends for an unknown flexible method.
pub const FRAMEWORK_ERR_UNKNOWN_METHOD: i32 = -2;

pub struct Client<T: Transport> {
    transport: T,
    next_txid: Cell<u32>,
    events: RefCell<VecDeque<IncomingMessage>>,
    /// Where [`Client::call_body`] encodes its requests (reused).
    buffer: RefCell<Vec<u8>>,
}

impl<T: Transport> Client<T> {
    pub fn new(transport: T) -> Self {
        Client {
            transport,
            next_txid: Cell::new(1),
            events: RefCell::new(VecDeque::new()),
            buffer: RefCell::new(Vec::new()),
        }
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    pub fn into_transport(self) -> T {
        self.transport
    }

    /// Sends a one-way message.
    pub fn send(&self, message: OutgoingMessage) -> Result<(), ClientError<T::Error>> {
        self.transport.send(message).map_err(ClientError::Transport)
    }

    /// Sends a two-way request with `header` and `body` and returns its
    /// reply decoded by `decode` (what the generated clients use). With a
    /// transport that calls in one step, the request is encoded into a
    /// buffer the client reuses and the reply decoded where the transport
    /// received it ([`Transport::call_in_place`]): no allocation or copy
    /// for the message itself.
    pub fn call_body<B: Wire, R>(
        &self,
        header: TransactionHeader,
        body: &mut B,
        decode: impl FnOnce(&mut IncomingMessage) -> Result<R, DecodeError>,
    ) -> Result<R, ClientError<T::Error>> {
        let buffer = self.buffer.try_borrow_mut();
        let (true, Ok(mut buffer)) = (self.transport.can_call(), buffer) else {
            let message = OutgoingMessage::encode(header, body)?;
            let mut reply = self.call(message)?;
            return Ok(decode(&mut reply)?);
        };
        let mut handles = Vec::new();
        let header = TransactionHeader {
            txid: self.take_txid(),
            ..header
        };
        crate::transport::encode_into(&mut buffer, &mut handles, header, body)?;
        self.transport
            .call_in_place(&buffer, handles, |reply| {
                let header = reply.header()?;
                if header.ordinal == EPITAPH_ORDINAL {
                    return Err(ClientError::Closed {
                        status: reply.epitaph_status()?,
                    });
                }
                Ok(decode(reply)?)
            })
            .map_err(ClientError::Transport)?
    }

    /// The next transaction id.
    fn take_txid(&self) -> u32 {
        let txid = self.next_txid.get();
        self.next_txid
            .set(if txid >= 0x7fff_ffff { 1 } else { txid + 1 });
        txid
    }

    /// Sends a two-way message and waits for its reply, queueing events
    /// that arrive first.
    pub fn call(
        &self,
        mut message: OutgoingMessage,
    ) -> Result<IncomingMessage, ClientError<T::Error>> {
        let txid = self.take_txid();
        message.set_txid(txid);
        if self.transport.can_call() {
            // One step (the call fastpath): events stay queued in the
            // transport for `next_event`.
            let reply = self
                .transport
                .call(message)
                .map_err(ClientError::Transport)?;
            let header = reply.header()?;
            if header.ordinal == EPITAPH_ORDINAL {
                return Err(ClientError::Closed {
                    status: reply.epitaph_status()?,
                });
            }
            return Ok(reply);
        }
        self.send(message)?;
        loop {
            let reply = self.transport.receive().map_err(ClientError::Transport)?;
            let header = reply.header()?;
            if header.ordinal == EPITAPH_ORDINAL {
                return Err(ClientError::Closed {
                    status: reply.epitaph_status()?,
                });
            }
            if header.txid == 0 {
                self.events.borrow_mut().push_back(reply);
                continue;
            }
            if header.txid != txid {
                return Err(ClientError::UnexpectedReply { txid: header.txid });
            }
            return Ok(reply);
        }
    }

    /// The next event (queued or received).
    pub fn next_event(&self) -> Result<IncomingMessage, ClientError<T::Error>> {
        if let Some(event) = self.events.borrow_mut().pop_front() {
            return Ok(event);
        }
        let message = self.transport.receive().map_err(ClientError::Transport)?;
        let header = message.header()?;
        if header.ordinal == EPITAPH_ORDINAL {
            return Err(ClientError::Closed {
                status: message.epitaph_status()?,
            });
        }
        if header.txid != 0 {
            return Err(ClientError::UnexpectedReply { txid: header.txid });
        }
        Ok(message)
    }
}

/// An asynchronous message pipe (the SDK implements it over kernel
/// channels and its executor; tests use in-memory queues).
pub trait AsyncTransport {
    type Error: core::fmt::Debug;

    fn send(
        &self,
        message: OutgoingMessage,
    ) -> impl core::future::Future<Output = Result<(), Self::Error>>;

    fn receive(&self) -> impl core::future::Future<Output = Result<IncomingMessage, Self::Error>>;
}

/// The asynchronous counterpart of [`Client`]. Replies that arrive for
/// another outstanding call are kept until that call asks for them, so
/// several calls may be in flight on one client.
pub struct AsyncClient<T: AsyncTransport> {
    transport: T,
    next_txid: Cell<u32>,
    events: RefCell<VecDeque<IncomingMessage>>,
    replies: RefCell<alloc::collections::BTreeMap<u32, IncomingMessage>>,
}

impl<T: AsyncTransport> AsyncClient<T> {
    pub fn new(transport: T) -> Self {
        AsyncClient {
            transport,
            next_txid: Cell::new(1),
            events: RefCell::new(VecDeque::new()),
            replies: RefCell::new(alloc::collections::BTreeMap::new()),
        }
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    pub async fn send(&self, message: OutgoingMessage) -> Result<(), ClientError<T::Error>> {
        self.transport
            .send(message)
            .await
            .map_err(ClientError::Transport)
    }

    pub async fn call(
        &self,
        mut message: OutgoingMessage,
    ) -> Result<IncomingMessage, ClientError<T::Error>> {
        let txid = self.next_txid.get();
        self.next_txid
            .set(if txid >= 0x7fff_ffff { 1 } else { txid + 1 });
        message.set_txid(txid);
        self.send(message).await?;
        loop {
            if let Some(reply) = self.replies.borrow_mut().remove(&txid) {
                return Ok(reply);
            }
            let message = self
                .transport
                .receive()
                .await
                .map_err(ClientError::Transport)?;
            let header = message.header()?;
            if header.ordinal == EPITAPH_ORDINAL {
                return Err(ClientError::Closed {
                    status: message.epitaph_status()?,
                });
            }
            match header.txid {
                0 => self.events.borrow_mut().push_back(message),
                id if id == txid => return Ok(message),
                id => {
                    self.replies.borrow_mut().insert(id, message);
                }
            }
        }
    }

    pub async fn next_event(&self) -> Result<IncomingMessage, ClientError<T::Error>> {
        if let Some(event) = self.events.borrow_mut().pop_front() {
            return Ok(event);
        }
        loop {
            let message = self
                .transport
                .receive()
                .await
                .map_err(ClientError::Transport)?;
            let header = message.header()?;
            if header.ordinal == EPITAPH_ORDINAL {
                return Err(ClientError::Closed {
                    status: message.epitaph_status()?,
                });
            }
            if header.txid == 0 {
                return Ok(message);
            }
            self.replies.borrow_mut().insert(header.txid, message);
        }
    }
}
