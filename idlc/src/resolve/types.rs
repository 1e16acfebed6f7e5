//! Type constructors → [`Type`]: builtins, references, aliases, layout
//! parameters and constraints.

use super::model::{ConstValue, DeclKind, EndpointRole, Primitive, Type};
use super::{Class, Lookup, Resolver};
use crate::diagnostics::{did_you_mean, Diagnostic, ErrorCode};
use crate::source::{FileId, Span};
use crate::syntax::ast::{self, LayoutParam, LayoutRef};

/// Names the compiler defines in every library.
pub const BUILTINS: &[&str] = &[
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float32",
    "float64",
    "byte",
    "string",
    "vector",
    "array",
    "box",
    "client_end",
    "server_end",
];

impl Resolver {
    pub(super) fn resolve_type(&mut self, file: FileId, ctor: &ast::TypeCtor) -> Type {
        let name = match &ctor.layout {
            LayoutRef::Inline(layout) => {
                let Some(&decl) = self
                    .inline_layouts
                    .get(&(ctor.span.file, layout.span.start))
                else {
                    return Type::Invalid; // an anonymous layout where none is allowed
                };
                let base = Type::Named {
                    decl,
                    optional: false,
                };
                return self.constrain(file, base, ctor);
            }
            LayoutRef::Named(name) => name,
        };
        match self.lookup(file, name) {
            Lookup::Decl(decl) => {
                self.no_params(ctor, &name.dotted());
                let base = match self.class(decl) {
                    Class::Struct | Class::Table | Class::Union | Class::Enum | Class::Bits => {
                        Type::Named {
                            decl,
                            optional: false,
                        }
                    }
                    Class::Alias => {
                        if !self.ensure(decl) {
                            self.error(
                                Diagnostic::new(
                                    ErrorCode::RecursiveType,
                                    name.span,
                                    format!("alias `{}` refers to itself", name.dotted()),
                                )
                                .label("cycle of aliases"),
                            );
                            return Type::Invalid;
                        }
                        match &self.model.decls[decl].kind {
                            DeclKind::Alias(a) => a.target.clone(),
                            _ => Type::Invalid,
                        }
                    }
                    Class::Resource => {
                        return self.handle(file, decl, ctor);
                    }
                    class => {
                        let help = match class {
                            Class::Protocol => Some(format!(
                                "to pass a channel to this protocol, use `client_end:{0}` or `server_end:{0}`",
                                name.dotted()
                            )),
                            _ => None,
                        };
                        self.error(
                            Diagnostic::new(
                                ErrorCode::NotAType,
                                name.span,
                                format!("`{}` is a {}, not a type", name.dotted(), class.name()),
                            )
                            .label("expected a type")
                            .maybe_help(help),
                        );
                        return Type::Invalid;
                    }
                };
                self.constrain(file, base, ctor)
            }
            Lookup::Member(..) => {
                self.error(
                    Diagnostic::new(
                        ErrorCode::NotAType,
                        name.span,
                        format!("`{}` is a member, not a type", name.dotted()),
                    )
                    .label("expected a type"),
                );
                Type::Invalid
            }
            Lookup::NotFound if name.parts.len() == 1 => self.builtin(file, &name.parts[0], ctor),
            Lookup::NotFound => {
                self.error(self.undefined(file, name, BUILTINS));
                Type::Invalid
            }
        }
    }

