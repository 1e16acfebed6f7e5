//! Generates the bindings of the device protocols and the Realm.
fn main() {
    idlc_build::Builder::new()
        .file("../../../idl/block.idl")
        .file("../../../idl/network.idl")
        .file("../../../idl/serial.idl")
        .file("../../../idl/realm.idl")
        .library_path("../../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
