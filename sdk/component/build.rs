//! Generates the bindings of `idl/io.idl` (and `zx`, which it uses),
//! `idl/logger.idl` and `idl/lifecycle.idl`.
fn main() {
    idlc_build::Builder::new()
        .file("../../idl/io.idl")
        .file("../../idl/logger.idl")
        .file("../../idl/lifecycle.idl")
        .library_path("../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
