fn main() {
    idlc_build::Builder::new()
        .file("bench.idl")
        .compile()
        .unwrap_or_else(|e| panic!("{e}"));
}
