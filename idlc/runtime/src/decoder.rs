//! Reading a message. Every read is bounds-checked; out-of-line objects
//! must follow each other exactly, with zero padding between them.

use crate::handle::HandleInfo;
use crate::DecodeError;

pub struct Decoder<'a> {
    bytes: &'a [u8],
    /// Start of the next out-of-line object.
    next: usize,
    handles: &'a mut [HandleInfo],
    next_handle: usize,
}

impl<'a> Decoder<'a> {
    #[inline]
    pub fn new(bytes: &'a [u8], handles: &'a mut [HandleInfo]) -> Decoder<'a> {
        Decoder {
            bytes,
            next: 0,
            handles,
            next_handle: 0,
        }
    }

    /// Claims the next `len` bytes (padded to 8) as an out-of-line object
    /// and checks its padding. Returns its offset.
    #[inline]
    pub fn claim(&mut self, len: usize) -> Result<usize, DecodeError> {
        let offset = self.next;
        let padded = len
            .checked_add(7)
            .map(|l| l / 8 * 8)
            .ok_or(DecodeError::OutOfBounds { offset, len })?;
        let end = offset
            .checked_add(padded)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(DecodeError::OutOfBounds { offset, len })?;
        self.check_zero(offset + len, padded - len)?;
        self.next = end;
        Ok(offset)
    }

    /// Where the next out-of-line object will start.
    #[inline]
    pub fn position(&self) -> usize {
        self.next
    }

    /// Skips `len` bytes of out-of-line data (unknown envelope contents),
    /// returning them.
    #[inline]
    pub fn skip(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let offset = self.next;
        let data = self
            .bytes
            .get(offset..offset.saturating_add(len))
            .filter(|_| len.is_multiple_of(8))
            .ok_or(DecodeError::OutOfBounds { offset, len })?;
        self.next += len;
        Ok(data)
    }

    #[inline]
    pub fn handles_taken(&self) -> usize {
        self.next_handle
    }

    /// Takes the next handle of the message.
    #[inline]
    pub fn take_handle(&mut self) -> Result<HandleInfo, DecodeError> {
        let slot = self
            .handles
            .get_mut(self.next_handle)
            .ok_or(DecodeError::MissingHandle)?;
        self.next_handle += 1;
        Ok(HandleInfo {
            handle: slot.handle.take(),
            object_type: slot.object_type,
            rights: slot.rights,
        })
    }

    #[inline]
    pub fn bytes(&self, offset: usize, len: usize) -> Result<&'a [u8], DecodeError> {
        self.bytes
            .get(offset..offset.saturating_add(len))
            .filter(|s| s.len() == len)
            .ok_or(DecodeError::OutOfBounds { offset, len })
    }

    #[inline]
    fn array<const N: usize>(&self, offset: usize) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(offset, N)?);
        Ok(out)
    }

    #[inline]
    pub fn read_u8(&self, offset: usize) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(offset)?[0])
    }
    #[inline]
    pub fn read_u16(&self, offset: usize) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(offset)?))
    }
    #[inline]
    pub fn read_u32(&self, offset: usize) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(offset)?))
    }
    #[inline]
    pub fn read_u64(&self, offset: usize) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(offset)?))
    }

    /// Checks that `len` bytes at `offset` are zero (padding).
    #[inline]
    pub fn check_zero(&self, offset: usize, len: usize) -> Result<(), DecodeError> {
        let bytes = self.bytes(offset, len)?;
        match bytes.iter().position(|b| *b != 0) {
            None => Ok(()),
            Some(i) => Err(DecodeError::NonZeroPadding { offset: offset + i }),
        }
    }

    /// Checks that the whole message and all handles were used.
    #[inline]
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.next != self.bytes.len() {
            return Err(DecodeError::ExtraBytes {
                count: self.bytes.len().saturating_sub(self.next),
            });
        }
        if self.next_handle != self.handles.len() {
            return Err(DecodeError::ExtraHandles {
                count: self.handles.len() - self.next_handle,
            });
        }
        Ok(())
    }
}
