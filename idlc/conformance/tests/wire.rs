//! Wire conformance: hand-written byte vectors for each kind of value,
//! checked in both directions, and malformed inputs mapped to typed errors.

use idlc_conformance::test_conformance::*;
use idlc_runtime::{
    codec, decode, encode, DecodeError, EncodeError, Handle, HandleDisposition, HandleInfo, Wire,
};

/// Encodes, compares with `expected`, decodes back and compares values.
fn check<T: Wire + PartialEq + std::fmt::Debug>(mut value: T, expected: &[u8], original: &T) {
    let mut bytes = Vec::new();
    let mut handles = Vec::new();
    encode(&mut value, &mut bytes, &mut handles).unwrap();
    assert_eq!(bytes, expected, "encoding of {original:?}");
    assert!(handles.is_empty());
    let decoded: T = decode(&bytes, &mut []).unwrap();
    assert_eq!(&decoded, original);
}

fn roundtrip<T: Wire + PartialEq + std::fmt::Debug + Clone>(value: T, expected: &[u8]) {
    check(value.clone(), expected, &value);
}

const PRESENT: [u8; 8] = [0xff; 8];

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn struct_with_padding() {
    roundtrip(Pair { a: 1, b: 2 }, &[1, 0, 0, 0, 2, 0, 0, 0]);
}

#[test]
fn nonzero_padding_is_rejected() {
    let bytes = [1, 0, 7, 0, 2, 0, 0, 0];
    assert_eq!(
        decode::<Pair>(&bytes, &mut []),
        Err(DecodeError::NonZeroPadding { offset: 2 })
    );
    // Padding after the primary object, up to 8 bytes.
    let bytes = [1, 0, 0, 0, 0, 0, 0, 9];
    assert_eq!(
        decode::<Flag>(&bytes, &mut []),
        Err(DecodeError::NonZeroPadding { offset: 7 })
    );
}

#[test]
fn bool_must_be_0_or_1() {
    roundtrip(Flag { on: true }, &[1, 0, 0, 0, 0, 0, 0, 0]);
    let bytes = [2, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        decode::<Flag>(&bytes, &mut []),
        Err(DecodeError::InvalidBool { offset: 0 })
    );
}

#[test]
fn byte_vector() {
    let expected = cat(&[
        &[3, 0, 0, 0, 0, 0, 0, 0],
        &PRESENT,
        &[1, 2, 3, 0, 0, 0, 0, 0],
    ]);
    roundtrip(
        Bytes {
            data: vec![1, 2, 3],
        },
        &expected,
    );
    let empty = cat(&[&[0; 8], &PRESENT]);
    roundtrip(Bytes { data: vec![] }, &empty);
}

#[test]
fn vector_bounds_are_enforced() {
    let mut too_long = Bytes { data: vec![0; 17] };
    let mut bytes = Vec::new();
    assert_eq!(
        encode(&mut too_long, &mut bytes, &mut Vec::new()),
        Err(EncodeError::TooLong { len: 17, max: 16 })
    );
    let mut bytes = cat(&[&[17, 0, 0, 0, 0, 0, 0, 0], &PRESENT]);
    bytes.extend_from_slice(&[0; 24]);
    assert_eq!(
        decode::<Bytes>(&bytes, &mut []),
        Err(DecodeError::TooLong { len: 17, max: 16 })
    );
}

#[test]
fn string_and_utf8() {
    let expected = cat(&[&[2, 0, 0, 0, 0, 0, 0, 0], &PRESENT, b"hi\0\0\0\0\0\0"]);
    roundtrip(Text { s: "hi".into() }, &expected);
    let invalid = cat(&[
        &[2, 0, 0, 0, 0, 0, 0, 0],
        &PRESENT,
        &[0xc3, 0x28, 0, 0, 0, 0, 0, 0],
    ]);
    assert_eq!(
        decode::<Text>(&invalid, &mut []),
        Err(DecodeError::InvalidUtf8 { offset: 16 })
    );
}

