//! The `idlc` binary: subcommands, library lookup, exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn idlc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_idlc"))
}

fn libs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/libs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("idlc-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn check_succeeds_with_library_path() {
    let status = idlc()
        .arg("check")
        .arg(libs().join("everything.idl"))
        .arg("--library-path")
        .arg(libs())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn missing_library_is_a_diagnostic() {
    let output = idlc()
        .arg("check")
        .arg(libs().join("everything.idl"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("everything.idl:5:7: error[idl-0008]: unknown library `zx`"),
        "{stderr}"
    );
}

#[test]
fn diagnostics_have_locations_and_snippets() {
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics/idl-0021.idl");
    let output = idlc().arg("check").arg(&input).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("idl-0021.idl:5:9: error[idl-0021]"),
        "{stderr}"
    );
    assert!(stderr.contains("B = 3;"), "the snippet is shown: {stderr}");
    assert!(stderr.contains("idlc: 1 error"), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(idlc().arg("frobnicate").status().unwrap().code(), Some(2));
    assert_eq!(idlc().arg("check").status().unwrap().code(), Some(2));
    let missing = idlc()
        .args(["check", "/nonexistent/file.idl"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}

#[test]
fn compile_then_generate_rust() {
    let dir = scratch("gen");
    let ir = dir.join("lib.ir.json");
    let status = idlc()
        .arg("compile")
        .arg(libs().join("conformance.idl"))
        .arg("-L")
        .arg(libs())
        .arg("--ir")
        .arg(&ir)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let text = std::fs::read_to_string(&ir).unwrap();
    let parsed = idlc::ir::Ir::from_json(&text).unwrap();
    assert_eq!(parsed.libraries.len(), 2);

    let out = dir.join("rust");
    let status = idlc()
        .args(["gen", "rust", "--ir"])
        .arg(&ir)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let code = std::fs::read_to_string(out.join("test_conformance.rs")).unwrap();
    assert!(code.starts_with(idlc::backend::rust::BANNER));
    assert!(out.join("zx.rs").exists());

    std::fs::write(dir.join("bad.json"), "{").unwrap();
    let status = idlc()
        .args(["gen", "rust", "--ir"])
        .arg(dir.join("bad.json"))
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn available_selects_a_version() {
    let dir = scratch("available");
    let file = dir.join("versioned.idl");
    std::fs::write(
        &file,
        "library versioned;\n@available(added=2)\ntype New = struct {};\ntype User = struct { n New; };\n",
    )
    .unwrap();
    let at = |version: &str| {
        idlc()
            .arg("check")
            .arg(&file)
            .args(["--available", version])
            .output()
            .unwrap()
    };
    assert_eq!(at("2").status.code(), Some(0));
    let old = at("1");
    assert_eq!(old.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&old.stderr).contains("idl-0007"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn available_accepts_head_next_numbers_and_platforms() {
    let dir = scratch("available-words");
    let file = dir.join("versioned.idl");
    std::fs::write(
        &file,
        "@available(added=1)\nlibrary versioned;\n@available(added=NEXT)\ntype New = struct {};\n",
    )
    .unwrap();
    let at = |versions: &[&str]| {
        let mut command = idlc();
        command.arg("check").arg(&file);
        for version in versions {
            command.args(["--available", version]);
        }
        command.output().unwrap()
    };
    for versions in [
        &["HEAD"][..],
        &["NEXT"],
        &["1"],
        &["versioned:2"],
        &["versioned:HEAD", "1"],
    ] {
        let output = at(versions);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{versions:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    for bad in ["0", "head", "versioned:", "V:1", "2147483648"] {
        let output = at(&[bad]);
        assert_eq!(output.status.code(), Some(2), "{bad}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("--available"),
            "{bad}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// A file that is not UTF-8 is named with the byte offset, line and
/// column of its first bad byte (issue 16).
#[test]
fn a_non_utf8_file_is_named_with_its_offset() {
    let dir = scratch("non-utf8");
    let file = dir.join("bad.idl");
    std::fs::write(
        &file,
        b"library bad;\ntype T = struct {\n    x \xff bool;\n};\n",
    )
    .unwrap();
    let output = idlc().arg("check").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bad.idl: not UTF-8 at byte 37 (line 3, column 7)"),
        "{stderr}"
    );
}

/// `--library-path DIR` also finds a library in a file of DIR that
/// declares it, whatever the file is called (issue 16).
#[test]
fn library_path_finds_a_file_that_declares_the_library() {
    let dir = scratch("declaring");
    std::fs::write(
        dir.join("shapes_v1.idl"),
        "library geometry.shapes;\n\ntype Point = struct {\n    x int32;\n};\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("main.idl"),
        "library app;\n\nusing geometry.shapes;\n\ntype Line = struct {\n    from geometry.shapes.Point;\n};\n",
    )
    .unwrap();
    let output = idlc()
        .arg("check")
        .arg(dir.join("main.idl"))
        .arg("--library-path")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A missing `;` is reported as such, after the token that needs it, not
/// as whatever the next line cannot be (issue 16).
#[test]
fn a_missing_semicolon_says_so() {
    let dir = scratch("semicolon");
    let file = dir.join("greeter.idl");
    std::fs::write(
        &file,
        "library greeter;\n\n@discoverable\nclosed protocol Greeter {\n    strict Greet(struct {\n        name string:256\n        polite bool;\n    });\n};\n",
    )
    .unwrap();
    let output = idlc().arg("check").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("greeter.idl:6:24: error[idl-0001]: missing `;`"),
        "{stderr}"
    );
    // An attribute alone on its line is not a missing `;`.
    std::fs::write(
        &file,
        "library greeter;\n\n@discoverable\nprotocl Greeter {};\n",
    )
    .unwrap();
    let output = idlc().arg("check").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("missing `;`"), "{stderr}");
}

/// Two labels of one diagnostic far apart are shown in two snippets, not
/// with every line between them (issue 16).
#[test]
fn far_apart_labels_elide_the_lines_between() {
    let dir = scratch("far");
    let file = dir.join("far.idl");
    let mut text = String::from("library far;\n\ntype A = struct {};\n");
    for i in 0..20 {
        text.push_str(&format!("// filler {i}\n"));
    }
    text.push_str("type A = struct {};\n");
    std::fs::write(&file, text).unwrap();
    let output = idlc().arg("check").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("declared again here"), "{stderr}");
    assert!(stderr.contains("first declared here"), "{stderr}");
    assert!(!stderr.contains("filler 10"), "{stderr}");
}

/// A library not found on `--library-path` says where it was sought
/// (issue 16).
#[test]
fn a_library_not_found_says_where_it_was_sought() {
    let dir = scratch("sought");
    std::fs::write(
        dir.join("app.idl"),
        "library app;\n\nusing nowhere.lib;\n\ntype T = struct {\n    x nowhere.lib.P;\n};\n",
    )
    .unwrap();
    let output = idlc()
        .arg("check")
        .arg(dir.join("app.idl"))
        .arg("--library-path")
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let dir = dir.display();
    assert!(
        stderr.contains(&format!(
            "searched {dir}/nowhere.lib/*.idl, {dir}/nowhere/lib/*.idl"
        )),
        "{stderr}"
    );
}
