//! Type checking that needs the whole model, and wire layout.
//!
//! * Value types must not contain resources (handles, endpoints, resource
//!   layouts): a resource has to be declared `resource` all the way up.
//! * A type may contain itself only through an out-of-line indirection that
//!   can be absent: `box<T>`, `:optional`, `vector`. (Tables and unions
//!   count as inline here, so that every type has a finite Rust form.)
//! * Shapes follow FIDL's v2 wire format: 8-byte aligned out-of-line objects,
//!   16-byte strings, vectors, tables and unions, 8-byte envelopes whose
//!   values of at most 4 bytes are inlined.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::diagnostics::{Diagnostic, ErrorCode};
use crate::resolve::model::{DeclId, DeclKind, Model, Type};

/// `u32::MAX` stands for "unbounded" in every field.
pub const UNBOUNDED: u32 = u32::MAX;

/// The wire shape of a type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeShape {
    pub inline_size: u32,
    pub alignment: u32,
    /// Out-of-line nesting depth (the wire format allows at most 32).
    pub depth: u32,
    pub max_handles: u32,
    pub max_out_of_line: u32,
    /// Whether inline or out-of-line padding exists (so the bytes cannot be
    /// copied to or from memory without zeroing/checking).
    pub has_padding: bool,
    /// Whether a flexible envelope (table, flexible union) is reachable.
    pub has_flexible_envelope: bool,
}

/// Where a struct member sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldShape {
    pub offset: u32,
    /// Padding bytes after the member (up to the next member or the end).
    pub padding: u32,
}

#[derive(Debug, Default)]
pub struct Layouts {
    pub decls: HashMap<DeclId, TypeShape>,
    pub fields: HashMap<DeclId, Vec<FieldShape>>,
}

impl Layouts {
    pub fn type_shape(&self, model: &Model, ty: &Type) -> TypeShape {
        shape_of(model, ty, &|decl| {
            self.decls.get(&decl).copied().unwrap_or_default()
        })
    }
}

/// Checks resources and recursion, then computes every shape.
pub fn compute(model: &Model) -> Result<Layouts, Vec<Diagnostic>> {
    let mut diagnostics = check_resources(model);
    diagnostics.extend(check_recursion(model));
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    let mut computer = Computer {
        model,
        layouts: Layouts::default(),
        in_progress: HashSet::new(),
        too_deep: Vec::new(),
    };
    for id in model.decls.ids() {
        computer.decl(id);
    }
    if !computer.too_deep.is_empty() {
        return Err(computer.too_deep);
    }
    Ok(computer.layouts)
}

fn contains_resource(model: &Model, ty: &Type) -> bool {
    match ty {
        Type::Handle { .. } | Type::Endpoint { .. } => true,
        Type::Vector { element, .. } | Type::Array { element, .. } => {
            contains_resource(model, element)
        }
        Type::Named { decl, .. } => match &model.decls[*decl].kind {
            DeclKind::Struct(s) => s.resource,
            DeclKind::Table(t) => t.resource,
            DeclKind::Union(u) => u.resource,
            _ => false,
        },
        _ => false,
    }
}

fn check_resources(model: &Model) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (_, decl) in model.decls.iter() {
        let members: Vec<(&Type, crate::source::Span, &str)> = match &decl.kind {
            DeclKind::Struct(s) if !s.resource => s
                .members
                .iter()
                .map(|m| (&m.ty, m.span, m.name.as_str()))
                .collect(),
            DeclKind::Table(t) if !t.resource => t
                .members
                .iter()
                .filter_map(|m| Some((m.ty.as_ref()?, m.span, m.name.as_deref()?)))
                .collect(),
            DeclKind::Union(u) if !u.resource => u
                .members
                .iter()
                .filter_map(|m| Some((m.ty.as_ref()?, m.span, m.name.as_deref()?)))
                .collect(),
            _ => continue,
        };
        for (ty, span, name) in members {
            if contains_resource(model, ty) {
                out.push(
                    Diagnostic::new(
                        ErrorCode::ResourceInValueType,
                        span,
                        format!(
                            "`{}` is a value type, but its member `{name}` holds a resource",
                            decl.name
                        ),
                    )
                    .label("resource member")
                    .related(decl.span, "declared without `resource`")
                    .help(format!("declare it as `resource {}`", decl.kind.name())),
                );
            }
        }
    }
    out
}

