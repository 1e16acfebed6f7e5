//! Generates the bindings of `zx.component/Realm` (for `hostile`).
fn main() {
    idlc_build::Builder::new()
        .file("../../../idl/realm.idl")
        .library_path("../../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
