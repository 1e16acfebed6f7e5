//! The data-driven conformance cases (`cases/*.json`) run against the
//! generated Rust bindings; `build.rs` turns each case into a `#[test]`
//! that calls one of the helpers below. The C and Python backends run the
//! same files.

use idlc_runtime::{decode, encode, DecodeError, EncodeError, Handle, HandleInfo, Wire};

/// A handle as the receiver gets it: number, object type, rights.
type CaseHandle = (u32, u32, u32);

fn infos(handles: &[CaseHandle]) -> Vec<HandleInfo> {
    handles
        .iter()
        .map(|&(raw, object_type, rights)| HandleInfo {
            handle: Handle::from_raw(raw),
            object_type,
            rights,
        })
        .collect()
}

/// Encodes the value to exactly `bytes` (handles in the order given), and
/// decodes `bytes` back to the same value.
fn success<T: Wire + PartialEq + std::fmt::Debug>(
    value: impl Fn() -> T,
    bytes: &[u8],
    handles: &[CaseHandle],
) {
    let mut encoded = Vec::new();
    let mut dispositions = Vec::new();
    encode(&mut value(), &mut encoded, &mut dispositions).expect("the value encodes");
    assert_eq!(encoded, bytes, "encoding of {:?}", value());
    let sent: Vec<Handle> = dispositions.into_iter().map(|d| d.handle).collect();
    let expected: Vec<Handle> = handles.iter().map(|h| Handle::from_raw(h.0)).collect();
    assert_eq!(sent, expected, "handles of {:?}", value());
    let decoded: T = decode(bytes, &mut infos(handles)).expect("the bytes decode");
    assert_eq!(decoded, value());
}

fn decode_failure<T: Wire + std::fmt::Debug>(bytes: &[u8], handles: &[CaseHandle], kind: &str) {
    match decode::<T>(bytes, &mut infos(handles)) {
        Ok(value) => panic!("decoded {value:?}, expected {kind}"),
        Err(error) => assert_eq!(decode_kind(&error), kind, "{error:?}"),
    }
}

fn encode_failure<T: Wire + std::fmt::Debug>(mut value: T, kind: &str) {
    match encode(&mut value, &mut Vec::new(), &mut Vec::new()) {
        Ok(()) => panic!("encoded {value:?}, expected {kind}"),
        Err(error) => assert_eq!(encode_kind(&error), kind, "{error:?}"),
    }
}

/// The case files' names for [`DecodeError`]s.
fn decode_kind(error: &DecodeError) -> &'static str {
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

/// Every decode error kind a case file may name has at least one case,
/// and so has every encode error kind that values written as data can
/// produce (`unknown_union_variant` needs an unknown variant holding
/// handles, which case values cannot carry; `wire.rs` has no case for it
/// either, it is covered by the runtime's unit tests).
#[test]
fn every_failure_kind_has_a_case() {
    let text = include_str!("../cases/wire.json");
    for kind in idlc::gidl::DECODE_ERRORS {
        assert!(
            text.contains(&format!("\"error\": \"{kind}\"")),
            "no case for decode error {kind}"
        );
    }
}

include!(concat!(env!("OUT_DIR"), "/cases.rs"));
