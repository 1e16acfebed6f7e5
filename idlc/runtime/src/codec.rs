//! Encoding and decoding of the parts of the wire format whose shape
//! depends on bounds or optionality: strings, vectors, boxes, handles,
//! envelopes, tables and unions. Generated code calls these with the
//! bounds from the IR.

use alloc::string::String;
use alloc::vec::Vec;

use crate::handle::{Handle, HandleDisposition, HandleInfo, OwnedHandle, NO_RIGHTS_CHECK};
use crate::wire::{Plain, Wire};
use crate::{DecodeError, Decoder, EncodeError, Encoder, MAX_DEPTH};

/// Marks a present out-of-line object.
pub const PRESENT: u64 = u64::MAX;
/// Marks a present handle.
pub const HANDLE_PRESENT: u32 = u32::MAX;

#[inline]
fn deeper(depth: usize) -> Result<usize, EncodeError> {
    if depth + 1 > MAX_DEPTH {
        Err(EncodeError::MaxDepthExceeded)
    } else {
        Ok(depth + 1)
    }
}

#[inline]
fn deeper_decode(depth: usize) -> Result<usize, DecodeError> {
    if depth + 1 > MAX_DEPTH {
        Err(DecodeError::MaxDepthExceeded)
    } else {
        Ok(depth + 1)
    }
}

// ---- vectors and strings -------------------------------------------------

/// Writes a present vector header and reserves its body; returns the body
/// offset and the depth of the elements.
#[inline]
pub fn encode_vector_header(
    encoder: &mut Encoder<'_>,
    offset: usize,
    depth: usize,
    len: usize,
    element_size: usize,
    max: Option<u32>,
) -> Result<(usize, usize), EncodeError> {
    let depth = write_vector_header(encoder, offset, depth, len, max)?;
    let body = encoder.alloc(len * element_size);
    Ok((body, depth))
}

/// Checks the bound and depth and writes a present vector header.
#[inline]
fn write_vector_header(
    encoder: &mut Encoder<'_>,
    offset: usize,
    depth: usize,
    len: usize,
    max: Option<u32>,
) -> Result<usize, EncodeError> {
    if let Some(max) = max {
        if len > max as usize {
            return Err(EncodeError::TooLong { len, max });
        }
    }
    let depth = deeper(depth)?;
    encoder.write_u64(offset, len as u64);
    encoder.write_u64(offset + 8, PRESENT);
    Ok(depth)
}

/// Reads a vector header; `None` if absent. Claims the body, returning its
/// length, offset and the elements' depth.
#[inline]
pub fn decode_vector_header(
    decoder: &mut Decoder<'_>,
    offset: usize,
    depth: usize,
    element_size: usize,
    max: Option<u32>,
) -> Result<Option<(usize, usize, usize)>, DecodeError> {
    let len = decoder.read_u64(offset)?;
    let presence = decoder.read_u64(offset + 8)?;
    match presence {
        0 if len == 0 => return Ok(None),
        0 => return Err(DecodeError::InvalidPresence { offset }),
        PRESENT => {}
        _ => return Err(DecodeError::InvalidPresence { offset: offset + 8 }),
    }
    if let Some(max) = max {
        if len > u64::from(max) {
            return Err(DecodeError::TooLong { len, max });
        }
    }
    let depth = deeper_decode(depth)?;
    let bytes = usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_mul(element_size))
        .ok_or(DecodeError::OutOfBounds {
            offset,
            len: usize::MAX,
        })?;
    let body = decoder.claim(bytes)?;
    Ok(Some((len as usize, body, depth)))
}

/// Requires a vector or string to be present.
#[inline]
pub fn required<T>(value: Option<T>, offset: usize) -> Result<T, DecodeError> {
    value.ok_or(DecodeError::UnexpectedAbsent { offset })
}

#[inline]
pub fn encode_string(
    encoder: &mut Encoder<'_>,
    offset: usize,
    depth: usize,
    value: &str,
    max: Option<u32>,
) -> Result<(), EncodeError> {
    write_vector_header(encoder, offset, depth, value.len(), max)?;
    encoder.append(value.as_bytes());
    Ok(())
}

