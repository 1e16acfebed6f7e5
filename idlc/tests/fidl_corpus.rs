//! Libraries in the shape of the Fuchsia SDK's, compiled at `HEAD` and at
//! an older API level, with the Rust of each built.
//!
//! * `tests/libs/sdk/` holds our own libraries (written for these tests, not
//!   copied) that use what the SDK's libraries use: a `zx` with rights and
//!   the handle resource, `fuchsia.unknown`'s `Clone2` → `Clone` through
//!   `replaced` and `renamed`, a multi-file `fuchsia.io` with composed
//!   protocols, versioned members, modifiers and anonymous layouts,
//!   flexible and strict enums and bits (empty ones too), resource types
//!   with endpoints and handles with rights, `@discoverable` with its
//!   arguments, dependencies between them.
//! * `IDLC_FIDL_CORPUS=<dir>` runs the same on any directory of `.fidl`
//!   files, e.g. the SDK's own (`sdk/fidl/*` plus `zircon/vdso`), grouped by
//!   their `library` line; `IDLC_FIDL_CORPUS_LEVELS=HEAD,16` replaces the
//!   default levels (`HEAD` and the level each library was added at). It
//!   prints one line per library and fails if any does.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use idlc::source::SourceMap;
use support::RustCheck;

/// One library of a corpus.
struct CorpusLibrary {
    files: Vec<PathBuf>,
    usings: BTreeSet<String>,
    /// `added` of the library's `@available`, as written.
    added: Option<String>,
}

/// The libraries under `dir`, by name, and the files that do not parse.
fn scan(dir: &Path) -> (BTreeMap<String, CorpusLibrary>, Vec<String>) {
    let mut libraries: BTreeMap<String, CorpusLibrary> = BTreeMap::new();
    let mut broken = Vec::new();
    for path in support::idl_files(dir) {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut sources = SourceMap::new();
        let id = sources.add(path.display().to_string(), text.clone());
        let file = match idlc::syntax::parse(id, &text) {
            Ok(file) => file,
            Err(errors) => {
                broken.push(errors[0].one_line(&sources));
                continue;
            }
        };
        let library = libraries
            .entry(file.library.dotted())
            .or_insert(CorpusLibrary {
                files: Vec::new(),
                usings: BTreeSet::new(),
                added: None,
            });
        library.files.push(path);
        library
            .usings
            .extend(file.usings.iter().map(|u| u.library.dotted()));
        for attribute in file
            .library_attributes
            .iter()
            .filter(|a| a.name.name == "available")
        {
            for arg in &attribute.args {
                if arg.name.as_ref().is_some_and(|n| n.name == "added") {
                    library.added = Some(match &arg.value {
                        idlc::syntax::ast::Constant::Literal(
                            idlc::syntax::ast::Literal::Number(n),
                            _,
                        ) => n.clone(),
                        other => match other {
                            idlc::syntax::ast::Constant::Identifier(id) => id.dotted(),
                            _ => String::new(),
                        },
                    });
                }
            }
        }
    }
    (libraries, broken)
}

/// A library and everything it uses, or the first missing dependency.
fn closure(
    libraries: &BTreeMap<String, CorpusLibrary>,
    name: &str,
) -> Result<Vec<PathBuf>, String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![name.to_string()];
    let mut files = Vec::new();
    while let Some(next) = stack.pop() {
        if !seen.insert(next.clone()) {
            continue;
        }
        let library = libraries
            .get(&next)
            .ok_or_else(|| format!("library `{next}` is not in the corpus"))?;
        files.extend(library.files.iter().cloned());
        stack.extend(library.usings.iter().cloned());
    }
    Ok(files)
}

/// The outcome for one library.
struct Outcome {
    library: String,
    /// `(level, error)` for each level tried; no error means it compiled.
    levels: Vec<(String, Option<String>)>,
    rust: Option<String>,
}

impl Outcome {
    fn passed(&self) -> bool {
        self.rust.is_none() && self.levels.iter().all(|(_, e)| e.is_none())
    }
}

