//! Generates the bindings of the block device protocol.
fn main() {
    idlc_build::Builder::new()
        .file("../../idl/block.idl")
        .library_path("../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