#[test]
fn optional_string() {
    roundtrip(OptionalText { s: None }, &[0; 16]);
    let expected = cat(&[&[1, 0, 0, 0, 0, 0, 0, 0], &PRESENT, b"x\0\0\0\0\0\0\0"]);
    roundtrip(
        OptionalText {
            s: Some("x".into()),
        },
        &expected,
    );
    // A required string may not be absent.
    assert_eq!(
        decode::<Text>(&[0; 16], &mut []),
        Err(DecodeError::UnexpectedAbsent { offset: 0 })
    );
    // Presence markers other than all-zeros / all-ones are invalid.
    let bad = cat(&[&[0; 8], &[1, 0, 0, 0, 0, 0, 0, 0]]);
    assert_eq!(
        decode::<OptionalText>(&bad, &mut []),
        Err(DecodeError::InvalidPresence { offset: 8 })
    );
}

#[test]
fn boxed_struct() {
    roundtrip(Boxed { b: None }, &[0; 8]);
    let expected = cat(&[&PRESENT, &[5, 0, 0, 0, 0, 0, 0, 0]]);
    roundtrip(
        Boxed {
            b: Some(Box::new(Inner { x: 5 })),
        },
        &expected,
    );
}

#[test]
fn vectors_arrays_and_nested_strings() {
    let value = Numbers {
        values: vec![1, 2, 3],
        fixed: [7, 8, 9],
        strings: vec!["ab".into()],
    };
    let expected = cat(&[
        // values: count, presence
        &[3, 0, 0, 0, 0, 0, 0, 0],
        &PRESENT,
        // fixed: 3 × u16 + 2 bytes padding
        &[7, 0, 8, 0, 9, 0, 0, 0],
        // strings: count, presence
        &[1, 0, 0, 0, 0, 0, 0, 0],
        &PRESENT,
        // values body: 12 bytes + 4 padding
        &[1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0],
        // strings body: one string header
        &[2, 0, 0, 0, 0, 0, 0, 0],
        &PRESENT,
        // its characters
        b"ab\0\0\0\0\0\0",
    ]);
    roundtrip(value, &expected);
}

#[test]
fn table_with_inline_member() {
    let value = Sparse {
        a: Some(7),
        ..Default::default()
    };
    let expected = cat(&[
        &[1, 0, 0, 0, 0, 0, 0, 0],
        &PRESENT,
        &[7, 0, 0, 0, 0, 0, 1, 0],
    ]);
    roundtrip(value, &expected);
}

#[test]
fn table_with_gap_and_out_of_line_member() {
    let value = Sparse {
        b: Some(9),
        ..Default::default()
    };
    let expected = cat(&[
        &[3, 0, 0, 0, 0, 0, 0, 0],
        &PRESENT,
        &[0; 8],
        &[0; 8],
        &[8, 0, 0, 0, 0, 0, 0, 0],
        &[9, 0, 0, 0, 0, 0, 0, 0],
    ]);
    roundtrip(value, &expected);
    roundtrip(Sparse::default(), &cat(&[&[0; 8], &PRESENT]));
}

#[test]
fn table_unknown_fields_are_preserved() {
    // Ordinal 2 (reserved here) carries an inline value, ordinal 5 an
    // out-of-line one: both unknown to this library version.
    let bytes = cat(&[
        &[5, 0, 0, 0, 0, 0, 0, 0],
        &PRESENT,
        &[0; 8],
        &[0xaa, 0, 0, 0, 0, 0, 1, 0],
        &[0; 8],
        &[0; 8],
        &[8, 0, 0, 0, 0, 0, 0, 0],
        &[1, 2, 3, 4, 5, 6, 7, 8],
    ]);
    let mut table: Sparse = decode(&bytes, &mut []).unwrap();
    assert_eq!(table.unknown_fields.len(), 2);
    assert_eq!(table.unknown_fields[0].0, 2);
    assert_eq!(
        table.unknown_fields[1].1.bytes,
        vec![1, 2, 3, 4, 5, 6, 7, 8]
    );
    let mut again = Vec::new();
    encode(&mut table, &mut again, &mut Vec::new()).unwrap();
    assert_eq!(again, bytes);
}

#[test]
fn absent_table_is_invalid() {
    assert_eq!(
        decode::<Sparse>(&[0; 16], &mut []),
        Err(DecodeError::InvalidTable { offset: 0 })
    );
}

