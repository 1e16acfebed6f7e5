//! IR types → Rust types, and the encode/decode code for one value.

use super::Generator;
use crate::ir::{DeclKind, EndpointRole, Primitive, Type, TypeKind};

/// The Zircon object type of channels (endpoints are channels).
const CHANNEL_OBJECT_TYPE: u32 = 4;

/// The Rust type of an IDL primitive (`uint32` → `u32`).
pub fn primitive(p: Primitive) -> &'static str {
    match p {
        Primitive::Bool => "bool",
        Primitive::Int8 => "i8",
        Primitive::Int16 => "i16",
        Primitive::Int32 => "i32",
        Primitive::Int64 => "i64",
        Primitive::Uint8 => "u8",
        Primitive::Uint16 => "u16",
        Primitive::Uint32 => "u32",
        Primitive::Uint64 => "u64",
        Primitive::Float32 => "f32",
        Primitive::Float64 => "f64",
    }
}

/// `place` ready for a method call: `*value` must become `(*value)`, or
/// `*value.as_mut()` would call the method on the reference and then
/// dereference its result.
fn receiver(place: &str) -> String {
    if place.starts_with('*') {
        format!("({place})")
    } else {
        place.to_string()
    }
}

fn bound(max: Option<u32>) -> String {
    match max {
        Some(m) => format!("Some({m})"),
        None => "None".into(),
    }
}