/// Declarations a type contains inline (without a nullable indirection).
fn inline_refs(ty: &Type, out: &mut Vec<DeclId>) {
    match ty {
        Type::Named {
            decl,
            optional: false,
        } => out.push(*decl),
        Type::Array { element, .. } => inline_refs(element, out),
        _ => {}
    }
}

fn check_recursion(model: &Model) -> Vec<Diagnostic> {
    let edges = |id: DeclId| -> Vec<DeclId> {
        let mut out = Vec::new();
        match &model.decls[id].kind {
            DeclKind::Struct(s) => s.members.iter().for_each(|m| inline_refs(&m.ty, &mut out)),
            DeclKind::Table(t) => t
                .members
                .iter()
                .filter_map(|m| m.ty.as_ref())
                .for_each(|ty| inline_refs(ty, &mut out)),
            DeclKind::Union(u) => u
                .members
                .iter()
                .filter_map(|m| m.ty.as_ref())
                .for_each(|ty| inline_refs(ty, &mut out)),
            _ => {}
        }
        out
    };
    // Iterative DFS with colours; report each cycle once, at its first decl.
    let mut colour = vec![0u8; model.decls.len()];
    let mut out = Vec::new();
    for start in model.decls.ids() {
        if colour[start.index()] != 0 {
            continue;
        }
        let mut stack: Vec<(DeclId, Vec<DeclId>)> = vec![(start, edges(start))];
        colour[start.index()] = 1;
        while let Some((node, pending)) = stack.last_mut() {
            let node = *node;
            match pending.pop() {
                Some(next) if colour[next.index()] == 1 => {
                    let path: Vec<String> = stack
                        .iter()
                        .skip_while(|(d, _)| *d != next)
                        .map(|(d, _)| model.decls[*d].name.clone())
                        .chain(std::iter::once(model.decls[next].name.clone()))
                        .collect();
                    let decl = &model.decls[next];
                    out.push(
                        Diagnostic::new(
                            ErrorCode::RecursiveType,
                            decl.span,
                            format!("`{}` contains itself: {}", decl.name, path.join(" → ")),
                        )
                        .label("infinitely sized type")
                        .related(model.decls[node].span, "the cycle closes here")
                        .help("break the cycle with `box<…>`, `:optional` or a `vector`"),
                    );
                }
                Some(next) if colour[next.index()] == 0 => {
                    colour[next.index()] = 1;
                    stack.push((next, edges(next)));
                }
                Some(_) => {}
                None => {
                    colour[node.index()] = 2;
                    stack.pop();
                }
            }
        }
    }
    out
}

struct Computer<'m> {
    model: &'m Model,
    layouts: Layouts,
    /// Declarations being computed: the current chain of containment.
    in_progress: HashSet<DeclId>,
    too_deep: Vec<Diagnostic>,
}

fn align(value: u32, to: u32) -> u32 {
    value.saturating_add(to - 1) / to * to
}

fn add(a: u32, b: u32) -> u32 {
    a.saturating_add(b)
}

fn mul(a: u32, b: u32) -> u32 {
    a.saturating_mul(b)
}

/// Bytes an envelope's content takes out of line (0 when inlined).
fn envelope_out_of_line(inner: &TypeShape) -> u32 {
    if inner.inline_size <= 4 {
        inner.max_out_of_line
    } else {
        add(align(inner.inline_size, 8), inner.max_out_of_line)
    }
}

