//! The [`Wire`] trait and its implementations for primitives and arrays.

use alloc::vec::Vec;

use crate::{DecodeError, Decoder, EncodeError, Encoder};

/// A type with a fixed inline size on the wire. Implemented by primitives,
/// arrays, and every generated struct, table, union, enum and bits type.
///
/// `depth` is the number of out-of-line objects followed to reach the
/// value; helpers in [`crate::codec`] check it against [`crate::MAX_DEPTH`].
pub trait Wire: Sized {
    const INLINE_SIZE: usize;
    const ALIGN: usize;

    /// Writes the value at `offset` (reserved and zeroed by the caller),
    /// appending out-of-line parts. Handles are moved out of `self`.
    fn encode(
        &mut self,
        encoder: &mut Encoder<'_>,
        offset: usize,
        depth: usize,
    ) -> Result<(), EncodeError>;

    /// Reads and validates a value at `offset`.
    fn decode(decoder: &mut Decoder<'_>, offset: usize, depth: usize) -> Result<Self, DecodeError>;
}

/// Types whose in-memory layout is their wire layout (no padding, no
/// pointers, every bit pattern valid), so they are copied in one piece.
pub trait Plain:
    Wire + zerocopy::FromBytes + zerocopy::IntoBytes + zerocopy::Immutable + Copy
{
}

macro_rules! primitive {
    ($($t:ty),*) => {$(
        impl Wire for $t {
            const INLINE_SIZE: usize = core::mem::size_of::<$t>();
            const ALIGN: usize = core::mem::size_of::<$t>();

            #[inline]
            fn encode(&mut self, encoder: &mut Encoder<'_>, offset: usize, _: usize) -> Result<(), EncodeError> {
                encoder.write(offset, &self.to_le_bytes());
                Ok(())
            }

            #[inline]
            fn decode(decoder: &mut Decoder<'_>, offset: usize, _: usize) -> Result<Self, DecodeError> {
                const SIZE: usize = core::mem::size_of::<$t>();
                let mut bytes = [0u8; SIZE];
                bytes.copy_from_slice(decoder.bytes(offset, SIZE)?);
                Ok(<$t>::from_le_bytes(bytes))
            }
        }

        impl Plain for $t {}
    )*};
}

primitive!(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);

impl Wire for bool {
    const INLINE_SIZE: usize = 1;
    const ALIGN: usize = 1;

    fn encode(
        &mut self,
        encoder: &mut Encoder<'_>,
        offset: usize,
        _: usize,
    ) -> Result<(), EncodeError> {
        encoder.write_u8(offset, u8::from(*self));
        Ok(())
    }

    #[inline]
    fn decode(decoder: &mut Decoder<'_>, offset: usize, _: usize) -> Result<Self, DecodeError> {
        match decoder.read_u8(offset)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::InvalidBool { offset }),
        }
    }
}

impl<T: Wire, const N: usize> Wire for [T; N] {
    const INLINE_SIZE: usize = T::INLINE_SIZE * N;
    const ALIGN: usize = T::ALIGN;

    fn encode(
        &mut self,
        encoder: &mut Encoder<'_>,
        offset: usize,
        depth: usize,
    ) -> Result<(), EncodeError> {
        for (i, item) in self.iter_mut().enumerate() {
            item.encode(encoder, offset + i * T::INLINE_SIZE, depth)?;
        }
        Ok(())
    }

    #[inline]
    fn decode(decoder: &mut Decoder<'_>, offset: usize, depth: usize) -> Result<Self, DecodeError> {
        let mut items = Vec::with_capacity(N);
        for i in 0..N {
            items.push(T::decode(decoder, offset + i * T::INLINE_SIZE, depth)?);
        }
        items.try_into().map_err(|_| DecodeError::OutOfBounds {
            offset,
            len: Self::INLINE_SIZE,
        })
    }
}

impl<T: Plain, const N: usize> Plain for [T; N] {}
