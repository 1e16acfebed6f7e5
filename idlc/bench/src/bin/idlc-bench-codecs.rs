//! The wire benchmark's four messages through the C and Python codecs
//! idlc generates, beside the Rust one: decode (with full validation) and
//! encode, median of several timed batches, host CPU. Writes the section
//! "idlc: C and Python codecs" of `docs/performance.md` with `--write`
//! (the criterion section "idlc" is `idlc-bench-report`'s).
//!
//! Usage: `cargo run --release -p idlc-bench --bin idlc-bench-codecs [--write]`
//! (needs gcc and python3).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use idlc_bench::bench as idl;

const HEADING: &str = "## idlc: C and Python codecs";
const MESSAGES: &[(&str, &str, &str)] = &[
    ("small_struct", "Small", "small struct (u64, 2 × i32, bool)"),
    ("bytes_4k", "Blob", "4 KiB byte vector"),
    ("tree_63", "TreeNode", "tree of 63 nodes"),
    (
        "log_record",
        "LogRecord",
        "log-record-like table (8 fields, 3 strings)",
    ),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tree(depth: u32, value: &mut u64) -> idl::TreeNode {
    *value += 1;
    let me = *value;
    let children = if depth == 0 {
        vec![]
    } else {
        vec![tree(depth - 1, value), tree(depth - 1, value)]
    };
    idl::TreeNode {
        value: me,
        children,
    }
}

fn encode<T: idlc_runtime::Wire>(mut value: T) -> Vec<u8> {
    let mut bytes = Vec::new();
    idlc_runtime::encode(&mut value, &mut bytes, &mut Vec::new()).expect("encodes");
    bytes
}

/// Median nanoseconds per call of `f` over 15 batches of `n` calls.
fn time(n: u32, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..15)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(n)
        })
        .collect();
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[samples.len() / 2]
}

fn rust_times(name: &str, bytes: &[u8]) -> (f64, f64) {
    fn both<T: idlc_runtime::Wire + Clone>(bytes: &[u8]) -> (f64, f64) {
        let value: T = idlc_runtime::decode(bytes, &mut []).expect("decodes");
        let decode = time(2000, || {
            let v: T = idlc_runtime::decode(std::hint::black_box(bytes), &mut []).unwrap();
            std::hint::black_box(v);
        });
        let mut out = Vec::with_capacity(bytes.len());
        let encode = time(2000, || {
            out.clear();
            let mut v = value.clone();
            idlc_runtime::encode(&mut v, &mut out, &mut Vec::new()).unwrap();
            std::hint::black_box(&out);
        });
        (decode, encode)
    }
    match name {
        "small_struct" => both::<idl::Small>(bytes),
        "bytes_4k" => both::<idl::Blob>(bytes),
        "tree_63" => both::<idl::TreeNode>(bytes),
        _ => both::<idl::LogRecord>(bytes),
    }
}

