//! Generates the Rust bindings of `idl/echo.idl` into OUT_DIR.
fn main() {
    idlc_build::Builder::new()
        .file("../../../idl/echo.idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
