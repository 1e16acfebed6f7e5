//! Attributes: the ones the compiler knows are checked (placement,
//! arguments, `@available` versions); unknown ones are kept for backends.

use std::collections::BTreeMap;

use super::model::{Attribute, ConstValue};
use super::Resolver;
use crate::diagnostics::{Diagnostic, ErrorCode};
use crate::source::FileId;
use crate::syntax::ast;

/// Where an attribute list is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    Library,
    Protocol,
    Method,
    /// Any other declaration (const, alias, type, service, resource).
    Decl,
    /// A member of a layout, service or resource.
    Member,
}

/// The transports `@transport` accepts.
pub const TRANSPORTS: &[&str] = &["Channel", "Driver", "Banjo", "Syscall"];

/// `@available` version: a positive integer or `HEAD`.
pub fn version_of(value: &ast::Constant) -> Option<u64> {
    match value {
        ast::Constant::Literal(ast::Literal::Number(n), _) => n.parse().ok(),
        ast::Constant::Identifier(id) if id.dotted() == "HEAD" => Some(u64::MAX - 1),
        _ => None,
    }
}

impl Resolver<'_> {
    pub(super) fn attributes(
        &mut self,
        file: FileId,
        attributes: &[ast::Attribute],
        placement: Placement,
    ) -> Vec<Attribute> {
        let mut seen: BTreeMap<&str, &ast::Attribute> = BTreeMap::new();
        let mut resolved = Vec::new();
        for attribute in attributes {
            let name = attribute.name.name.as_str();
            if let Some(first) = seen.get(name) {
                let first_span = first.span;
                self.error(
                    Diagnostic::new(
                        ErrorCode::DuplicateAttribute,
                        attribute.name.span,
                        format!("attribute `@{name}` is repeated"),
                    )
                    .label("repeated")
                    .related(first_span, "first given here")
                    .help("merge the two attributes into one"),
                );
                continue;
            }
            seen.insert(name, attribute);
            self.check_attribute(attribute, placement);
            let args = attribute
                .args
                .iter()
                .map(|arg| {
                    let key = arg.name.as_ref().map_or("value", |n| n.name.as_str());
                    (key.to_string(), self.untyped_constant(file, &arg.value))
                })
                .collect();
            resolved.push(Attribute {
                name: name.to_string(),
                args,
                span: attribute.span,
            });
        }
        resolved
    }

    fn check_attribute(&mut self, attribute: &ast::Attribute, placement: Placement) {
        let name = attribute.name.name.as_str();
        let allowed = match name {
            "discoverable" | "transport" => Some(placement == Placement::Protocol),
            "selector" => Some(placement == Placement::Method),
            "generated_name" => Some(placement != Placement::Library),
            _ => None,
        };
        if allowed == Some(false) {
            self.error(
                Diagnostic::new(
                    ErrorCode::AttributeNotAllowedHere,
                    attribute.name.span,
                    format!("`@{name}` is not allowed here"),
                )
                .label("misplaced attribute")
                .help(match name {
                    "selector" => "`@selector` goes on a method",
                    _ => "this attribute goes on a protocol",
                }),
            );
            return;
        }
        let single_string = |a: &ast::Attribute| match a.args.as_slice() {
            [arg] if arg.name.is_none() => match &arg.value {
                ast::Constant::Literal(ast::Literal::String(s), span) => Some((s.clone(), *span)),
                _ => None,
            },
            _ => None,
        };
        match name {
            "available" => self.check_available(attribute, placement),
            "selector" | "transport" | "generated_name" => {
                if attribute.args.is_empty() {
                    self.error(
                        Diagnostic::new(
                            ErrorCode::MissingAttributeArgument,
                            attribute.span,
                            format!("`@{name}` needs an argument"),
                        )
                        .label("argument missing")
                        .help(format!("write `@{name}(\"…\")`")),
                    );
                    return;
                }
                let Some((value, span)) = single_string(attribute) else {
                    self.error(
                        Diagnostic::new(
                            ErrorCode::InvalidAttributeArgument,
                            attribute.args[0].span,
                            format!("`@{name}` takes one string argument"),
                        )
                        .label("expected a string"),
                    );
                    return;
                };
                if name == "transport" && !TRANSPORTS.contains(&value.as_str()) {
                    let help = crate::diagnostics::did_you_mean(&value, TRANSPORTS.iter().copied())
                        .unwrap_or_else(|| format!("known transports: {}", TRANSPORTS.join(", ")));
                    self.error(
                        Diagnostic::new(
                            ErrorCode::InvalidTransport,
                            span,
                            format!("unknown transport `{value}`"),
                        )
                        .label("unknown transport")
                        .help(help),
                    );
                }
                if name == "selector" && !valid_selector(&value) {
                    self.error(
                        Diagnostic::new(
                            ErrorCode::InvalidSelector,
                            span,
                            format!("invalid selector `{value}`"),
                        )
                        .label("not a method name or `library/Protocol.Method`")
                        .help("a selector is an identifier, or `some.library/Protocol.Method`"),
                    );
                }
            }
            "discoverable" if !attribute.args.is_empty() && single_string(attribute).is_none() => {
                self.error(
                    Diagnostic::new(
                        ErrorCode::InvalidAttributeArgument,
                        attribute.args[0].span,
                        "`@discoverable` takes an optional string argument",
                    )
                    .label("expected a string"),
                );
            }
            _ => {}
        }
    }

    /// Validates the `@available` of an element filtered out by it.
    pub(super) fn check_unavailable(&mut self, attributes: &[ast::Attribute]) {
        for attribute in attributes.iter().filter(|a| a.name.name == "available") {
            self.check_available(attribute, Placement::Decl);
        }
    }

    fn check_available(&mut self, attribute: &ast::Attribute, placement: Placement) {
        let mut versions: BTreeMap<&str, (u64, crate::source::Span)> = BTreeMap::new();
        for arg in &attribute.args {
            let Some(key) = &arg.name else {
                self.error(
                    Diagnostic::new(
                        ErrorCode::InvalidAttributeArgument,
                        arg.span,
                        "`@available` arguments must be named",
                    )
                    .label("unnamed argument")
                    .help("write `@available(added=1)`"),
                );
                continue;
            };
            match key.name.as_str() {
                "added" | "removed" | "deprecated" => match version_of(&arg.value) {
                    Some(v) if v > 0 => {
                        versions.insert(
                            match key.name.as_str() {
                                "added" => "added",
                                "removed" => "removed",
                                _ => "deprecated",
                            },
                            (v, arg.span),
                        );
                    }
                    _ => self.error(
                        Diagnostic::new(
                            ErrorCode::InvalidAvailability,
                            arg.value.span(),
                            format!("`{}` must be a positive version or `HEAD`", key.name),
                        )
                        .label("invalid version"),
                    ),
                },
                "platform" if placement == Placement::Library => {}
                "note" | "legacy" | "replaced" | "renamed" => {}
                other => {
                    let help = crate::diagnostics::did_you_mean(
                        other,
                        ["added", "removed", "deprecated", "platform", "note"],
                    );
                    self.error(
                        Diagnostic::new(
                            ErrorCode::InvalidAttributeArgument,
                            key.span,
                            format!("`@available` has no argument `{other}`"),
                        )
                        .label("unknown argument")
                        .maybe_help(help),
                    );
                }
            }
        }
        let order = ["added", "deprecated", "removed"];
        for (i, first) in order.iter().enumerate() {
            for second in &order[i + 1..] {
                if let (Some(a), Some(b)) = (versions.get(first), versions.get(second)) {
                    if a.0 >= b.0 && !(*first == "added" && *second == "deprecated" && a.0 == b.0) {
                        self.error(
                            Diagnostic::new(
                                ErrorCode::InvalidAvailability,
                                b.1,
                                format!("`{second}` must come after `{first}`"),
                            )
                            .label(format!("{second} = {}", b.0))
                            .related(a.1, format!("{first} = {}", a.0))
                            .help(format!("`{first}` < `{second}` is required")),
                        );
                    }
                }
            }
        }
    }

    /// A constant without an expected type (attribute arguments).
    pub(super) fn untyped_constant(
        &mut self,
        file: FileId,
        constant: &ast::Constant,
    ) -> ConstValue {
        match constant {
            ast::Constant::Literal(ast::Literal::Bool(b), _) => ConstValue::Bool(*b),
            ast::Constant::Literal(ast::Literal::String(s), _) => ConstValue::String(s.clone()),
            ast::Constant::Literal(ast::Literal::Number(n), _) => super::constants::parse_number(n)
                .map(ConstValue::Int)
                .or_else(|| n.parse::<f64>().ok().map(ConstValue::Float))
                .unwrap_or_else(|| ConstValue::String(n.clone())),
            ast::Constant::Identifier(id) => {
                if id.parts.len() == 1 && id.parts[0].name == "HEAD" {
                    return ConstValue::String("HEAD".into());
                }
                match self.lookup(file, id) {
                    super::Lookup::Decl(decl) => {
                        self.ensure(decl);
                        match &self.model.decls[decl].kind {
                            super::model::DeclKind::Const(c) => c.value.clone(),
                            _ => ConstValue::String(id.dotted()),
                        }
                    }
                    _ => ConstValue::String(id.dotted()),
                }
            }
            ast::Constant::Or(..) => ConstValue::String("<expression>".into()),
        }
    }
}

fn valid_selector(value: &str) -> bool {
    let ident = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    match value.split_once('/') {
        None => ident(value),
        Some((library, rest)) => {
            library.split('.').all(ident)
                && rest
                    .split_once('.')
                    .is_some_and(|(p, m)| ident(p) && ident(m))
        }
    }
}
