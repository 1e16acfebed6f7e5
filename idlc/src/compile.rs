//! The driver: sources in, IR or diagnostics out. No I/O.
//!
//! A library is checked at every version it can be compiled for (fidlc does
//! the same): [`crate::versioning::plan`] lists the versions at which
//! something changes, each is resolved and laid out on its own, and the
//! diagnostics are merged. An error found at some versions only says which
//! (`… (at version 12)`); one found at all of them says nothing more. The
//! IR is that of the selected version.

use std::collections::{BTreeSet, HashMap};

use crate::diagnostics::Diagnostic;
use crate::ir::{self, Ir};
use crate::layout::Layouts;
use crate::resolve::model::Model;
use crate::resolve::{self, ResolveOptions};
use crate::source::{FileId, SourceMap};
use crate::syntax::{self, ast};
use crate::versioning::{self, Selection};

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
    let plan = versioning::plan(&files, &options.resolve.versions);
    let mut merged = Merged::default();
    let mut selected = None;
    for (index, (selection, label)) in plan.checks.iter().enumerate() {
        let checked = check(&files, selection);
        merged.add(label, &checked);
        if index == plan.selected {
            selected = Some(checked);
        }
    }
    let mut errors = plan.diagnostics;
    errors.extend(merged.finish());
    match selected.map(|s| s.result) {
        Some(Ok((model, layouts))) if errors.is_empty() => Ok(ir::lower(&model, &layouts, sources)),
        _ => Err(errors),
    }
}

/// One version checked: the model and its layouts, or the errors.
struct Checked {
    result: Result<(Model, Layouts), Vec<Diagnostic>>,
    unused_usings: Option<Vec<Diagnostic>>,
}

fn check(files: &[(FileId, ast::File)], selection: &Selection) -> Checked {
    let snapshot = resolve::resolve_snapshot(versioning::snapshot(files, selection));
    let result = snapshot.model.and_then(|model| {
        let layouts = crate::layout::compute(&model)?;
        Ok((model, layouts))
    });
    Checked {
        result,
        unused_usings: snapshot.unused_usings,
    }
}

/// Diagnostics of several versions, each reported once with the versions
/// it was found at.
#[derive(Default)]
struct Merged {
    /// In order of first appearance: the diagnostic and the indices (in
    /// `versions`) of the versions it was found at.
    found: Vec<(Diagnostic, Vec<usize>)>,
    /// Where each diagnostic is in `found`.
    index: HashMap<DiagnosticKey, usize>,
    /// Labels of the versions checked, in version order.
    versions: Vec<String>,
    /// Unused `using` lines of every version that got that far.
    unused: Option<BTreeSet<DiagnosticKey>>,
    unused_first: Vec<Diagnostic>,
}

type DiagnosticKey = (u16, u32, u32, u32, String);

fn key(d: &Diagnostic) -> DiagnosticKey {
    (
        d.code.number(),
        d.span.file.0,
        d.span.start,
        d.span.end,
        d.message.clone(),
    )
}

impl Merged {
    fn add(&mut self, label: &str, checked: &Checked) {
        let index = self.versions.len();
        self.versions.push(label.to_string());
        if let Err(errors) = &checked.result {
            for error in errors {
                match self.index.get(&key(error)) {
                    Some(&at) => {
                        let versions = &mut self.found[at].1;
                        // Reported twice in one version: once is enough.
                        if versions.last() != Some(&index) {
                            versions.push(index);
                        }
                    }
                    None => {
                        self.index.insert(key(error), self.found.len());
                        self.found.push((error.clone(), vec![index]));
                    }
                }
            }
        }
        // A `using` is unused only if no version uses it.
        if let Some(unused) = &checked.unused_usings {
            let keys: BTreeSet<DiagnosticKey> = unused.iter().map(key).collect();
            self.unused = Some(match self.unused.take() {
                Some(previous) => previous.intersection(&keys).cloned().collect(),
                None => {
                    self.unused_first = unused.clone();
                    keys
                }
            });
        }
    }

    /// `version 3`, `versions 3, 5`, `versions 18 to HEAD` (every version
    /// checked between them), or `fuchsia:3, other:5`.
    fn describe(&self, versions: &[usize]) -> String {
        let plain = versions
            .iter()
            .all(|&i| self.versions[i].starts_with("version "));
        let name = |i: usize| {
            let label = self.versions[i].as_str();
            if plain {
                label.trim_start_matches("version ").to_string()
            } else {
                label.to_string()
            }
        };
        let mut parts = Vec::new();
        let mut start = 0;
        while start < versions.len() {
            let mut end = start;
            while end + 1 < versions.len() && versions[end + 1] == versions[end] + 1 {
                end += 1;
            }
            match end - start {
                0 => parts.push(name(versions[start])),
                1 => {
                    parts.push(name(versions[start]));
                    parts.push(name(versions[end]));
                }
                _ => parts.push(format!(
                    "{} to {}",
                    name(versions[start]),
                    name(versions[end])
                )),
            }
            start = end + 1;
        }
        let list = parts.join(", ");
        match (plain, versions.len()) {
            (true, 1) => format!("version {list}"),
            (true, _) => format!("versions {list}"),
            (false, _) => list,
        }
    }

    fn finish(self) -> Vec<Diagnostic> {
        let everywhere = self.versions.len();
        let mut out = Vec::new();
        for (diagnostic, versions) in &self.found {
            let mut diagnostic = diagnostic.clone();
            if versions.len() < everywhere {
                diagnostic.message =
                    format!("{} (at {})", diagnostic.message, self.describe(versions));
            }
            out.push(diagnostic);
        }
        if let Some(unused) = &self.unused {
            out.extend(
                self.unused_first
                    .iter()
                    .filter(|d| unused.contains(&key(d)))
                    .cloned(),
            );
        }
        out
    }
}
