//! The 16-byte transactional message header.
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | transaction id (0 for one-way messages and events) |
//! | 4..6 | at-rest flags (`0x02` in byte 4 = wire format v2) |
//! | 6 | dynamic flags (`0x80` = flexible method) |
//! | 7 | magic number, `1` |
//! | 8..16 | method ordinal |

use crate::DecodeError;

pub const HEADER_SIZE: usize = 16;
pub const MAGIC: u8 = 1;
pub const AT_REST_FLAG_V2: u8 = 0x02;
pub const DYNAMIC_FLAG_FLEXIBLE: u8 = 0x80;
/// The ordinal of an epitaph, the last message a server sends before
/// closing, whose body is a `struct { error int32; }`.
pub const EPITAPH_ORDINAL: u64 = u64::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransactionHeader {
    pub txid: u32,
    pub at_rest_flags: [u8; 2],
    pub dynamic_flags: u8,
    pub magic: u8,
    pub ordinal: u64,
}

impl TransactionHeader {
    #[inline]
    pub fn new(txid: u32, ordinal: u64, flexible: bool) -> TransactionHeader {
        TransactionHeader {
            txid,
            at_rest_flags: [AT_REST_FLAG_V2, 0],
            dynamic_flags: if flexible { DYNAMIC_FLAG_FLEXIBLE } else { 0 },
            magic: MAGIC,
            ordinal,
        }
    }

    #[inline]
    pub fn is_flexible(&self) -> bool {
        self.dynamic_flags & DYNAMIC_FLAG_FLEXIBLE != 0
    }

    #[inline]
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0u8; HEADER_SIZE];
        out[0..4].copy_from_slice(&self.txid.to_le_bytes());
        out[4..6].copy_from_slice(&self.at_rest_flags);
        out[6] = self.dynamic_flags;
        out[7] = self.magic;
        out[8..16].copy_from_slice(&self.ordinal.to_le_bytes());
        out
    }

    /// Splits a message into its validated header and its body.
    #[inline]
    pub fn parse(message: &[u8]) -> Result<(TransactionHeader, &[u8]), DecodeError> {
        let (head, body) = message
            .split_at_checked(HEADER_SIZE)
            .ok_or(DecodeError::InvalidHeader)?;
        let mut txid = [0u8; 4];
        txid.copy_from_slice(&head[0..4]);
        let mut ordinal = [0u8; 8];
        ordinal.copy_from_slice(&head[8..16]);
        let header = TransactionHeader {
            txid: u32::from_le_bytes(txid),
            at_rest_flags: [head[4], head[5]],
            dynamic_flags: head[6],
            magic: head[7],
            ordinal: u64::from_le_bytes(ordinal),
        };
        if header.magic != MAGIC {
            return Err(DecodeError::InvalidHeader);
        }
        if header.at_rest_flags[0] & AT_REST_FLAG_V2 == 0 {
            return Err(DecodeError::UnsupportedWireFormat);
        }
        Ok((header, body))
    }
}