fn c_program(messages: &[(String, Vec<u8>)]) -> String {
    let mut out = String::from(
        "#define _POSIX_C_SOURCE 199309L\n#include \"bench.h\"\n#include <stdio.h>\n#include <time.h>\n\n\
         static uint64_t arena[1 << 14];\nstatic uint8_t buffer[1 << 16];\nstatic idl_handle_disposition_t handles[4];\n\
         static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }\n\
         static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }\n\
         #define N 2000\n\
         #define MEASURE(T, BYTES)                                                   \\\n\
         do {                                                                        \\\n\
           T value; size_t n, h; double d[15], e[15];                                 \\\n\
           for (int s = 0; s < 15; s++) {                                           \\\n\
             double t0 = now();                                                      \\\n\
             for (int i = 0; i < N; i++)                                             \\\n\
               if (T##_decode(BYTES, sizeof BYTES, NULL, 0, arena, sizeof arena, &value) != IDL_OK) return 1; \\\n\
             double t1 = now();                                                      \\\n\
             for (int i = 0; i < N; i++)                                             \\\n\
               if (T##_encode(&value, buffer, sizeof buffer, &n, handles, 4, &h) != IDL_OK) return 1; \\\n\
             double t2 = now();                                                      \\\n\
             d[s] = (t1 - t0) / N; e[s] = (t2 - t1) / N;                              \\\n\
           }                                                                         \\\n\
           qsort(d, 15, sizeof d[0], cmp); qsort(e, 15, sizeof e[0], cmp);            \\\n\
           printf(\"%s %.1f %.1f\\n\", #T, d[7], e[7]);                               \\\n\
         } while (0)\n\n#include <stdlib.h>\n",
    );
    for (i, (_, bytes)) in messages.iter().enumerate() {
        out.push_str(&format!(
            "static const uint8_t m{i}[] = {{{}}};\n",
            bytes
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    out.push_str("\nint main(void) {\n");
    for (i, (ty, _)) in messages.iter().enumerate() {
        out.push_str(&format!("  MEASURE(bench_{ty}, m{i});\n"));
    }
    out.push_str("  return 0;\n}\n");
    out
}

const PYTHON: &str = r#"
import sys, time
from bench_sdk import _wire, bench
results = []
for name, hexbytes in zip(sys.argv[1::2], sys.argv[2::2]):
    cls = getattr(bench, name)
    data = bytes.fromhex(hexbytes)
    value = _wire.decode(cls, data)
    def median(f, n):
        samples = []
        for _ in range(7):
            t0 = time.perf_counter_ns()
            for _ in range(n):
                f()
            samples.append((time.perf_counter_ns() - t0) / n)
        return sorted(samples)[3]
    n = 200
    print(name, median(lambda: _wire.decode(cls, data), n), median(lambda: _wire.encode(value), n))
"#;

fn format_ns(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.1} ns")
    }
}

fn main() {
    let write = std::env::args().any(|a| a == "--write");
    let data: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    let values = [
        encode(idl::Small {
            id: 42,
            x: -1,
            y: 7,
            flag: true,
        }),
        encode(idl::Blob { data }),
        encode(tree(5, &mut 0)),
        encode(idl::LogRecord {
            timestamp: Some(1_700_000_000_000),
            severity: Some(3),
            tag: Some("netstack".into()),
            message: Some(
                "connection from 10.0.0.1 closed after 1532 ms (reason: peer reset)".into(),
            ),
            pid: Some(1234),
            tid: Some(5678),
            file: Some("src/connectivity/network/tcp.rs".into()),
            line: Some(321),
            ..Default::default()
        }),
    ];
    let messages: Vec<(String, Vec<u8>)> = MESSAGES
        .iter()
        .zip(values)
        .map(|((_, ty, _), bytes)| (ty.to_string(), bytes))
        .collect();

    let text = std::fs::read_to_string(root().join("idlc/bench/bench.idl")).expect("bench.idl");
    let mut sources = idlc::source::SourceMap::new();
    sources.add("bench.idl", text);
    let ir = idlc::compile(&sources, &Default::default()).expect("bench.idl compiles");
    let dir = std::env::temp_dir().join(format!("idlc-bench-codecs-{}", std::process::id()));
    let c_dir = dir.join("c");
    std::fs::create_dir_all(&c_dir).unwrap();
    let mut c_files = Vec::new();
    for (file, code) in idlc::backend::c::generate(&ir) {
        std::fs::write(c_dir.join(&file), code).unwrap();
        if file.ends_with(".c") {
            c_files.push(c_dir.join(file));
        }
    }
    std::fs::write(c_dir.join("main.c"), c_program(&messages)).unwrap();
    c_files.push(c_dir.join("main.c"));
    let status = Command::new("gcc")
        .args(["-std=c11", "-O2", "-I"])
        .arg(&c_dir)
        .args(&c_files)
        .arg("-o")
        .arg(c_dir.join("bench"))
        .status()
        .expect("gcc runs");
    assert!(status.success(), "gcc failed");
    let c_out = Command::new(c_dir.join("bench")).output().expect("runs");
    let c_text = String::from_utf8_lossy(&c_out.stdout).to_string();

    let package = dir.join("py/bench_sdk");
    std::fs::create_dir_all(&package).unwrap();
    for (file, code) in idlc::backend::python::generate(&ir) {
        std::fs::write(package.join(file), code).unwrap();
    }
    let mut python = Command::new("python3");
    python
        .arg("-c")
        .arg(PYTHON)
        .env("PYTHONPATH", dir.join("py"));
    for (ty, bytes) in &messages {
        python
            .arg(ty)
            .arg(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
    }
    let py_out = python.output().expect("python3 runs");
    assert!(
        py_out.status.success(),
        "{}",
        String::from_utf8_lossy(&py_out.stderr)
    );
    let py_text = String::from_utf8_lossy(&py_out.stdout).to_string();
    let _ = std::fs::remove_dir_all(&dir);

    let lookup = |text: &str, key: &str| -> (f64, f64) {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no result for {key} in {text}"));
        let parts: Vec<f64> = line
            .split_whitespace()
            .skip(1)
            .map(|p| p.parse().unwrap())
            .collect();
        (parts[0], parts[1])
    };
    let mut section = format!(
        "{HEADING}\n\nThe same four messages through the C and Python codecs idlc generates\n\
         (`idlc gen c`, `idlc gen python`; `docs/sdk.md`), beside the Rust one: decode\n\
         with full validation, then encode, median of timed batches on the host CPU\n\
         (C: gcc -O2; Python {}). Rust is timed the same way here, not by\n\
         criterion, and its encode includes cloning the value (Rust encoding moves\n\
         handles out, so it takes `&mut`). Times move by 10–20 % between runs on\n\
         this 2-core machine. Reproduce (and rewrite this section) with:\n\n\
         ```sh\ncargo run --release -p idlc-bench --bin idlc-bench-codecs -- --write\n```\n\n\
         | message | decode Rust | C | Python | encode Rust | C | Python |\n|---|--:|--:|--:|--:|--:|--:|\n",
        String::from_utf8_lossy(
            &Command::new("python3")
                .arg("--version")
                .output()
                .map(|o| o.stdout)
                .unwrap_or_default()
        )
        .trim()
        .trim_start_matches("Python ")
    );
    for ((key, ty, label), (_, bytes)) in MESSAGES.iter().zip(&messages) {
        let (rust_decode, rust_encode) = rust_times(key, bytes);
        let (c_decode, c_encode) = lookup(&c_text, &format!("bench_{ty}"));
        let (py_decode, py_encode) = lookup(&py_text, ty);
        section.push_str(&format!(
            "| {label} | {} | {} | {} | {} | {} | {} |\n",
            format_ns(rust_decode),
            format_ns(c_decode),
            format_ns(py_decode),
            format_ns(rust_encode),
            format_ns(c_encode),
            format_ns(py_encode)
        ));
    }
    section.push_str(
        "\nThe C codec validates byte by byte through small runtime calls and decodes\n\
         into a caller's arena; the Python codec interprets each type's layout\n\
         description, so it is for tools and tests, not hot paths.\n",
    );
    if !write {
        print!("{section}");
        return;
    }
    let path = root().join("docs/performance.md");
    let doc = std::fs::read_to_string(&path).expect("docs/performance.md");
    let updated = match doc.find(HEADING) {
        Some(start) => {
            let rest = &doc[start + HEADING.len()..];
            let end = rest
                .find("\n## ")
                .map_or(doc.len(), |i| start + HEADING.len() + i + 1);
            format!("{}{section}{}", &doc[..start], &doc[end..])
        }
        None => format!(
            "{}\n{section}",
            doc.trim_end_matches('\n').to_string() + "\n"
        ),
    };
    std::fs::write(&path, updated).expect("writes docs/performance.md");
    println!("wrote the section \"{HEADING}\" of docs/performance.md");
}
