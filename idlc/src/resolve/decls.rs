//! Compiling one declaration: constants, aliases, layouts, services and
//! resource definitions. Protocols are in `protocols.rs`.

use std::collections::BTreeMap;

use super::attributes::Placement;
use super::declare::canonical;
use super::model::*;
use super::{Class, Resolver, Source};
use crate::diagnostics::{Diagnostic, ErrorCode};
use crate::source::{FileId, Span};
use crate::syntax::ast::{self, LayoutKind, ModifierKind};

/// Modifiers after validation.
#[derive(Default)]
pub(super) struct Modifiers {
    pub strict: Option<bool>,
    pub resource: bool,
    pub openness: Option<Openness>,
}

impl Resolver {
    pub(super) fn compile_decl(&mut self, id: DeclId, source: &Source) -> DeclKind {
        let file = self.model.decls[id].span.file;
        match source {
            Source::Const(c) => {
                let attributes = self.attributes(file, &c.attributes, Placement::Decl);
                self.model.decls[id].attributes = attributes;
                let ty = self.resolve_type(file, &c.ty);
                let valid = match &ty {
                    Type::Primitive(_) | Type::String { .. } => true,
                    Type::Named { decl, .. } => {
                        matches!(self.class(*decl), Class::Enum | Class::Bits)
                    }
                    _ => false,
                };
                if !valid {
                    if ty != Type::Invalid {
                        self.error(
                            Diagnostic::new(
                                ErrorCode::InvalidConstantType,
                                c.ty.span,
                                "constants must be booleans, numbers, strings, enums or bits",
                            )
                            .label("invalid constant type"),
                        );
                    }
                    return DeclKind::Const(ConstDecl {
                        ty: Type::Invalid,
                        value: ConstValue::Bool(false),
                    });
                }
                let value = self
                    .constant(file, &c.value, &ty)
                    .unwrap_or(ConstValue::Bool(false));
                DeclKind::Const(ConstDecl { ty, value })
            }
            Source::Alias(a) => {
                let attributes = self.attributes(file, &a.attributes, Placement::Decl);
                self.model.decls[id].attributes = attributes;
                let target = self.resolve_type(file, &a.target);
                DeclKind::Alias(AliasDecl { target })
            }
            Source::Layout { layout, attributes } => {
                let attributes = self.attributes(file, attributes, Placement::Decl);
                self.model.decls[id].attributes = attributes;
                self.compile_layout(file, layout)
            }
            Source::Protocol(p) => {
                let attributes = self.attributes(file, &p.attributes, Placement::Protocol);
                self.model.decls[id].attributes = attributes;
                self.compile_protocol(id, file, p)
            }
            Source::Service(s) => {
                let attributes = self.attributes(file, &s.attributes, Placement::Decl);
                self.model.decls[id].attributes = attributes;
                self.compile_service(file, s)
            }
            Source::Resource(r) => {
                let attributes = self.attributes(file, &r.attributes, Placement::Decl);
                self.model.decls[id].attributes = attributes;
                self.compile_resource(file, r)
            }
            Source::EmptyStruct => DeclKind::Struct(StructDecl {
                resource: false,
                members: Vec::new(),
            }),
            Source::ResultUnion {
                empty_success,
                response,
                error,
                flexible,
            } => self.compile_result_union(id, file, *empty_success, response, error, *flexible),
        }
    }

