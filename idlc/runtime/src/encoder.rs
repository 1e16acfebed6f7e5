//! Writing a message: the caller reserves inline space with [`Encoder::alloc`]
//! and fills it; out-of-line objects are appended in depth-first order.

use alloc::vec::Vec;

use crate::handle::HandleDisposition;

pub struct Encoder<'a> {
    bytes: &'a mut Vec<u8>,
    handles: &'a mut Vec<HandleDisposition>,
    base: usize,
}

impl<'a> Encoder<'a> {
    /// An encoder that appends to `bytes` (which may already hold a header;
    /// offsets are relative to where the body starts).
    #[inline]
    pub fn new(bytes: &'a mut Vec<u8>, handles: &'a mut Vec<HandleDisposition>) -> Encoder<'a> {
        let base = bytes.len();
        Encoder {
            bytes,
            handles,
            base,
        }
    }

    /// Reserves `len` zeroed bytes, padded to 8, and returns their offset.
    #[inline]
    pub fn alloc(&mut self, len: usize) -> usize {
        let offset = self.bytes.len() - self.base;
        let padded = len.div_ceil(8) * 8;
        self.bytes.resize(self.bytes.len() + padded, 0);
        offset
    }

    /// Appends an out-of-line object made of `data` (padded to 8 with
    /// zeros) and returns its offset: like [`Encoder::alloc`] then
    /// [`Encoder::write`], without zeroing the bytes first.
    #[inline]
    pub fn append(&mut self, data: &[u8]) -> usize {
        let offset = self.bytes.len() - self.base;
        self.bytes.extend_from_slice(data);
        let padding = (8 - data.len() % 8) % 8;
        self.bytes.extend_from_slice(&[0u8; 8][..padding]);
        offset
    }

    /// Bytes written so far (relative to the body).
    #[inline]
    pub fn len(&self) -> usize {
        self.bytes.len() - self.base
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn handle_count(&self) -> usize {
        self.handles.len()
    }

    #[inline]
    pub fn push_handle(&mut self, handle: HandleDisposition) {
        self.handles.push(handle);
    }

    /// Writes raw bytes at an offset inside reserved space.
    #[inline]
    pub fn write(&mut self, offset: usize, data: &[u8]) {
        let start = self.base + offset;
        if let Some(slot) = self.bytes.get_mut(start..start + data.len()) {
            slot.copy_from_slice(data);
        } else {
            debug_assert!(false, "write outside reserved space");
        }
    }

    #[inline]
    pub fn write_u8(&mut self, offset: usize, value: u8) {
        self.write(offset, &[value]);
    }
    #[inline]
    pub fn write_u16(&mut self, offset: usize, value: u16) {
        self.write(offset, &value.to_le_bytes());
    }
    #[inline]
    pub fn write_u32(&mut self, offset: usize, value: u32) {
        self.write(offset, &value.to_le_bytes());
    }
    #[inline]
    pub fn write_u64(&mut self, offset: usize, value: u64) {
        self.write(offset, &value.to_le_bytes());
    }
}
