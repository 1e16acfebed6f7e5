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
use idlc::driver::{self, LoadError};
use idlc::resolve::ResolveOptions;
use idlc::source::SourceMap;
use idlc::versioning::Selection;
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
    /// The version to compile, `[PLATFORM:]VERSION`: a number, `NEXT` or
    /// `HEAD` (the default). Without a platform it applies to every
    /// platform not named by another `--available`. Errors are checked at
    /// every version regardless.
    #[arg(long, value_name = "[PLATFORM:]VERSION")]
    available: Vec<String>,
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
        /// Rust type of handles (an `idlc_runtime::OwnedHandle`).
        #[arg(long, default_value = "_rt::Handle")]
        handle_type: String,
    },
    /// C11 bindings: `idl.h`/`idl.c` (the runtime) and a header and codec
    /// per library.
    C {
        /// The IR produced by `idlc compile`.
        #[arg(long)]
        ir: PathBuf,
        /// The output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// A Python package: `__init__.py`, `_wire.py` (the runtime) and a
    /// module of dataclasses per library.
    Python {
        /// The IR produced by `idlc compile`.
        #[arg(long)]
        ir: PathBuf,
        /// The package directory to write.
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
            backend:
                Backend::Rust {
                    ir,
                    out,
                    handle_type,
                },
        } => gen_rust(&ir, &out, handle_type),
        Command::Gen {
            backend: Backend::C { ir, out },
        } => gen_files(&ir, &out, idlc::backend::c::generate),
        Command::Gen {
            backend: Backend::Python { ir, out },
        } => gen_files(&ir, &out, idlc::backend::python::generate),
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
    idlc::driver::read_source(path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))
}

fn compile(inputs: &Inputs) -> Result<idlc::ir::Ir, Failure> {
    let versions = Selection::parse(inputs.available.iter().map(String::as_str))
        .map_err(|e| Failure::Usage(format!("--available: {e}")))?;
    let options = CompileOptions {
        resolve: ResolveOptions { versions },
    };
    let compilation = driver::compile_files(&inputs.files, &inputs.library_path, &options);
    match compilation.result {
        Ok(ir) => Ok(ir),
        Err(LoadError::Io { path, error }) => Err(Failure::Usage(format!(
            "cannot read {}: {error}",
            path.display()
        ))),
        Err(LoadError::Diagnostics(diagnostics)) => Err(report(&compilation.sources, &diagnostics)),
    }
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

fn read_ir(ir_path: &Path) -> Result<idlc::ir::Ir, Failure> {
    let text = read(ir_path)?;
    idlc::ir::Ir::from_json(&text)
        .map_err(|e| Failure::Usage(format!("{}: invalid IR: {e}", ir_path.display())))
}

/// Writes what a backend generates into `out`.
fn gen_files(
    ir_path: &Path,
    out: &Path,
    backend: fn(&idlc::ir::Ir) -> Vec<(String, String)>,
) -> Result<(), Failure> {
    let ir = read_ir(ir_path)?;
    std::fs::create_dir_all(out)
        .map_err(|e| Failure::Usage(format!("cannot create {}: {e}", out.display())))?;
    for (name, code) in backend(&ir) {
        let path = out.join(name);
        std::fs::write(&path, code)
            .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

fn gen_rust(ir_path: &Path, out: &Path, handle_type: String) -> Result<(), Failure> {
    let text = read(ir_path)?;
    let ir = idlc::ir::Ir::from_json(&text)
        .map_err(|e| Failure::Usage(format!("{}: invalid IR: {e}", ir_path.display())))?;
    std::fs::create_dir_all(out)
        .map_err(|e| Failure::Usage(format!("cannot create {}: {e}", out.display())))?;
    let options = idlc::backend::rust::RustOptions { handle_type };
    for (name, code) in idlc::backend::rust::generate_with(&ir, &options) {
        let code = driver::rustfmt(&code).unwrap_or(code);
        let path = out.join(name);
        std::fs::write(&path, code)
            .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}
