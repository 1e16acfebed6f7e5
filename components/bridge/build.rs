//! Generates the bindings of `zx.host` (what the bridge serves) and of
//! what it calls: the serial port, `Realm`, the log and blobfs.
fn main() {
    idlc_build::Builder::new()
        .file("../../idl/host.idl")
        .file("../../idl/serial.idl")
        .file("../../idl/realm.idl")
        .file("../../idl/logger.idl")
        .file("../../idl/blob.idl")
        .library_path("../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
