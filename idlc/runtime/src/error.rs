//! Typed errors. Decoding never panics: every malformed input maps to one
//! of these.

use core::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// An object extends past the end of the message.
    OutOfBounds { offset: usize, len: usize },
    /// A padding byte is not zero.
    NonZeroPadding { offset: usize },
    /// Bytes are left after the last out-of-line object.
    ExtraBytes { count: usize },
    /// Handles are left after decoding.
    ExtraHandles { count: usize },
    /// The message refers to more handles than it carries.
    MissingHandle,
    /// A presence marker is neither all zeros nor all ones.
    InvalidPresence { offset: usize },
    /// A required value is absent.
    UnexpectedAbsent { offset: usize },
    /// A handle's presence marker is neither 0 nor `u32::MAX`.
    InvalidHandleMarker { offset: usize },
    /// A handle is of another object type than declared.
    WrongHandleType { expected: u32, actual: u32 },
    /// A handle lacks rights the type requires.
    MissingRights { required: u32, actual: u32 },
    /// The handle type could not reduce a handle's rights.
    RightsReductionFailed { rights: u32 },
    /// An in-place view needs bytes aligned for the type.
    Misaligned,
    /// A string is not UTF-8.
    InvalidUtf8 { offset: usize },
    /// A vector or string is longer than its bound.
    TooLong { len: u64, max: u32 },
    /// Out-of-line objects nest deeper than [`crate::MAX_DEPTH`].
    MaxDepthExceeded,
    /// A `bool` is neither 0 nor 1.
    InvalidBool { offset: usize },
    /// A strict enum has a value that is not a member.
    UnknownEnumValue { value: i128 },
    /// Strict bits have bits set that are not members.
    UnknownBits { value: u64 },
    /// A strict union has an ordinal that is not a member.
    UnknownUnionOrdinal { ordinal: u64 },
    /// An envelope header is malformed (flags, sizes, or inlining rule).
    InvalidEnvelope { offset: usize },
    /// An envelope's byte or handle count does not match its content.
    EnvelopeSizeMismatch { offset: usize },
    /// A table or union member arrived in the wrong form.
    InvalidTable { offset: usize },
    /// The transaction header is malformed or has an unknown magic number.
    InvalidHeader,
    /// The wire format version flag is missing.
    UnsupportedWireFormat,
    /// A message with an ordinal the receiver does not know.
    UnknownOrdinal { ordinal: u64 },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::OutOfBounds { offset, len } => {
                write!(
                    f,
                    "object of {len} bytes at {offset} extends past the message"
                )
            }
            DecodeError::NonZeroPadding { offset } => write!(f, "non-zero padding at {offset}"),
            DecodeError::ExtraBytes { count } => write!(f, "{count} unused bytes at the end"),
            DecodeError::ExtraHandles { count } => write!(f, "{count} unused handles"),
            DecodeError::MissingHandle => f.write_str("message refers to a missing handle"),
            DecodeError::InvalidPresence { offset } => {
                write!(f, "invalid presence marker at {offset}")
            }
            DecodeError::UnexpectedAbsent { offset } => {
                write!(f, "required value absent at {offset}")
            }
            DecodeError::InvalidHandleMarker { offset } => {
                write!(f, "invalid handle marker at {offset}")
            }
            DecodeError::WrongHandleType { expected, actual } => {
                write!(f, "handle of object type {actual}, expected {expected}")
            }
            DecodeError::MissingRights { required, actual } => {
                write!(f, "handle rights {actual:#x} lack required {required:#x}")
            }
            DecodeError::RightsReductionFailed { rights } => {
                write!(f, "cannot reduce handle rights to {rights:#x}")
            }
            DecodeError::Misaligned => f.write_str("bytes are not aligned for an in-place view"),
            DecodeError::InvalidUtf8 { offset } => write!(f, "invalid UTF-8 at {offset}"),
            DecodeError::TooLong { len, max } => write!(f, "length {len} exceeds bound {max}"),
            DecodeError::MaxDepthExceeded => f.write_str("out-of-line nesting exceeds 32"),
            DecodeError::InvalidBool { offset } => write!(f, "invalid bool at {offset}"),
            DecodeError::UnknownEnumValue { value } => {
                write!(f, "unknown strict enum value {value}")
            }
            DecodeError::UnknownBits { value } => write!(f, "unknown strict bits {value:#x}"),
            DecodeError::UnknownUnionOrdinal { ordinal } => {
                write!(f, "unknown strict union ordinal {ordinal}")
            }
            DecodeError::InvalidEnvelope { offset } => write!(f, "invalid envelope at {offset}"),
            DecodeError::EnvelopeSizeMismatch { offset } => {
                write!(f, "envelope at {offset} does not match its content")
            }
            DecodeError::InvalidTable { offset } => write!(f, "invalid table at {offset}"),
            DecodeError::InvalidHeader => f.write_str("invalid transaction header"),
            DecodeError::UnsupportedWireFormat => f.write_str("not wire format v2"),
            DecodeError::UnknownOrdinal { ordinal } => write!(f, "unknown ordinal {ordinal:#x}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// A vector or string is longer than its bound.
    TooLong { len: usize, max: u32 },
    /// A required handle is invalid.
    InvalidHandle,
    /// Out-of-line objects nest deeper than [`crate::MAX_DEPTH`].
    MaxDepthExceeded,
    /// A union value has no known variant to encode (an unknown variant
    /// that carries handles cannot be re-encoded).
    UnknownUnionVariant,
    /// A strict enum or bits value is not valid.
    InvalidValue,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooLong { len, max } => write!(f, "length {len} exceeds bound {max}"),
            EncodeError::InvalidHandle => f.write_str("a required handle is invalid"),
            EncodeError::MaxDepthExceeded => f.write_str("out-of-line nesting exceeds 32"),
            EncodeError::UnknownUnionVariant => {
                f.write_str("cannot encode an unknown union variant")
            }
            EncodeError::InvalidValue => f.write_str("invalid strict enum or bits value"),
        }
    }
}
