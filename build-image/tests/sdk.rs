//! `build-image sdk`: the bundle for the system's IDL libraries is written
//! and each part builds where it is meant to be used: `cargo build` of the
//! Rust workspace (every library's crate and idlc-runtime, offline) and
//! `cargo doc` of it (warnings denied),
//! `make` of the C part with `-Werror`, an import of the Python
//! package that encodes and decodes an `examples.echo` request, and an
//! offline `pip install --no-index` of that package.

use std::path::Path;
use std::process::Command;

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{command:?} failed:\n{text}");
    text
}

#[test]
fn the_sdk_bundle_builds_in_every_language() {
    let root = build_image::systest::workspace_root();
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let out = tmp.join("sdk-bundle");
    let _ = std::fs::remove_dir_all(&out);
    let files = build_image::sdk::system_idl_files(&root).unwrap();
    let bundle = build_image::sdk::write(&root, &files, &out).unwrap();
    assert!(bundle.libraries.iter().any(|l| l == "examples.echo"));
    for library in &bundle.libraries {
        assert!(out.join("ir").join(format!("{library}.json")).is_file());
        let page = std::fs::read_to_string(out.join("docs").join(format!("{library}.md"))).unwrap();
        assert!(page.starts_with(&format!("# `{library}`")));
    }
    let echo_docs = std::fs::read_to_string(out.join("docs/examples.echo.md")).unwrap();
    assert!(echo_docs.contains("#### `EchoString` (strict, two-way"));
    assert!(echo_docs.contains("Returns `value` unchanged."));

    // Rust: every crate of the workspace builds for the host.
    run(Command::new(env!("CARGO"))
        .args(["build", "--offline", "--quiet"])
        .current_dir(out.join("rust"))
        .env("CARGO_TARGET_DIR", tmp.join("sdk-bundle-target")));
    let lib = std::fs::read_to_string(out.join("rust/examples_echo/src/lib.rs")).unwrap();
    assert!(lib.contains("//! The example protocol every newcomer reads first."));
    // `cargo doc` works, without a warning, and carries the IDL's doc
    // comments.
    run(Command::new(env!("CARGO"))
        .args(["doc", "--offline", "--no-deps", "--quiet"])
        .current_dir(out.join("rust"))
        .env("RUSTDOCFLAGS", "-D warnings")
        .env("CARGO_TARGET_DIR", tmp.join("sdk-bundle-target")));
    let page = std::fs::read_to_string(tmp.join("sdk-bundle-target/doc/examples_echo/index.html"))
        .unwrap();
    assert!(page.contains("The example protocol every newcomer reads first."));

    // C: the library archive, warning-free (make is installed when
    // missing; cc is the Rust toolchain's linker, always there).
    let make =
        build_image::host::ensure(build_image::host::MAKE).unwrap_or_else(|e| panic!("{e:#}"));
    run(Command::new(make)
        .arg("-s")
        .arg("CFLAGS=-std=c11 -Wall -Wextra -Werror -O1")
        .current_dir(out.join("c")));
    assert!(out.join("c/libidl.a").is_file());

    // Python: the package imports and round-trips a request.
    let python =
        build_image::host::ensure(build_image::host::PYTHON).unwrap_or_else(|e| panic!("{e:#}"));
    {
        let script = format!(
            "from {pkg} import _wire, examples_echo as e\n\
             data, handles = _wire.encode(e.EchoEchoStringRequest(value='hi'))\n\
             assert data == bytes([2,0,0,0,0,0,0,0] + [255]*8 + [0x68,0x69,0,0,0,0,0,0]), data\n\
             assert _wire.decode(e.EchoEchoStringRequest, data) == e.EchoEchoStringRequest(value='hi')\n\
             print(e.Echo.NAME)",
            pkg = build_image::sdk::PYTHON_PACKAGE
        );
        let printed = run(Command::new(&python)
            .args(["-W", "error", "-c", &script])
            .env("PYTHONPATH", out.join("python"))
            .env("PYTHONDONTWRITEBYTECODE", "1"));
        assert!(printed.contains("examples.echo.Echo"), "{printed}");
        assert!(out.join("python/pyproject.toml").is_file());
    }

    // Python: `pip install --no-index` works offline (the build backend is
    // in the package, standard library only); the installed copy imports.
    {
        let site = tmp.join("sdk-bundle-site");
        let _ = std::fs::remove_dir_all(&site);
        run(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-index",
                "--no-cache-dir",
            ])
            .arg("--target")
            .arg(&site)
            .arg(out.join("python"))
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1"));
        let script = format!(
            "import {pkg}, os\n\
             from {pkg} import examples_echo as e\n\
             assert os.path.dirname({pkg}.__file__).startswith({site:?}), {pkg}.__file__\n\
             print(e.Echo.NAME)",
            pkg = build_image::sdk::PYTHON_PACKAGE,
            site = site.display().to_string()
        );
        let printed = run(Command::new(&python)
            .args(["-c", &script])
            .env("PYTHONPATH", &site)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(tmp));
        assert!(printed.contains("examples.echo.Echo"), "{printed}");
        let dist_info = std::fs::read_dir(&site)
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().ends_with(".dist-info"));
        assert!(dist_info, "pip installed no .dist-info");
    }
}