#[inline]
pub fn encode_optional_string(
    encoder: &mut Encoder<'_>,
    offset: usize,
    depth: usize,
    value: Option<&str>,
    max: Option<u32>,
) -> Result<(), EncodeError> {
    match value {
        Some(value) => encode_string(encoder, offset, depth, value, max),
        None => Ok(()), // an absent vector is all zeros
    }
}

#[inline]
pub fn decode_optional_string(
    decoder: &mut Decoder<'_>,
    offset: usize,
    depth: usize,
    max: Option<u32>,
) -> Result<Option<String>, DecodeError> {
    let Some((len, body, _)) = decode_vector_header(decoder, offset, depth, 1, max)? else {
        return Ok(None);
    };
    let bytes = decoder.bytes(body, len)?;
    match core::str::from_utf8(bytes) {
        Ok(s) => Ok(Some(String::from(s))),
        Err(e) => Err(DecodeError::InvalidUtf8 {
            offset: body + e.valid_up_to(),
        }),
    }
}

#[inline]
pub fn decode_string(
    decoder: &mut Decoder<'_>,
    offset: usize,
    depth: usize,
    max: Option<u32>,
) -> Result<String, DecodeError> {
    required(decode_optional_string(decoder, offset, depth, max)?, offset)
}

/// A vector of plain elements: one copy each way.
#[inline]
pub fn encode_plain_vector<T: Plain>(
    encoder: &mut Encoder<'_>,
    offset: usize,
    depth: usize,
    value: &[T],
    max: Option<u32>,
) -> Result<(), EncodeError> {
    write_vector_header(encoder, offset, depth, value.len(), max)?;
    encoder.append(zerocopy::IntoBytes::as_bytes(value));
    Ok(())
}

#[inline]
pub fn decode_optional_plain_vector<T: Plain>(
    decoder: &mut Decoder<'_>,
    offset: usize,
    depth: usize,
    max: Option<u32>,
) -> Result<Option<Vec<T>>, DecodeError> {
    let Some((len, body, _)) = decode_vector_header(decoder, offset, depth, T::INLINE_SIZE, max)?
    else {
        return Ok(None);
    };
    let bytes = decoder.bytes(body, len * T::INLINE_SIZE)?;
    // One copy: `T`'s memory layout is its wire layout.
    let mut out =
        T::new_vec_zeroed(len).map_err(|_| DecodeError::OutOfBounds { offset: body, len })?;
    zerocopy::IntoBytes::as_mut_bytes(out.as_mut_slice()).copy_from_slice(bytes);
    Ok(Some(out))
}

#[inline]
pub fn decode_plain_vector<T: Plain>(
    decoder: &mut Decoder<'_>,
    offset: usize,
    depth: usize,
    max: Option<u32>,
) -> Result<Vec<T>, DecodeError> {
    required(
        decode_optional_plain_vector(decoder, offset, depth, max)?,
        offset,
    )
}

// ---- boxes -----------------------------------------------------------------

/// `box<T>`: an 8-byte presence marker, the struct out of line.
#[inline]
pub fn encode_box<T: Wire>(
    encoder: &mut Encoder<'_>,
    offset: usize,
    depth: usize,
    value: Option<&mut T>,
) -> Result<(), EncodeError> {
    if let Some(value) = value {
        let depth = deeper(depth)?;
        encoder.write_u64(offset, PRESENT);
        let body = encoder.alloc(T::INLINE_SIZE);
        value.encode(encoder, body, depth)?;
    }
    Ok(())
}

#[inline]
pub fn decode_box<T: Wire>(
    decoder: &mut Decoder<'_>,
    offset: usize,
    depth: usize,
) -> Result<Option<T>, DecodeError> {
    match decoder.read_u64(offset)? {
        0 => Ok(None),
        PRESENT => {
            let depth = deeper_decode(depth)?;
            let body = decoder.claim(T::INLINE_SIZE)?;
            Ok(Some(T::decode(decoder, body, depth)?))
        }
        _ => Err(DecodeError::InvalidPresence { offset }),
    }
}

