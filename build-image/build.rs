//! Generates the Rust bindings of `zx.component.decl` (the compiled
//! manifest, `idl/component_decl.idl`) that `src/manifest/compile.rs`
//! encodes with, and of `zx.host` (`idl/host.idl`) that `src/bridge`
//! speaks to a running system with (and the echo versions' state tables,
//! whose round trip `src/manifest/abi/tests.rs` checks).

fn main() {
    idlc_build::Builder::new()
        .file("../idl/component_decl.idl")
        .library_path("../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    idlc_build::Builder::new()
        .file("../idl/host.idl")
        .file("../idl/realm.idl")
        .file("../idl/logger.idl")
        .file("../idl/blob.idl")
        .file("../idl/swap.idl")
        .file("../idl/echo.idl")
        .file("../idl/echo_v2.idl")
        .library_path("../idl")
        .out_dir(format!("{out}/host"))
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
