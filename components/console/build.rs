//! Generates the bindings of `zx.component/Realm`.
fn main() {
    idlc_build::Builder::new()
        .file("../../idl/realm.idl")
        .file("../../idl/logger.idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
