//! Manifest diagnostics: a numbered catalogue of codes (`cm-0001`…, listed
//! in docs/manifests.md with one failing manifest each under
//! `build-image/tests/manifests/`), and `miette` reports that carry the
//! manifest's path and text, a labelled span and a help line.

use super::json5::Span;
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode};
use std::fmt;
use std::sync::Arc;

/// What went wrong. The numbers are stable: tests, docs and users refer to
/// them, so a code is never reused for another meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// The file is not valid JSON5.
    Syntax,
    /// A key the format does not have.
    UnknownKey,
    /// A value of the wrong type (a string where an array belongs…).
    WrongType,
    /// Two children, collections, capabilities, uses, exposes, offers or
    /// keys with the same name, or two directories used at one path.
    Duplicate,
    /// A `use` (or an `offer` from `parent`) that the parent does not offer
    /// to this component.
    NotOffered,
    /// An `offer` or `expose` from a child that does not expose it (or
    /// exposes it as the other kind).
    NotExposedByChild,
    /// An `offer` or `expose` from `self` of a capability not declared in
    /// `capabilities` (or declared as the other kind).
    NotDeclared,
    /// An `offer` or `expose` naming a child that does not exist.
    NoSuchChild,
    /// A protocol that no `@discoverable` protocol in `idl/` has.
    UnknownProtocol,
    /// Children that depend on each other through offers.
    DependencyCycle,
    /// `program.binary` names no binary of the workspace.
    MissingBinary,
    /// A `limits` value that is not a size or a count.
    BadLimit,
    /// A child whose manifest file does not exist.
    MissingManifest,
    /// A required key is absent (including an entry with neither
    /// `protocol` nor `directory`, and a directory `use` without `path`).
    MissingKey,
    /// A value of the right type that the key does not accept (an unknown
    /// `startup`, a malformed name, reference or path, both `protocol` and
    /// `directory` in one entry, a `path` on a protocol).
    InvalidValue,
    /// A manifest that contains itself through its children.
    RecursiveManifest,
    /// A `state` that names no table of `idl/`.
    UnknownStateType,
}

impl Code {
    /// Every code, in number order.
    pub const ALL: [Code; 17] = [
        Code::Syntax,
        Code::UnknownKey,
        Code::WrongType,
        Code::Duplicate,
        Code::NotOffered,
        Code::NotExposedByChild,
        Code::NotDeclared,
        Code::NoSuchChild,
        Code::UnknownProtocol,
        Code::DependencyCycle,
        Code::MissingBinary,
        Code::BadLimit,
        Code::MissingManifest,
        Code::MissingKey,
        Code::InvalidValue,
        Code::RecursiveManifest,
        Code::UnknownStateType,
    ];

    /// `cm-NNNN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "cm-0001",
            Code::UnknownKey => "cm-0002",
            Code::WrongType => "cm-0003",
            Code::Duplicate => "cm-0004",
            Code::NotOffered => "cm-0005",
            Code::NotExposedByChild => "cm-0006",
            Code::NotDeclared => "cm-0007",
            Code::NoSuchChild => "cm-0008",
            Code::UnknownProtocol => "cm-0009",
            Code::DependencyCycle => "cm-0010",
            Code::MissingBinary => "cm-0011",
            Code::BadLimit => "cm-0012",
            Code::MissingManifest => "cm-0013",
            Code::MissingKey => "cm-0014",
            Code::InvalidValue => "cm-0015",
            Code::RecursiveManifest => "cm-0016",
            Code::UnknownStateType => "cm-0017",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A manifest's text, named by its path relative to the workspace.
pub type SourceFile = Arc<NamedSource<String>>;

/// Wraps a manifest's text for diagnostics.
pub fn source_file(path: &str, text: String) -> SourceFile {
    Arc::new(NamedSource::new(path, text))
}

/// One problem in one manifest.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub code: Code,
    /// The headline.
    pub message: String,
    pub file: SourceFile,
    pub span: Span,
    /// What the span shows.
    pub label: String,
    /// How to fix it.
    pub help: String,
}

impl Diagnostic {
    /// The manifest's path.
    pub fn path(&self) -> &str {
        self.file.name()
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.help))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&*self.file)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(
            LabeledSpan::new_primary_with_span(
                Some(self.label.clone()),
                (self.span.start, self.span.len()),
            ),
        )))
    }
}

/// Every problem found in a build; its `Display` is the rendered report
/// (sorted by file and position, so the output is stable).
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Sorts by file, position and code, and drops repeats (a manifest used
    /// by several parents may be reported once per use).
    pub fn normalize(&mut self) {
        self.0.sort_by(|a, b| {
            (a.path(), a.span.start, a.span.end, a.code).cmp(&(
                b.path(),
                b.span.start,
                b.span.end,
                b.code,
            ))
        });
        self.0.dedup_by(|a, b| {
            a.path() == b.path() && a.span == b.span && a.code == b.code && a.message == b.message
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Renders every diagnostic with `miette`'s graphical handler, without
    /// colours, 100 columns wide.
    pub fn render(&self) -> String {
        let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
            .with_width(100)
            .with_links(false);
        let mut out = String::new();
        for diagnostic in &self.0 {
            if handler.render_report(&mut out, diagnostic).is_err() {
                out.push_str(&format!(
                    "{}: {}: {}\n",
                    diagnostic.path(),
                    diagnostic.code,
                    diagnostic.message
                ));
            }
        }
        let count = self.0.len();
        out.push_str(&format!(
            "{count} manifest error{}\n",
            if count == 1 { "" } else { "s" }
        ));
        out
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Diagnostics {}

/// " (did you mean `x`?)", when one of `candidates` is close to `word`.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(word, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(1))
        .min()
        .map(|(_, candidate)| format!("did you mean `{candidate}`? "))
        .unwrap_or_default()
}
