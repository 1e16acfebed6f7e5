//! Generates the bindings of blobfs's protocol and the Realm.
fn main() {
    idlc_build::Builder::new()
        .file("../../../idl/blob.idl")
        .file("../../../idl/realm.idl")
        .library_path("../../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