fn run(dir: &Path, crate_name: &str, levels: Option<Vec<String>>) -> Vec<Outcome> {
    let (libraries, broken) = scan(dir);
    let mut outcomes: Vec<Outcome> = broken
        .into_iter()
        .map(|error| Outcome {
            library: "(unparsed file)".into(),
            levels: vec![("-".into(), Some(error))],
            rust: None,
        })
        .collect();
    let mut check = RustCheck::new(crate_name);
    let mut cases: Vec<(String, usize)> = Vec::new();
    for (name, library) in &libraries {
        let levels = levels.clone().unwrap_or_else(|| {
            let mut levels = vec!["HEAD".to_string()];
            if let Some(added) = library.added.as_ref().filter(|a| *a != "HEAD") {
                levels.push(added.clone());
            }
            levels
        });
        let mut outcome = Outcome {
            library: name.clone(),
            levels: Vec::new(),
            rust: None,
        };
        let files = match closure(&libraries, name) {
            Ok(files) => files,
            Err(error) => {
                outcome.levels.push(("-".into(), Some(error)));
                outcomes.push(outcome);
                continue;
            }
        };
        let files: Vec<(String, String)> = files
            .iter()
            .map(|p| (p.display().to_string(), std::fs::read_to_string(p).unwrap()))
            .collect();
        for level in &levels {
            match support::compile(&files, &[level]) {
                Ok(ir) => {
                    let case = format!("{name}_{level}");
                    check.add(&case, &ir);
                    cases.push((support::case_module(&case), outcomes.len()));
                    outcome.levels.push((level.clone(), None));
                }
                Err(errors) => outcome.levels.push((level.clone(), Some(errors))),
            }
        }
        outcomes.push(outcome);
    }
    if let Err(errors) = check.check() {
        // Blame each library for the errors in its modules.
        let mut blamed = false;
        for (case, index) in &cases {
            let mine: Vec<&str> = errors
                .lines()
                .filter(|l| l.contains(&format!("src/{case}/")) && l.contains("error"))
                .collect();
            if !mine.is_empty() {
                blamed = true;
                outcomes[*index].rust = Some(mine.join("\n"));
            }
        }
        assert!(blamed, "{errors}");
    }
    outcomes
}

fn report(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    for outcome in outcomes {
        let levels: Vec<String> = outcome
            .levels
            .iter()
            .map(|(level, error)| {
                format!("{level}: {}", if error.is_none() { "ok" } else { "FAIL" })
            })
            .collect();
        let compiled = outcome.levels.iter().any(|(_, error)| error.is_none());
        let rust = match (&outcome.rust, compiled) {
            (Some(_), _) => "rust: FAIL",
            (None, true) => "rust: ok",
            (None, false) => "rust: -",
        };
        out.push_str(&format!(
            "{} {:<28} {} {rust}\n",
            if outcome.passed() { "pass" } else { "FAIL" },
            outcome.library,
            levels.join(", ")
        ));
        for (level, error) in &outcome.levels {
            if let Some(error) = error {
                for line in error.lines().take(8) {
                    out.push_str(&format!("       [{level}] {line}\n"));
                }
            }
        }
        if let Some(rust) = &outcome.rust {
            for line in rust.lines().take(8) {
                out.push_str(&format!("       [rust] {line}\n"));
            }
        }
    }
    out
}

fn own_corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/libs/sdk")
}

#[test]
fn own_sdk_corpus_compiles_at_head_and_older_levels_and_builds() {
    let outcomes = run(&own_corpus(), "sdk_corpus", None);
    let table = report(&outcomes);
    println!("{table}");
    assert!(outcomes.len() >= 6, "{table}");
    assert!(outcomes.iter().all(Outcome::passed), "{table}");
    // Older levels were really compiled, not only HEAD.
    assert!(outcomes
        .iter()
        .any(|o| o.levels.iter().any(|(l, _)| l == "7")));
}

#[test]
fn real_fidl_corpus_from_environment() {
    let Some(dir) = std::env::var_os("IDLC_FIDL_CORPUS") else {
        eprintln!("IDLC_FIDL_CORPUS is not set; skipping the external corpus");
        return;
    };
    let levels = std::env::var("IDLC_FIDL_CORPUS_LEVELS")
        .ok()
        .map(|l| l.split(',').map(|s| s.trim().to_string()).collect());
    let outcomes = run(Path::new(&dir), "external_corpus", levels);
    let table = report(&outcomes);
    println!("{table}");
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    assert_eq!(
        failed,
        0,
        "{failed} of {} libraries failed:\n{table}",
        outcomes.len()
    );
}

