//! Wire conformance that needs more than data: the handle dispositions
//! encoding produces (object type and rights), owned handles, in-place
//! views, and the `build.rs` output. Byte vectors for every type kind and
//! every failure kind are data, in `cases/wire.json` (run by
//! `tests/cases.rs` and by the C and Python backends).

use idlc_conformance::test_conformance::*;
use idlc_runtime::{
    codec, decode, encode, DecodeError, EncodeError, Handle, HandleDisposition, HandleInfo,
};

const PRESENT: [u8; 8] = [0xff; 8];

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
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
