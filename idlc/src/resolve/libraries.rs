//! Grouping files into libraries and ordering libraries by dependency.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostics::{did_you_mean, Diagnostic, Diagnostics, ErrorCode};
use crate::source::FileId;
use crate::syntax::ast;

/// The files of one library.
pub struct LibraryFiles {
    pub name: String,
    pub files: Vec<(FileId, ast::File)>,
}

impl LibraryFiles {
    pub fn dependencies(&self) -> BTreeSet<String> {
        self.files
            .iter()
            .flat_map(|(_, f)| f.usings.iter().map(|u| u.library.dotted()))
            .collect()
    }
}

/// Library names `using`d by the given files but not defined by them: what
/// a driver should look for on its library path.
pub fn missing_libraries<'a>(
    files: impl IntoIterator<Item = &'a ast::File> + Clone,
) -> Vec<String> {
    let defined: BTreeSet<String> = files
        .clone()
        .into_iter()
        .map(|f| f.library.dotted())
        .collect();
    let used: BTreeSet<String> = files
        .into_iter()
        .flat_map(|f| f.usings.iter().map(|u| u.library.dotted()))
        .collect();
    used.difference(&defined).cloned().collect()
}

/// Groups files by their `library` line and orders the groups so that each
/// library comes after those it uses.
pub fn group_and_order(
    files: Vec<(FileId, ast::File)>,
    diagnostics: &mut Diagnostics,
) -> Vec<LibraryFiles> {
    let mut groups: BTreeMap<String, LibraryFiles> = BTreeMap::new();
    for (id, file) in files {
        check_library_name(&file.library, diagnostics);
        let name = file.library.dotted();
        groups
            .entry(name.clone())
            .or_insert_with(|| LibraryFiles {
                name,
                files: Vec::new(),
            })
            .files
            .push((id, file));
    }

    // Unknown libraries.
    let known: Vec<String> = groups.keys().cloned().collect();
    for group in groups.values() {
        for (_, file) in &group.files {
            for using in &file.usings {
                let name = using.library.dotted();
                if !groups.contains_key(&name) {
                    diagnostics.push(
                        Diagnostic::new(
                            ErrorCode::UnknownLibrary,
                            using.library.span,
                            format!("unknown library `{name}`"),
                        )
                        .label("not found")
                        .maybe_help(
                            did_you_mean(&name, known.iter().map(String::as_str)).or_else(|| {
                                Some(
                                    "pass the library's files, or a --library-path that holds them"
                                        .to_string(),
                                )
                            }),
                        ),
                    );
                }
            }
        }
    }

    // Depth-first topological order; a back edge is a cycle.
    let mut order = Vec::new();
    let mut state: BTreeMap<String, u8> = BTreeMap::new(); // 1 = visiting, 2 = done
    let names: Vec<String> = groups.keys().cloned().collect();
    for name in &names {
        visit(name, &groups, &mut state, &mut order, diagnostics);
    }
    order
        .into_iter()
        .filter_map(|name| groups.remove(&name))
        .collect()
}

fn visit(
    name: &str,
    groups: &BTreeMap<String, LibraryFiles>,
    state: &mut BTreeMap<String, u8>,
    order: &mut Vec<String>,
    diagnostics: &mut Diagnostics,
) {
    let Some(group) = groups.get(name) else {
        return;
    };
    match state.get(name) {
        Some(2) => return,
        Some(_) => return,
        None => {}
    }
    state.insert(name.to_string(), 1);
    for (_, file) in &group.files {
        for using in &file.usings {
            let dep = using.library.dotted();
            if state.get(&dep) == Some(&1) {
                diagnostics.push(
                    Diagnostic::new(
                        ErrorCode::LibraryCycle,
                        using.library.span,
                        format!("library `{name}` uses `{dep}`, which depends on `{name}`"),
                    )
                    .label("closes a cycle")
                    .help("move the shared declarations into a third library"),
                );
                continue;
            }
            visit(&dep, groups, state, order, diagnostics);
        }
    }
    state.insert(name.to_string(), 2);
    order.push(name.to_string());
}

fn check_library_name(name: &ast::CompoundIdent, diagnostics: &mut Diagnostics) {
    for part in &name.parts {
        let ok = part
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && part.name.starts_with(|c: char| c.is_ascii_lowercase())
            && !part.name.ends_with('_');
        if !ok {
            diagnostics.push(
                Diagnostic::new(
                    ErrorCode::InvalidLibraryName,
                    part.span,
                    format!("invalid library name component `{}`", part.name),
                )
                .label("must be lowercase")
                .help(format!(
                    "library name components use lowercase letters, digits and `_`: `{}`",
                    part.name.to_ascii_lowercase()
                )),
            );
        }
    }
}