    /// Checks modifiers against what a declaration accepts.
    pub(super) fn modifiers(
        &mut self,
        modifiers: &[ast::Modifier],
        allowed: &[ModifierKind],
        what: &str,
    ) -> Modifiers {
        let mut result = Modifiers::default();
        let mut seen: BTreeMap<&'static str, Span> = BTreeMap::new();
        for modifier in modifiers {
            let keyword = modifier.kind.keyword();
            if !allowed.contains(&modifier.kind) {
                let help = if allowed.is_empty() {
                    format!("a {what} takes no modifiers")
                } else {
                    format!(
                        "a {what} accepts: {}",
                        allowed
                            .iter()
                            .map(|m| m.keyword())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                self.error(
                    Diagnostic::new(
                        ErrorCode::InvalidModifier,
                        modifier.span,
                        format!("`{keyword}` is not allowed on a {what}"),
                    )
                    .label("invalid modifier")
                    .help(help),
                );
                continue;
            }
            if let Some(first) = seen.get(keyword) {
                let first = *first;
                self.error(
                    Diagnostic::new(
                        ErrorCode::DuplicateModifier,
                        modifier.span,
                        format!("`{keyword}` is repeated"),
                    )
                    .label("repeated")
                    .related(first, "first given here")
                    .help("remove the repetition"),
                );
                continue;
            }
            seen.insert(keyword, modifier.span);
            let conflict = match modifier.kind {
                ModifierKind::Strict | ModifierKind::Flexible => result.strict.is_some(),
                ModifierKind::Open | ModifierKind::Ajar | ModifierKind::Closed => {
                    result.openness.is_some()
                }
                ModifierKind::Resource => false,
            };
            if conflict {
                self.error(
                    Diagnostic::new(
                        ErrorCode::ConflictingModifiers,
                        modifier.span,
                        format!("`{keyword}` contradicts an earlier modifier"),
                    )
                    .label("conflicting modifier")
                    .help("keep only one of them"),
                );
                continue;
            }
            match modifier.kind {
                ModifierKind::Strict => result.strict = Some(true),
                ModifierKind::Flexible => result.strict = Some(false),
                ModifierKind::Resource => result.resource = true,
                ModifierKind::Open => result.openness = Some(Openness::Open),
                ModifierKind::Ajar => result.openness = Some(Openness::Ajar),
                ModifierKind::Closed => result.openness = Some(Openness::Closed),
            }
        }
        result
    }

    fn compile_layout(&mut self, file: FileId, layout: &ast::Layout) -> DeclKind {
        use ModifierKind::*;
        let what = layout.kind.keyword();
        let allowed: &[ModifierKind] = match layout.kind {
            LayoutKind::Struct | LayoutKind::Table => &[Resource],
            LayoutKind::Union => &[Strict, Flexible, Resource],
            LayoutKind::Enum | LayoutKind::Bits => &[Strict, Flexible],
        };
        let modifiers = self.modifiers(&layout.modifiers, allowed, what);
        if layout.subtype.is_some() && !matches!(layout.kind, LayoutKind::Enum | LayoutKind::Bits) {
            let span = layout.subtype.as_ref().map_or(layout.span, |s| s.span);
            self.error(
                Diagnostic::new(
                    ErrorCode::InvalidUnderlyingType,
                    span,
                    format!("a {what} has no underlying type"),
                )
                .label("unexpected")
                .help("only enums and bits take `: type`"),
            );
        }
        self.check_member_syntax(layout);
        self.check_member_names(layout);
        let members: Vec<&ast::LayoutMember> = layout.members.iter().collect();
        match layout.kind {
            LayoutKind::Struct => {
                let mut out = Vec::new();
                for member in members {
                    if let ast::LayoutMember::Struct {
                        attributes,
                        name,
                        ty,
                        default,
                        ..
                    } = member
                    {
                        let attributes = self.attributes(file, attributes, Placement::Member);
                        let ty = self.resolve_type(file, ty);
                        let default = default.as_ref().and_then(|d| {
                            let ok = match &ty {
                                Type::Primitive(_) | Type::String { optional: false, .. } => true,
                                Type::Named { decl, optional: false } => {
                                    matches!(self.class(*decl), Class::Enum | Class::Bits)
                                }
                                _ => false,
                            };
                            if !ok {
                                if ty != Type::Invalid {
                                    self.error(
                                        Diagnostic::new(
                                            ErrorCode::InvalidDefaultValue,
                                            d.span(),
                                            "only primitive, string, enum and bits members can have a default",
                                        )
                                        .label("default not allowed"),
                                    );
                                }
                                return None;
                            }
                            self.constant(file, d, &ty)
                        });
                        out.push(StructMember {
                            name: name.name.clone(),
                            span: name.span,
                            attributes,
                            ty,
                            default,
                        });
                    }
                }
                DeclKind::Struct(StructDecl {
                    resource: modifiers.resource,
                    members: out,
                })
            }
            LayoutKind::Table | LayoutKind::Union => {
                let is_table = layout.kind == LayoutKind::Table;
                let mut out = Vec::new();
                let mut ordinals: BTreeMap<u64, Span> = BTreeMap::new();
                for member in members {
                    let ast::LayoutMember::Ordinal {
                        attributes,
                        ordinal,
                        ordinal_span,
                        member,
                        span,
                    } = member
                    else {
                        continue;
                    };
                    let max = if is_table { 64 } else { u32::MAX as u64 };
                    if *ordinal == 0 || *ordinal > max {
                        self.error(
                            Diagnostic::new(
                                ErrorCode::InvalidOrdinal,
                                *ordinal_span,
                                format!("ordinal {ordinal} is out of range"),
                            )
                            .label("invalid ordinal")
                            .help(format!("{what} ordinals go from 1 to {max}")),
                        );
                    }
                    if let Some(first) = ordinals.get(ordinal) {
                        let first = *first;
                        self.error(
                            Diagnostic::new(
                                ErrorCode::DuplicateOrdinal,
                                *ordinal_span,
                                format!("ordinal {ordinal} is used twice"),
                            )
                            .label("duplicate ordinal")
                            .related(first, "first used here")
                            .help("each member needs its own ordinal; never reuse one of a removed member"),
                        );
                    }
                    ordinals.insert(*ordinal, *ordinal_span);
                    let attributes = self.attributes(file, attributes, Placement::Member);
                    let (name, ty) = match member {
                        Some((name, ctor)) => {
                            let ty = self.resolve_type(file, ctor);
                            if ty.is_optional() && !matches!(ty, Type::Invalid) {
                                self.error(
                                    Diagnostic::new(
                                        ErrorCode::OptionalMemberNotAllowed,
                                        ctor.span,
                                        format!("{what} members cannot be optional"),
                                    )
                                    .label("optional member")
                                    .help(format!("{what} members are already optional on the wire; drop `:optional` / `box`")),
                                );
                            }
                            (Some(name.name.clone()), Some(ty))
                        }
                        None => (None, None),
                    };
                    out.push(OrdinalMember {
                        ordinal: *ordinal,
                        name,
                        span: member.as_ref().map_or(*span, |(n, _)| n.span),
                        attributes,
                        ty,
                    });
                }
                out.sort_by_key(|m| m.ordinal);
                if is_table {
                    DeclKind::Table(TableDecl {
                        resource: modifiers.resource,
                        members: out,
                    })
                } else {
                    let strict = modifiers.strict.unwrap_or(false);
                    if strict && !out.iter().any(|m| m.ty.is_some()) {
                        self.error(
                            Diagnostic::new(
                                ErrorCode::MustHaveMembers,
                                layout.kind_span,
                                "a strict union must have at least one member",
                            )
                            .label("no members")
                            .help("add a member, or make the union `flexible`"),
                        );
                    }
                    DeclKind::Union(UnionDecl {
                        resource: modifiers.resource,
                        strict,
                        members: out,
                        is_result: false,
                    })
                }
            }
            LayoutKind::Enum | LayoutKind::Bits => {
                self.compile_values(file, layout, &members, modifiers.strict.unwrap_or(false))
            }
        }
    }

    fn compile_values(
        &mut self,
        file: FileId,
        layout: &ast::Layout,
        members: &[&ast::LayoutMember],
        strict: bool,
    ) -> DeclKind {
        let is_bits = layout.kind == LayoutKind::Bits;
        let what = layout.kind.keyword();
        let underlying = match &layout.subtype {
            None => Primitive::Uint32,
            Some(ctor) => match self.resolve_type(file, ctor) {
                Type::Primitive(p) if p.is_integer() && (!is_bits || p.is_unsigned()) => p,
                Type::Invalid => Primitive::Uint32,
                _ => {
                    self.error(
                        Diagnostic::new(
                            ErrorCode::InvalidUnderlyingType,
                            ctor.span,
                            format!("invalid underlying type for {what}"),
                        )
                        .label("not allowed")
                        .help(if is_bits {
                            "bits take an unsigned integer type: uint8, uint16, uint32, uint64"
                        } else {
                            "enums take an integer type: int8 … int64, uint8 … uint64"
                        }),
                    );
                    Primitive::Uint32
                }
            },
        };
        // Flexible enums and bits may be empty (fuchsia.io has such bits,
        // to be filled later); strict ones could hold no value at all.
        if members.is_empty() && strict {
            let message = if is_bits {
                "strict bits must have at least one member"
            } else {
                "a strict enum must have at least one member"
            };
            self.error(
                Diagnostic::new(ErrorCode::MustHaveMembers, layout.kind_span, message)
                    .label("no members")
                    .help(format!("add a member, or make the {what} `flexible`")),
            );
        }
        let mut out: Vec<ValueMember> = Vec::new();
        let mut mask: u64 = 0;
        let mut values: BTreeMap<i128, Span> = BTreeMap::new();
        for member in members {
            let ast::LayoutMember::Value {
                attributes,
                name,
                value,
                ..
            } = member
            else {
                continue;
            };
            let attributes = self.attributes(file, attributes, Placement::Member);
            let Some(ConstValue::Int(v)) = self.constant(file, value, &Type::Primitive(underlying))
            else {
                continue;
            };
            if is_bits && (v == 0 || v & (v - 1) != 0) {
                self.error(
                    Diagnostic::new(
                        ErrorCode::BitsMemberNotPowerOfTwo,
                        value.span(),
                        format!(
                            "bits member `{}` has value {v}, which is not a power of two",
                            name.name
                        ),
                    )
                    .label("not a single bit")
                    .help("each bits member names one bit: 1, 2, 4, 8, …"),
                );
            }
            if let Some(first) = values.get(&v) {
                let first = *first;
                self.error(
                    Diagnostic::new(
                        ErrorCode::DuplicateMemberValue,
                        value.span(),
                        format!("value {v} is used twice in this {what}"),
                    )
                    .label("duplicate value")
                    .related(first, "first used here"),
                );
            }
            values.insert(v, value.span());
            if is_bits {
                mask |= v as u64;
            }
            out.push(ValueMember {
                name: name.name.clone(),
                span: name.span,
                attributes,
                value: v,
            });
        }
        if is_bits {
            DeclKind::Bits(BitsDecl {
                strict,
                underlying,
                members: out,
                mask,
            })
        } else {
            DeclKind::Enum(EnumDecl {
                strict,
                underlying,
                members: out,
            })
        }
    }

    fn check_member_syntax(&mut self, layout: &ast::Layout) {
        for member in &layout.members {
            let ok = matches!(
                (layout.kind, member),
                (LayoutKind::Struct, ast::LayoutMember::Struct { .. })
                    | (
                        LayoutKind::Table | LayoutKind::Union,
                        ast::LayoutMember::Ordinal { .. }
                    )
                    | (
                        LayoutKind::Enum | LayoutKind::Bits,
                        ast::LayoutMember::Value { .. }
                    )
            );
            if !ok {
                let expected = match layout.kind {
                    LayoutKind::Struct => "`name Type;`",
                    LayoutKind::Table | LayoutKind::Union => "`1: name Type;`",
                    LayoutKind::Enum | LayoutKind::Bits => "`NAME = value;`",
                };
                self.error(
                    Diagnostic::new(
                        ErrorCode::WrongMemberSyntax,
                        member.span(),
                        format!("this member does not belong in a {}", layout.kind.keyword()),
                    )
                    .label("wrong member syntax")
                    .help(format!(
                        "{} members are written {expected}",
                        layout.kind.keyword()
                    )),
                );
            }
        }
    }

    fn check_member_names(&mut self, layout: &ast::Layout) {
        let names: Vec<&ast::Ident> = layout
            .members
            .iter()
            .filter_map(|m| match m {
                ast::LayoutMember::Struct { name, .. } | ast::LayoutMember::Value { name, .. } => {
                    Some(name)
                }
                ast::LayoutMember::Ordinal {
                    member: Some((name, _)),
                    ..
                } => Some(name),
                _ => None,
            })
            .collect();
        self.check_names(&names, layout.kind.keyword());
    }

    /// Duplicate and case-insensitively colliding names among members.
    pub(super) fn check_names(&mut self, names: &[&ast::Ident], what: &str) {
        let mut exact: BTreeMap<&str, Span> = BTreeMap::new();
        let mut folded: BTreeMap<String, &ast::Ident> = BTreeMap::new();
        for name in names {
            if let Some(first) = exact.get(name.name.as_str()) {
                let first = *first;
                self.error(
                    Diagnostic::new(
                        ErrorCode::DuplicateMemberName,
                        name.span,
                        format!("`{}` is used twice in this {what}", name.name),
                    )
                    .label("duplicate name")
                    .related(first, "first used here"),
                );
                continue;
            }
            exact.insert(&name.name, name.span);
            let key = canonical(&name.name);
            if let Some(first) = folded.get(&key) {
                let first = *first;
                self.error(
                    Diagnostic::new(
                        ErrorCode::CaseInsensitiveCollision,
                        name.span,
                        format!("`{}` collides with `{}`", name.name, first.name),
                    )
                    .label("differs only in case or underscores")
                    .related(first.span, "the other member")
                    .help("names must differ by more than case and underscores"),
                );
                continue;
            }
            folded.insert(key, name);
        }
    }

    fn compile_service(&mut self, file: FileId, service: &ast::ServiceDecl) -> DeclKind {
        let names: Vec<&ast::Ident> = service.members.iter().map(|m| &m.name).collect();
        self.check_names(&names, "service");
        let mut members = Vec::new();
        for member in &service.members {
            let attributes = self.attributes(file, &member.attributes, Placement::Member);
            let ty = self.resolve_type(file, &member.ty);
            let ok = matches!(
                ty,
                Type::Endpoint {
                    role: EndpointRole::Client,
                    optional: false,
                    ..
                } | Type::Invalid
            );
            if !ok {
                self.error(
                    Diagnostic::new(
                        ErrorCode::ServiceMemberNotEndpoint,
                        member.ty.span,
                        "service members must be `client_end:Protocol`",
                    )
                    .label("not a client end"),
                );
            }
            members.push(ServiceMember {
                name: member.name.name.clone(),
                span: member.name.span,
                attributes,
                ty,
            });
        }
        DeclKind::Service(ServiceDecl { members })
    }

    fn compile_resource(&mut self, file: FileId, resource: &ast::ResourceDecl) -> DeclKind {
        let underlying = match resource
            .underlying
            .as_ref()
            .map(|u| (u, self.resolve_type(file, u)))
        {
            None => Primitive::Uint32,
            Some((_, Type::Primitive(Primitive::Uint32))) => Primitive::Uint32,
            Some((u, _)) => {
                self.error(
                    Diagnostic::new(
                        ErrorCode::InvalidUnderlyingType,
                        u.span,
                        "a resource definition must be based on `uint32`",
                    )
                    .label("not uint32"),
                );
                Primitive::Uint32
            }
        };
        let mut subtype = None;
        let mut rights = None;
        for property in &resource.properties {
            let ty = self.resolve_type(file, &property.ty);
            let decl = match ty {
                Type::Named { decl, .. } => Some(decl),
                _ => None,
            };
            match (property.name.name.as_str(), decl.map(|d| self.class(d))) {
                ("subtype", Some(Class::Enum)) => subtype = decl,
                ("rights", Some(Class::Bits)) => rights = decl,
                (name, _) => self.error(
                    Diagnostic::new(
                        ErrorCode::InvalidConstraint,
                        property.span,
                        format!("invalid resource property `{name}`"),
                    )
                    .label("unexpected property")
                    .help("resource properties are `subtype` (an enum) and `rights` (bits)"),
                ),
            }
        }
        if let Some(decl) = subtype {
            self.ensure(decl);
        }
        if let Some(decl) = rights {
            self.ensure(decl);
        }
        DeclKind::Resource(ResourceDecl {
            underlying,
            subtype,
            rights,
        })
    }

    fn compile_result_union(
        &mut self,
        id: DeclId,
        file: FileId,
        empty_success: Option<DeclId>,
        response: &Option<ast::TypeCtor>,
        error: &Option<ast::TypeCtor>,
        flexible: bool,
    ) -> DeclKind {
        let span = self.model.decls[id].span;
        let success = match (empty_success, response) {
            (Some(decl), _) => Type::Named {
                decl,
                optional: false,
            },
            (None, Some(ctor)) => self.resolve_type_quiet(file, ctor),
            (None, None) => Type::Invalid,
        };
        let resource = match &success {
            Type::Named { decl, .. } => {
                self.ensure(*decl);
                self.is_resource_decl(*decl)
            }
            _ => false,
        };
        let mut members = vec![OrdinalMember {
            ordinal: 1,
            name: Some("response".into()),
            span,
            attributes: Vec::new(),
            ty: Some(success),
        }];
        if let Some(error) = error {
            // Reported (invalid error type) by the protocol.
            let ty = self.resolve_type_quiet(file, error);
            members.push(OrdinalMember {
                ordinal: 2,
                name: Some("err".into()),
                span,
                attributes: Vec::new(),
                ty: Some(ty),
            });
        }
        if flexible {
            members.push(OrdinalMember {
                ordinal: 3,
                name: Some("framework_err".into()),
                span,
                attributes: Vec::new(),
                ty: Some(Type::Primitive(Primitive::Int32)),
            });
        }
        DeclKind::Union(UnionDecl {
            resource,
            strict: true,
            members,
            is_result: true,
        })
    }

    /// Resolves a type whose errors are reported elsewhere.
    pub(super) fn resolve_type_quiet(&mut self, file: FileId, ctor: &ast::TypeCtor) -> Type {
        let before = self.diagnostics.len();
        let ty = self.resolve_type(file, ctor);
        let mut all = std::mem::take(&mut self.diagnostics).into_vec();
        all.truncate(before);
        self.diagnostics.extend(all);
        ty
    }

    pub(super) fn is_resource_decl(&self, decl: DeclId) -> bool {
        match &self.model.decls[decl].kind {
            DeclKind::Struct(s) => s.resource,
            DeclKind::Table(t) => t.resource,
            DeclKind::Union(u) => u.resource,
            _ => false,
        }
    }
}
