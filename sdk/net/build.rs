//! Generates the bindings of `idl/net.idl`.
fn main() {
    idlc_build::Builder::new()
        .file("../../idl/net.idl")
        .library_path("../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
