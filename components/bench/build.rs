//! Generates the bindings `blkbench` and `blobbench` use: the block and
//! blob protocols and the Realm (to power off when done); and the echo protocol, whose round trip
//! through the generated bindings `bench` measures.
fn main() {
    idlc_build::Builder::new()
        .file("../../idl/echo.idl")
        .file("../../idl/block.idl")
        .file("../../idl/realm.idl")
        .file("../../idl/blob.idl")
        .library_path("../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