/// `fuchsia.io` and what it depends on at `version`, through the driver
/// (files found on the library path), as `idlc compile` does.
fn io_at(version: &str) -> idlc::ir::Ir {
    let dir = own_corpus();
    let files = support::idl_files(&dir.join("fuchsia.io"));
    let options = idlc::CompileOptions {
        resolve: idlc::resolve::ResolveOptions {
            versions: idlc::versioning::Selection::parse([version]).unwrap(),
        },
    };
    let compilation = idlc::driver::compile_files(&files, &[dir], &options);
    match compilation.result {
        Ok(ir) => ir,
        Err(idlc::driver::LoadError::Diagnostics(errors)) => panic!(
            "{}",
            errors
                .iter()
                .map(|e| e.one_line(&compilation.sources))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        Err(idlc::driver::LoadError::Io { path, error }) => panic!("{}: {error}", path.display()),
    }
}

#[test]
fn own_sdk_corpus_changes_with_the_version() {
    use idlc::ir::{Openness, TypeKind};
    let protocol = |ir: &idlc::ir::Ir, name: &str| {
        ir.libraries
            .iter()
            .flat_map(|l| &l.protocols)
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .clone()
    };
    let method_names = |ir: &idlc::ir::Ir, name: &str| -> Vec<String> {
        protocol(ir, name)
            .methods
            .iter()
            .map(|m| m.name.clone())
            .collect()
    };
    let io = |ir: &idlc::ir::Ir| ir.library("fuchsia.io").unwrap().clone();

    // 7: closed Node, no fuchsia.unknown yet (its compose is added at 9).
    let v7 = io_at("7");
    assert_eq!(protocol(&v7, "fuchsia.io/Node").openness, Openness::Closed);
    assert!(!method_names(&v7, "fuchsia.io/Node").contains(&"Close".to_string()));
    assert!(v7.library("fuchsia.unknown").unwrap().protocols.is_empty());
    // 9: Close and Query come through compose, with their own selectors.
    let v9 = io_at("9");
    let node = protocol(&v9, "fuchsia.io/Node");
    let close = node.methods.iter().find(|m| m.name == "Close").unwrap();
    assert_eq!(close.declared_in, "fuchsia.unknown/Closeable");
    assert_eq!(close.selector, "fuchsia.io/Node.Close");

    // `Directory.Open`'s `path` is bounded by MAX_PATH, then MAX_PATH_LENGTH.
    let path_bound = |ir: &idlc::ir::Ir| {
        let request = io(ir)
            .structs
            .into_iter()
            .find(|s| s.name == "fuchsia.io/DirectoryOpenRequest")
            .unwrap();
        match &request
            .members
            .iter()
            .find(|m| m.name == "path")
            .unwrap()
            .ty
            .kind
        {
            TypeKind::String { max, .. } => *max,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(path_bound(&io_at("11")), Some(4096));
    assert_eq!(path_bound(&io_at("12")), Some(4095));

    // NodeOptions.mode: OpenMode until 19, CreationMode from 19, gone at 23.
    let mode_type = |ir: &idlc::ir::Ir| {
        let options = io(ir)
            .tables
            .into_iter()
            .find(|t| t.name == "fuchsia.io/NodeOptions")?;
        let member = options.members.into_iter().find(|m| m.ordinal == 3)?;
        match member.ty?.kind {
            TypeKind::Identifier { identifier, .. } => Some(identifier),
            _ => None,
        }
    };
    assert_eq!(
        mode_type(&io_at("18")).as_deref(),
        Some("fuchsia.io/OpenMode")
    );
    assert_eq!(
        mode_type(&io_at("19")).as_deref(),
        Some("fuchsia.io/CreationMode")
    );
    assert_eq!(mode_type(&io_at("23")), None);

    // Openness and method strictness follow versioned modifiers.
    let v24 = io_at("24");
    assert_eq!(protocol(&v24, "fuchsia.io/Node").openness, Openness::Open);
    let sync_strict = |ir: &idlc::ir::Ir| {
        protocol(ir, "fuchsia.io/Node")
            .methods
            .iter()
            .find(|m| m.name == "Sync")
            .unwrap()
            .strict
    };
    assert!(sync_strict(&v24));
    assert!(!sync_strict(&io_at("NEXT")));

    // fuchsia.unknown: Clone2 becomes Clone at 26, on the same ordinal.
    let clone = |ir: &idlc::ir::Ir| protocol(ir, "fuchsia.unknown/Cloneable").methods[0].clone();
    let (old, new) = (clone(&io_at("25")), clone(&io_at("26")));
    assert_eq!((old.name.as_str(), new.name.as_str()), ("Clone2", "Clone"));
    assert_eq!(old.ordinal, new.ordinal);

    // The HEAD-only member and its anonymous union appear at HEAD only.
    let has_label_union = |ir: &idlc::ir::Ir| {
        io(ir)
            .unions
            .iter()
            .any(|u| u.name == "fuchsia.io/SecurityLabel")
    };
    assert!(!has_label_union(&io_at("NEXT")));
    assert!(has_label_union(&io_at("HEAD")));
}
