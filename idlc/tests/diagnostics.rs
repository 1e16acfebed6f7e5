//! One failing input per diagnostic code, with a snapshot of the rendered
//! error beside its source: `tests/diagnostics/idl-NNNN.idl` → `.snap`.
//!
//! An input may hold several files, each introduced by `//# file: NAME`,
//! and `//# with: zx` adds the test `zx` library. Regenerate snapshots with
//! `UPDATE_GOLDENS=1 cargo test -p idlc`.

use idlc::diagnostics::ErrorCode;
use idlc::source::SourceMap;

fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics")
}

fn load(code: ErrorCode) -> (String, SourceMap) {
    let name = format!("{}.idl", code.code());
    let text = std::fs::read_to_string(dir().join(&name))
        .unwrap_or_else(|_| panic!("missing failing input tests/diagnostics/{name}"));
    let mut sources = SourceMap::new();
    let mut current_name = name.clone();
    let mut current = String::new();
    let mut files = Vec::new();
    for line in text.lines() {
        if let Some(file) = line.strip_prefix("//# file: ") {
            if !current.trim().is_empty() {
                files.push((current_name.clone(), std::mem::take(&mut current)));
            }
            current.clear();
            current_name = file.trim().to_string();
            continue;
        }
        if line.trim() == "//# with: zx" {
            let zx = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/libs/zx.idl");
            files.push(("zx.idl".into(), std::fs::read_to_string(zx).unwrap()));
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    files.push((current_name, current));
    for (name, text) in files {
        sources.add(name, text);
    }
    (text, sources)
}

fn render(sources: &SourceMap, diagnostics: &[idlc::diagnostics::Diagnostic]) -> String {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100);
    let mut out = String::new();
    for d in diagnostics {
        out.push_str(&d.one_line(sources));
        out.push('\n');
        handler.render_report(&mut out, &d.report(sources)).unwrap();
        out.push('\n');
    }
    out
}

#[test]
fn every_code_has_a_failing_input_and_snapshot() {
    let update = std::env::var_os("UPDATE_GOLDENS").is_some();
    let mut failures = Vec::new();
    for &code in ErrorCode::ALL {
        let (text, sources) = load(code);
        let diagnostics = match idlc::compile(&sources, &Default::default()) {
            Ok(_) => {
                failures.push(format!("{code}: input compiled without errors"));
                continue;
            }
            Err(d) => d,
        };
        if !diagnostics.iter().any(|d| d.code == code) {
            let got: Vec<String> = diagnostics.iter().map(|d| d.code.code()).collect();
            failures.push(format!("{code}: expected this code, got {got:?}"));
        }
        let snapshot = format!(
            "--- source ---\n{text}--- diagnostics ---\n{}",
            render(&sources, &diagnostics)
        );
        let path = dir().join(format!("{}.snap", code.code()));
        if update {
            std::fs::write(&path, &snapshot).unwrap();
        } else {
            match std::fs::read_to_string(&path) {
                Ok(expected) if expected == snapshot => {}
                Ok(_) => failures.push(format!(
                    "{code}: snapshot differs (UPDATE_GOLDENS=1 to accept)"
                )),
                Err(_) => failures.push(format!(
                    "{code}: snapshot missing (UPDATE_GOLDENS=1 to create)"
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_code_is_documented() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/idl-errors.md"),
    )
    .unwrap();
    for &code in ErrorCode::ALL {
        assert!(
            doc.contains(&format!("## {}", code.code())),
            "{code} is not in docs/idl-errors.md"
        );
    }
}
