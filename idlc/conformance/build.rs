//! Compiles the conformance library the way component crates will: once
//! with plain handles, once with an owned handle type (see `owned`); and
//! turns the data-driven cases (`cases/*.json`) into Rust tests
//! (`tests/cases.rs` includes them).

fn main() {
    idlc_build::Builder::new()
        .file("../tests/libs/conformance.idl")
        .library_path("../tests/libs")
        .compile()
        .unwrap_or_else(|e| panic!("{e}"));
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("owned");
    idlc_build::Builder::new()
        .file("../tests/libs/conformance.idl")
        .library_path("../tests/libs")
        .out_dir(out)
        .handle_type("super::TrackedHandle")
        .compile()
        .unwrap_or_else(|e| panic!("{e}"));
    generate_case_tests();
}

fn generate_case_tests() {
    let files = [
        std::path::PathBuf::from("../tests/libs/conformance.idl"),
        std::path::PathBuf::from("../tests/libs/zx.idl"),
    ];
    let compilation = idlc::driver::compile_files(&files, &[], &Default::default());
    let ir = match compilation.result {
        Ok(ir) => ir,
        Err(e) => panic!("the conformance library does not compile: {e:?}"),
    };
    let mut tests = String::new();
    let mut paths: Vec<_> = std::fs::read_dir("cases")
        .expect("cases/ exists")
        .map(|entry| entry.expect("cases/ is readable").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for path in paths {
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(&path).expect("case file is readable");
        let suite = idlc::gidl::Suite::parse(&text, &ir)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        tests.push_str(
            &idlc::gidl::rust::tests(&ir, &suite, "idlc_conformance")
                .unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        );
    }
    println!("cargo:rerun-if-changed=cases");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("cases.rs");
    std::fs::write(out, tests).expect("OUT_DIR is writable");
}