    fn builtin(&mut self, file: FileId, name: &ast::Ident, ctor: &ast::TypeCtor) -> Type {
        let word = name.name.as_str();
        if let Some(p) = Primitive::from_name(word).or((word == "byte").then_some(Primitive::Uint8))
        {
            self.no_params(ctor, word);
            return self.constrain(file, Type::Primitive(p), ctor);
        }
        match word {
            "string" => {
                self.no_params(ctor, word);
                let base = Type::String {
                    max: None,
                    optional: false,
                };
                self.constrain(file, base, ctor)
            }
            "vector" => {
                let Some(element) = self.type_params(file, ctor, word, 1).pop() else {
                    return Type::Invalid;
                };
                let base = Type::Vector {
                    element: Box::new(element),
                    max: None,
                    optional: false,
                };
                self.constrain(file, base, ctor)
            }
            "box" => {
                let Some(inner) = self.type_params(file, ctor, word, 1).pop() else {
                    return Type::Invalid;
                };
                let boxed = match inner {
                    Type::Named { decl, optional } if self.class(decl) == Class::Struct => {
                        if optional {
                            return Type::Invalid; // reported by the inner constructor
                        }
                        Type::Named {
                            decl,
                            optional: true,
                        }
                    }
                    Type::Invalid => return Type::Invalid,
                    _ => {
                        self.error(
                            Diagnostic::new(
                                ErrorCode::InvalidBoxedType,
                                ctor.params_span.unwrap_or(ctor.span),
                                "only structs can be boxed",
                            )
                            .label("not a struct")
                            .help("other types become optional with `:optional`"),
                        );
                        return Type::Invalid;
                    }
                };
                if ctor.constraints.iter().any(|c| is_word(c, "optional")) {
                    self.error(
                        Diagnostic::new(
                            ErrorCode::CannotBeOptional,
                            ctor.constraints_span.unwrap_or(ctor.span),
                            "`box` is already optional",
                        )
                        .label("redundant `optional`")
                        .help("remove `:optional`"),
                    );
                } else if !ctor.constraints.is_empty() {
                    self.too_many(ctor, "box", 0);
                }
                boxed
            }
            "array" => self.array(file, ctor),
            "client_end" | "server_end" => {
                self.no_params(ctor, word);
                let role = if word == "client_end" {
                    EndpointRole::Client
                } else {
                    EndpointRole::Server
                };
                self.endpoint(file, role, ctor)
            }
            _ => {
                let mut diagnostic = self.undefined(
                    file,
                    &ast::CompoundIdent {
                        parts: vec![name.clone()],
                        span: name.span,
                    },
                    BUILTINS,
                );
                if word == "handle" {
                    diagnostic = diagnostic.help("handles are declared by the `zx` library: `using zx;` then `zx.Handle:VMO`");
                }
                self.error(diagnostic);
                Type::Invalid
            }
        }
    }

    fn no_params(&mut self, ctor: &ast::TypeCtor, name: &str) {
        if !ctor.params.is_empty() {
            self.error(
                Diagnostic::new(
                    ErrorCode::WrongLayoutParameters,
                    ctor.params_span.unwrap_or(ctor.span),
                    format!("`{name}` takes no layout parameters"),
                )
                .label("unexpected parameters"),
            );
        }
    }

    fn type_params(
        &mut self,
        file: FileId,
        ctor: &ast::TypeCtor,
        name: &str,
        count: usize,
    ) -> Vec<Type> {
        if ctor.params.len() != count {
            self.error(
                Diagnostic::new(
                    ErrorCode::WrongLayoutParameters,
                    ctor.params_span.unwrap_or(ctor.span),
                    format!(
                        "`{name}` takes {count} type parameter{}, found {}",
                        if count == 1 { "" } else { "s" },
                        ctor.params.len()
                    ),
                )
                .label("wrong parameters")
                .help(format!("write `{name}<T>`")),
            );
            return Vec::new();
        }
        let mut types = Vec::new();
        for param in &ctor.params {
            match param {
                LayoutParam::Type(t) => types.push(self.resolve_type(file, t)),
                LayoutParam::Literal(_, span) => {
                    self.error(
                        Diagnostic::new(
                            ErrorCode::WrongLayoutParameters,
                            *span,
                            format!("`{name}` expects a type here"),
                        )
                        .label("not a type"),
                    );
                    return Vec::new();
                }
            }
        }
        types
    }

