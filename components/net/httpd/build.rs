//! Generates the bindings of `zx.component/Realm` and `zx.logger`.
fn main() {
    idlc_build::Builder::new()
        .file("../../../idl/realm.idl")
        .file("../../../idl/logger.idl")
        .library_path("../../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
