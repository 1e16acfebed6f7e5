//! Diagnostics: what the compiler says when an input is wrong.
//!
//! A [`Diagnostic`] is plain data (code, message, spans, help) so the core
//! stays free of any rendering concern. [`Report`] adapts one to `miette`,
//! which the CLI renders with source snippets; [`Diagnostic::one_line`] gives
//! the `file:line:col: error[idl-NNNN]: message` form for build scripts.

mod codes;
mod suggest;

pub use codes::ErrorCode;
pub use suggest::did_you_mean;

use crate::source::{SourceMap, Span};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: ErrorCode,
    pub message: String,
    pub span: Span,
    /// Text shown under the primary span.
    pub label: String,
    pub help: Option<String>,
    /// Secondary spans (e.g. the first declaration of a duplicate).
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn new(code: ErrorCode, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            message: message.into(),
            span,
            label: code.title().to_string(),
            help: None,
            related: Vec::new(),
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn maybe_help(mut self, help: Option<String>) -> Diagnostic {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    pub fn related(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.related.push((span, label.into()));
        self
    }

    /// `file:line:col: error[idl-0007]: message`.
    pub fn one_line(&self, sources: &SourceMap) -> String {
        let file = sources.get(self.span.file);
        let (line, column) = file.line_col(self.span.start);
        format!(
            "{}:{}:{}: error[{}]: {}",
            file.name, line, column, self.code, self.message
        )
    }

    /// Adapts this diagnostic to `miette` for rendering.
    pub fn report(&self, sources: &SourceMap) -> Report {
        let file = sources.get(self.span.file);
        let mut labels = vec![miette::LabeledSpan::new_primary_with_span(
            Some(self.label.clone()),
            to_source_span(self.span),
        )];
        let mut notes = Vec::new();
        let mut far = Vec::new();
        let (primary_line, _) = file.line_col(self.span.start);
        for (span, text) in &self.related {
            let same_file = span.file == self.span.file;
            if same_file && file.line_col(span.start).0.abs_diff(primary_line) > MAX_LABEL_GAP {
                // Far from the primary span: its own snippet, so the lines
                // between the two are not all printed.
                far.push(Report {
                    code: None,
                    message: text.clone(),
                    help: None,
                    labels: vec![miette::LabeledSpan::new_primary_with_span(
                        Some(text.clone()),
                        to_source_span(*span),
                    )],
                    source: miette::NamedSource::new(file.name.clone(), file.text.to_string())
                        .with_language("fidl"),
                    related: Vec::new(),
                });
            } else if same_file {
                labels.push(miette::LabeledSpan::new_with_span(
                    Some(text.clone()),
                    to_source_span(*span),
                ));
            } else {
                let other = sources.get(span.file);
                let (line, column) = other.line_col(span.start);
                notes.push(format!("{text} ({}:{line}:{column})", other.name));
            }
        }
        let help = match (&self.help, notes.is_empty()) {
            (help, true) => help.clone(),
            (None, false) => Some(notes.join("\n")),
            (Some(help), false) => Some(format!("{help}\n{}", notes.join("\n"))),
        };
        Report {
            code: Some(self.code.code()),
            message: self.message.clone(),
            help,
            related: far,
            labels,
            source: miette::NamedSource::new(file.name.clone(), file.text.to_string())
                .with_language("fidl"),
        }
    }
}

fn to_source_span(span: Span) -> miette::SourceSpan {
    miette::SourceSpan::new((span.start as usize).into(), span.len())
}

/// Lines between the primary span and a related one of the same file
/// beyond which the related one gets a snippet of its own.
const MAX_LABEL_GAP: usize = 6;

/// One diagnostic, ready for a `miette` handler.
#[derive(Debug)]
pub struct Report {
    code: Option<String>,
    /// Related spans far from the primary one, each with its own snippet.
    related: Vec<Report>,
    message: String,
    help: Option<String>,
    labels: Vec<miette::LabeledSpan>,
    source: miette::NamedSource<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.code
            .as_ref()
            .map(|code| Box::new(code) as Box<dyn std::fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        // A far related span is a note on the error above it.
        self.code.is_none().then_some(miette::Severity::Advice)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(
            self.related.iter().map(|r| r as &dyn miette::Diagnostic),
        ))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
}

/// Collects the diagnostics of one pass.
#[derive(Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }
}
