//! The Rust backend on the shapes that broke it: the generated code is
//! built with `cargo check` (see `support::RustCheck`).

mod support;

use support::{compile_one, RustCheck};

/// A flexible enum with a member `UNKNOWN` (fuchsia.sysinfo, fuchsia.io's
/// `DirentType`) used to get two `Unknown` variants (E0428).
const UNKNOWN_MEMBER: &str = "library r;
type E = flexible enum : uint8 { UNKNOWN = 0; A = 1; };
type Both = flexible enum { UNKNOWN = 0; UNKNOWN_VALUE = 1; };
type U = flexible union { 1: unknown uint32; 2: other bool; };
type T = table { 1: unknown_fields uint32; };
open protocol P { flexible -> Unknown(); };";

/// `client_end` / `server_end` members of resource tables and unions
/// (fuchsia.inspect's `InspectSink.Publish`) used to generate
/// `encode_handle(e, offset, *value.handle_mut(), …)` (E0308).
const ENDPOINTS: &str = "library r;
closed protocol P {};
type T = resource table { 1: p client_end:P; 2: s server_end:P; 3: many vector<client_end:P>:4; };
type U = flexible resource union { 1: p client_end:P; 2: s server_end:P; };
type S = resource struct { c client_end:<P, optional>; u U:optional; };
type Nested = struct { names vector<string:optional>; boxes vector<box<Point>>; unions vector<V:optional>; };
type Point = struct { x int32; };
type V = flexible union { 1: a int32; };";

/// Empty flexible bits and enums are allowed (fuchsia.io's `ConnectorFlags`).
const EMPTY_FLEXIBLE: &str = "library r;
type B = flexible bits : uint64 {};
type E = flexible enum : uint32 {};
type Holder = struct { b B; e E; };";

#[test]
fn issue_reproductions_generate_rust_that_builds() {
    let mut check = RustCheck::new("reproductions");
    for (name, text) in [
        ("unknown_member", UNKNOWN_MEMBER),
        ("endpoints", ENDPOINTS),
        ("empty_flexible", EMPTY_FLEXIBLE),
    ] {
        let ir = compile_one(text, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        check.add(name, &ir);
    }
    check.check().unwrap();
}

#[test]
fn unknown_variants_get_free_names() {
    let ir = compile_one(UNKNOWN_MEMBER, &[]).unwrap();
    let code = &idlc::backend::rust::generate(&ir)[0].1;
    // The member keeps its natural name; the catch-all moves aside.
    assert!(code.contains("Unknown,"), "{code}");
    assert!(code.contains("UnknownValue(u8),"), "{code}");
    assert!(code.contains("UnknownValue2(u32),"), "{code}");
    assert!(code.contains("UnknownVariant {"), "{code}");
    assert!(code.contains("pub unknown_fields_:"), "{code}");
    assert!(code.contains("UnknownEvent {"), "{code}");
}
