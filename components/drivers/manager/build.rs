//! Generates the bindings of the driver registry, the component manager's
//! Realm and the compiled-manifest format (to read drivers' `driver.bind`),
//! and the device protocols (for their names).
fn main() {
    idlc_build::Builder::new()
        .file("../../../idl/driver.idl")
        .file("../../../idl/realm.idl")
        .file("../../../idl/component_decl.idl")
        .file("../../../idl/block.idl")
        .file("../../../idl/network.idl")
        .file("../../../idl/serial.idl")
        .library_path("../../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