// ---- handles ---------------------------------------------------------------

/// Moves a required handle out of the value into the message.
#[inline]
pub fn encode_handle<H: OwnedHandle>(
    encoder: &mut Encoder<'_>,
    offset: usize,
    handle: &mut H,
    object_type: u32,
    rights: u32,
) -> Result<(), EncodeError> {
    let raw = core::mem::take(handle).into_raw();
    if raw == 0 {
        return Err(EncodeError::InvalidHandle);
    }
    encoder.write_u32(offset, HANDLE_PRESENT);
    encoder.push_handle(HandleDisposition {
        handle: Handle::from_raw(raw),
        object_type,
        rights,
    });
    Ok(())
}

#[inline]
pub fn encode_optional_handle<H: OwnedHandle>(
    encoder: &mut Encoder<'_>,
    offset: usize,
    handle: Option<&mut H>,
    object_type: u32,
    rights: u32,
) -> Result<(), EncodeError> {
    match handle {
        Some(h) if h.raw() != 0 => encode_handle(encoder, offset, h, object_type, rights),
        _ => Ok(()),
    }
}

/// Takes the next handle of the message if the marker says one is
/// present, checking its object type and rights.
#[inline]
pub fn decode_optional_handle<H: OwnedHandle>(
    decoder: &mut Decoder<'_>,
    offset: usize,
    object_type: u32,
    rights: u32,
) -> Result<Option<H>, DecodeError> {
    match decoder.read_u32(offset)? {
        0 => Ok(None),
        HANDLE_PRESENT => {
            let info = decoder.take_handle()?;
            if object_type != 0 && info.object_type != 0 && info.object_type != object_type {
                return Err(DecodeError::WrongHandleType {
                    expected: object_type,
                    actual: info.object_type,
                });
            }
            if rights != NO_RIGHTS_CHECK && info.rights & rights != rights {
                return Err(DecodeError::MissingRights {
                    required: rights,
                    actual: info.rights,
                });
            }
            let handle = H::from_raw(info.handle.into_raw());
            if rights != NO_RIGHTS_CHECK && info.rights != rights {
                return Ok(Some(handle.reduce_rights(rights)?));
            }
            Ok(Some(handle))
        }
        _ => Err(DecodeError::InvalidHandleMarker { offset }),
    }
}

#[inline]
pub fn decode_handle<H: OwnedHandle>(
    decoder: &mut Decoder<'_>,
    offset: usize,
    object_type: u32,
    rights: u32,
) -> Result<H, DecodeError> {
    required(
        decode_optional_handle(decoder, offset, object_type, rights)?,
        offset,
    )
}

// ---- envelopes -------------------------------------------------------------

/// Unknown envelope content (of a flexible union or a table), kept so a
/// value can be re-encoded unchanged: out-of-line data in the v2 format is
/// position-independent.
#[derive(Debug, PartialEq, Eq, Default)]
pub struct UnknownData {
    /// The 4 inline bytes, or the out-of-line bytes.
    pub bytes: Vec<u8>,
    pub inline: bool,
    pub handles: Vec<Handle>,
}

impl Clone for UnknownData {
    /// Clones the bytes only: handles cannot be duplicated here.
    #[inline]
    fn clone(&self) -> Self {
        UnknownData {
            bytes: self.bytes.clone(),
            inline: self.inline,
            handles: Vec::new(),
        }
    }
}

const ENVELOPE_INLINE: u16 = 1;