/// The shape of a type, given the shapes of named declarations.
fn shape_of(model: &Model, ty: &Type, decl: &dyn Fn(DeclId) -> TypeShape) -> TypeShape {
    match ty {
        Type::Primitive(p) => TypeShape {
            inline_size: p.size(),
            alignment: p.size(),
            ..Default::default()
        },
        Type::String { max, .. } => TypeShape {
            inline_size: 16,
            alignment: 8,
            depth: 1,
            max_out_of_line: max.map_or(UNBOUNDED, |m| align(m, 8)),
            has_padding: true,
            ..Default::default()
        },
        Type::Vector { element, max, .. } => {
            let e = shape_of(model, element, decl);
            let count = max.unwrap_or(UNBOUNDED);
            TypeShape {
                inline_size: 16,
                alignment: 8,
                depth: add(e.depth, 1),
                max_handles: mul(e.max_handles, count),
                max_out_of_line: add(
                    align(mul(e.inline_size, count), 8),
                    mul(e.max_out_of_line, count),
                ),
                has_padding: e.has_padding || !e.inline_size.is_multiple_of(8),
                has_flexible_envelope: e.has_flexible_envelope,
            }
        }
        Type::Array { element, count } => {
            let e = shape_of(model, element, decl);
            TypeShape {
                inline_size: mul(e.inline_size, *count),
                alignment: e.alignment,
                depth: e.depth,
                max_handles: mul(e.max_handles, *count),
                max_out_of_line: mul(e.max_out_of_line, *count),
                has_padding: e.has_padding,
                has_flexible_envelope: e.has_flexible_envelope,
            }
        }
        Type::Handle { .. } | Type::Endpoint { .. } => TypeShape {
            inline_size: 4,
            alignment: 4,
            max_handles: 1,
            ..Default::default()
        },
        Type::Named { decl: id, optional } => {
            let inner = decl(*id);
            let is_struct = matches!(model.decls[*id].kind, DeclKind::Struct(_));
            if *optional && is_struct {
                TypeShape {
                    inline_size: 8,
                    alignment: 8,
                    depth: add(inner.depth, 1),
                    max_handles: inner.max_handles,
                    max_out_of_line: add(align(inner.inline_size, 8), inner.max_out_of_line),
                    has_padding: inner.has_padding || !inner.inline_size.is_multiple_of(8),
                    has_flexible_envelope: inner.has_flexible_envelope,
                }
            } else {
                inner
            }
        }
        Type::Invalid => TypeShape::default(),
    }
}

