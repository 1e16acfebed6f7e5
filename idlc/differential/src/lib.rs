//! The system's IDL libraries (`idl/*.idl`) through two decoders at once:
//! the Rust bindings components use and the C codec of the SDK bundle.
//!
//! [`rust`] and [`c`] decode a message as one of [`TYPES`] (every struct,
//! table and union of every system library) and encode it again;
//! [`differ`] runs both and says how they disagree, if they do. The
//! tests drive this with a mutation loop, with the corpus of a libFuzzer
//! run of the C decoder (`tests/differential.rs`), and serve it to the
//! Python decoder's hypothesis run (`src/main.rs`). Fuzz inputs carry a
//! three-byte selector before the message (`idlc::gidl::fuzz`).

use idlc_runtime::{decode, encode, DecodeError, EncodeError, Handle, HandleInfo, Wire};

/// The Rust bindings of every library of `idl/`.
#[allow(clippy::all, missing_docs)]
pub mod idl {
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

include!(concat!(env!("OUT_DIR"), "/types.rs"));

/// Where the C codec and the fuzz harness were written (for a libFuzzer
/// build: `idl.c`, the libraries' `.c` files and `fuzz_harness.c`).
pub const C_SOURCES: &str = env!("IDLC_DIFFERENTIAL_C");

/// Where the Python package of the same libraries was written
/// (`system_idl/`, and `types.txt`: `module class` per type, in index
/// order).
pub const PYTHON_PACKAGE: &str = env!("IDLC_DIFFERENTIAL_PYTHON");

/// The handles a message arrives with (as many as it says).
pub const HANDLES: [u32; 3] = [11, 12, 13];

/// What a decoder made of a message: the bytes and handle numbers it
/// encodes back to, or the conformance suite's name of its error
/// (`encode:` + the name when what decoded does not encode).
pub type Outcome = Result<(Vec<u8>, Vec<u32>), String>;

fn handle_infos(count: usize) -> Vec<HandleInfo> {
    HANDLES[..count.min(3)]
        .iter()
        .map(|&raw| HandleInfo {
            handle: Handle::from_raw(raw),
            object_type: 0,
            rights: u32::MAX,
        })
        .collect()
}

fn roundtrip_as<T: Wire>(bytes: &[u8], handles: &mut [HandleInfo]) -> Outcome {
    let mut value: T = decode(bytes, handles).map_err(|e| decode_kind(&e).to_string())?;
    let mut out = Vec::new();
    let mut sent = Vec::new();
    encode(&mut value, &mut out, &mut sent).map_err(|e| format!("encode:{}", encode_kind(&e)))?;
    Ok((out, sent.into_iter().map(|d| d.handle.into_raw()).collect()))
}

fn seed<T: Wire>(seeds: &mut Vec<(usize, Vec<u8>, usize)>, index: usize, mut value: T) {
    let mut out = Vec::new();
    let mut sent = Vec::new();
    if encode(&mut value, &mut out, &mut sent).is_ok() && sent.len() <= 3 {
        seeds.push((index, out, sent.len()));
    }
}

/// Decodes `bytes` (arriving with `handles` handles) as `TYPES[index]`
/// with the Rust bindings, and encodes the value again.
pub fn rust(index: usize, bytes: &[u8], handles: usize) -> Outcome {
    roundtrip(index, bytes, &mut handle_infos(handles))
}

mod ffi {
    extern "C" {
        pub fn idl_fuzz_type_count() -> usize;
        pub fn idl_fuzz_roundtrip(
            ty: usize,
            data: *const u8,
            size: usize,
            num_handles: usize,
            out: *mut u8,
            capacity: usize,
            out_size: *mut usize,
            out_handles: *mut u32,
            out_handle_count: *mut usize,
        ) -> i32;
        pub fn idl_status_name(status: i32) -> *const core::ffi::c_char;
    }
}

/// The same with the generated C codec.
pub fn c(index: usize, bytes: &[u8], handles: usize) -> Outcome {
    let mut out = vec![0u8; 1 << 17];
    let mut size = 0usize;
    let mut sent = [0u32; 64];
    let mut count = 0usize;
    // SAFETY: the harness reads `bytes` (its length given), writes at most
    // `out.len()` bytes into `out` and at most 64 numbers into `sent`, and
    // keeps no pointer after returning; indexes out of range are refused.
    let status = unsafe {
        ffi::idl_fuzz_roundtrip(
            index,
            bytes.as_ptr(),
            bytes.len(),
            handles.min(3),
            out.as_mut_ptr(),
            out.len(),
            &mut size,
            sent.as_mut_ptr(),
            &mut count,
        )
    };
    if status == 0 {
        out.truncate(size);
        return Ok((out, sent[..count].to_vec()));
    }
    let (prefix, code) = if status >= 1000 {
        ("encode:", status - 1000)
    } else {
        ("", status)
    };
    // SAFETY: `idl_status_name` returns a static NUL-terminated string for
    // every status.
    let name = unsafe { core::ffi::CStr::from_ptr(ffi::idl_status_name(code)) };
    Err(format!("{prefix}{}", name.to_string_lossy()))
}

/// How many types the C harness has (equal to `TYPES.len()`).
pub fn c_type_count() -> usize {
    // SAFETY: a pure function of the generated tables.
    unsafe { ffi::idl_fuzz_type_count() }
}

/// Splits a fuzz input into type index, handle count and message.
pub fn split_input(input: &[u8]) -> Option<(usize, usize, &[u8])> {
    if input.len() < 3 {
        return None;
    }
    let index = usize::from(u16::from_le_bytes([input[0], input[1]])) % TYPES.len();
    Some((index, usize::from(input[2] % 4), &input[3..]))
}

/// Both decoders on one input: `None` when they agree (same verdict, and
/// when they accept, the same bytes and handles out), otherwise what
/// differs.
pub fn differ(index: usize, bytes: &[u8], handles: usize) -> Option<String> {
    let rust = rust(index, bytes, handles);
    let c = c(index, bytes, handles);
    let same = match (&rust, &c) {
        (Ok(r), Ok(c)) => r == c,
        (Err(r), Err(c)) => r == c,
        _ => false,
    };
    (!same).then(|| {
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{} with {handles} handles [{}]: Rust {}, C {}",
            TYPES[index],
            hex.join(" "),
            describe(&rust),
            describe(&c)
        )
    })
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Ok((bytes, handles)) => format!("accepts ({} bytes, handles {handles:?})", bytes.len()),
        Err(kind) => format!("rejects ({kind})"),
    }
}