#[test]
fn envelope_rules() {
    // A 4-byte value must be inlined.
    let bytes = cat(&[
        &[1, 0, 0, 0, 0, 0, 0, 0],
        &PRESENT,
        &[8, 0, 0, 0, 0, 0, 0, 0],
        &[7, 0, 0, 0, 0, 0, 0, 0],
    ]);
    assert_eq!(
        decode::<Sparse>(&bytes, &mut []),
        Err(DecodeError::InvalidEnvelope { offset: 16 })
    );
    // Unknown flag bits.
    let bytes = cat(&[
        &[1, 0, 0, 0, 0, 0, 0, 0],
        &PRESENT,
        &[7, 0, 0, 0, 0, 0, 3, 0],
    ]);
    assert_eq!(
        decode::<Sparse>(&bytes, &mut []),
        Err(DecodeError::InvalidEnvelope { offset: 16 })
    );
    // Byte count that does not match the content.
    let bytes = cat(&[
        &[3, 0, 0, 0, 0, 0, 0, 0],
        &PRESENT,
        &[0; 16],
        &[16, 0, 0, 0, 0, 0, 0, 0],
        &[9, 0, 0, 0, 0, 0, 0, 0],
        &[0; 8],
    ]);
    assert_eq!(
        decode::<Sparse>(&bytes, &mut []),
        Err(DecodeError::EnvelopeSizeMismatch { offset: 32 })
    );
}

#[test]
fn strict_union() {
    roundtrip(
        StrictChoice::A(1),
        &[1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0],
    );
    let expected = cat(&[
        &[2, 0, 0, 0, 0, 0, 0, 0],
        &[8, 0, 0, 0, 0, 0, 0, 0],
        &[10, 0, 0, 0, 0, 0, 0, 0],
    ]);
    roundtrip(StrictChoice::B(10), &expected);
    let unknown = [9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0];
    assert_eq!(
        decode::<StrictChoice>(&unknown, &mut []),
        Err(DecodeError::UnknownUnionOrdinal { ordinal: 9 })
    );
    assert_eq!(
        decode::<StrictChoice>(&[0; 16], &mut []),
        Err(DecodeError::UnexpectedAbsent { offset: 0 })
    );
}

#[test]
fn flexible_union_keeps_unknown_variants() {
    roundtrip(
        FlexibleChoice::A(3),
        &[1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 1, 0],
    );
    let unknown = [7, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xef, 0, 0, 0, 0, 1, 0];
    let mut value: FlexibleChoice = decode(&unknown, &mut []).unwrap();
    assert!(matches!(value, FlexibleChoice::Unknown { ordinal: 7, .. }));
    let mut bytes = Vec::new();
    encode(&mut value, &mut bytes, &mut Vec::new()).unwrap();
    assert_eq!(bytes, unknown);
}

#[test]
fn optional_union_enum_bits() {
    let value = Settings {
        mode: Mode::Write,
        access: Access::OWNER | Access::GROUP,
        open: OpenMode::Unknown(77),
        choice: None,
    };
    let expected = cat(&[&[2, 0, 3, 77, 0, 0, 0, 0], &[0; 16]]);
    roundtrip(value, &expected);
    // Unknown strict enum value and bits.
    let bad_enum = cat(&[&[5, 0, 0, 1, 0, 0, 0, 0], &[0; 16]]);
    assert_eq!(
        decode::<Settings>(&bad_enum, &mut []),
        Err(DecodeError::UnknownEnumValue { value: 5 })
    );
    let bad_bits = cat(&[&[1, 0, 4, 1, 0, 0, 0, 0], &[0; 16]]);
    assert_eq!(
        decode::<Settings>(&bad_bits, &mut []),
        Err(DecodeError::UnknownBits { value: 4 })
    );
}

