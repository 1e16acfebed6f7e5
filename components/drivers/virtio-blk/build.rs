//! Generates the bindings of `idl/block.idl`.
fn main() {
    idlc_build::Builder::new()
        .file("../../../idl/block.idl")
        .library_path("../../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
