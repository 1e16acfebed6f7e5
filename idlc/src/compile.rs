//! The driver: sources in, IR or diagnostics out. No I/O.

use crate::diagnostics::Diagnostic;
use crate::ir::{self, Ir};
use crate::resolve::{self, ResolveOptions};
use crate::source::{FileId, SourceMap};
use crate::syntax::{self, ast};

#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    pub resolve: ResolveOptions,
}

/// Parses every file of the map, reporting the syntax errors of all files.
pub fn parse_all(sources: &SourceMap) -> Result<Vec<(FileId, ast::File)>, Vec<Diagnostic>> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for (id, file) in sources.files() {
        match syntax::parse(id, &file.text) {
            Ok(ast) => files.push((id, ast)),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}

/// Compiles all the files of `sources` (any number of libraries) to IR.
pub fn compile(sources: &SourceMap, options: &CompileOptions) -> Result<Ir, Vec<Diagnostic>> {
    let files = parse_all(sources)?;
    compile_parsed(sources, files, options)
}

/// Compiles already-parsed files (see [`parse_all`]).
pub fn compile_parsed(
    sources: &SourceMap,
    files: Vec<(FileId, ast::File)>,
    options: &CompileOptions,
) -> Result<Ir, Vec<Diagnostic>> {
    let model = resolve::resolve(files, &options.resolve)?;
    let layouts = crate::layout::compute(&model)?;
    Ok(ir::lower(&model, &layouts, sources))
}