    fn array(&mut self, file: FileId, ctor: &ast::TypeCtor) -> Type {
        let (element, size) = match ctor.params.as_slice() {
            [LayoutParam::Type(element), size] => (element, size),
            _ => {
                self.error(
                    Diagnostic::new(
                        ErrorCode::WrongLayoutParameters,
                        ctor.params_span.unwrap_or(ctor.span),
                        "`array` takes an element type and a size",
                    )
                    .label("wrong parameters")
                    .help("write `array<T, N>`"),
                );
                return Type::Invalid;
            }
        };
        let element = self.resolve_type(file, element);
        let size_constant = match size {
            LayoutParam::Literal(literal, span) => ast::Constant::Literal(literal.clone(), *span),
            LayoutParam::Type(t) => match &t.layout {
                LayoutRef::Named(name) if t.params.is_empty() && t.constraints.is_empty() => {
                    ast::Constant::Identifier(name.clone())
                }
                _ => {
                    self.error(
                        Diagnostic::new(
                            ErrorCode::WrongLayoutParameters,
                            t.span,
                            "the size of an array must be a constant",
                        )
                        .label("not a constant"),
                    );
                    return Type::Invalid;
                }
            },
        };
        let count = match self.size_bound(file, &size_constant) {
            SizeResult::Ok(count) => count,
            SizeResult::Failed => return Type::Invalid,
        };
        if !ctor.constraints.is_empty() {
            self.invalid_constraint(ctor, "array");
        }
        if matches!(element, Type::Invalid) {
            return Type::Invalid;
        }
        Type::Array {
            element: Box::new(element),
            count: count.unwrap_or(u32::MAX),
        }
    }

    /// A size: a positive `uint32` constant; `MAX` means unbounded (`None`).
    fn size_bound(&mut self, file: FileId, constant: &ast::Constant) -> SizeResult {
        if is_word(constant, "MAX") {
            return SizeResult::Ok(None);
        }
        match self.constant(file, constant, &Type::Primitive(Primitive::Uint32)) {
            Some(ConstValue::Int(0)) => {
                self.error(
                    Diagnostic::new(
                        ErrorCode::InvalidSizeBound,
                        constant.span(),
                        "a size bound must be at least 1",
                    )
                    .label("zero"),
                );
                SizeResult::Failed
            }
            Some(ConstValue::Int(n)) if n == u32::MAX as i128 => SizeResult::Ok(None),
            Some(ConstValue::Int(n)) => SizeResult::Ok(Some(n as u32)),
            _ => SizeResult::Failed,
        }
    }

    fn endpoint(&mut self, file: FileId, role: EndpointRole, ctor: &ast::TypeCtor) -> Type {
        let mut optional = false;
        let mut protocol = None;
        for constraint in &ctor.constraints {
            if is_word(constraint, "optional") {
                optional = true;
                continue;
            }
            if protocol.is_some() {
                self.too_many(ctor, "client_end", 2);
                return Type::Invalid;
            }
            protocol = Some(constraint);
        }
        let role_name = if role == EndpointRole::Client {
            "client_end"
        } else {
            "server_end"
        };
        let Some(constraint) = protocol else {
            self.error(
                Diagnostic::new(
                    ErrorCode::EndpointNotProtocol,
                    ctor.span,
                    format!("`{role_name}` needs a protocol"),
                )
                .label("no protocol")
                .help(format!("write `{role_name}:MyProtocol`")),
            );
            return Type::Invalid;
        };
        let ast::Constant::Identifier(name) = constraint else {
            self.not_protocol(constraint.span(), role_name, "a literal");
            return Type::Invalid;
        };
        match self.lookup(file, name) {
            Lookup::Decl(decl) if self.class(decl) == Class::Protocol => Type::Endpoint {
                role,
                protocol: decl,
                optional,
            },
            Lookup::Decl(decl) => {
                let what = format!("a {}", self.class(decl).name());
                self.not_protocol(name.span, role_name, &what);
                Type::Invalid
            }
            _ => {
                self.error(self.undefined(file, name, &[]));
                Type::Invalid
            }
        }
    }

    fn not_protocol(&mut self, span: Span, role: &str, found: &str) {
        self.error(
            Diagnostic::new(
                ErrorCode::EndpointNotProtocol,
                span,
                format!("`{role}` needs a protocol, found {found}"),
            )
            .label("not a protocol"),
        );
    }

