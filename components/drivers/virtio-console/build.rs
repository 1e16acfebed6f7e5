//! Generates the bindings of `idl/serial.idl`.
fn main() {
    idlc_build::Builder::new()
        .file("../../../idl/serial.idl")
        .library_path("../../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
