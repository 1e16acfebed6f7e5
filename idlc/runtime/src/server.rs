//! Helpers for generated `dispatch_*` functions.

use crate::header::TransactionHeader;
use crate::transport::OutgoingMessage;
use crate::{DecodeError, EncodeError};

#[derive(Debug, PartialEq, Eq)]
pub enum DispatchError {
    Decode(DecodeError),
    Encode(EncodeError),
    /// A strict unknown method, or one the protocol's openness does not
    /// allow: the server should close the channel.
    UnknownMethod {
        ordinal: u64,
    },
}

impl From<DecodeError> for DispatchError {
    fn from(e: DecodeError) -> Self {
        DispatchError::Decode(e)
    }
}

impl From<EncodeError> for DispatchError {
    fn from(e: EncodeError) -> Self {
        DispatchError::Encode(e)
    }
}

/// The reply to an unknown flexible two-way method: a result union with
/// ordinal 3 (`framework_err`) holding `UNKNOWN_METHOD` inline.
pub fn unknown_method_reply(request: &TransactionHeader) -> OutgoingMessage {
    let mut message =
        OutgoingMessage::empty(TransactionHeader::new(request.txid, request.ordinal, true));
    message.bytes.extend_from_slice(&3u64.to_le_bytes());
    message
        .bytes
        .extend_from_slice(&crate::client::FRAMEWORK_ERR_UNKNOWN_METHOD.to_le_bytes());
    message.bytes.extend_from_slice(&0u16.to_le_bytes());
    message.bytes.extend_from_slice(&1u16.to_le_bytes());
    message
}