    /// `zx.Handle:<SUBTYPE, RIGHTS, optional>`.
    fn handle(
        &mut self,
        file: FileId,
        resource: super::model::DeclId,
        ctor: &ast::TypeCtor,
    ) -> Type {
        self.ensure(resource);
        let (subtype_enum, rights_bits) = match &self.model.decls[resource].kind {
            DeclKind::Resource(r) => (r.subtype, r.rights),
            _ => (None, None),
        };
        let mut optional = false;
        let mut positional = Vec::new();
        for constraint in &ctor.constraints {
            if is_word(constraint, "optional") {
                optional = true;
            } else {
                positional.push(constraint);
            }
        }
        if positional.len() > 2 {
            self.too_many(ctor, "handle", 3);
            return Type::Invalid;
        }
        let mut object_type = 0u32;
        let mut subtype = "NONE".to_string();
        if let Some(constraint) = positional.first() {
            let Some(enum_decl) = subtype_enum else {
                self.invalid_constraint(ctor, "this resource");
                return Type::Invalid;
            };
            let members: Vec<(String, i128)> = match &self.model.decls[enum_decl].kind {
                DeclKind::Enum(e) => e
                    .members
                    .iter()
                    .map(|m| (m.name.clone(), m.value))
                    .collect(),
                _ => Vec::new(),
            };
            let word = match constraint {
                ast::Constant::Identifier(id) => id.parts.last().map(|p| p.name.clone()),
                _ => None,
            };
            match word
                .as_ref()
                .and_then(|w| members.iter().find(|(n, _)| n == w))
            {
                Some((name, value)) => {
                    subtype = name.clone();
                    object_type = *value as u32;
                }
                None => {
                    let help = word
                        .as_deref()
                        .and_then(|w| did_you_mean(w, members.iter().map(|(n, _)| n.as_str())));
                    self.error(
                        Diagnostic::new(
                            ErrorCode::InvalidHandleSubtype,
                            constraint.span(),
                            "unknown handle subtype",
                        )
                        .label("not an object type")
                        .maybe_help(help),
                    );
                    return Type::Invalid;
                }
            }
        }
        let mut rights = None;
        if let Some(constraint) = positional.get(1) {
            let Some(bits) = rights_bits else {
                self.invalid_constraint(ctor, "this resource");
                return Type::Invalid;
            };
            if let ast::Constant::Literal(..) = constraint {
                self.error(
                    Diagnostic::new(
                        ErrorCode::InvalidHandleRights,
                        constraint.span(),
                        "handle rights must be named",
                    )
                    .label("a literal")
                    .help(
                        "use members of the rights bits, e.g. `zx.Rights.READ | zx.Rights.WRITE`",
                    ),
                );
                return Type::Invalid;
            }
            let expected = Type::Named {
                decl: bits,
                optional: false,
            };
            match self.constant(file, constraint, &expected) {
                Some(ConstValue::Int(v)) => rights = Some(v as u32),
                _ => return Type::Invalid,
            }
        }
        Type::Handle {
            resource: Some(resource),
            object_type,
            subtype,
            rights,
            optional,
        }
    }