#[test]
fn handles_are_out_of_band() {
    let mut value = Handles {
        vmo: Handle::from_raw(42),
        event: None,
    };
    let mut bytes = Vec::new();
    let mut handles = Vec::new();
    encode(&mut value, &mut bytes, &mut handles).unwrap();
    assert_eq!(bytes, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    assert_eq!(
        handles,
        vec![HandleDisposition {
            handle: Handle::from_raw(42),
            object_type: 3,
            rights: 0x4
        }]
    );
    assert!(!value.vmo.is_valid(), "encoding moves the handle out");

    let info = |object_type, rights| HandleInfo {
        handle: Handle::from_raw(42),
        object_type,
        rights,
    };
    let decoded: Handles = decode(&bytes, &mut [info(3, 0x6)]).unwrap();
    assert_eq!(decoded.vmo, Handle::from_raw(42));
    assert_eq!(
        decode::<Handles>(&bytes, &mut [info(5, 0x4)]),
        Err(DecodeError::WrongHandleType {
            expected: 3,
            actual: 5
        })
    );
    assert_eq!(
        decode::<Handles>(&bytes, &mut [info(3, 0x8)]),
        Err(DecodeError::MissingRights {
            required: 0x4,
            actual: 0x8
        })
    );
    assert_eq!(
        decode::<Handles>(&bytes, &mut []),
        Err(DecodeError::MissingHandle)
    );
    assert_eq!(
        decode::<Handles>(&bytes, &mut [info(3, 0x4), info(3, 0x4)]),
        Err(DecodeError::ExtraHandles { count: 1 })
    );
    let bad_marker = [1, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        decode::<Handles>(&bad_marker, &mut []),
        Err(DecodeError::InvalidHandleMarker { offset: 0 })
    );
    let mut invalid = Handles {
        vmo: Handle::invalid(),
        event: None,
    };
    assert_eq!(
        encode(&mut invalid, &mut Vec::new(), &mut Vec::new()),
        Err(EncodeError::InvalidHandle)
    );
}

#[test]
fn trailing_bytes_are_rejected() {
    let bytes = [1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        decode::<Pair>(&bytes, &mut []),
        Err(DecodeError::ExtraBytes { count: 8 })
    );
    assert_eq!(
        decode::<Pair>(&[1, 0, 0], &mut []),
        Err(DecodeError::OutOfBounds { offset: 0, len: 8 })
    );
}

#[test]
fn depth_is_limited_to_32() {
    let mut tree = Tree {
        value: 0,
        children: vec![],
    };
    for i in 1..40 {
        tree = Tree {
            value: i,
            children: vec![tree],
        };
    }
    assert_eq!(
        encode(&mut tree, &mut Vec::new(), &mut Vec::new()),
        Err(EncodeError::MaxDepthExceeded)
    );
    let mut shallow = Tree {
        value: 1,
        children: vec![Tree {
            value: 2,
            children: vec![],
        }],
    };
    let mut bytes = Vec::new();
    encode(&mut shallow, &mut bytes, &mut Vec::new()).unwrap();
    assert_eq!(decode::<Tree>(&bytes, &mut []).unwrap(), shallow);
}

#[test]
fn unknown_data_clone_drops_handles() {
    let data = codec::UnknownData {
        bytes: vec![1],
        inline: true,
        handles: vec![Handle::from_raw(3)],
    };
    assert!(data.clone().handles.is_empty());
}

#[test]
fn build_rs_output_matches_the_goldens() {
    use idlc_conformance::built::test_conformance as built;
    let mut a = Numbers {
        values: vec![1, 2],
        fixed: [3, 4, 5],
        strings: vec!["x".into()],
    };
    let mut b = built::Numbers {
        values: vec![1, 2],
        fixed: [3, 4, 5],
        strings: vec!["x".into()],
    };
    let (mut x, mut y) = (Vec::new(), Vec::new());
    encode(&mut a, &mut x, &mut Vec::new()).unwrap();
    encode(&mut b, &mut y, &mut Vec::new()).unwrap();
    assert_eq!(x, y);
    assert_eq!(
        std::fs::read_to_string(concat!(env!("OUT_DIR"), "/test_conformance.rs")).unwrap(),
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/goldens/rust/test_conformance.rs"
        ))
        .unwrap()
    );
}

