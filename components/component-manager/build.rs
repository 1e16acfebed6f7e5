//! Generates the bindings of the compiled-manifest format.
fn main() {
    idlc_build::Builder::new()
        .file("../../idl/component_decl.idl")
        .file("../../idl/realm.idl")
        .file("../../idl/lifecycle.idl")
        .file("../../idl/swap.idl")
        .file("../../idl/pkg.idl")
        .file("../../idl/io.idl")
        .file("../../idl/data.idl")
        .library_path("../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
}
