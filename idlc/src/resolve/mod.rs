//! Resolution: from raw ASTs to the flat [`model::Model`].
//!
//! Steps, each reporting all its errors before the next starts:
//!
//! 1. [`libraries`]: group files by library, order libraries by `using`.
//! 2. [`declare`]: give every declaration (and anonymous layout) an id.
//! 3. [`decls`]: compile each declaration; a declaration that needs another
//!    one's value (a constant, an alias, an enum's members) compiles it on
//!    demand, and a cycle of such demands is an error.
//! 4. `using` that nothing used are reported.
//!
//! Resolution sees one version: [`resolve`] takes the snapshot of the
//! sources at the selected versions first (see [`crate::versioning`]), so
//! nothing here knows about `@available` beyond keeping it as an attribute.

pub mod arena;
mod attributes;
mod constants;
mod declare;
mod decls;
pub mod libraries;
pub mod model;
mod protocols;
mod types;

use std::collections::HashMap;

use crate::diagnostics::{did_you_mean, Diagnostic, Diagnostics, ErrorCode};
use crate::source::{FileId, Span};
use crate::syntax::ast;
use model::{DeclId, Library, LibraryId, Model};

pub use constants::parse_number;
pub use declare::{attributes_of, canonical};

/// Options that change what is compiled.
#[derive(Clone, Debug, Default)]
pub struct ResolveOptions {
    /// The version of each platform `@available` is evaluated at (default:
    /// `HEAD`).
    pub versions: crate::versioning::Selection,
}

/// The raw source of a declaration, kept until it is compiled.
#[derive(Clone, Debug)]
enum Source {
    Const(ast::ConstDecl),
    Alias(ast::AliasDecl),
    Layout {
        layout: ast::Layout,
        attributes: Vec<ast::Attribute>,
    },
    Protocol(ast::ProtocolDecl),
    Service(ast::ServiceDecl),
    Resource(ast::ResourceDecl),
    /// The union a method with `error` or a flexible two-way method replies
    /// with.
    ResultUnion {
        empty_success: Option<DeclId>,
        response: Option<ast::TypeCtor>,
        error: Option<ast::TypeCtor>,
        flexible: bool,
    },
    /// The empty success payload of `-> () error E`.
    EmptyStruct,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Unresolved,
    InProgress,
    Done,
}

/// One `using` line, as seen from the file that contains it.
struct UsingEntry {
    library: LibraryId,
    full_name: String,
    alias: Option<String>,
    span: Span,
    used: bool,
}

pub(crate) struct Resolver {
    model: Model,
    sources: Vec<Option<Source>>,
    classes: Vec<Class>,
    states: Vec<State>,
    /// `using` lines per file.
    usings: HashMap<FileId, Vec<UsingEntry>>,
    /// The library each file belongs to.
    file_library: HashMap<FileId, LibraryId>,
    /// Anonymous layouts by (file, start offset of the layout).
    inline_layouts: HashMap<(FileId, u32), DeclId>,
    diagnostics: Diagnostics,
    /// How many declarations are being compiled on demand, nested.
    depth: usize,
}

/// Declarations may need each other (a constant's value, an alias's
/// target, …) at most this deep; deeper chains are reported rather than
/// followed, which bounds the compiler's stack use on any input.
pub const MAX_DECL_DEPTH: usize = 128;

/// Resolves parsed files into a model, at the versions `options` select.
/// Errors of every step are collected; the function returns at the first
/// step boundary that saw errors. (It checks one version only; see
/// [`crate::compile`] for the check of every version.)
pub fn resolve(
    files: Vec<(FileId, ast::File)>,
    options: &ResolveOptions,
) -> Result<Model, Vec<Diagnostic>> {
    let files = crate::versioning::snapshot(&files, &options.versions);
    let snapshot = resolve_snapshot(files);
    let unused = snapshot.unused_usings.unwrap_or_default();
    match snapshot.model {
        Ok(model) if unused.is_empty() => Ok(model),
        Ok(_) => Err(unused),
        Err(mut errors) => {
            errors.extend(unused);
            Err(errors)
        }
    }
}

/// The outcome of resolving one snapshot.
pub struct Snapshot {
    /// The model, or the errors (unused `using` apart).
    pub model: Result<Model, Vec<Diagnostic>>,
    /// `using` lines nothing used, one diagnostic each; `None` when the
    /// resolution stopped before names were looked up. They are kept apart
    /// because a `using` needs to be used at one version only.
    pub unused_usings: Option<Vec<Diagnostic>>,
}

