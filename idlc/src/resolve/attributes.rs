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

impl Resolver {
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
            // Checked once for all versions, by `crate::versioning`.
            "available" => {}
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
            "discoverable" => self.check_discoverable(attribute),
            _ => {}
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
                if id.parts.len() == 1 && matches!(id.parts[0].name.as_str(), "HEAD" | "NEXT") {
                    return ConstValue::String(id.parts[0].name.clone());
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

impl Resolver {
    /// `@discoverable`, `@discoverable("name")` or fidlc's named arguments:
    /// `name="…"`, `client="platform,external"`, `server="platform"`.
    fn check_discoverable(&mut self, attribute: &ast::Attribute) {
        for arg in &attribute.args {
            let key = arg.name.as_ref().map_or("name", |n| n.name.as_str());
            let value = match &arg.value {
                ast::Constant::Literal(ast::Literal::String(s), _) => s,
                other => {
                    self.error(
                        Diagnostic::new(
                            ErrorCode::InvalidAttributeArgument,
                            other.span(),
                            format!("`@discoverable` argument `{key}` takes a string"),
                        )
                        .label("expected a string"),
                    );
                    continue;
                }
            };
            match key {
                "name" => {
                    let valid = !value.is_empty()
                        && value.split('.').all(|part| {
                            part.starts_with(|c: char| c.is_ascii_alphabetic())
                                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        });
                    if !valid {
                        self.error(
                            Diagnostic::new(
                                ErrorCode::InvalidAttributeArgument,
                                arg.value.span(),
                                format!("invalid discoverable name `{value}`"),
                            )
                            .label("not a dotted name")
                            .help("a discoverable name looks like `fuchsia.example.Protocol`"),
                        );
                    }
                }
                "client" | "server" => {
                    let valid = value
                        .split(',')
                        .all(|location| matches!(location.trim(), "platform" | "external"));
                    if !valid {
                        self.error(
                            Diagnostic::new(
                                ErrorCode::InvalidAttributeArgument,
                                arg.value.span(),
                                format!("invalid `@discoverable` location `{value}`"),
                            )
                            .label("unknown location")
                            .help(
                                "locations are `platform` and/or `external`, separated by commas",
                            ),
                        );
                    }
                }
                other => {
                    let help =
                        crate::diagnostics::did_you_mean(other, ["name", "client", "server"]);
                    self.error(
                        Diagnostic::new(
                            ErrorCode::InvalidAttributeArgument,
                            arg.name.as_ref().map_or(arg.span, |n| n.span),
                            format!("`@discoverable` has no argument `{other}`"),
                        )
                        .label("unknown argument")
                        .maybe_help(help.or_else(|| {
                            Some("`@discoverable` takes `name`, `client` and `server`".into())
                        })),
                    );
                }
            }
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
