//! Goldens: the IR and the Rust, C and Python output for the test libraries, checked in
//! under `tests/goldens/`. Regenerate with
//! `UPDATE_GOLDENS=1 cargo test -p idlc --test goldens`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use idlc::source::SourceMap;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Formats generated code the way the CLI does.
fn rustfmt(code: &str) -> String {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("rustfmt is needed to check the Rust goldens");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(code.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "generated code does not parse:\n{code}"
    );
    String::from_utf8(out.stdout).unwrap()
}

fn check(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("UPDATE_GOLDENS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    match std::fs::read_to_string(path) {
        Ok(expected) if expected == actual => {}
        Ok(_) => failures.push(format!(
            "{} differs (UPDATE_GOLDENS=1 to accept)",
            path.display()
        )),
        Err(_) => failures.push(format!(
            "{} missing (UPDATE_GOLDENS=1 to create)",
            path.display()
        )),
    }
}

#[test]
fn ir_and_rust_goldens() {
    let mut sources = SourceMap::new();
    for name in [
        "everything.idl",
        "conformance.idl",
        "fuchsia/io.idl",
        "fuchsia/unknown.idl",
        "zx.idl",
    ] {
        let text = std::fs::read_to_string(root().join("tests/libs").join(name)).unwrap();
        sources.add(format!("tests/libs/{name}"), text);
    }
    let ir = idlc::compile(&sources, &Default::default()).expect("test libraries compile");
    let mut failures = Vec::new();
    let json = ir.to_json();
    check(
        &root().join("tests/goldens/libraries.ir.json"),
        &json,
        &mut failures,
    );
    // The IR reads back to the same value.
    assert_eq!(idlc::ir::Ir::from_json(&json).unwrap(), ir);
    for (file, code) in idlc::backend::rust::generate(&ir) {
        assert!(code.starts_with(idlc::backend::rust::BANNER));
        let formatted = rustfmt(&code);
        check(
            &root().join("tests/goldens/rust").join(file),
            &formatted,
            &mut failures,
        );
    }
    for (file, code) in idlc::backend::c::generate(&ir) {
        // The runtime is checked in as it is (`src/backend/c/runtime`).
        if file.starts_with("idl.") || file.starts_with("idl_bridge.") {
            continue;
        }
        assert!(code.starts_with(idlc::backend::c::BANNER));
        check(
            &root().join("tests/goldens/c").join(file),
            &code,
            &mut failures,
        );
    }
    for (file, code) in idlc::backend::python::generate(&ir) {
        // The runtime is checked in as it is (`src/backend/python/runtime`).
        if file == "_wire.py" || file == "_bridge.py" {
            continue;
        }
        assert!(code.starts_with(idlc::backend::python::BANNER));
        check(
            &root().join("tests/goldens/python").join(file),
            &code,
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
