//! Generates the bindings of the package resolver protocol.
fn main() {
    idlc_build::Builder::new()
        .file("../../idl/pkg.idl")
        .library_path("../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
