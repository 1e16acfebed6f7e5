//! Compiles the conformance library the way component crates will: once
//! with plain handles, once with an owned handle type (see `owned`).

fn main() {
    idlc_build::Builder::new()
        .file("../tests/libs/conformance.idl")
        .library_path("../tests/libs")
        .compile()
        .unwrap_or_else(|e| panic!("{e}"));
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("owned");
    idlc_build::Builder::new()
        .file("../tests/libs/conformance.idl")
        .library_path("../tests/libs")
        .out_dir(out)
        .handle_type("super::TrackedHandle")
        .compile()
        .unwrap_or_else(|e| panic!("{e}"));
}