/// Resolves files already filtered to one version (see
/// [`crate::versioning::snapshot`]).
pub fn resolve_snapshot(files: Vec<(FileId, ast::File)>) -> Snapshot {
    let stopped = |diagnostics: Diagnostics| Snapshot {
        model: Err(diagnostics.into_vec()),
        unused_usings: None,
    };
    let mut diagnostics = Diagnostics::default();
    let groups = libraries::group_and_order(files, &mut diagnostics);
    if !diagnostics.is_empty() {
        return stopped(diagnostics);
    }
    let mut resolver = Resolver {
        model: Model::default(),
        sources: Vec::new(),
        classes: Vec::new(),
        states: Vec::new(),
        usings: HashMap::new(),
        file_library: HashMap::new(),
        inline_layouts: HashMap::new(),
        diagnostics,
        depth: 0,
    };

    // Declare.
    for group in &groups {
        let span = group.files[0].1.library.span;
        let library = resolver.model.libraries.alloc(Library {
            name: group.name.clone(),
            span,
            attributes: Vec::new(),
            dependencies: Vec::new(),
            decls: Default::default(),
            order: Vec::new(),
        });
        for (file, _) in &group.files {
            resolver.file_library.insert(*file, library);
        }
        resolver.declare_usings(library, &group.files);
        resolver.declare_library(library, &group.files);
    }
    if !resolver.diagnostics.is_empty() {
        return stopped(resolver.diagnostics);
    }

    // Compile.
    for (library, group) in resolver.model.libraries.ids().zip(&groups) {
        let mut attributes = Vec::new();
        for (_, file) in &group.files {
            attributes.extend(file.library_attributes.iter().cloned());
        }
        let file = group.files[0].0;
        let resolved = resolver.attributes(file, &attributes, attributes::Placement::Library);
        resolver.model.libraries[library].attributes = resolved;
    }
    for id in resolver.model.decls.ids().collect::<Vec<_>>() {
        resolver.ensure(id);
    }
    let unused_usings = Some(resolver.unused_usings());
    Snapshot {
        model: if resolver.diagnostics.is_empty() {
            Ok(resolver.model)
        } else {
            Err(resolver.diagnostics.into_vec())
        },
        unused_usings,
    }
}