/// Encodes a present envelope whose content has `inline_size` bytes inline;
/// `content` writes the value at the offset it is given.
#[inline]
pub fn encode_envelope(
    encoder: &mut Encoder<'_>,
    offset: usize,
    depth: usize,
    inline_size: usize,
    content: impl FnOnce(&mut Encoder<'_>, usize, usize) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let handles_before = encoder.handle_count();
    if inline_size <= 4 {
        content(encoder, offset, depth)?;
        let handles = (encoder.handle_count() - handles_before) as u16;
        encoder.write_u16(offset + 4, handles);
        encoder.write_u16(offset + 6, ENVELOPE_INLINE);
    } else {
        let depth = deeper(depth)?;
        let start = encoder.len();
        let body = encoder.alloc(inline_size);
        content(encoder, body, depth)?;
        let bytes = (encoder.len() - start) as u32;
        let handles = (encoder.handle_count() - handles_before) as u16;
        encoder.write_u32(offset, bytes);
        encoder.write_u16(offset + 4, handles);
        encoder.write_u16(offset + 6, 0);
    }
    Ok(())
}

/// Re-encodes unknown envelope content.
#[inline]
pub fn encode_unknown_envelope(
    encoder: &mut Encoder<'_>,
    offset: usize,
    data: &mut UnknownData,
) -> Result<(), EncodeError> {
    let handles = data.handles.len() as u16;
    for handle in data.handles.iter_mut() {
        encoder.push_handle(HandleDisposition {
            handle: handle.take(),
            object_type: 0,
            rights: NO_RIGHTS_CHECK,
        });
    }
    if data.inline {
        let mut value = [0u8; 4];
        let n = data.bytes.len().min(4);
        value[..n].copy_from_slice(&data.bytes[..n]);
        encoder.write(offset, &value);
        encoder.write_u16(offset + 4, handles);
        encoder.write_u16(offset + 6, ENVELOPE_INLINE);
    } else {
        let body = encoder.alloc(data.bytes.len());
        encoder.write(body, &data.bytes);
        encoder.write_u32(offset, data.bytes.len() as u32);
        encoder.write_u16(offset + 4, handles);
        encoder.write_u16(offset + 6, 0);
    }
    Ok(())
}

enum EnvelopeHeader {
    Absent,
    Inline { handles: usize },
    OutOfLine { bytes: usize, handles: usize },
}

#[inline]
fn envelope_header(decoder: &Decoder<'_>, offset: usize) -> Result<EnvelopeHeader, DecodeError> {
    let bytes = decoder.read_u32(offset)? as usize;
    let handles = decoder.read_u16(offset + 4)? as usize;
    let flags = decoder.read_u16(offset + 6)?;
    match flags {
        0 if bytes == 0 && handles == 0 => Ok(EnvelopeHeader::Absent),
        0 if bytes.is_multiple_of(8) && bytes > 0 => {
            Ok(EnvelopeHeader::OutOfLine { bytes, handles })
        }
        ENVELOPE_INLINE => Ok(EnvelopeHeader::Inline { handles }),
        _ => Err(DecodeError::InvalidEnvelope { offset }),
    }
}

/// Decodes an envelope of a known member; `None` if absent.
#[inline]
pub fn decode_envelope<T>(
    decoder: &mut Decoder<'_>,
    offset: usize,
    depth: usize,
    inline_size: usize,
    content: impl FnOnce(&mut Decoder<'_>, usize, usize) -> Result<T, DecodeError>,
) -> Result<Option<T>, DecodeError> {
    let handles_before = decoder.handles_taken();
    match envelope_header(decoder, offset)? {
        EnvelopeHeader::Absent => Ok(None),
        EnvelopeHeader::Inline { handles } => {
            if inline_size > 4 {
                return Err(DecodeError::InvalidEnvelope { offset });
            }
            decoder.check_zero(offset + inline_size, 4 - inline_size)?;
            let value = content(decoder, offset, depth)?;
            if decoder.handles_taken() - handles_before != handles {
                return Err(DecodeError::EnvelopeSizeMismatch { offset });
            }
            Ok(Some(value))
        }
        EnvelopeHeader::OutOfLine { bytes, handles } => {
            if inline_size <= 4 {
                return Err(DecodeError::InvalidEnvelope { offset });
            }
            let depth = deeper_decode(depth)?;
            let start = decoder.position();
            let body = decoder.claim(inline_size)?;
            let value = content(decoder, body, depth)?;
            if decoder.position() - start != bytes
                || decoder.handles_taken() - handles_before != handles
            {
                return Err(DecodeError::EnvelopeSizeMismatch { offset });
            }
            Ok(Some(value))
        }
    }
}

/// Decodes (skips and keeps) an envelope of an unknown member.
#[inline]
pub fn decode_unknown_envelope(
    decoder: &mut Decoder<'_>,
    offset: usize,
    depth: usize,
) -> Result<Option<UnknownData>, DecodeError> {
    let (bytes, inline, handles) = match envelope_header(decoder, offset)? {
        EnvelopeHeader::Absent => return Ok(None),
        EnvelopeHeader::Inline { handles } => (decoder.bytes(offset, 4)?.to_vec(), true, handles),
        EnvelopeHeader::OutOfLine { bytes, handles } => {
            deeper_decode(depth)?;
            (decoder.skip(bytes)?.to_vec(), false, handles)
        }
    };
    let mut taken = Vec::with_capacity(handles.min(64));
    for _ in 0..handles {
        taken.push(decoder.take_handle()?.handle);
    }
    Ok(Some(UnknownData {
        bytes,
        inline,
        handles: taken,
    }))
}

// ---- tables ----------------------------------------------------------------

/// Writes a table header for members up to `max_ordinal` and reserves the
/// envelopes; returns the offset of envelope 1 and the members' depth.
#[inline]
pub fn encode_table_header(
    encoder: &mut Encoder<'_>,
    offset: usize,
    depth: usize,
    max_ordinal: usize,
) -> Result<(usize, usize), EncodeError> {
    encode_vector_header(encoder, offset, depth, max_ordinal, 8, None)
}

/// Reads a table header; returns the number of envelopes, the offset of
/// envelope 1 and the members' depth. The last envelope must be present
/// (FIDL's canonical form: encoders write envelopes up to the last present
/// member only), so a table has one encoding.
#[inline]
pub fn decode_table_header(
    decoder: &mut Decoder<'_>,
    offset: usize,
    depth: usize,
) -> Result<(usize, usize, usize), DecodeError> {
    match decode_vector_header(decoder, offset, depth, 8, None)? {
        Some((count, body, depth)) => {
            if count > 0 && decoder.read_u64(body + (count - 1) * 8)? == 0 {
                return Err(DecodeError::InvalidTable { offset });
            }
            Ok((count, body, depth))
        }
        None => Err(DecodeError::InvalidTable { offset }),
    }
}

// ---- unions ----------------------------------------------------------------

/// Reads a union's ordinal; `None` for an absent (optional) union, whose
/// envelope must then be empty.
#[inline]
pub fn decode_union_ordinal(
    decoder: &Decoder<'_>,
    offset: usize,
) -> Result<Option<u64>, DecodeError> {
    match decoder.read_u64(offset)? {
        0 => {
            decoder.check_zero(offset + 8, 8)?;
            Ok(None)
        }
        ordinal => Ok(Some(ordinal)),
    }
}

/// Encodes an optional union (`U:optional`): absent is 16 zero bytes.
#[inline]
pub fn encode_optional_union<T: Wire>(
    encoder: &mut Encoder<'_>,
    offset: usize,
    depth: usize,
    value: Option<&mut T>,
) -> Result<(), EncodeError> {
    match value {
        Some(value) => value.encode(encoder, offset, depth),
        None => Ok(()),
    }
}

/// Decodes an optional union; generated unions decode their own ordinal
/// and envelope once presence is known.
#[inline]
pub fn decode_optional_union<T: Wire>(
    decoder: &mut Decoder<'_>,
    offset: usize,
    depth: usize,
) -> Result<Option<T>, DecodeError> {
    match decode_union_ordinal(decoder, offset)? {
        None => Ok(None),
        Some(_) => Ok(Some(T::decode(decoder, offset, depth)?)),
    }
}

/// Decodes a handle-free `HandleInfo` list for tests: raw values `1..=n`.
#[inline]
pub fn test_handles(count: u32) -> Vec<HandleInfo> {
    (1..=count).map(HandleInfo::untyped).collect()
}
