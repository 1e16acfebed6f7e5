//! The C backend: the conformance cases (`idlc/conformance/cases`) run
//! against the generated C codec, compiled by gcc with
//! `-std=c11 -Wall -Wextra -Wpedantic -Werror` and address and undefined
//! behaviour sanitizers; and every test library's C compiles cleanly.
//! Skipped (with a message) only when gcc is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use idlc::source::SourceMap;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn have_gcc() -> bool {
    Command::new("gcc").arg("--version").output().is_ok()
}

/// The IR of the named test libraries.
fn compile(files: &[&str]) -> idlc::ir::Ir {
    let mut sources = SourceMap::new();
    for name in files {
        let text = std::fs::read_to_string(root().join("tests/libs").join(name)).unwrap();
        sources.add(format!("tests/libs/{name}"), text);
    }
    idlc::compile(&sources, &Default::default()).expect("test libraries compile")
}

fn write_c(ir: &idlc::ir::Ir, dir: &Path) -> Vec<PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut sources = Vec::new();
    for (name, text) in idlc::backend::c::generate(ir) {
        let path = dir.join(&name);
        std::fs::write(&path, text).unwrap();
        if name.ends_with(".c") {
            sources.push(path);
        }
    }
    sources
}

const FLAGS: &[&str] = &[
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Wpedantic",
    "-Werror",
    "-O1",
];

#[test]
fn c_runner_passes_every_conformance_case() {
    if !have_gcc() {
        eprintln!("gcc not found: the C backend is not checked");
        return;
    }
    let ir = compile(&["conformance.idl", "zx.idl"]);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c-conformance");
    let mut sources = write_c(&ir, &dir);
    let text = std::fs::read_to_string(root().join("conformance/cases/wire.json")).unwrap();
    let suite = idlc::gidl::Suite::parse(&text, &ir).unwrap();
    let runner = idlc::gidl::c::runner(&ir, &suite).unwrap();
    let runner_path = dir.join("runner.c");
    std::fs::write(&runner_path, runner).unwrap();
    sources.push(runner_path);
    let binary = dir.join("runner");
    let output = Command::new("gcc")
        .args(FLAGS)
        .args([
            "-g",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
        ])
        .arg("-I")
        .arg(&dir)
        .args(&sources)
        .arg("-o")
        .arg(&binary)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "gcc failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run = Command::new(&binary).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let total = suite.success.len() + suite.decode_failure.len() + suite.encode_failure.len();
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains(&format!("{total} passed, 0 failed")),
        "{stdout}"
    );
}

#[test]
fn every_test_library_compiles_warning_free() {
    if !have_gcc() {
        eprintln!("gcc not found: the C backend is not checked");
        return;
    }
    let ir = compile(&[
        "everything.idl",
        "conformance.idl",
        "fuchsia/io.idl",
        "fuchsia/unknown.idl",
        "zx.idl",
    ]);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c-libraries");
    let sources = write_c(&ir, &dir);
    for source in sources {
        let output = Command::new("gcc")
            .args(FLAGS)
            .arg("-c")
            .arg("-I")
            .arg(&dir)
            .arg(&source)
            .arg("-o")
            .arg(source.with_extension("o"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}:\n{}",
            source.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