#[test]
fn owned_handles_close_on_drop_and_move_on_encode() {
    use idlc_conformance::owned::{test_conformance as owned, TrackedHandle, CLOSED, REDUCED};
    use idlc_runtime::OwnedHandle;
    use std::sync::atomic::Ordering;

    let before = CLOSED.load(Ordering::SeqCst);
    let bytes = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    let mut infos = [
        HandleInfo {
            handle: Handle::from_raw(7),
            object_type: 3,
            rights: 0x4,
        },
        HandleInfo {
            handle: Handle::from_raw(8),
            object_type: 5,
            rights: 0,
        },
    ];
    let reduced = REDUCED.load(Ordering::SeqCst);
    let value: owned::Handles = decode(&bytes, &mut infos).unwrap();
    assert_eq!(value.vmo.raw(), 7);
    // The VMO arrived with exactly READ; the event (no rights required)
    // is not reduced.
    assert_eq!(REDUCED.load(Ordering::SeqCst) - reduced, 0);
    let mut more = [HandleInfo {
        handle: Handle::from_raw(7),
        object_type: 3,
        rights: 0xc,
    }];
    let extra: owned::Handles = decode(
        &bytes[..4]
            .iter()
            .chain(&[0u8; 4])
            .copied()
            .collect::<Vec<_>>(),
        &mut more,
    )
    .unwrap();
    assert_eq!(
        REDUCED.load(Ordering::SeqCst) - reduced,
        1,
        "READ|WRITE reduced to READ"
    );
    std::mem::forget(extra);
    drop(value);
    assert_eq!(
        CLOSED.load(Ordering::SeqCst) - before,
        2,
        "both handles closed"
    );

    let mut value = owned::Handles {
        vmo: TrackedHandle::from_raw(9),
        event: None,
    };
    let mut handles = Vec::new();
    encode(&mut value, &mut Vec::new(), &mut handles).unwrap();
    drop(value);
    assert_eq!(
        CLOSED.load(Ordering::SeqCst) - before,
        2,
        "encoding moved the handle out"
    );
    assert_eq!(handles[0].handle, Handle::from_raw(9));
}

#[test]
fn plain_structs_decode_in_place() {
    #[repr(C, align(8))]
    struct Aligned([u8; 16]);
    let message = Aligned([5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let inner: &Inner = idlc_runtime::view(&message.0[..8]).unwrap();
    assert_eq!(inner.x, 5);
    assert_eq!(
        idlc_runtime::view::<Inner>(&message.0),
        Err(DecodeError::ExtraBytes { count: 8 })
    );
    let mut padded = Aligned([0; 16]);
    padded.0[5] = 1;
    assert_eq!(
        idlc_runtime::view::<Inner>(&padded.0[..8]),
        Err(DecodeError::NonZeroPadding { offset: 5 })
    );
    assert_eq!(
        idlc_runtime::view::<Inner>(&message.0[1..9]),
        Err(DecodeError::Misaligned)
    );
}

#[test]
fn endpoints_in_tables_and_unions_move_their_handles() {
    use idlc_runtime::{ClientEnd, ServerEnd};
    let channel = |raw| HandleDisposition {
        handle: Handle::from_raw(raw),
        object_type: 4,
        rights: idlc_runtime::NO_RIGHTS_CHECK,
    };
    let mut table = Endpoints {
        client: Some(ClientEnd::new(Handle::from_raw(7))),
        server: Some(ServerEnd::new(Handle::from_raw(9))),
        ..Default::default()
    };
    let mut bytes = Vec::new();
    let mut handles = Vec::new();
    encode(&mut table, &mut bytes, &mut handles).unwrap();
    // Two envelopes, each an inlined handle marker with one handle.
    let inline_handle: &[u8] = &[0xff, 0xff, 0xff, 0xff, 1, 0, 1, 0];
    assert_eq!(
        bytes,
        cat(&[&2u64.to_le_bytes(), &PRESENT, inline_handle, inline_handle])
    );
    assert_eq!(handles, vec![channel(7), channel(9)]);
    assert!(!table.client.as_ref().unwrap().handle().is_valid());
    let info = |raw| HandleInfo {
        handle: Handle::from_raw(raw),
        object_type: 4,
        rights: 0,
    };
    let decoded: Endpoints = decode(&bytes, &mut [info(7), info(9)]).unwrap();
    assert_eq!(decoded.client.unwrap().into_handle(), Handle::from_raw(7));
    assert_eq!(decoded.server.unwrap().into_handle(), Handle::from_raw(9));

    let mut choice = EndpointChoice::Client(ClientEnd::new(Handle::from_raw(5)));
    let (mut bytes, mut handles) = (Vec::new(), Vec::new());
    encode(&mut choice, &mut bytes, &mut handles).unwrap();
    assert_eq!(bytes, cat(&[&1u64.to_le_bytes(), inline_handle]));
    assert_eq!(handles, vec![channel(5)]);
    let decoded: EndpointChoice = decode(&bytes, &mut [info(5)]).unwrap();
    assert_eq!(
        decoded,
        EndpointChoice::Client(ClientEnd::new(Handle::from_raw(5)))
    );
}
