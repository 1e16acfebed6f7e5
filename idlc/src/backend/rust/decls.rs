//! Constants, aliases, enums, bits, structs, tables and unions.

use std::fmt::Write;

use super::names::{camel, free_name, screaming, snake};
use super::types::primitive;
use super::Generator;
use crate::ir::{self, TypeKind};

impl Generator<'_> {
    pub(super) fn constant(&mut self, c: &ir::Const) {
        let name = screaming(c.name.split('/').nth(1).unwrap_or(&c.name));
        self.line("");
        self.doc(&c.attributes);
        let (ty, value) = match &c.ty.kind {
            TypeKind::String { .. } => (
                "&str".to_string(),
                format!("{:?}", c.value.as_str().unwrap_or_default()),
            ),
            TypeKind::Primitive { subtype } => {
                let ty = primitive(*subtype).to_string();
                let value = match subtype {
                    ir::Primitive::Bool => c.value.as_bool().unwrap_or_default().to_string(),
                    ir::Primitive::Float32 | ir::Primitive::Float64 => {
                        format!("{:?}", c.value.as_f64().unwrap_or_default())
                    }
                    _ => c.value.to_string(),
                };
                (ty, value)
            }
            TypeKind::Identifier {
                identifier,
                decl_kind,
                ..
            } => {
                let path = self.path(identifier);
                let value = match decl_kind {
                    ir::DeclKind::Enum => {
                        let number = c.value.as_i64().unwrap_or_default();
                        let member = self
                            .index
                            .enums
                            .get(identifier.as_str())
                            .and_then(|e| e.members.iter().find(|m| m.value == number))
                            .map(|m| camel(&m.name))
                            .unwrap_or_default();
                        format!("{path}::{member}")
                    }
                    _ => format!("{path}({})", c.value),
                };
                (path, value)
            }
            _ => return,
        };
        let _ = writeln!(self.out, "pub const {name}: {ty} = {value};");
    }

    pub(super) fn alias(&mut self, a: &ir::Alias) {
        let name = self.path(&a.name);
        let target = self.rust_type(&a.target);
        self.line("");
        self.doc(&a.attributes);
        let _ = writeln!(self.out, "pub type {name} = {target};");
    }

    pub(super) fn enumeration(&mut self, e: &ir::Enum) {
        let name = self.path(&e.name);
        let prim = primitive(e.underlying);
        self.line("");
        self.doc(&e.attributes);
        self.line("#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]");
        let _ = writeln!(self.out, "pub enum {name} {{");
        let variants: Vec<String> = e.members.iter().map(|m| camel(&m.name)).collect();
        let unknown = free_name("Unknown", "UnknownValue", &variants);
        for m in &e.members {
            self.doc(&m.attributes);
            let _ = writeln!(self.out, "{},", camel(&m.name));
        }
        if !e.strict {
            self.line("/// A value this version of the library does not know.");
            let _ = writeln!(self.out, "{unknown}({prim}),");
        }
        self.line("}");
        self.line("");
        let _ = writeln!(self.out, "impl {name} {{");
        let _ = writeln!(
            self.out,
            "pub fn from_primitive(value: {prim}) -> Option<Self> {{"
        );
        self.line("match value {");
        for m in &e.members {
            let _ = writeln!(self.out, "{} => Some(Self::{}),", m.value, camel(&m.name));
        }
        self.line("_ => None,");
        self.line("}");
        self.line("}");
        let _ = writeln!(self.out, "pub fn into_primitive(self) -> {prim} {{");
        self.line("match self {");
        for m in &e.members {
            let _ = writeln!(self.out, "Self::{} => {},", camel(&m.name), m.value);
        }
        if !e.strict {
            let _ = writeln!(self.out, "Self::{unknown}(value) => value,");
        }
        self.line("}");
        self.line("}");
        self.line("}");
        self.line("");
        let decode = if e.strict {
            "Self::from_primitive(value).ok_or(_rt::DecodeError::UnknownEnumValue { value: value as i128 })".to_string()
        } else {
            format!("Ok(Self::from_primitive(value).unwrap_or(Self::{unknown}(value)))")
        };
        self.wire_impl(
            &name,
            e.underlying_size(),
            e.underlying_size(),
            "let mut value = self.into_primitive();\n_rt::Wire::encode(&mut value, e, offset, depth)?;\nOk(())",
            &format!("let value = <{prim} as _rt::Wire>::decode(d, offset, depth)?;\n{decode}"),
        );
    }

    pub(super) fn bits(&mut self, b: &ir::Bits) {
        let name = self.path(&b.name);
        let prim = primitive(b.underlying);
        self.line("");
        self.doc(&b.attributes);
        self.line("#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]");
        let _ = writeln!(self.out, "pub struct {name}(pub {prim});");
        self.line("");
        let _ = writeln!(self.out, "impl {name} {{");
        for m in &b.members {
            self.doc(&m.attributes);
            let _ = writeln!(
                self.out,
                "pub const {}: Self = Self({});",
                screaming(&m.name),
                m.unsigned_value
            );
        }
        self.line("/// Every known bit.");
        let _ = writeln!(self.out, "pub const MASK: {prim} = {};", b.mask);
        let _ = writeln!(self.out, "pub fn bits(self) -> {prim} {{ self.0 }}");
        self.line("pub fn contains(self, other: Self) -> bool { self.0 & other.0 == other.0 }");
        self.line("pub fn has_unknown_bits(self) -> bool { self.0 & !Self::MASK != 0 }");
        self.line("}");
        self.line("");
        let _ = writeln!(self.out, "impl core::ops::BitOr for {name} {{");
        self.line("type Output = Self;");
        self.line("fn bitor(self, other: Self) -> Self { Self(self.0 | other.0) }");
        self.line("}");
        self.line("");
        let (encode_check, decode_check) = if b.strict {
            (
                "if self.has_unknown_bits() { return Err(_rt::EncodeError::InvalidValue); }\n",
                "if value.has_unknown_bits() { return Err(_rt::DecodeError::UnknownBits { value: value.0 as u64 }); }\n",
            )
        } else {
            ("", "")
        };
        self.wire_impl(
            &name,
            b.underlying_size(),
            b.underlying_size(),
            &format!("{encode_check}_rt::Wire::encode(&mut self.0, e, offset, depth)"),
            &format!("let value = Self(<{prim} as _rt::Wire>::decode(d, offset, depth)?);\n{decode_check}Ok(value)"),
        );
    }

    pub(super) fn structure(&mut self, s: &ir::Struct) {
        let name = self.path(&s.name);
        let plain = self.is_plain_struct(s);
        self.line("");
        self.doc(&s.attributes);
        if plain {
            self.line("#[derive(Debug, Clone, Copy, PartialEq, _rt::zerocopy::FromBytes, _rt::zerocopy::IntoBytes, _rt::zerocopy::Immutable, _rt::zerocopy::KnownLayout)]");
            self.line("#[zerocopy(crate = \"::idlc_runtime::zerocopy\")]");
            self.line("#[repr(C)]");
        } else if s.resource {
            self.line("#[derive(Debug, PartialEq)]");
        } else {
            self.line("#[derive(Debug, Clone, PartialEq)]");
        }
        let _ = writeln!(self.out, "pub struct {name} {{");
        for m in &s.members {
            self.doc(&m.attributes);
            let _ = writeln!(
                self.out,
                "pub {}: {},",
                snake(&m.name),
                self.rust_type(&m.ty)
            );
        }
        self.line("}");
        self.line("");
        let size = s.shape.inline_size;
        if plain {
            let _ = writeln!(self.out, "impl _rt::Plain for {name} {{}}");
            self.line("");
            self.wire_impl(
                &name,
                size as usize,
                s.shape.alignment as usize,
                "e.write(offset, _rt::zerocopy::IntoBytes::as_bytes(self));\nOk(())",
                &format!(
                    "<Self as _rt::zerocopy::FromBytes>::read_from_bytes(d.bytes(offset, {size})?).map_err(|_| _rt::DecodeError::OutOfBounds {{ offset, len: {size} }})"
                ),
            );
            return;
        }
        let mut encode = String::new();
        let mut decode = String::new();
        if s.members.is_empty() {
            decode.push_str("d.check_zero(offset, 1)?;\n");
        }
        for m in &s.members {
            let offset = plus("offset", m.field_shape.offset);
            let _ = writeln!(
                encode,
                "{}",
                self.encode(
                    &m.ty,
                    &format!("self.{}", snake(&m.name)),
                    &offset,
                    "depth",
                    0
                )
            );
            if m.field_shape.padding > 0 {
                let _ = writeln!(
                    decode,
                    "d.check_zero(offset + {}, {})?;",
                    m.field_shape.offset + m.ty.shape.inline_size,
                    m.field_shape.padding
                );
            }
        }
        encode.push_str("Ok(())");
        decode.push_str("Ok(Self {\n");
        for m in &s.members {
            let offset = plus("offset", m.field_shape.offset);
            let _ = writeln!(
                decode,
                "{}: {},",
                snake(&m.name),
                self.decode(&m.ty, &offset, "depth", 0)
            );
        }
        decode.push_str("})");
        self.wire_impl(
            &name,
            size as usize,
            s.shape.alignment as usize,
            &encode,
            &decode,
        );
    }

    pub(super) fn table(&mut self, t: &ir::Table) {
        let name = self.path(&t.name);
        let members: Vec<(&ir::OrdinalMember, &str, &ir::Type)> = t
            .members
            .iter()
            .filter_map(|m| Some((m, m.name.as_deref()?, m.ty.as_ref()?)))
            .collect();
        self.line("");
        self.doc(&t.attributes);
        self.line(if t.resource {
            "#[derive(Debug, PartialEq, Default)]"
        } else {
            "#[derive(Debug, Clone, PartialEq, Default)]"
        });
        let _ = writeln!(self.out, "pub struct {name} {{");
        for (m, field, ty) in &members {
            self.doc(&m.attributes);
            let _ = writeln!(
                self.out,
                "pub {}: Option<{}>,",
                snake(field),
                self.rust_type(ty)
            );
        }
        let fields: Vec<String> = members.iter().map(|(_, f, _)| snake(f)).collect();
        let unknown_fields = free_name("unknown_fields", "unknown_fields_", &fields);
        self.line("/// Members this version of the library does not know, by ordinal.");
        let _ = writeln!(
            self.out,
            "pub {unknown_fields}: Vec<(u64, _rt::codec::UnknownData)>,"
        );
        self.line("}");
        self.line("");

        let mut encode = String::from("let mut max_ordinal = 0u64;\n");
        for (m, field, _) in &members {
            let _ = writeln!(
                encode,
                "if self.{}.is_some() {{ max_ordinal = max_ordinal.max({}); }}",
                snake(field),
                m.ordinal
            );
        }
        let _ = writeln!(
            encode,
            "for (ordinal, _) in &self.{unknown_fields} {{ max_ordinal = max_ordinal.max(*ordinal); }}"
        );
        encode.push_str("let (body, depth) = _rt::codec::encode_table_header(e, offset, depth, max_ordinal as usize)?;\n");
        // Envelopes in ordinal order, unknown ones (kept sorted by decoding)
        // interleaved, so out-of-line objects follow traversal order.
        let _ = writeln!(
            encode,
            "let mut unknown = self.{unknown_fields}.iter_mut().peekable();"
        );
        let unknown_before = |limit: &str| {
            format!(
                "while let Some((ordinal, data)) = unknown.next_if(|(o, _)| {limit}) {{ _rt::codec::encode_unknown_envelope(e, body + (*ordinal as usize - 1) * 8, data)?; }}\n"
            )
        };
        for (m, field, ty) in &members {
            encode.push_str(&unknown_before(&format!("*o < {}", m.ordinal)));
            let stmt = self.encode(ty, "*value", "offset", "depth", 0);
            let _ = writeln!(
                encode,
                "if let Some(value) = self.{}.as_mut() {{ _rt::codec::encode_envelope(e, {}, depth, {}, |e, offset, depth| {{ {stmt} Ok(()) }})?; }}",
                snake(field),
                plus("body", ((m.ordinal - 1) * 8) as u32),
                ty.shape.inline_size
            );
            // An unknown entry with a known ordinal is dropped.
            let _ = writeln!(
                encode,
                "while unknown.next_if(|(o, _)| *o == {}).is_some() {{}}",
                m.ordinal
            );
        }
        encode.push_str(&unknown_before("true"));
        encode.push_str("Ok(())");

        let mut decode = String::from(
            "let (count, body, depth) = _rt::codec::decode_table_header(d, offset, depth)?;\nlet mut table = Self::default();\nfor index in 0..count {\nlet ordinal = index as u64 + 1;\nlet envelope = body + index * 8;\nmatch ordinal {\n",
        );
        for (m, field, ty) in &members {
            let expr = self.decode(ty, "offset", "depth", 0);
            let _ = writeln!(
                decode,
                "{} => table.{} = _rt::codec::decode_envelope(d, envelope, depth, {}, |d, offset, depth| Ok({expr}))?,",
                m.ordinal,
                snake(field),
                ty.shape.inline_size
            );
        }
        let _ = write!(
            decode,
            "_ => if let Some(data) = _rt::codec::decode_unknown_envelope(d, envelope, depth)? {{ table.{unknown_fields}.push((ordinal, data)); }},\n}}\n}}\nOk(table)"
        );
        self.wire_impl(&name, 16, 8, &encode, &decode);
    }

    pub(super) fn union(&mut self, u: &ir::Union) {
        let name = self.path(&u.name);
        let members: Vec<(&ir::OrdinalMember, &str, &ir::Type)> = u
            .members
            .iter()
            .filter_map(|m| Some((m, m.name.as_deref()?, m.ty.as_ref()?)))
            .collect();
        self.line("");
        self.doc(&u.attributes);
        self.line(if u.resource {
            "#[derive(Debug, PartialEq)]"
        } else {
            "#[derive(Debug, Clone, PartialEq)]"
        });
        let _ = writeln!(self.out, "pub enum {name} {{");
        for (m, field, ty) in &members {
            self.doc(&m.attributes);
            let _ = writeln!(self.out, "{}({}),", camel(field), self.rust_type(ty));
        }
        let variants: Vec<String> = members.iter().map(|(_, f, _)| camel(f)).collect();
        let unknown = free_name("Unknown", "UnknownVariant", &variants);
        if !u.strict {
            self.line("/// A variant this version of the library does not know.");
            let _ = writeln!(
                self.out,
                "{unknown} {{ ordinal: u64, data: _rt::codec::UnknownData }},"
            );
        }
        self.line("}");
        self.line("");
        let mut encode = String::from("match self {\n");
        for (m, field, ty) in &members {
            let stmt = self.encode(ty, "*value", "offset", "depth", 0);
            let _ = writeln!(
                encode,
                "Self::{}(value) => {{ e.write_u64(offset, {}); _rt::codec::encode_envelope(e, offset + 8, depth, {}, |e, offset, depth| {{ {stmt} Ok(()) }})?; }}",
                camel(field),
                m.ordinal,
                ty.shape.inline_size
            );
        }
        if !u.strict {
            let _ = writeln!(
                encode,
                "Self::{unknown} {{ ordinal, data }} => {{ e.write_u64(offset, *ordinal); _rt::codec::encode_unknown_envelope(e, offset + 8, data)?; }}"
            );
        }
        encode.push_str("}\nOk(())");
        let mut decode = String::from("let ordinal = d.read_u64(offset)?;\nmatch ordinal {\n");
        for (m, field, ty) in &members {
            let expr = self.decode(ty, "offset", "depth", 0);
            let _ = writeln!(
                decode,
                "{} => match _rt::codec::decode_envelope(d, offset + 8, depth, {}, |d, offset, depth| Ok({expr}))? {{ Some(value) => Ok(Self::{}(value)), None => Err(_rt::DecodeError::UnexpectedAbsent {{ offset }}) }},",
                m.ordinal,
                ty.shape.inline_size,
                camel(field)
            );
        }
        decode.push_str("0 => Err(_rt::DecodeError::UnexpectedAbsent { offset }),\n");
        if u.strict {
            decode.push_str("_ => Err(_rt::DecodeError::UnknownUnionOrdinal { ordinal }),\n");
        } else {
            let _ = writeln!(
                decode,
                "_ => match _rt::codec::decode_unknown_envelope(d, offset + 8, depth)? {{ Some(data) => Ok(Self::{unknown} {{ ordinal, data }}), None => Err(_rt::DecodeError::UnexpectedAbsent {{ offset }}) }},"
            );
        }
        decode.push('}');
        self.wire_impl(&name, 16, 8, &encode, &decode);
    }

    fn wire_impl(&mut self, name: &str, size: usize, align: usize, encode: &str, decode: &str) {
        self.line("#[allow(unused_variables)]");
        let _ = writeln!(self.out, "impl _rt::Wire for {name} {{");
        let _ = writeln!(self.out, "const INLINE_SIZE: usize = {size};");
        let _ = writeln!(self.out, "const ALIGN: usize = {align};");
        self.line("");
        self.line("fn encode(&mut self, e: &mut _rt::Encoder<'_>, offset: usize, depth: usize) -> Result<(), _rt::EncodeError> {");
        self.line(encode);
        self.line("}");
        self.line("");
        self.line("fn decode(d: &mut _rt::Decoder<'_>, offset: usize, depth: usize) -> Result<Self, _rt::DecodeError> {");
        self.line(decode);
        self.line("}");
        self.line("}");
    }
}

impl ir::Enum {
    fn underlying_size(&self) -> usize {
        primitive_size(self.underlying)
    }
}

impl ir::Bits {
    fn underlying_size(&self) -> usize {
        primitive_size(self.underlying)
    }
}

fn primitive_size(p: ir::Primitive) -> usize {
    match p {
        ir::Primitive::Bool | ir::Primitive::Int8 | ir::Primitive::Uint8 => 1,
        ir::Primitive::Int16 | ir::Primitive::Uint16 => 2,
        ir::Primitive::Int32 | ir::Primitive::Uint32 | ir::Primitive::Float32 => 4,
        _ => 8,
    }
}

/// `base + n`, or `base` when `n` is 0.
fn plus(base: &str, n: u32) -> String {
    if n == 0 {
        base.to_string()
    } else {
        format!("{base} + {n}")
    }
}
