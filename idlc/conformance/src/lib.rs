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

/// The library generated with an owned handle type that records when it
/// is closed, standing in for the SDK's kernel handles.
pub mod owned {
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Handles closed so far (by drop).
    pub static CLOSED: AtomicUsize = AtomicUsize::new(0);
    /// Rights reductions requested so far.
    pub static REDUCED: AtomicUsize = AtomicUsize::new(0);

    #[derive(Debug, Default, PartialEq)]
    pub struct TrackedHandle(u32);

    impl idlc_runtime::OwnedHandle for TrackedHandle {
        fn from_raw(raw: u32) -> Self {
            TrackedHandle(raw)
        }
        fn into_raw(mut self) -> u32 {
            std::mem::take(&mut self.0)
        }
        fn raw(&self) -> u32 {
            self.0
        }
        fn reduce_rights(self, rights: u32) -> Result<Self, idlc_runtime::DecodeError> {
            REDUCED.fetch_add(1, Ordering::SeqCst);
            let _ = rights;
            Ok(self)
        }
    }

    impl Drop for TrackedHandle {
        fn drop(&mut self) {
            if self.0 != 0 {
                CLOSED.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    include!(concat!(env!("OUT_DIR"), "/owned/idl.rs"));
}
