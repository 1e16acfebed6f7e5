//! Every decoder entry point of the generated test types: the first byte
//! picks the type, the second the number of handles, the rest is the
//! message. Decoding must return a value or a typed error.
#![no_main]

use idlc_conformance::test_conformance as c;
use idlc_conformance::test_everything as e;
use idlc_runtime::{decode, HandleInfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [selector, handles, bytes @ ..] = data else {
        return;
    };
    let mut handles: Vec<HandleInfo> = (1..=u32::from(*handles % 4)).map(HandleInfo::untyped).collect();
    let h = &mut handles;
    match selector % 16 {
        0 => drop(decode::<c::Bytes>(bytes, h)),
        1 => drop(decode::<c::Text>(bytes, h)),
        2 => drop(decode::<c::Numbers>(bytes, h)),
        3 => drop(decode::<c::Sparse>(bytes, h)),
        4 => drop(decode::<c::StrictChoice>(bytes, h)),
        5 => drop(decode::<c::FlexibleChoice>(bytes, h)),
        6 => drop(decode::<c::Tree>(bytes, h)),
        7 => drop(decode::<c::Handles>(bytes, h)),
        8 => drop(decode::<c::Settings>(bytes, h)),
        9 => drop(decode::<e::Shapes>(bytes, h)),
        10 => drop(decode::<e::Record>(bytes, h)),
        11 => drop(decode::<e::Resources>(bytes, h)),
        12 => drop(decode::<e::Node>(bytes, h)),
        13 => drop(decode::<e::Value>(bytes, h)),
        14 => drop(decode::<e::ResourceTable>(bytes, h)),
        _ => drop(decode::<e::WithOptionalUnion>(bytes, h)),
    }
});
