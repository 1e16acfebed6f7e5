//! The checked-in Rust goldens of `idlc/tests/libs`, compiled as modules
//! side by side (as the builder crate arranges generated libraries), so
//! that the tests in this crate exercise real generated code.

#[allow(clippy::all)]
pub mod zx {
    include!("../../tests/goldens/rust/zx.rs");
}

#[allow(clippy::all)]
pub mod test_everything {
    include!("../../tests/goldens/rust/test_everything.rs");
}

#[allow(clippy::all)]
pub mod test_conformance {
    include!("../../tests/goldens/rust/test_conformance.rs");
}

#[allow(clippy::all)]
pub mod fuchsia_unknown {
    include!("../../tests/goldens/rust/fuchsia_unknown.rs");
}

#[allow(clippy::all)]
pub mod fuchsia_io {
    include!("../../tests/goldens/rust/fuchsia_io.rs");
}

/// The same library compiled by `build.rs` through `idlc-build`, as a
/// component crate would.
pub mod built {
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}
