//! The Python backend: the conformance cases (`idlc/conformance/cases`)
//! run against the generated Python package by
//! `idlc/conformance/runners/python_cases.py`, and every test library's
//! package imports. Skipped (with a message) only when python3 is
//! missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use idlc::source::SourceMap;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn have_python() -> bool {
    Command::new("python3").arg("--version").output().is_ok()
}

fn compile(files: &[&str]) -> idlc::ir::Ir {
    let mut sources = SourceMap::new();
    for name in files {
        let text = std::fs::read_to_string(root().join("tests/libs").join(name)).unwrap();
        sources.add(format!("tests/libs/{name}"), text);
    }
    idlc::compile(&sources, &Default::default()).expect("test libraries compile")
}

/// Writes the package `name` under `dir` (which goes on `PYTHONPATH`).
fn write_package(ir: &idlc::ir::Ir, dir: &Path, name: &str) {
    let _ = std::fs::remove_dir_all(dir);
    let package = dir.join(name);
    std::fs::create_dir_all(&package).unwrap();
    for (file, text) in idlc::backend::python::generate(ir) {
        std::fs::write(package.join(file), text).unwrap();
    }
}

#[test]
fn python_runner_passes_every_conformance_case() {
    if !have_python() {
        eprintln!("python3 not found: the Python backend is not checked");
        return;
    }
    let ir = compile(&["conformance.idl", "zx.idl"]);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-conformance");
    write_package(&ir, &dir, "conformance_sdk");
    let cases = root().join("conformance/cases/wire.json");
    let text = std::fs::read_to_string(&cases).unwrap();
    let suite = idlc::gidl::Suite::parse(&text, &ir).unwrap();
    let run = Command::new("python3")
        .arg(root().join("conformance/runners/python_cases.py"))
        .arg("conformance_sdk")
        .arg(&cases)
        .env("PYTHONPATH", &dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
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
fn every_test_library_imports() {
    if !have_python() {
        eprintln!("python3 not found: the Python backend is not checked");
        return;
    }
    let ir = compile(&[
        "everything.idl",
        "conformance.idl",
        "fuchsia/io.idl",
        "fuchsia/unknown.idl",
        "zx.idl",
    ]);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-libraries");
    write_package(&ir, &dir, "libraries_sdk");
    let run = Command::new("python3")
        .args(["-W", "error", "-c"])
        .arg(
            "import libraries_sdk, libraries_sdk.fuchsia_io as io\n\
             data, _ = libraries_sdk._wire.encode(io.NodeAttributes2(mutable_attributes=io.MutableNodeAttributes(), immutable_attributes=io.ImmutableNodeAttributes()))\n\
             assert libraries_sdk._wire.decode(io.NodeAttributes2, data) is not None\n\
             print('ok')",
        )
        .env("PYTHONPATH", &dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}

/// `<Protocol>Client.next_event()` over a scripted transport: a known
/// event decoded, an unknown flexible one returned by ordinal, an unknown
/// strict one and trailing bytes refused with their error kinds.
#[test]
fn clients_decode_events() {
    if !have_python() {
        eprintln!("python3 not found: the Python backend is not checked");
        return;
    }
    let ir = compile(&["everything.idl", "zx.idl"]);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-events");
    write_package(&ir, &dir, "events_sdk");
    let script = r#"
from events_sdk import _wire as w, test_everything as e

class Scripted:
    def __init__(self, messages):
        self.messages = list(messages)
    def next_event(self):
        return self.messages.pop(0)

def message(ordinal, body=None, flexible=False):
    return w.encode_message(w.Header(0, ordinal, flexible), body)[0]

overflow = e.Calculator.ON_OVERFLOW_ORDINAL
client = e.CalculatorClient(Scripted([
    message(overflow, e.CalculatorOnOverflowRequest(value=-7)),
    message(0x1234, flexible=True) + bytes(8),
    message(0x1234),
    message(overflow, e.CalculatorOnOverflowRequest(value=1)) + bytes(8),
]))
assert client.next_event() == w.Event("OnOverflow", overflow, e.CalculatorOnOverflowRequest(value=-7))
assert client.next_event() == w.Event(None, 0x1234)
for kind in ["unknown_ordinal", "extra_bytes"]:
    try:
        client.next_event()
        raise SystemExit(f"accepted: {kind}")
    except w.DecodeError as error:
        assert error.kind == kind, error.kind
storage = e.StorageClient(Scripted([message(e.Storage.ON_CHANGE_ORDINAL, e.Extensible(small=5), flexible=True)]))
event = storage.next_event()
assert event == w.Event("OnChange", e.Storage.ON_CHANGE_ORDINAL, e.Extensible(small=5)), event
print("events ok")
"#;
    let run = Command::new("python3")
        .args(["-W", "error", "-c", script])
        .env("PYTHONPATH", &dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && stdout.contains("events ok"),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// The Python decoder under hypothesis (bounded here; `docs/sdk.md` has
/// a longer run): no exception but `DecodeError`, and no invalid message
/// accepted (what decodes re-encodes to the same bytes and handles).
/// Installs hypothesis with pip when it is missing (the README's test
/// command sets up what the tests need).
#[test]
fn python_decoder_under_hypothesis() {
    if !have_python() {
        eprintln!("python3 not found: the Python backend is not checked");
        return;
    }
    let probe = Command::new("python3")
        .args(["-c", "import hypothesis"])
        .output()
        .unwrap();
    if !probe.status.success() {
        eprintln!("hypothesis is not installed; installing it (python3 -m pip install hypothesis)");
        let install = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "hypothesis"])
            .output()
            .unwrap();
        assert!(
            install.status.success(),
            "cannot install hypothesis (run: python3 -m pip install hypothesis): {}",
            String::from_utf8_lossy(&install.stderr)
        );
    }
    let ir = compile(&["conformance.idl", "zx.idl"]);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-fuzz");
    write_package(&ir, &dir, "fuzz_sdk");
    let run = Command::new("python3")
        .arg(root().join("conformance/runners/python_fuzz.py"))
        .arg("fuzz_sdk")
        .arg(root().join("conformance/cases/wire.json"))
        .arg("100")
        .env("PYTHONPATH", &dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("no invalid message accepted"), "{stdout}");
}
