//! Generates the bindings of `idl/net.idl` and `idl/network.idl`.
fn main() {
    idlc_build::Builder::new()
        .file("../../idl/net.idl")
        .file("../../idl/network.idl")
        .library_path("../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
