//! Compiles the conformance library the way component crates will.

fn main() {
    idlc_build::Builder::new()
        .file("../tests/libs/conformance.idl")
        .library_path("../tests/libs")
        .compile()
        .unwrap_or_else(|e| panic!("{e}"));
}