impl Generator<'_> {
    pub(super) fn rust_type(&self, ty: &Type) -> String {
        let wrap = |optional: bool, inner: String| {
            if optional {
                format!("Option<{inner}>")
            } else {
                inner
            }
        };
        match &ty.kind {
            TypeKind::Primitive { subtype } => primitive(*subtype).to_string(),
            TypeKind::String { optional, .. } => wrap(*optional, "String".into()),
            TypeKind::Vector {
                element, optional, ..
            } => wrap(*optional, format!("Vec<{}>", self.rust_type(element))),
            TypeKind::Array { element, count } => {
                format!("[{}; {count}]", self.rust_type(element))
            }
            TypeKind::Handle { optional, .. } => wrap(*optional, self.options.handle_type.clone()),
            TypeKind::Endpoint {
                role,
                protocol,
                optional,
            } => {
                let end = match role {
                    EndpointRole::Client => "ClientEnd",
                    EndpointRole::Server => "ServerEnd",
                };
                wrap(
                    *optional,
                    format!(
                        "_rt::{end}<{}Marker, {}>",
                        self.path(protocol),
                        self.options.handle_type
                    ),
                )
            }
            TypeKind::Identifier {
                identifier,
                optional,
                ..
            } => {
                let path = self.path(identifier);
                if *optional {
                    format!("Option<Box<{path}>>")
                } else {
                    path
                }
            }
        }
    }

    /// Whether a type's Rust value has the wire layout (see `Plain`).
    pub(super) fn is_plain(&self, ty: &Type) -> bool {
        match &ty.kind {
            TypeKind::Primitive { subtype } => *subtype != Primitive::Bool,
            TypeKind::Array { element, .. } => self.is_plain(element),
            TypeKind::Identifier {
                identifier,
                decl_kind: DeclKind::Struct,
                optional: false,
            } => self
                .index
                .structs
                .get(identifier.as_str())
                .is_some_and(|s| self.is_plain_struct(s)),
            _ => false,
        }
    }

    pub(super) fn is_plain_struct(&self, s: &crate::ir::Struct) -> bool {
        !s.members.is_empty()
            && !s.shape.has_padding
            && s.members.iter().all(|m| self.is_plain(&m.ty))
    }

    /// Whether the Rust type implements `Wire` itself.
    fn is_wire(&self, ty: &Type) -> bool {
        match &ty.kind {
            TypeKind::Primitive { .. } => true,
            TypeKind::Identifier { optional, .. } => !optional,
            TypeKind::Array { element, .. } => self.is_wire(element),
            _ => false,
        }
    }

    /// Statements encoding `place` (an lvalue of the type) at `offset`.
    pub(super) fn encode(
        &self,
        ty: &Type,
        place: &str,
        offset: &str,
        depth: &str,
        level: usize,
    ) -> String {
        if self.is_wire(ty) {
            return format!("_rt::Wire::encode(&mut {place}, e, {offset}, {depth})?;");
        }
        let c = "_rt::codec";
        let receiver = receiver(place);
        match &ty.kind {
            TypeKind::String { max, optional } => {
                if *optional {
                    format!("{c}::encode_optional_string(e, {offset}, {depth}, {receiver}.as_deref(), {})?;", bound(*max))
                } else {
                    format!(
                        "{c}::encode_string(e, {offset}, {depth}, &{place}, {})?;",
                        bound(*max)
                    )
                }
            }
            TypeKind::Vector {
                element,
                max,
                optional,
            } => {
                let v = format!("v{level}");
                let body = if self.is_plain(element) {
                    format!(
                        "{c}::encode_plain_vector(e, {offset}, {depth}, {v}, {})?;",
                        bound(*max)
                    )
                } else {
                    let size = element.shape.inline_size;
                    let inner = self.encode(
                        element,
                        &format!("*item{level}"),
                        &format!("body{level} + i{level} * {size}"),
                        &format!("depth{level}"),
                        level + 1,
                    );
                    format!(
                        "#[allow(unused_variables)]\nlet (body{level}, depth{level}) = {c}::encode_vector_header(e, {offset}, {depth}, {v}.len(), {size}, {})?;\n\
                         for (i{level}, item{level}) in {v}.iter_mut().enumerate() {{ {inner} }}",
                        bound(*max)
                    )
                };
                if *optional {
                    format!("if let Some({v}) = {receiver}.as_mut() {{ {body} }}")
                } else {
                    format!("{{ let {v} = &mut {place}; {body} }}")
                }
            }
            TypeKind::Array { element, .. } => {
                let size = element.shape.inline_size;
                let inner = self.encode(
                    element,
                    &format!("*item{level}"),
                    &format!("{offset} + i{level} * {size}"),
                    depth,
                    level + 1,
                );
                format!(
                    "for (i{level}, item{level}) in {receiver}.iter_mut().enumerate() {{ {inner} }}"
                )
            }
            TypeKind::Handle {
                object_type,
                rights,
                optional,
                ..
            } => {
                let rights =
                    rights.map_or("_rt::NO_RIGHTS_CHECK".to_string(), |r| format!("{r:#x}"));
                if *optional {
                    format!("{c}::encode_optional_handle(e, {offset}, {receiver}.as_mut(), {object_type}, {rights})?;")
                } else {
                    format!(
                        "{c}::encode_handle(e, {offset}, &mut {place}, {object_type}, {rights})?;"
                    )
                }
            }
            TypeKind::Endpoint { optional, .. } => {
                if *optional {
                    format!("{c}::encode_optional_handle(e, {offset}, {receiver}.as_mut().map(|end| end.handle_mut()), {CHANNEL_OBJECT_TYPE}, _rt::NO_RIGHTS_CHECK)?;")
                } else {
                    format!("{c}::encode_handle(e, {offset}, {receiver}.handle_mut(), {CHANNEL_OBJECT_TYPE}, _rt::NO_RIGHTS_CHECK)?;")
                }
            }
            TypeKind::Identifier { decl_kind, .. } => {
                if *decl_kind == DeclKind::Struct {
                    format!("{c}::encode_box(e, {offset}, {depth}, {receiver}.as_deref_mut())?;")
                } else {
                    format!("{c}::encode_optional_union(e, {offset}, {depth}, {receiver}.as_deref_mut())?;")
                }
            }
            TypeKind::Primitive { .. } => String::new(),
        }
    }

    /// An expression decoding a value of the type at `offset`.
    pub(super) fn decode(&self, ty: &Type, offset: &str, depth: &str, level: usize) -> String {
        if self.is_wire(ty) {
            return format!(
                "<{} as _rt::Wire>::decode(d, {offset}, {depth})?",
                self.rust_type(ty)
            );
        }
        let c = "_rt::codec";
        let required = |optional: bool, expr: String| {
            if optional {
                expr
            } else {
                format!("{c}::required({expr}, {offset})?")
            }
        };
        match &ty.kind {
            TypeKind::String { max, optional } => required(
                *optional,
                format!(
                    "{c}::decode_optional_string(d, {offset}, {depth}, {})?",
                    bound(*max)
                ),
            ),
            TypeKind::Vector {
                element,
                max,
                optional,
            } => {
                if self.is_plain(element) {
                    return required(
                        *optional,
                        format!(
                            "{c}::decode_optional_plain_vector::<{}>(d, {offset}, {depth}, {})?",
                            self.rust_type(element),
                            bound(*max)
                        ),
                    );
                }
                let size = element.shape.inline_size;
                let inner = self.decode(
                    element,
                    &format!("body{level} + i{level} * {size}"),
                    &format!("depth{level}"),
                    level + 1,
                );
                let expr = format!(
                    "match {c}::decode_vector_header(d, {offset}, {depth}, {size}, {})? {{\n\
                     #[allow(unused_variables)]\n\
                     Some((len{level}, body{level}, depth{level})) => {{\n\
                     let mut items{level} = Vec::with_capacity(len{level});\n\
                     for i{level} in 0..len{level} {{ items{level}.push({inner}); }}\n\
                     Some(items{level})\n\
                     }}\n\
                     None => None,\n\
                     }}",
                    bound(*max)
                );
                required(*optional, expr)
            }
            TypeKind::Array { element, count } => {
                let size = element.shape.inline_size;
                let inner = self.decode(
                    element,
                    &format!("{offset} + i{level} * {size}"),
                    depth,
                    level + 1,
                );
                format!(
                    "{{\n\
                     let mut items{level} = Vec::with_capacity({count});\n\
                     for i{level} in 0..{count} {{ items{level}.push({inner}); }}\n\
                     match items{level}.try_into() {{\n\
                     Ok(array) => array,\n\
                     Err(_) => return Err(_rt::DecodeError::OutOfBounds {{ offset: {offset}, len: {} }}),\n\
                     }}\n\
                     }}",
                    ty.shape.inline_size
                )
            }
            TypeKind::Handle {
                object_type,
                rights,
                optional,
                ..
            } => {
                let rights =
                    rights.map_or("_rt::NO_RIGHTS_CHECK".to_string(), |r| format!("{r:#x}"));
                required(
                    *optional,
                    format!(
                        "{c}::decode_optional_handle::<{}>(d, {offset}, {object_type}, {rights})?",
                        self.options.handle_type
                    ),
                )
            }
            TypeKind::Endpoint { role, optional, .. } => {
                let end = match role {
                    EndpointRole::Client => "_rt::ClientEnd::new",
                    EndpointRole::Server => "_rt::ServerEnd::new",
                };
                required(
                    *optional,
                    format!(
                        "{c}::decode_optional_handle::<{}>(d, {offset}, {CHANNEL_OBJECT_TYPE}, _rt::NO_RIGHTS_CHECK)?.map({end})",
                        self.options.handle_type
                    ),
                )
            }
            TypeKind::Identifier {
                identifier,
                decl_kind,
                ..
            } => {
                let path = self.path(identifier);
                if *decl_kind == DeclKind::Struct {
                    format!("{c}::decode_box::<{path}>(d, {offset}, {depth})?.map(Box::new)")
                } else {
                    format!(
                        "{c}::decode_optional_union::<{path}>(d, {offset}, {depth})?.map(Box::new)"
                    )
                }
            }
            TypeKind::Primitive { .. } => String::new(),
        }
    }
}
