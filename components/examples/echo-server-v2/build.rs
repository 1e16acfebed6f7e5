//! Generates the Rust bindings of `idl/echo_v2.idl` into OUT_DIR.
fn main() {
    idlc_build::Builder::new()
        .file("../../../idl/echo_v2.idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
