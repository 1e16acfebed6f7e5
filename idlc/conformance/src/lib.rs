//! The checked-in Rust goldens of `idlc/tests/libs`, compiled as modules
//! side by side (as the builder crate arranges generated libraries), so
//! that the tests in this crate exercise real generated code.

#![allow(clippy::all, non_camel_case_types, non_snake_case, dead_code)]

pub mod zx {
    include!("../../tests/goldens/rust/zx.rs");
}

pub mod test_everything {
    include!("../../tests/goldens/rust/test_everything.rs");
}
