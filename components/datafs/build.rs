//! Generates the bindings of the block device and data file system protocols.
fn main() {
    idlc_build::Builder::new()
        .file("../../idl/block.idl")
        .file("../../idl/data.idl")
        .library_path("../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
