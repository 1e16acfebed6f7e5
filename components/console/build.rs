//! Generates the bindings of `zx.component/Realm`.
fn main() {
    idlc_build::Builder::new()
        .file("../../idl/realm.idl")
        .file("../../idl/logger.idl")
        .file("../../idl/block.idl")
        .file("../../idl/net.idl")
        .file("../../idl/blob.idl")
        .file("../../idl/data.idl")
        .library_path("../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