/// The conformance suite's names for [`DecodeError`]s (as the C and
/// Python codecs name them).
pub fn decode_kind(error: &DecodeError) -> &'static str {
    match error {
        DecodeError::OutOfBounds { .. } => "out_of_bounds",
        DecodeError::NonZeroPadding { .. } => "non_zero_padding",
        DecodeError::ExtraBytes { .. } => "extra_bytes",
        DecodeError::ExtraHandles { .. } => "extra_handles",
        DecodeError::MissingHandle => "missing_handle",
        DecodeError::InvalidPresence { .. } => "invalid_presence",
        DecodeError::UnexpectedAbsent { .. } => "unexpected_absent",
        DecodeError::InvalidHandleMarker { .. } => "invalid_handle_marker",
        DecodeError::WrongHandleType { .. } => "wrong_handle_type",
        DecodeError::MissingRights { .. } => "missing_rights",
        DecodeError::RightsReductionFailed { .. } => "rights_reduction_failed",
        DecodeError::Misaligned => "misaligned",
        DecodeError::InvalidUtf8 { .. } => "invalid_utf8",
        DecodeError::TooLong { .. } => "too_long",
        DecodeError::MaxDepthExceeded => "max_depth_exceeded",
        DecodeError::InvalidBool { .. } => "invalid_bool",
        DecodeError::UnknownEnumValue { .. } => "unknown_enum_value",
        DecodeError::UnknownBits { .. } => "unknown_bits",
        DecodeError::UnknownUnionOrdinal { .. } => "unknown_union_ordinal",
        DecodeError::InvalidEnvelope { .. } => "invalid_envelope",
        DecodeError::EnvelopeSizeMismatch { .. } => "envelope_size_mismatch",
        DecodeError::InvalidTable { .. } => "invalid_table",
        DecodeError::InvalidHeader => "invalid_header",
        DecodeError::UnsupportedWireFormat => "unsupported_wire_format",
        DecodeError::UnknownOrdinal { .. } => "unknown_ordinal",
    }
}

fn encode_kind(error: &EncodeError) -> &'static str {
    match error {
        EncodeError::TooLong { .. } => "too_long",
        EncodeError::InvalidHandle => "invalid_handle",
        EncodeError::MaxDepthExceeded => "max_depth_exceeded",
        EncodeError::UnknownUnionVariant => "unknown_union_variant",
        EncodeError::InvalidValue => "invalid_value",
    }
}
