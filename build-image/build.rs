//! Generates the Rust bindings of `zx.component.decl` (the compiled
//! manifest, `idl/component_decl.idl`) that `src/manifest/compile.rs`
//! encodes with.

fn main() {
    idlc_build::Builder::new()
        .file("../idl/component_decl.idl")
        .library_path("../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
