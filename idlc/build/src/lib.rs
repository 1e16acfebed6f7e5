//! Generate Rust bindings for FIDL libraries from a `build.rs`, the way
//! `prost-build` does for protobuf.
//!
//! ```no_run
//! // build.rs, in `fn main`:
//! idlc_build::Builder::new()
//!     .file("idl/my.library.idl")
//!     .library_path("../../idl")
//!     .compile()
//!     .unwrap_or_else(|e| panic!("{e}"));
//! ```
//!
//! ```ignore
//! // src/lib.rs: every compiled library becomes a module, side by side.
//! include!(concat!(env!("OUT_DIR"), "/idl.rs"));
//! ```
//!
//! The crate needs `idlc-runtime` as a dependency. Generated modules are
//! named after their library (`my.library` → `my_library`), dependencies
//! included, so references between libraries (`super::zx::…`) resolve.
//! Diagnostics are reported as `file:line:col: error[idl-NNNN]: …` lines
//! in the returned error; every file read is announced with
//! `cargo:rerun-if-changed`.

use std::fmt;
use std::path::{Path, PathBuf};

use idlc::driver::{self, LoadError};
use idlc::resolve::ResolveOptions;
use idlc::versioning::Selection;
use idlc::CompileOptions;

#[derive(Clone, Debug, Default)]
pub struct Builder {
    files: Vec<PathBuf>,
    library_paths: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
    available: Vec<String>,
    emit_rerun: bool,
    handle_type: Option<String>,
}

