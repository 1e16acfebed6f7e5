//! Generates the bindings of both echo versions, the realm and the swap
//! controller, and the lifecycle protocol (a hostile version speaks it by
//! hand).
fn main() {
    idlc_build::Builder::new()
        .file("../../../idl/echo.idl")
        .file("../../../idl/echo_v2.idl")
        .file("../../../idl/realm.idl")
        .file("../../../idl/swap.idl")
        .file("../../../idl/lifecycle.idl")
        .library_path("../../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
