//! Flat model + layouts → IR.

use std::collections::BTreeMap;

use super::*;
use crate::layout::Layouts;
use crate::resolve::model::{self, ConstValue, DeclId, Model};
use crate::source::{SourceMap, Span};

struct Lowering<'a> {
    model: &'a Model,
    layouts: &'a Layouts,
    sources: &'a SourceMap,
}

pub fn lower(model: &Model, layouts: &Layouts, sources: &SourceMap) -> Ir {
    let l = Lowering {
        model,
        layouts,
        sources,
    };
    let libraries = model
        .libraries
        .iter()
        .map(|(id, library)| l.library(id, library))
        .collect();
    Ir {
        ir_version: IR_VERSION,
        libraries,
    }
}

fn value(v: &ConstValue) -> serde_json::Value {
    match v {
        ConstValue::Bool(b) => serde_json::Value::Bool(*b),
        ConstValue::Int(i) => {
            if let Ok(v) = i64::try_from(*i) {
                v.into()
            } else if let Ok(v) = u64::try_from(*i) {
                v.into()
            } else {
                serde_json::Value::String(i.to_string())
            }
        }
        ConstValue::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        ConstValue::String(s) => serde_json::Value::String(s.clone()),
    }
}

fn attributes(attrs: &[model::Attribute]) -> Vec<Attribute> {
    attrs
        .iter()
        .map(|a| Attribute {
            name: a.name.clone(),
            args: a
                .args
                .iter()
                .map(|(k, v)| (k.clone(), value(v)))
                .collect::<BTreeMap<_, _>>(),
        })
        .collect()
}

