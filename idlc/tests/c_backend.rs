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

/// `<Protocol>_next_event` over a scripted transport: a known event
/// decoded, an unknown flexible one returned by ordinal, an unknown strict
/// one and trailing bytes refused with their statuses.
#[test]
fn clients_decode_events() {
    if !have_gcc() {
        eprintln!("gcc not found: the C backend is not checked");
        return;
    }
    let ir = compile(&["everything.idl", "zx.idl"]);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c-events");
    let mut sources = write_c(&ir, &dir);
    let test = dir.join("events_test.c");
    std::fs::write(&test, C_EVENTS_TEST).unwrap();
    sources.push(test);
    let binary = dir.join("events_test");
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
    assert!(
        run.status.success() && stdout.contains("events ok"),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

const C_EVENTS_TEST: &str = r#"
#include <stdio.h>
#include <string.h>
#include "test_everything.h"

/* Messages handed out one by one by `next_event`. */
static uint8_t messages[4][64];
static size_t sizes[4];
static size_t next;

static idl_status_t scripted(void *context, uint8_t *event, size_t capacity, size_t *size) {
  (void)context;
  if (next == 4 || sizes[next] > capacity) return IDL_ERR_TRANSPORT;
  memcpy(event, messages[next], sizes[next]);
  *size = sizes[next];
  next++;
  return IDL_OK;
}

static void message(size_t i, uint64_t ordinal, bool flexible, int64_t value, size_t extra) {
  idl_header_t header = {0, flexible, ordinal};
  idl_encode_header(&header, messages[i]);
  size_t size = IDL_HEADER_SIZE;
  if (value != 0) {
    test_everything_CalculatorOnOverflowRequest body = {value};
    size_t body_size = 0, handles = 0;
    if (test_everything_CalculatorOnOverflowRequest_encode(&body, messages[i] + size, 48, &body_size,
                                                           NULL, 0, &handles) != IDL_OK) {
      printf("encode failed\n");
    }
    size += body_size;
  }
  memset(messages[i] + size, 0, extra);
  sizes[i] = size + extra;
}

#define CHECK(condition) \
  if (!(condition)) { printf("failed: %s\n", #condition); return 1; }

int main(void) {
  message(0, test_everything_Calculator_OnOverflow_ORDINAL, false, -7, 0);
  message(1, 0x1234, true, 0, 8);
  message(2, 0x1234, false, 0, 0);
  message(3, test_everything_Calculator_OnOverflow_ORDINAL, false, 1, 8);
  idl_transport_t transport = {NULL, NULL, NULL, scripted};
  uint8_t buffer[64];
  uint64_t arena[8];
  test_everything_Calculator_event event;
  CHECK(test_everything_Calculator_next_event(&transport, buffer, sizeof buffer, arena,
                                              sizeof arena, &event) == IDL_OK);
  CHECK(event.ordinal == test_everything_Calculator_OnOverflow_ORDINAL);
  CHECK(event.payload.OnOverflow.value == -7);
  CHECK(test_everything_Calculator_next_event(&transport, buffer, sizeof buffer, arena,
                                              sizeof arena, &event) == IDL_OK);
  CHECK(event.ordinal == 0x1234);
  CHECK(test_everything_Calculator_next_event(&transport, buffer, sizeof buffer, arena,
                                              sizeof arena, &event) == IDL_ERR_UNKNOWN_ORDINAL);
  CHECK(test_everything_Calculator_next_event(&transport, buffer, sizeof buffer, arena,
                                              sizeof arena, &event) == IDL_ERR_EXTRA_BYTES);
  CHECK(strcmp(idl_status_name(IDL_ERR_UNKNOWN_ORDINAL), "unknown_ordinal") == 0);
  printf("events ok\n");
  return 0;
}
"#;

/// The C decoder under a mutation fuzzer (bounded here; `docs/sdk.md`
/// has the longer run and the libFuzzer build), with address and
/// undefined-behaviour sanitizers: no crash, no out-of-bounds access, and
/// no invalid message accepted (what decodes re-encodes to itself).
#[test]
fn c_decoder_under_the_fuzzer() {
    if !have_gcc() {
        eprintln!("gcc not found: the C backend is not checked");
        return;
    }
    let ir = compile(&["conformance.idl", "zx.idl"]);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c-fuzz");
    let mut sources = write_c(&ir, &dir);
    let text = std::fs::read_to_string(root().join("conformance/cases/wire.json")).unwrap();
    let suite = idlc::gidl::Suite::parse(&text, &ir).unwrap();
    let target = dir.join("fuzz.c");
    std::fs::write(&target, idlc::gidl::c::fuzz_target(&ir, &suite)).unwrap();
    sources.push(target);
    let binary = dir.join("fuzz");
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
    let run = Command::new(&binary)
        .args(["200000", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("every accepted one canonical"), "{stdout}");
}
