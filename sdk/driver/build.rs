//! Generates the bindings of `idl/driver.idl`.
fn main() {
    idlc_build::Builder::new()
        .file("../../idl/driver.idl")
        .library_path("../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
