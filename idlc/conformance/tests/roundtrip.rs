//! Property tests: random values of generated types survive encode →
//! decode unchanged, and random bytes never make a decoder panic.

use idlc_conformance::test_conformance::*;
use idlc_conformance::test_everything as everything;
use idlc_runtime::{decode, encode, HandleInfo, Wire};
use proptest::prelude::*;

fn roundtrip<T: Wire + PartialEq + std::fmt::Debug + Clone>(value: T) {
    let mut copy = value.clone();
    let mut bytes = Vec::new();
    let mut handles = Vec::new();
    encode(&mut copy, &mut bytes, &mut handles).unwrap();
    assert_eq!(bytes.len() % 8, 0);
    let decoded: T = decode(&bytes, &mut []).unwrap();
    assert_eq!(decoded, value);
}

fn small_string(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..max)
        .prop_map(|chars| chars.into_iter().collect::<String>())
        .prop_filter("fits the bound", move |s| s.len() <= max)
}

fn choice() -> impl Strategy<Value = StrictChoice> {
    prop_oneof![
        any::<u32>().prop_map(StrictChoice::A),
        any::<u64>().prop_map(StrictChoice::B),
        small_string(16).prop_map(StrictChoice::S),
    ]
}

fn tree(depth: u32) -> BoxedStrategy<Tree> {
    if depth == 0 {
        any::<u32>()
            .prop_map(|value| Tree {
                value,
                children: vec![],
            })
            .boxed()
    } else {
        (
            any::<u32>(),
            proptest::collection::vec(tree(depth - 1), 0..3),
        )
            .prop_map(|(value, children)| Tree { value, children })
            .boxed()
    }
}

proptest! {
    #[test]
    fn pairs(a: u8, b: u32) {
        roundtrip(Pair { a, b });
    }

    #[test]
    fn numbers(values in proptest::collection::vec(any::<u32>(), 0..8),
               fixed: [u16; 3],
               strings in proptest::collection::vec(small_string(8), 0..4)) {
        roundtrip(Numbers { values, fixed, strings });
    }

    #[test]
    fn tables(a: Option<u32>, b: Option<u64>) {
        roundtrip(Sparse { a, b, unknown_fields: vec![] });
    }

    #[test]
    fn unions(value in choice()) {
        roundtrip(value);
    }

    #[test]
    fn settings(open: u8, access in 0u8..4, choice in proptest::option::of(choice())) {
        roundtrip(Settings {
            mode: Mode::Read,
            access: Access(access),
            open: OpenMode::from_primitive(open).unwrap_or(OpenMode::Unknown(open)),
            choice: choice.map(Box::new),
        });
    }

    #[test]
    fn trees(value in tree(3)) {
        roundtrip(value);
    }

    #[test]
    fn records(timestamp: Option<i64>, message in proptest::option::of(small_string(64)),
               tags in proptest::option::of(proptest::collection::vec(small_string(32), 0..8))) {
        roundtrip(everything::Record {
            timestamp,
            message,
            level: Some(everything::Level::High),
            tags,
            ..Default::default()
        });
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), handles in 0u32..3) {
        let mut infos: Vec<HandleInfo> = (1..=handles).map(HandleInfo::untyped).collect();
        let _ = decode::<Numbers>(&bytes, &mut infos);
        let _ = decode::<Sparse>(&bytes, &mut infos);
        let _ = decode::<StrictChoice>(&bytes, &mut infos);
        let _ = decode::<FlexibleChoice>(&bytes, &mut infos);
        let _ = decode::<Tree>(&bytes, &mut infos);
        let _ = decode::<Settings>(&bytes, &mut infos);
        let _ = decode::<Handles>(&bytes, &mut infos);
        let _ = decode::<everything::Shapes>(&bytes, &mut infos);
        let _ = decode::<everything::Record>(&bytes, &mut infos);
        let _ = decode::<everything::Resources>(&bytes, &mut infos);
    }
}