impl Resolver {
    fn error(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn declare_usings(&mut self, library: LibraryId, files: &[(FileId, ast::File)]) {
        for (file, ast) in files {
            let mut entries: Vec<UsingEntry> = Vec::new();
            for using in &ast.usings {
                let name = using.library.dotted();
                let Some(target) = self
                    .model
                    .libraries
                    .iter()
                    .find(|(_, l)| l.name == name)
                    .map(|(id, _)| id)
                else {
                    continue; // reported by `libraries`
                };
                if let Some(previous) = entries.iter().find(|e| e.library == target) {
                    let previous_span = previous.span;
                    self.error(
                        Diagnostic::new(
                            ErrorCode::DuplicateUsing,
                            using.span,
                            format!("library `{name}` is imported twice"),
                        )
                        .label("imported again")
                        .related(previous_span, "first imported here")
                        .help("remove one of the `using` lines"),
                    );
                    continue;
                }
                let lib = &mut self.model.libraries[library];
                if !lib.dependencies.contains(&target) {
                    lib.dependencies.push(target);
                }
                entries.push(UsingEntry {
                    library: target,
                    full_name: name,
                    alias: using.alias.as_ref().map(|a| a.name.clone()),
                    span: using.span,
                    used: false,
                });
            }
            self.usings.insert(*file, entries);
        }
    }

    fn unused_usings(&self) -> Vec<Diagnostic> {
        let mut unused = Vec::new();
        for entries in self.usings.values() {
            for entry in entries.iter().filter(|e| !e.used) {
                unused.push(
                    Diagnostic::new(
                        ErrorCode::UnusedUsing,
                        entry.span,
                        format!("library `{}` is imported but never used", entry.full_name),
                    )
                    .label("unused")
                    .help("remove this `using`"),
                );
            }
        }
        unused.sort_by_key(|d| (d.span.file, d.span.start));
        unused
    }

    /// Compiles a declaration if it has not been yet. Returns false when it
    /// is part of a cycle of on-demand compilation.
    fn ensure(&mut self, id: DeclId) -> bool {
        match self.states[id.index()] {
            State::Done => true,
            State::InProgress => false,
            State::Unresolved if self.depth >= MAX_DECL_DEPTH => {
                // Left pending: the caller sees no value, and the error
                // below fails the compilation.
                let decl = &self.model.decls[id];
                let diagnostic = Diagnostic::new(
                    ErrorCode::NestingTooDeep,
                    decl.span,
                    format!(
                        "`{}` is reached through more than {MAX_DECL_DEPTH} declarations that depend on each other",
                        decl.name
                    ),
                )
                .label("too deep")
                .help("shorten the chain of constants, aliases or types");
                self.error(diagnostic);
                self.states[id.index()] = State::Done;
                true
            }
            State::Unresolved => {
                self.states[id.index()] = State::InProgress;
                if let Some(source) = self.sources[id.index()].take() {
                    self.depth += 1;
                    let kind = self.compile_decl(id, &source);
                    self.depth -= 1;
                    self.model.decls[id].kind = kind;
                }
                self.states[id.index()] = State::Done;
                true
            }
        }
    }

    fn class(&self, id: DeclId) -> Class {
        self.classes[id.index()]
    }

    fn library_of_file(&self, file: FileId) -> LibraryId {
        self.file_library[&file]
    }

    /// Looks a dotted name up from a file: `Foo`, `Enum.MEMBER`,
    /// `other.lib.Foo`, `alias.Foo.MEMBER`. Builtins are the caller's job.
    fn lookup(&mut self, file: FileId, name: &ast::CompoundIdent) -> Lookup {
        let parts = &name.parts;
        let library = self.library_of_file(file);
        // Longest library prefix first.
        for split in (1..parts.len()).rev() {
            let prefix = parts[..split]
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(".");
            let mut target = None;
            if prefix == self.model.libraries[library].name {
                target = Some(library);
            } else if let Some(entries) = self.usings.get_mut(&file) {
                if let Some(entry) = entries
                    .iter_mut()
                    .find(|e| e.alias.as_deref().unwrap_or(&e.full_name) == prefix)
                {
                    entry.used = true;
                    target = Some(entry.library);
                }
            }
            if let Some(target) = target {
                return self.lookup_in(target, &parts[split..]);
            }
        }
        self.lookup_in(library, parts)
    }

    fn lookup_in(&mut self, library: LibraryId, parts: &[ast::Ident]) -> Lookup {
        let lib = &self.model.libraries[library];
        match parts {
            [decl] => match lib.decls.get(&decl.name) {
                Some(&id) => Lookup::Decl(id),
                None => Lookup::NotFound,
            },
            [decl, member] => match lib.decls.get(&decl.name) {
                Some(&id) => Lookup::Member(id, member.clone()),
                None => Lookup::NotFound,
            },
            _ => Lookup::NotFound,
        }
    }

    /// An "undefined name" diagnostic with a suggestion drawn from the
    /// library's declarations and `extra` (e.g. builtins).
    fn undefined(&self, file: FileId, name: &ast::CompoundIdent, extra: &[&str]) -> Diagnostic {
        let library = self.library_of_file(file);
        let last = name.parts.last().map_or("", |p| p.name.as_str());
        let decls = self.model.libraries[library]
            .decls
            .keys()
            .map(String::as_str);
        let help = did_you_mean(last, decls.chain(extra.iter().copied()));
        Diagnostic::new(
            ErrorCode::UndefinedName,
            name.span,
            format!("cannot find `{}`", name.dotted()),
        )
        .label("not found in this scope")
        .maybe_help(help)
    }
}

/// What a declaration is, known from its source before it is compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Const,
    Alias,
    Struct,
    Table,
    Union,
    Enum,
    Bits,
    Protocol,
    Service,
    Resource,
}

impl Class {
    fn of(source: &Source) -> Class {
        match source {
            Source::Const(_) => Class::Const,
            Source::Alias(_) => Class::Alias,
            Source::Layout { layout, .. } => match layout.kind {
                ast::LayoutKind::Struct => Class::Struct,
                ast::LayoutKind::Table => Class::Table,
                ast::LayoutKind::Union => Class::Union,
                ast::LayoutKind::Enum => Class::Enum,
                ast::LayoutKind::Bits => Class::Bits,
            },
            Source::Protocol(_) => Class::Protocol,
            Source::Service(_) => Class::Service,
            Source::Resource(_) => Class::Resource,
            Source::ResultUnion { .. } => Class::Union,
            Source::EmptyStruct => Class::Struct,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Class::Const => "constant",
            Class::Alias => "alias",
            Class::Struct => "struct",
            Class::Table => "table",
            Class::Union => "union",
            Class::Enum => "enum",
            Class::Bits => "bits",
            Class::Protocol => "protocol",
            Class::Service => "service",
            Class::Resource => "resource definition",
        }
    }

    fn is_const(self) -> bool {
        self == Class::Const
    }
}

enum Lookup {
    Decl(DeclId),
    Member(DeclId, ast::Ident),
    NotFound,
}