impl Computer<'_> {
    fn type_shape(&mut self, ty: &Type) -> TypeShape {
        // Make sure every referenced declaration is computed first.
        let mut refs = Vec::new();
        collect_named(ty, &mut refs);
        for id in refs {
            self.decl(id);
        }
        let layouts = &self.layouts;
        let in_progress = &self.in_progress;
        let model = self.model;
        shape_of(model, ty, &|id| {
            if in_progress.contains(&id) {
                // Reached again through an indirection: unbounded.
                TypeShape {
                    inline_size: 8,
                    alignment: 8,
                    depth: UNBOUNDED,
                    max_handles: if contains_resource(
                        model,
                        &Type::Named {
                            decl: id,
                            optional: false,
                        },
                    ) {
                        UNBOUNDED
                    } else {
                        0
                    },
                    max_out_of_line: UNBOUNDED,
                    has_padding: true,
                    has_flexible_envelope: false,
                }
            } else {
                layouts.decls.get(&id).copied().unwrap_or_default()
            }
        })
    }

    fn decl(&mut self, id: DeclId) -> TypeShape {
        if let Some(shape) = self.layouts.decls.get(&id) {
            return *shape;
        }
        if self.in_progress.len() >= crate::resolve::MAX_DECL_DEPTH {
            if self.too_deep.is_empty() {
                let decl = &self.model.decls[id];
                self.too_deep.push(
                    Diagnostic::new(
                        ErrorCode::NestingTooDeep,
                        decl.span,
                        format!(
                            "`{}` is nested more than {} declarations deep",
                            decl.name,
                            crate::resolve::MAX_DECL_DEPTH
                        ),
                    )
                    .label("too deep")
                    .help("flatten the chain of types that contain each other"),
                );
            }
            return TypeShape::default();
        }
        if !self.in_progress.insert(id) {
            return TypeShape::default();
        }
        let model = self.model;
        let shape = match &model.decls[id].kind {
            DeclKind::Struct(s) => {
                let mut offset = 0u32;
                let mut alignment = 1u32;
                let mut fields: Vec<FieldShape> = Vec::new();
                let mut result = TypeShape::default();
                for member in &s.members {
                    let m = self.type_shape(&member.ty);
                    let m_align = m.alignment.max(1);
                    let start = align(offset, m_align);
                    if let Some(last) = fields.last_mut() {
                        last.padding = start.saturating_sub(offset);
                    }
                    fields.push(FieldShape {
                        offset: start,
                        padding: 0,
                    });
                    offset = add(start, m.inline_size);
                    alignment = alignment.max(m_align);
                    result.depth = result.depth.max(m.depth);
                    result.max_handles = add(result.max_handles, m.max_handles);
                    result.max_out_of_line = add(result.max_out_of_line, m.max_out_of_line);
                    result.has_padding |= m.has_padding;
                    result.has_flexible_envelope |= m.has_flexible_envelope;
                }
                let size = if s.members.is_empty() {
                    1
                } else {
                    align(offset, alignment)
                };
                if let Some(last) = fields.last_mut() {
                    last.padding = size.saturating_sub(offset);
                }
                result.has_padding |= fields.iter().any(|f| f.padding > 0);
                result.inline_size = size;
                result.alignment = alignment;
                self.layouts.fields.insert(id, fields);
                result
            }
            DeclKind::Table(t) => {
                let max_ordinal = t
                    .members
                    .iter()
                    .filter(|m| m.ty.is_some())
                    .map(|m| m.ordinal as u32)
                    .max()
                    .unwrap_or(0);
                let mut result = TypeShape {
                    inline_size: 16,
                    alignment: 8,
                    depth: 1,
                    max_out_of_line: mul(max_ordinal, 8),
                    has_flexible_envelope: true,
                    has_padding: true,
                    ..Default::default()
                };
                for ty in t.members.iter().filter_map(|m| m.ty.as_ref()) {
                    let m = self.type_shape(ty);
                    result.depth = result.depth.max(add(m.depth, 2));
                    result.max_handles = add(result.max_handles, m.max_handles);
                    result.max_out_of_line = add(result.max_out_of_line, envelope_out_of_line(&m));
                }
                result
            }
            DeclKind::Union(u) => {
                let mut result = TypeShape {
                    inline_size: 16,
                    alignment: 8,
                    depth: 1,
                    has_flexible_envelope: !u.strict,
                    has_padding: true,
                    ..Default::default()
                };
                for ty in u.members.iter().filter_map(|m| m.ty.as_ref()) {
                    let m = self.type_shape(ty);
                    result.depth = result.depth.max(add(m.depth, 1));
                    result.max_handles = result.max_handles.max(m.max_handles);
                    result.max_out_of_line = result.max_out_of_line.max(envelope_out_of_line(&m));
                    result.has_flexible_envelope |= m.has_flexible_envelope;
                }
                result
            }
            DeclKind::Enum(e) => shape_of(model, &Type::Primitive(e.underlying), &|_| {
                TypeShape::default()
            }),
            DeclKind::Bits(b) => shape_of(model, &Type::Primitive(b.underlying), &|_| {
                TypeShape::default()
            }),
            _ => TypeShape::default(),
        };
        self.in_progress.remove(&id);
        self.layouts.decls.insert(id, shape);
        shape
    }
}

fn collect_named(ty: &Type, out: &mut Vec<DeclId>) {
    match ty {
        Type::Named { decl, .. } => out.push(*decl),
        Type::Vector { element, .. } | Type::Array { element, .. } => collect_named(element, out),
        _ => {}
    }
}
