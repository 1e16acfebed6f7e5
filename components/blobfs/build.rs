//! Generates the bindings of the block device and blobfs protocols.
fn main() {
    idlc_build::Builder::new()
        .file("../../idl/block.idl")
        .file("../../idl/blob.idl")
        .library_path("../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