impl Lowering<'_> {
    fn location(&self, span: Span) -> Location {
        let file = self.sources.get(span.file);
        let (line, column) = file.line_col(span.start);
        Location {
            file: file.name.clone(),
            line,
            column,
        }
    }

    fn name(&self, id: DeclId) -> String {
        self.model.qualified_name(id)
    }

    fn decl_kind(&self, id: DeclId) -> DeclKind {
        match &self.model.decls[id].kind {
            model::DeclKind::Const(_) => DeclKind::Const,
            model::DeclKind::Alias(_) => DeclKind::Alias,
            model::DeclKind::Struct(_) | model::DeclKind::Pending => DeclKind::Struct,
            model::DeclKind::Table(_) => DeclKind::Table,
            model::DeclKind::Union(_) => DeclKind::Union,
            model::DeclKind::Enum(_) => DeclKind::Enum,
            model::DeclKind::Bits(_) => DeclKind::Bits,
            model::DeclKind::Protocol(_) => DeclKind::Protocol,
            model::DeclKind::Service(_) => DeclKind::Service,
            model::DeclKind::Resource(_) => DeclKind::Resource,
        }
    }

    fn ty(&self, ty: &model::Type) -> Type {
        let shape = self.layouts.type_shape(self.model, ty);
        let kind = match ty {
            model::Type::Primitive(p) => TypeKind::Primitive { subtype: *p },
            model::Type::String { max, optional } => TypeKind::String {
                max: *max,
                optional: *optional,
            },
            model::Type::Vector {
                element,
                max,
                optional,
            } => TypeKind::Vector {
                element: Box::new(self.ty(element)),
                max: *max,
                optional: *optional,
            },
            model::Type::Array { element, count } => TypeKind::Array {
                element: Box::new(self.ty(element)),
                count: *count,
            },
            model::Type::Handle {
                resource,
                object_type,
                subtype,
                rights,
                optional,
            } => TypeKind::Handle {
                resource: resource.map(|r| self.name(r)),
                object_type: *object_type,
                subtype: subtype.clone(),
                rights: *rights,
                optional: *optional,
            },
            model::Type::Endpoint {
                role,
                protocol,
                optional,
            } => TypeKind::Endpoint {
                role: *role,
                protocol: self.name(*protocol),
                optional: *optional,
            },
            model::Type::Named { decl, optional } => TypeKind::Identifier {
                identifier: self.name(*decl),
                decl_kind: self.decl_kind(*decl),
                optional: *optional,
            },
            model::Type::Invalid => TypeKind::Primitive {
                subtype: Primitive::Bool,
            },
        };
        Type { kind, shape }
    }

    fn ordinal_members(&self, members: &[model::OrdinalMember]) -> Vec<OrdinalMember> {
        members
            .iter()
            .map(|m| OrdinalMember {
                ordinal: m.ordinal,
                name: m.name.clone(),
                location: self.location(m.span),
                attributes: attributes(&m.attributes),
                ty: m.ty.as_ref().map(|t| self.ty(t)),
            })
            .collect()
    }

    fn value_members(
        &self,
        members: &[model::ValueMember],
        underlying: Primitive,
    ) -> Vec<ValueMember> {
        let bits = underlying.size() * 8;
        let mask: u128 = if bits >= 64 {
            u64::MAX as u128
        } else {
            (1u128 << bits) - 1
        };
        members
            .iter()
            .map(|m| ValueMember {
                name: m.name.clone(),
                location: self.location(m.span),
                attributes: attributes(&m.attributes),
                value: m.value as i64,
                unsigned_value: ((m.value as u128) & mask) as u64,
            })
            .collect()
    }

    fn library(&self, id: model::LibraryId, library: &model::Library) -> Library {
        let mut out = Library {
            name: library.name.clone(),
            attributes: attributes(&library.attributes),
            dependencies: library
                .dependencies
                .iter()
                .map(|d| self.model.libraries[*d].name.clone())
                .collect(),
            consts: Vec::new(),
            aliases: Vec::new(),
            structs: Vec::new(),
            tables: Vec::new(),
            unions: Vec::new(),
            enums: Vec::new(),
            bits: Vec::new(),
            protocols: Vec::new(),
            services: Vec::new(),
            resources: Vec::new(),
            declaration_order: Vec::new(),
        };
        for &decl_id in &library.order {
            let decl = &self.model.decls[decl_id];
            // Duplicates were rejected; skip shadowed entries defensively.
            if library.decls.get(&decl.name) != Some(&decl_id) {
                continue;
            }
            let name = self.name(decl_id);
            let location = self.location(decl.span);
            let attrs = attributes(&decl.attributes);
            match &decl.kind {
                model::DeclKind::Pending => {}
                model::DeclKind::Const(c) => out.consts.push(Const {
                    name,
                    location,
                    attributes: attrs,
                    ty: self.ty(&c.ty),
                    value: value(&c.value),
                }),
                model::DeclKind::Alias(a) => out.aliases.push(Alias {
                    name,
                    location,
                    attributes: attrs,
                    target: self.ty(&a.target),
                }),
                model::DeclKind::Struct(s) => {
                    let fields = self.layouts.fields.get(&decl_id);
                    out.structs.push(Struct {
                        name,
                        location,
                        attributes: attrs,
                        anonymous: decl.anonymous,
                        resource: s.resource,
                        members: s
                            .members
                            .iter()
                            .enumerate()
                            .map(|(i, m)| StructMember {
                                name: m.name.clone(),
                                location: self.location(m.span),
                                attributes: attributes(&m.attributes),
                                ty: self.ty(&m.ty),
                                field_shape: fields.and_then(|f| f.get(i).copied()).unwrap_or(
                                    FieldShape {
                                        offset: 0,
                                        padding: 0,
                                    },
                                ),
                                default: m.default.as_ref().map(value),
                            })
                            .collect(),
                        shape: self
                            .layouts
                            .decls
                            .get(&decl_id)
                            .copied()
                            .unwrap_or_default(),
                    })
                }
                model::DeclKind::Table(t) => out.tables.push(Table {
                    name,
                    location,
                    attributes: attrs,
                    anonymous: decl.anonymous,
                    resource: t.resource,
                    members: self.ordinal_members(&t.members),
                    shape: self
                        .layouts
                        .decls
                        .get(&decl_id)
                        .copied()
                        .unwrap_or_default(),
                }),
                model::DeclKind::Union(u) => out.unions.push(Union {
                    name,
                    location,
                    attributes: attrs,
                    anonymous: decl.anonymous,
                    resource: u.resource,
                    strict: u.strict,
                    is_result: u.is_result,
                    members: self.ordinal_members(&u.members),
                    shape: self
                        .layouts
                        .decls
                        .get(&decl_id)
                        .copied()
                        .unwrap_or_default(),
                }),
                model::DeclKind::Enum(e) => out.enums.push(Enum {
                    name,
                    location,
                    attributes: attrs,
                    anonymous: decl.anonymous,
                    strict: e.strict,
                    underlying: e.underlying,
                    members: self.value_members(&e.members, e.underlying),
                }),
                model::DeclKind::Bits(b) => out.bits.push(Bits {
                    name,
                    location,
                    attributes: attrs,
                    anonymous: decl.anonymous,
                    strict: b.strict,
                    underlying: b.underlying,
                    mask: b.mask,
                    members: self.value_members(&b.members, b.underlying),
                }),
                model::DeclKind::Protocol(p) => {
                    let transport = decl
                        .attributes
                        .iter()
                        .find(|a| a.name == "transport")
                        .and_then(|a| match a.args.first() {
                            Some((_, ConstValue::String(s))) => Some(s.clone()),
                            _ => None,
                        })
                        .unwrap_or_else(|| "Channel".into());
                    let discoverable_name = decl
                        .attributes
                        .iter()
                        .find(|a| a.name == "discoverable")
                        .map(|a| {
                            // `@discoverable("x.Y")` or `@discoverable(name="x.Y")`;
                            // `client=` and `server=` stay in the attributes.
                            let name = a.args.iter().find_map(|(key, value)| match value {
                                ConstValue::String(s) if key == "value" || key == "name" => {
                                    Some(s.clone())
                                }
                                _ => None,
                            });
                            name.unwrap_or_else(|| format!("{}.{}", library.name, decl.name))
                        });
                    out.protocols.push(Protocol {
                        name,
                        location,
                        attributes: attrs,
                        openness: p.openness,
                        transport,
                        discoverable_name,
                        composed: p.composes.iter().map(|c| self.name(*c)).collect(),
                        methods: p
                            .methods
                            .iter()
                            .map(|m| Method {
                                name: m.name.clone(),
                                location: self.location(m.span),
                                attributes: attributes(&m.attributes),
                                ordinal: m.ordinal,
                                selector: m.selector.clone(),
                                strict: m.strict,
                                kind: m.kind,
                                request: m.request.map(|d| self.name(d)),
                                response: m.response.map(|d| self.name(d)),
                                success: m.success.map(|d| self.name(d)),
                                error: m.error.as_ref().map(|e| self.ty(e)),
                                has_error: m.error.is_some(),
                                declared_in: self.name(m.declared_in),
                            })
                            .collect(),
                    })
                }
                model::DeclKind::Service(s) => out.services.push(Service {
                    name,
                    location,
                    attributes: attrs,
                    members: s
                        .members
                        .iter()
                        .map(|m| ServiceMember {
                            name: m.name.clone(),
                            location: self.location(m.span),
                            attributes: attributes(&m.attributes),
                            protocol: match &m.ty {
                                model::Type::Endpoint { protocol, .. } => self.name(*protocol),
                                _ => String::new(),
                            },
                        })
                        .collect(),
                }),
                model::DeclKind::Resource(r) => out.resources.push(Resource {
                    name,
                    location,
                    attributes: attrs,
                    subtype: r.subtype.map(|d| self.name(d)),
                    rights: r.rights.map(|d| self.name(d)),
                }),
            }
        }
        out.declaration_order = self.declaration_order(id, library);
        out
    }

    /// Declarations ordered so that inline dependencies come first.
    fn declaration_order(&self, id: model::LibraryId, library: &model::Library) -> Vec<String> {
        let mut done: Vec<DeclId> = Vec::new();
        let mut visiting = std::collections::HashSet::new();
        for &decl in &library.order {
            self.visit(decl, id, library, &mut done, &mut visiting, 0);
        }
        done.into_iter().map(|d| self.name(d)).collect()
    }

    fn visit(
        &self,
        id: DeclId,
        library_id: model::LibraryId,
        library: &model::Library,
        done: &mut Vec<DeclId>,
        visiting: &mut std::collections::HashSet<DeclId>,
        depth: usize,
    ) {
        // Layout rejected deeper chains; this bound is only a safeguard.
        if depth > 2 * crate::resolve::MAX_DECL_DEPTH {
            return;
        }
        if done.contains(&id) || !visiting.insert(id) || self.model.decls[id].library != library_id
        {
            return;
        }
        let mut deps = Vec::new();
        let mut collect = |ty: &model::Type| collect_inline(ty, &mut deps);
        match &self.model.decls[id].kind {
            model::DeclKind::Struct(s) => s.members.iter().for_each(|m| collect(&m.ty)),
            model::DeclKind::Table(t) => t
                .members
                .iter()
                .filter_map(|m| m.ty.as_ref())
                .for_each(collect),
            model::DeclKind::Union(u) => u
                .members
                .iter()
                .filter_map(|m| m.ty.as_ref())
                .for_each(collect),
            model::DeclKind::Alias(a) => collect(&a.target),
            model::DeclKind::Const(c) => collect(&c.ty),
            _ => {}
        }
        for dep in deps {
            self.visit(dep, library_id, library, done, visiting, depth + 1);
        }
        if library.decls.get(&self.model.decls[id].name) == Some(&id) {
            done.push(id);
        }
    }
}

fn collect_inline(ty: &model::Type, out: &mut Vec<DeclId>) {
    match ty {
        model::Type::Named { decl, .. } => out.push(*decl),
        model::Type::Vector { element, .. } | model::Type::Array { element, .. } => {
            collect_inline(element, out)
        }
        _ => {}
    }
}
