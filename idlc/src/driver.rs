//! The file-system layer around the compiler core, shared by the `idlc`
//! binary and the `idlc-build` crate: reading sources, finding libraries on
//! library paths, formatting generated code with `rustfmt`. Everything else
//! in this crate does no I/O.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::diagnostics::Diagnostic;
use crate::ir::Ir;
use crate::source::SourceMap;
use crate::CompileOptions;

#[derive(Debug)]
pub enum LoadError {
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The sources have errors; they are in the map returned alongside.
    Diagnostics(Vec<Diagnostic>),
}

/// The outcome of [`compile_files`]: the sources that were read (for
/// rendering diagnostics) and the result.
pub struct Compilation {
    pub sources: SourceMap,
    /// Every file read, for `cargo:rerun-if-changed`.
    pub paths: Vec<PathBuf>,
    pub result: Result<Ir, LoadError>,
}

fn read(path: &Path) -> Result<String, LoadError> {
    read_source(path).map_err(|error| LoadError::Io {
        path: path.to_path_buf(),
        error,
    })
}

/// Reads an IDL file as UTF-8; a file that is not says where
/// (`not UTF-8 at byte 41 (line 3, column 7)`), which
/// `std::fs::read_to_string` does not.
pub fn read_source(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    String::from_utf8(bytes).map_err(|error| {
        let offset = error.utf8_error().valid_up_to();
        let valid = &error.as_bytes()[..offset];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = valid
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |at| at + 1);
        let column = String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count()
            + 1;
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 at byte {offset} (line {line}, column {column})"),
        )
    })
}

/// Reads `files`, pulls in libraries they `using` from `library_paths`
/// until nothing is missing, and compiles everything.
pub fn compile_files(
    files: &[PathBuf],
    library_paths: &[PathBuf],
    options: &CompileOptions,
) -> Compilation {
    let mut compilation = Compilation {
        sources: SourceMap::new(),
        paths: Vec::new(),
        result: Err(LoadError::Diagnostics(Vec::new())),
    };
    compilation.result = load_and_compile(&mut compilation, files, library_paths, options);
    compilation
}

fn load_and_compile(
    compilation: &mut Compilation,
    files: &[PathBuf],
    library_paths: &[PathBuf],
    options: &CompileOptions,
) -> Result<Ir, LoadError> {
    for path in files {
        let text = read(path)?;
        compilation.sources.add(path.display().to_string(), text);
        compilation.paths.push(path.clone());
    }
    let mut searched = BTreeSet::new();
    let parsed = loop {
        let parsed =
            crate::compile::parse_all(&compilation.sources).map_err(LoadError::Diagnostics)?;
        let missing: Vec<String> =
            crate::resolve::libraries::missing_libraries(parsed.iter().map(|(_, f)| f))
                .into_iter()
                .filter(|name| searched.insert(name.clone()))
                .collect();
        let mut added = false;
        for name in missing {
            for path in find_library(library_paths, &name) {
                let text = read(&path)?;
                compilation.sources.add(path.display().to_string(), text);
                compilation.paths.push(path);
                added = true;
            }
        }
        if !added {
            break parsed;
        }
    };
    crate::compile::compile_parsed(&compilation.sources, parsed, options).map_err(|diagnostics| {
        LoadError::Diagnostics(
            diagnostics
                .into_iter()
                .map(|d| say_where_libraries_were_sought(d, library_paths))
                .collect(),
        )
    })
}

/// An unknown library's diagnostic, with the places `--library-path` was
/// searched for it added to its help.
fn say_where_libraries_were_sought(
    diagnostic: Diagnostic,
    library_paths: &[PathBuf],
) -> Diagnostic {
    let name = diagnostic
        .message
        .strip_prefix("unknown library `")
        .and_then(|rest| rest.strip_suffix('`'));
    let (crate::diagnostics::ErrorCode::UnknownLibrary, Some(name)) = (diagnostic.code, name)
    else {
        return diagnostic;
    };
    if library_paths.is_empty() {
        return diagnostic;
    }
    let tried: Vec<String> = library_paths
        .iter()
        .map(|dir| {
            let dir = dir.display();
            format!(
                "{dir}/{name}/*.idl, {dir}/{}/*.idl, {dir}/{name}.idl, \
                 and files in {dir} that declare `library {name};`",
                name.replace('.', "/")
            )
        })
        .collect();
    let searched = format!("searched {}", tried.join("; "));
    let help = match &diagnostic.help {
        Some(help) => format!("{help}\n{searched}"),
        None => searched,
    };
    diagnostic.help(help)
}

/// The files of library `name` in the first directory that has them:
/// `DIR/name/*.idl`, `DIR/a/b/*.idl` (for `a.b`), `DIR/name.idl`, or else
/// the files directly in DIR that declare `library name;` whatever they
/// are called (`.fidl` is accepted too).
pub fn find_library(dirs: &[PathBuf], name: &str) -> Vec<PathBuf> {
    for dir in dirs {
        for candidate in [dir.join(name), dir.join(name.replace('.', "/"))] {
            if let Ok(entries) = std::fs::read_dir(&candidate) {
                let mut files: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "idl" || x == "fidl"))
                    .collect();
                files.sort();
                if !files.is_empty() {
                    return files;
                }
            }
        }
        for ext in ["idl", "fidl"] {
            let file = dir.join(format!("{name}.{ext}"));
            if file.is_file() {
                return vec![file];
            }
        }
        let declaring = files_declaring(dir, name);
        if !declaring.is_empty() {
            return declaring;
        }
    }
    Vec::new()
}

/// The `.idl`/`.fidl` files directly in `dir` whose `library` line names
/// `name`.
fn files_declaring(dir: &Path, name: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "idl" || x == "fidl"))
        .filter(|p| {
            std::fs::read_to_string(p).is_ok_and(|text| {
                text.lines().any(|line| {
                    line.trim()
                        .strip_prefix("library ")
                        .and_then(|rest| rest.trim().strip_suffix(';'))
                        .is_some_and(|declared| declared.trim() == name)
                })
            })
        })
        .collect();
    files.sort();
    files
}

/// Formats Rust code with `rustfmt` if it is installed and accepts it.
pub fn rustfmt(code: &str) -> Option<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(code.as_bytes()).ok()?;
    let output = child.wait_with_output().ok()?;
    if output.status.success() {
        String::from_utf8(output.stdout).ok()
    } else {
        None
    }
}
