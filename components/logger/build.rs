//! Generates the bindings of `idl/logger.idl`.
fn main() {
    idlc_build::Builder::new()
        .file("../../idl/logger.idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
