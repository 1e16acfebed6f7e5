//! Declaring names: the first step of resolution.
//!
//! Every declaration of a library, and every anonymous layout inside one, is
//! given an id and a name before anything is resolved, so that references
//! can point forward and across files. Result unions and empty response
//! structs that methods imply are declared here too.

use std::collections::BTreeMap;

use super::model::{Decl, DeclId, DeclKind, LibraryId};
use super::{Resolver, Source};
use crate::diagnostics::{Diagnostic, ErrorCode};
use crate::source::Span;
use crate::syntax::ast::{self, LayoutRef, ModifierKind};

/// `foo_bar` → `FooBar`, for generated names of anonymous layouts.
pub fn upper_camel(name: &str) -> String {
    name.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The form under which two names are considered the same: case and
/// underscores do not distinguish names (`FooBar`, `foo_bar`, `FOOBAR`).
pub fn canonical(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Whether a protocol's method is flexible: explicit modifiers win; without
/// one a method is flexible where the protocol's openness allows it.
pub fn method_is_flexible(protocol: &ast::ProtocolDecl, method: &ast::Method) -> bool {
    let explicit = method.modifiers.iter().rev().find_map(|m| match m.kind {
        ModifierKind::Strict => Some(false),
        ModifierKind::Flexible => Some(true),
        _ => None,
    });
    if let Some(flexible) = explicit {
        return flexible;
    }
    let openness = protocol.modifiers.iter().rev().find_map(|m| match m.kind {
        ModifierKind::Open => Some(ModifierKind::Open),
        ModifierKind::Ajar => Some(ModifierKind::Ajar),
        ModifierKind::Closed => Some(ModifierKind::Closed),
        _ => None,
    });
    let two_way = method.request.is_some() && method.response.is_some();
    match openness.unwrap_or(ModifierKind::Open) {
        ModifierKind::Open => true,
        ModifierKind::Ajar => !two_way,
        _ => false,
    }
}

impl Resolver {
    pub(super) fn declare_library(
        &mut self,
        library: LibraryId,
        files: &[(crate::source::FileId, ast::File)],
    ) {
        for (_, file) in files {
            for decl in &file.declarations {
                match decl {
                    ast::Declaration::Const(d) => {
                        self.declare(
                            library,
                            &d.name.name,
                            d.name.span,
                            false,
                            Source::Const(d.clone()),
                        );
                        self.forbid_inline(&d.ty);
                    }
                    ast::Declaration::Alias(d) => {
                        self.declare(
                            library,
                            &d.name.name,
                            d.name.span,
                            false,
                            Source::Alias(d.clone()),
                        );
                        self.forbid_inline(&d.target);
                    }
                    ast::Declaration::Type(d) => {
                        match &d.ty.layout {
                            LayoutRef::Inline(layout) => {
                                let mut attributes = d.attributes.clone();
                                attributes.extend(layout.attributes.iter().cloned());
                                self.declare_layout(
                                    library,
                                    &d.name.name,
                                    d.name.span,
                                    false,
                                    layout,
                                    attributes,
                                );
                                if !d.ty.params.is_empty() || !d.ty.constraints.is_empty() {
                                    self.error(
                                        Diagnostic::new(
                                            ErrorCode::TypeDeclarationNotLayout,
                                            d.ty.constraints_span
                                                .or(d.ty.params_span)
                                                .unwrap_or(d.ty.span),
                                            "a type declaration cannot constrain its layout",
                                        )
                                        .label("constraints belong on uses of the type"),
                                    );
                                }
                            }
                            LayoutRef::Named(target) => {
                                self.error(
                                Diagnostic::new(
                                    ErrorCode::TypeDeclarationNotLayout,
                                    target.span,
                                    format!("`type {} = {}` does not define a layout", d.name.name, target.dotted()),
                                )
                                .label("expected `struct`, `table`, `union`, `enum` or `bits`")
                                .help(format!("to give an existing type a new name, write `alias {} = {};`", d.name.name, target.dotted())),
                            );
                            }
                        }
                    }
                    ast::Declaration::Protocol(d) => {
                        self.declare(
                            library,
                            &d.name.name,
                            d.name.span,
                            false,
                            Source::Protocol(d.clone()),
                        );
                        self.declare_method_payloads(library, d);
                    }
                    ast::Declaration::Service(d) => {
                        self.declare(
                            library,
                            &d.name.name,
                            d.name.span,
                            false,
                            Source::Service(d.clone()),
                        );
                    }
                    ast::Declaration::Resource(d) => {
                        self.declare(
                            library,
                            &d.name.name,
                            d.name.span,
                            false,
                            Source::Resource(d.clone()),
                        );
                        for property in &d.properties {
                            self.forbid_inline(&property.ty);
                        }
                    }
                }
            }
        }
        self.check_name_collisions(library);
    }

    /// Adds a declaration, reporting duplicates.
    pub(super) fn declare(
        &mut self,
        library: LibraryId,
        name: &str,
        span: Span,
        anonymous: bool,
        source: Source,
    ) -> DeclId {
        let id = self.model.decls.alloc(Decl {
            library,
            name: name.to_string(),
            span,
            attributes: Vec::new(),
            anonymous,
            kind: DeclKind::Pending,
        });
        self.classes.push(super::Class::of(&source));
        self.sources.push(Some(source));
        self.states.push(super::State::Unresolved);
        let lib = &mut self.model.libraries[library];
        lib.order.push(id);
        if let Some(&previous) = lib.decls.get(name) {
            let previous_span = self.model.decls[previous].span;
            let code = if anonymous || self.model.decls[previous].anonymous {
                ErrorCode::NameCollisionOfAnonymousLayout
            } else {
                ErrorCode::DuplicateDeclaration
            };
            let help = if code == ErrorCode::NameCollisionOfAnonymousLayout {
                "rename a member, or choose the name with `@generated_name(\"…\")`"
            } else {
                "rename one of them"
            };
            self.error(
                Diagnostic::new(code, span, format!("`{name}` is declared more than once"))
                    .label("declared again here")
                    .related(previous_span, "first declared here")
                    .help(help),
            );
        } else {
            lib.decls.insert(name.to_string(), id);
        }
        id
    }

    fn check_name_collisions(&mut self, library: LibraryId) {
        let mut seen: BTreeMap<String, DeclId> = BTreeMap::new();
        let ids: Vec<DeclId> = self.model.libraries[library]
            .decls
            .values()
            .copied()
            .collect();
        for id in ids {
            let key = canonical(&self.model.decls[id].name);
            if let Some(&other) = seen.get(&key) {
                let (a, b) = (&self.model.decls[other], &self.model.decls[id]);
                let (first, second) = if a.span.start <= b.span.start || a.span.file != b.span.file
                {
                    (a, b)
                } else {
                    (b, a)
                };
                let diagnostic = Diagnostic::new(
                    ErrorCode::CaseInsensitiveCollision,
                    second.span,
                    format!("`{}` collides with `{}`", second.name, first.name),
                )
                .label("differs only in case or underscores")
                .related(first.span, "the other declaration")
                .help("names must differ by more than case and underscores");
                self.error(diagnostic);
            } else {
                seen.insert(key, id);
            }
        }
    }

    /// Declares a layout and, recursively, the anonymous layouts in it.
    pub(super) fn declare_layout(
        &mut self,
        library: LibraryId,
        name: &str,
        span: Span,
        anonymous: bool,
        layout: &ast::Layout,
        attributes: Vec<ast::Attribute>,
    ) -> DeclId {
        let id = self.declare(
            library,
            name,
            span,
            anonymous,
            Source::Layout {
                layout: layout.clone(),
                attributes,
            },
        );
        for member in &layout.members {
            match member {
                ast::LayoutMember::Struct { name, ty, .. } => {
                    self.declare_inline(library, &upper_camel(&name.name), ty)
                }
                ast::LayoutMember::Ordinal {
                    member: Some((name, ty)),
                    ..
                } => self.declare_inline(library, &upper_camel(&name.name), ty),
                _ => {}
            }
        }
        if let Some(subtype) = &layout.subtype {
            self.forbid_inline(subtype);
        }
        id
    }

    /// Declares the anonymous layouts of a member's type constructor.
    fn declare_inline(&mut self, library: LibraryId, generated: &str, ty: &ast::TypeCtor) {
        match &ty.layout {
            LayoutRef::Inline(layout) => {
                let name =
                    generated_name(&layout.attributes).unwrap_or_else(|| generated.to_string());
                let id = self.declare_layout(
                    library,
                    &name,
                    layout.kind_span,
                    true,
                    layout,
                    layout.attributes.clone(),
                );
                self.inline_layouts
                    .insert((ty.span.file, layout.span.start), id);
            }
            LayoutRef::Named(_) => {
                for param in &ty.params {
                    if let ast::LayoutParam::Type(inner) = param {
                        self.declare_inline(library, generated, inner);
                    }
                }
            }
        }
    }

    fn declare_method_payloads(&mut self, library: LibraryId, protocol: &ast::ProtocolDecl) {
        let prefix = protocol.name.name.clone();
        for method in &protocol.methods {
            let base = format!("{prefix}{}", upper_camel(&method.name.name));
            if let Some(request) = method.request.as_ref().and_then(|p| p.ty.as_ref()) {
                self.declare_inline(library, &format!("{base}Request"), request);
            }
            let Some(response) = &method.response else {
                continue;
            };
            let is_event = method.request.is_none();
            let response_ty = response.ty.as_ref();
            if let Some(ty) = response_ty {
                let suffix = if is_event { "Request" } else { "Response" };
                self.declare_inline(library, &format!("{base}{suffix}"), ty);
            }
            if let Some(error) = &method.error {
                self.forbid_inline(error);
            }
            let flexible = !is_event && method_is_flexible(protocol, method);
            if !is_event && (method.error.is_some() || flexible) {
                // The reply is a union of success, error and framework error.
                let success = match response_ty {
                    Some(_) => None,
                    None if method.error.is_some() || flexible => Some(self.declare(
                        library,
                        &format!("{base}Response"),
                        method.name.span,
                        true,
                        Source::EmptyStruct,
                    )),
                    None => None,
                };
                self.declare(
                    library,
                    &format!("{base}Result"),
                    method.name.span,
                    true,
                    Source::ResultUnion {
                        empty_success: success,
                        response: response_ty.cloned(),
                        error: method.error.clone(),
                        flexible,
                    },
                );
            }
        }
    }

    /// Anonymous layouts are allowed only in members and payloads.
    fn forbid_inline(&mut self, ty: &ast::TypeCtor) {
        match &ty.layout {
            LayoutRef::Inline(layout) => self.error(
                Diagnostic::new(
                    ErrorCode::AnonymousLayoutNotAllowed,
                    layout.kind_span,
                    format!("an anonymous {} is not allowed here", layout.kind.keyword()),
                )
                .label("anonymous layout")
                .help("declare it with `type Name = …;` and refer to it by name"),
            ),
            LayoutRef::Named(_) => {
                for param in &ty.params {
                    if let ast::LayoutParam::Type(inner) = param {
                        self.forbid_inline(inner);
                    }
                }
            }
        }
    }
}

fn generated_name(attributes: &[ast::Attribute]) -> Option<String> {
    attributes
        .iter()
        .find(|a| a.name.name == "generated_name")
        .and_then(|a| a.args.first())
        .and_then(|arg| match &arg.value {
            ast::Constant::Literal(ast::Literal::String(s), _) => Some(s.clone()),
            _ => None,
        })
}

pub fn attributes_of(decl: &ast::Declaration) -> &[ast::Attribute] {
    match decl {
        ast::Declaration::Const(d) => &d.attributes,
        ast::Declaration::Alias(d) => &d.attributes,
        ast::Declaration::Type(d) => &d.attributes,
        ast::Declaration::Protocol(d) => &d.attributes,
        ast::Declaration::Service(d) => &d.attributes,
        ast::Declaration::Resource(d) => &d.attributes,
    }
}
