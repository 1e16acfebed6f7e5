//! The `idlc` command line: file I/O, library lookup and rendering around
//! the I/O-free compiler library.
//!
//! Exit codes: 0 success, 1 the input has errors (diagnostics on stderr),
//! 2 usage or I/O errors.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use idlc::diagnostics::Diagnostic;
use idlc::resolve::ResolveOptions;
use idlc::source::SourceMap;
use idlc::CompileOptions;

#[derive(Parser)]
#[command(name = "idlc", version, about = "FIDL-compatible IDL compiler")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Inputs {
    /// Source files; they may belong to several libraries.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Where to find libraries named by `using` but not given as files:
    /// `DIR/<name>/*.idl`, `DIR/<name>.idl` or `DIR/<a>/<b>/*.idl`.
    #[arg(long = "library-path", short = 'L')]
    library_path: Vec<PathBuf>,
    /// Evaluate `@available` at this version (default: HEAD).
    #[arg(long)]
    available: Option<u64>,
}

#[derive(Subcommand)]
enum Command {
    /// Check the files and report diagnostics.
    Check(Inputs),
    /// Compile the files to JSON IR.
    Compile {
        #[command(flatten)]
        inputs: Inputs,
        /// Where to write the IR.
        #[arg(long)]
        ir: PathBuf,
    },
    /// Generate code from IR.
    Gen {
        #[command(subcommand)]
        backend: Backend,
    },
}

#[derive(Subcommand)]
enum Backend {
    /// Rust bindings (one module file per library).
    Rust {
        /// The IR produced by `idlc compile`.
        #[arg(long)]
        ir: PathBuf,
        /// The output directory.
        #[arg(long)]
        out: PathBuf,
    },
}

enum Failure {
    Diagnostics,
    Usage(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(inputs) => compile(&inputs).map(|_| ()),
        Command::Compile { inputs, ir } => compile(&inputs).and_then(|ir_value| {
            std::fs::write(&ir, ir_value.to_json())
                .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", ir.display())))
        }),
        Command::Gen {
            backend: Backend::Rust { ir, out },
        } => gen_rust(&ir, &out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Diagnostics) => ExitCode::from(1),
        Err(Failure::Usage(message)) => {
            eprintln!("idlc: {message}");
            ExitCode::from(2)
        }
    }
}

fn read(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))
}

fn compile(inputs: &Inputs) -> Result<idlc::ir::Ir, Failure> {
    let mut sources = SourceMap::new();
    for path in &inputs.files {
        sources.add(path.display().to_string(), read(path)?);
    }
    // Parse, then pull in libraries from the library path until closed.
    let mut searched = std::collections::BTreeSet::new();
    let files = loop {
        let files = match idlc::compile::parse_all(&sources) {
            Ok(files) => files,
            Err(errors) => return Err(report(&sources, &errors)),
        };
        let missing: Vec<String> =
            idlc::resolve::libraries::missing_libraries(files.iter().map(|(_, f)| f))
                .into_iter()
                .filter(|name| searched.insert(name.clone()))
                .collect();
        let mut added = false;
        for name in missing {
            for path in find_library(&inputs.library_path, &name) {
                sources.add(path.display().to_string(), read(&path)?);
                added = true;
            }
        }
        if !added {
            break files;
        }
    };
    let options = CompileOptions {
        resolve: ResolveOptions {
            target_version: inputs.available,
        },
    };
    idlc::compile::compile_parsed(&sources, files, &options)
        .map_err(|errors| report(&sources, &errors))
}

fn find_library(dirs: &[PathBuf], name: &str) -> Vec<PathBuf> {
    for dir in dirs {
        let candidates = [dir.join(name), dir.join(name.replace('.', "/"))];
        for candidate in candidates {
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
    }
    Vec::new()
}

fn report(sources: &SourceMap, diagnostics: &[Diagnostic]) -> Failure {
    let theme = if std::io::stderr().is_terminal() {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme);
    for diagnostic in diagnostics {
        let mut out = String::new();
        let report = diagnostic.report(sources);
        if handler.render_report(&mut out, &report).is_err() {
            out = diagnostic.one_line(sources);
        }
        eprintln!("{}", diagnostic.one_line(sources));
        eprintln!("{out}");
    }
    eprintln!(
        "idlc: {} error{}",
        diagnostics.len(),
        if diagnostics.len() == 1 { "" } else { "s" }
    );
    Failure::Diagnostics
}

fn gen_rust(ir_path: &Path, out: &Path) -> Result<(), Failure> {
    let text = read(ir_path)?;
    let ir = idlc::ir::Ir::from_json(&text)
        .map_err(|e| Failure::Usage(format!("{}: invalid IR: {e}", ir_path.display())))?;
    std::fs::create_dir_all(out)
        .map_err(|e| Failure::Usage(format!("cannot create {}: {e}", out.display())))?;
    for (name, code) in idlc::backend::rust::generate(&ir) {
        let code = rustfmt(&code).unwrap_or(code);
        let path = out.join(name);
        std::fs::write(&path, code)
            .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

/// Formats generated code with `rustfmt` when it is installed.
fn rustfmt(code: &str) -> Option<String> {
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