#[derive(Debug)]
pub enum Error {
    /// A file could not be read or written.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The sources have errors, one `file:line:col: …` line each.
    Diagnostics(Vec<String>),
    /// `OUT_DIR` is not set and no output directory was given.
    NoOutDir,
    /// A version given to [`Builder::available`] is invalid.
    InvalidVersion(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, error } => write!(f, "{}: {error}", path.display()),
            Error::Diagnostics(lines) => {
                writeln!(f, "idlc found {} error(s):", lines.len())?;
                for line in lines {
                    writeln!(f, "{line}")?;
                }
                Ok(())
            }
            Error::NoOutDir => f.write_str("OUT_DIR is not set; call Builder::out_dir"),
            Error::InvalidVersion(message) => write!(f, "available: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// What [`Builder::compile`] wrote.
#[derive(Debug)]
pub struct Output {
    /// The module file to `include!` (`OUT_DIR/idl.rs`).
    pub root: PathBuf,
    /// One file per library.
    pub libraries: Vec<PathBuf>,
}

impl Builder {
    pub fn new() -> Builder {
        Builder {
            emit_rerun: true,
            ..Builder::default()
        }
    }

    /// Adds a source file (its library and those it uses are compiled).
    pub fn file(mut self, path: impl AsRef<Path>) -> Builder {
        self.files.push(path.as_ref().to_path_buf());
        self
    }

    pub fn files<P: AsRef<Path>>(mut self, paths: impl IntoIterator<Item = P>) -> Builder {
        self.files
            .extend(paths.into_iter().map(|p| p.as_ref().to_path_buf()));
        self
    }

    /// A directory where libraries named by `using` are looked up.
    pub fn library_path(mut self, dir: impl AsRef<Path>) -> Builder {
        self.library_paths.push(dir.as_ref().to_path_buf());
        self
    }

    /// Where to write (default: `OUT_DIR`).
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Builder {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Generates the bindings of this version: `[PLATFORM:]VERSION`, where
    /// the version is a number, `NEXT` or `HEAD` (the default). Without a
    /// platform it applies to every platform not named otherwise. May be
    /// given once per platform.
    pub fn available(mut self, version: impl Into<String>) -> Builder {
        self.available.push(version.into());
        self
    }

    /// The Rust type of handles in generated values, an
    /// `idlc_runtime::OwnedHandle` such as the SDK's kernel handle (default:
    /// `idlc_runtime::Handle`, a plain number). A path relative to the
    /// generated modules may start with `super::`.
    pub fn handle_type(mut self, path: impl Into<String>) -> Builder {
        self.handle_type = Some(path.into());
        self
    }

    /// Whether to print `cargo:rerun-if-changed` lines (default: yes).
    pub fn emit_rerun_if_changed(mut self, emit: bool) -> Builder {
        self.emit_rerun = emit;
        self
    }

    pub fn compile(&self) -> Result<Output, Error> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(Error::NoOutDir)?,
        };
        let versions = Selection::parse(self.available.iter().map(String::as_str))
            .map_err(Error::InvalidVersion)?;
        let options = CompileOptions {
            resolve: ResolveOptions { versions },
        };
        let compilation = driver::compile_files(&self.files, &self.library_paths, &options);
        if self.emit_rerun {
            for path in compilation.paths.iter().chain(&self.files) {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        let ir = match compilation.result {
            Ok(ir) => ir,
            Err(LoadError::Io { path, error }) => return Err(Error::Io { path, error }),
            Err(LoadError::Diagnostics(diagnostics)) => {
                return Err(Error::Diagnostics(
                    diagnostics
                        .iter()
                        .map(|d| d.one_line(&compilation.sources))
                        .collect(),
                ))
            }
        };
        let write = |path: &Path, text: &str| {
            std::fs::write(path, text).map_err(|error| Error::Io {
                path: path.to_path_buf(),
                error,
            })
        };
        std::fs::create_dir_all(&out_dir).map_err(|error| Error::Io {
            path: out_dir.clone(),
            error,
        })?;
        let mut root = String::from(idlc::backend::rust::BANNER);
        root.push('\n');
        let mut libraries = Vec::new();
        let mut rust = idlc::backend::rust::RustOptions::default();
        if let Some(handle_type) = &self.handle_type {
            rust.handle_type = handle_type.clone();
        }
        for (file, code) in idlc::backend::rust::generate_with(&ir, &rust) {
            let code = driver::rustfmt(&code).unwrap_or(code);
            let path = out_dir.join(&file);
            write(&path, &code)?;
            let module = file.trim_end_matches(".rs");
            root.push_str(&format!(
                "\n#[allow(clippy::all, dead_code)]\npub mod {module} {{\n    include!({:?});\n}}\n",
                path.display().to_string()
            ));
            libraries.push(path);
        }
        let root_path = out_dir.join("idl.rs");
        write(&root_path, &root)?;
        Ok(Output {
            root: root_path,
            libraries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn libs() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/libs")
    }

    #[test]
    fn writes_one_module_per_library_and_a_root() {
        let out = std::env::temp_dir().join(format!("idlc-build-test-{}", std::process::id()));
        let output = Builder::new()
            .file(libs().join("conformance.idl"))
            .library_path(libs())
            .out_dir(&out)
            .emit_rerun_if_changed(false)
            .compile()
            .unwrap();
        let root = std::fs::read_to_string(&output.root).unwrap();
        assert!(root.contains("pub mod zx {"));
        assert!(root.contains("pub mod test_conformance {"));
        assert_eq!(output.libraries.len(), 2);
        std::fs::remove_dir_all(out).unwrap();
    }

    #[test]
    fn available_takes_versions_and_platforms() {
        let out = std::env::temp_dir().join(format!("idlc-build-available-{}", std::process::id()));
        let output = Builder::new()
            .file(libs().join("conformance.idl"))
            .library_path(libs())
            .available("NEXT")
            .available("fuchsia:12")
            .out_dir(&out)
            .emit_rerun_if_changed(false)
            .compile()
            .unwrap();
        assert_eq!(output.libraries.len(), 2);
        std::fs::remove_dir_all(out).unwrap();
        let error = Builder::new()
            .file(libs().join("conformance.idl"))
            .available("fuchsia:zero")
            .out_dir(std::env::temp_dir())
            .emit_rerun_if_changed(false)
            .compile()
            .unwrap_err();
        assert!(
            matches!(&error, Error::InvalidVersion(m) if m.contains("zero")),
            "{error}"
        );
    }

    #[test]
    fn reports_diagnostics_as_lines() {
        let error = Builder::new()
            .file(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/diagnostics/idl-0007.idl"))
            .out_dir(std::env::temp_dir())
            .emit_rerun_if_changed(false)
            .compile()
            .unwrap_err();
        let text = error.to_string();
        assert!(text.contains("idl-0007.idl:4:7: error[idl-0007]"), "{text}");
    }
}
