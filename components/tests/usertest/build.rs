//! Generates the bindings of the IDL libraries the tests use.
fn main() {
    idlc_build::Builder::new()
        .file("../../../idl/echo.idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