    /// Applies `:constraints` to a non-handle, non-endpoint type.
    fn constrain(&mut self, file: FileId, base: Type, ctor: &ast::TypeCtor) -> Type {
        if ctor.constraints.is_empty() {
            return base;
        }
        let mut optional = false;
        let mut positional = Vec::new();
        for constraint in &ctor.constraints {
            if is_word(constraint, "optional") {
                optional = true;
            } else {
                positional.push(constraint);
            }
        }
        match base {
            Type::String { max, .. } => {
                let max = match positional.as_slice() {
                    [] => max,
                    [bound] => match self.size_bound(file, bound) {
                        SizeResult::Ok(m) => m,
                        SizeResult::Failed => return Type::Invalid,
                    },
                    _ => {
                        self.too_many(ctor, "string", 2);
                        return Type::Invalid;
                    }
                };
                Type::String { max, optional }
            }
            Type::Vector { element, max, .. } => {
                let max = match positional.as_slice() {
                    [] => max,
                    [bound] => match self.size_bound(file, bound) {
                        SizeResult::Ok(m) => m,
                        SizeResult::Failed => return Type::Invalid,
                    },
                    _ => {
                        self.too_many(ctor, "vector", 2);
                        return Type::Invalid;
                    }
                };
                Type::Vector {
                    element,
                    max,
                    optional,
                }
            }
            Type::Named {
                decl,
                optional: already,
            } => {
                if !positional.is_empty() {
                    self.too_many(ctor, &self.model.decls[decl].name.clone(), 1);
                    return Type::Invalid;
                }
                match self.class(decl) {
                    Class::Union => Type::Named {
                        decl,
                        optional: true,
                    },
                    Class::Struct if already => {
                        self.error(
                            Diagnostic::new(
                                ErrorCode::CannotBeOptional,
                                ctor.constraints_span.unwrap_or(ctor.span),
                                "this type is already optional",
                            )
                            .label("redundant `optional`"),
                        );
                        Type::Invalid
                    }
                    class => {
                        let help = if class == Class::Struct {
                            format!(
                                "box the struct instead: `box<{}>`",
                                self.model.decls[decl].name
                            )
                        } else {
                            format!("a {} cannot be absent; wrap it in a table member or an optional union", class.name())
                        };
                        self.error(
                            Diagnostic::new(
                                ErrorCode::CannotBeOptional,
                                ctor.constraints_span.unwrap_or(ctor.span),
                                format!("a {} cannot be optional", class.name()),
                            )
                            .label("not allowed")
                            .help(help),
                        );
                        Type::Invalid
                    }
                }
            }
            Type::Primitive(p) => {
                if optional && positional.is_empty() {
                    self.error(
                        Diagnostic::new(
                            ErrorCode::CannotBeOptional,
                            ctor.constraints_span.unwrap_or(ctor.span),
                            format!("`{}` cannot be optional", p.name()),
                        )
                        .label("not allowed")
                        .help("use a table member, or a struct in a `box`"),
                    );
                } else {
                    self.invalid_constraint(ctor, p.name());
                }
                Type::Invalid
            }
            other => {
                // Aliases of handles and endpoints: only `optional` applies.
                if !positional.is_empty() {
                    self.invalid_constraint(ctor, "this type");
                    return Type::Invalid;
                }
                match other {
                    Type::Handle {
                        resource,
                        object_type,
                        subtype,
                        rights,
                        ..
                    } => Type::Handle {
                        resource,
                        object_type,
                        subtype,
                        rights,
                        optional,
                    },
                    Type::Endpoint { role, protocol, .. } => Type::Endpoint {
                        role,
                        protocol,
                        optional,
                    },
                    Type::Array { .. } => {
                        self.invalid_constraint(ctor, "array");
                        Type::Invalid
                    }
                    other => other,
                }
            }
        }
    }

    fn too_many(&mut self, ctor: &ast::TypeCtor, name: &str, max: usize) {
        self.error(
            Diagnostic::new(
                ErrorCode::TooManyConstraints,
                ctor.constraints_span.unwrap_or(ctor.span),
                format!(
                    "`{name}` takes at most {max} constraint{}",
                    if max == 1 { "" } else { "s" }
                ),
            )
            .label("too many constraints"),
        );
    }

    fn invalid_constraint(&mut self, ctor: &ast::TypeCtor, name: &str) {
        self.error(
            Diagnostic::new(
                ErrorCode::InvalidConstraint,
                ctor.constraints_span.unwrap_or(ctor.span),
                format!("`{name}` takes no constraints"),
            )
            .label("unexpected constraint"),
        );
    }
}

/// A size that was evaluated, or an error that was already reported.
enum SizeResult {
    Ok(Option<u32>),
    Failed,
}

/// Whether a constraint is the bare word `word`.
fn is_word(constant: &ast::Constant, word: &str) -> bool {
    matches!(constant, ast::Constant::Identifier(id) if id.parts.len() == 1 && id.parts[0].name == word)
}
