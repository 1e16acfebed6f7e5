//! Conformance cases as data, GIDL-style, and the test code generated from
//! them for each backend.
//!
//! A suite (`idlc/conformance/cases/*.json`, documented in
//! `docs/idl-wire-format.md`) lists three kinds of case for types of one
//! library:
//!
//! * `success`: a value and its bytes (and handles). Every backend must
//!   encode the value to exactly these bytes and decode the bytes back to
//!   the value.
//! * `decode_failure`: bytes (and handles) that every backend must reject
//!   with the named error kind.
//! * `encode_failure`: a value that every backend must refuse to encode,
//!   with the named error kind.
//!
//! Values are JSON: structs and tables are objects keyed by member name
//! (a table lists only present members), unions are `{"member": value}`,
//! enums are a member name or a number, bits a number, strings strings,
//! vectors and arrays lists, absent optional values `null`, handles the
//! handle number. Unknown table members and union variants are written
//! `"$unknown"` (see [`UnknownCase`]).
//!
//! Like GIDL, the suite is turned into ordinary test code per backend
//! ([`rust`], [`c`]); the Python runner reads the JSON directly.

pub mod c;
pub mod fuzz;
pub mod rust;

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use crate::ir::{self, Ir};

/// One file of cases.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// A note for readers of the file.
    #[serde(rename = "$comment", default)]
    pub comment: Option<String>,
    /// The library whose types the cases name (`test.conformance`).
    pub library: String,
    #[serde(default)]
    pub success: Vec<SuccessCase>,
    #[serde(default)]
    pub decode_failure: Vec<DecodeFailureCase>,
    #[serde(default)]
    pub encode_failure: Vec<EncodeFailureCase>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuccessCase {
    pub name: String,
    /// A declaration of the suite's library (`Pair`).
    #[serde(rename = "type")]
    pub ty: String,
    pub value: Value,
    pub bytes: Bytes,
    /// The handles that travel with the bytes, in order.
    #[serde(default)]
    pub handles: Vec<HandleCase>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeFailureCase {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub bytes: Bytes,
    #[serde(default)]
    pub handles: Vec<HandleCase>,
    /// One of [`DECODE_ERRORS`].
    pub error: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncodeFailureCase {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub value: Value,
    /// One of [`ENCODE_ERRORS`].
    pub error: String,
}

/// A handle as the receiver gets it.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandleCase {
    pub handle: u32,
    /// Object type (`zx.ObjType`).
    #[serde(rename = "type")]
    pub object_type: u32,
    pub rights: u32,
}

/// An unknown table member or union variant, as decoding keeps it: the
/// envelope's content (its 4 inline bytes, or the out-of-line bytes).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnknownCase {
    pub ordinal: u64,
    pub bytes: Bytes,
    pub inline: bool,
}

/// Bytes written as lines of hex pairs (`"01 00 ff"`), or
/// `{"repeat": N, "bytes": [...]}` for long runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let mut out = Vec::new();
        parse_bytes(&value, &mut out).map_err(serde::de::Error::custom)?;
        Ok(Bytes(out))
    }
}

fn parse_bytes(value: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    match value {
        Value::String(line) => {
            for pair in line.split_whitespace() {
                let byte = u8::from_str_radix(pair, 16)
                    .map_err(|_| format!("`{pair}` is not a hex byte"))?;
                out.push(byte);
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(|item| parse_bytes(item, out)),
        Value::Object(object) => {
            let count = object
                .get("repeat")
                .and_then(Value::as_u64)
                .ok_or("a byte run needs `repeat`")?;
            let mut run = Vec::new();
            parse_bytes(
                object.get("bytes").ok_or("a byte run needs `bytes`")?,
                &mut run,
            )?;
            for _ in 0..count {
                out.extend_from_slice(&run);
            }
            Ok(())
        }
        _ => Err("bytes are hex strings, lists of them, or repeat runs".into()),
    }
}

/// Every way a payload can fail to decode, as named in cases; each
/// backend maps its own errors to these.
pub const DECODE_ERRORS: &[&str] = &[
    "out_of_bounds",
    "non_zero_padding",
    "extra_bytes",
    "extra_handles",
    "missing_handle",
    "invalid_presence",
    "unexpected_absent",
    "invalid_handle_marker",
    "wrong_handle_type",
    "missing_rights",
    "invalid_utf8",
    "too_long",
    "max_depth_exceeded",
    "invalid_bool",
    "unknown_enum_value",
    "unknown_bits",
    "unknown_union_ordinal",
    "invalid_envelope",
    "envelope_size_mismatch",
    "invalid_table",
];

/// Every way a value can fail to encode.
pub const ENCODE_ERRORS: &[&str] = &[
    "too_long",
    "invalid_handle",
    "max_depth_exceeded",
    "unknown_union_variant",
    "invalid_value",
];

impl Suite {
    /// Parses a suite and checks its error kinds and type names against
    /// the IR.
    pub fn parse(text: &str, ir: &Ir) -> Result<Suite, String> {
        let suite: Suite = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let decls = Decls::new(ir);
        let known = |ty: &str| decls.kind(&suite.qualified(ty)).is_some();
        for case in &suite.success {
            if !known(&case.ty) {
                return Err(format!("{}: unknown type `{}`", case.name, case.ty));
            }
        }
        for case in &suite.decode_failure {
            if !known(&case.ty) {
                return Err(format!("{}: unknown type `{}`", case.name, case.ty));
            }
            if !DECODE_ERRORS.contains(&case.error.as_str()) {
                return Err(format!("{}: unknown error `{}`", case.name, case.error));
            }
        }
        for case in &suite.encode_failure {
            if !known(&case.ty) {
                return Err(format!("{}: unknown type `{}`", case.name, case.ty));
            }
            if !ENCODE_ERRORS.contains(&case.error.as_str()) {
                return Err(format!("{}: unknown error `{}`", case.name, case.error));
            }
        }
        // Names are unique per kind (runners prefix them with the kind).
        let kinds: [Vec<&String>; 3] = [
            suite.success.iter().map(|c| &c.name).collect(),
            suite.decode_failure.iter().map(|c| &c.name).collect(),
            suite.encode_failure.iter().map(|c| &c.name).collect(),
        ];
        for names in kinds {
            let mut seen = std::collections::HashSet::new();
            for name in names {
                if !seen.insert(name) {
                    return Err(format!("case `{name}` appears twice"));
                }
            }
        }
        Ok(suite)
    }

    /// `Pair` → `test.conformance/Pair`.
    pub fn qualified(&self, ty: &str) -> String {
        if ty.contains('/') {
            ty.to_string()
        } else {
            format!("{}/{ty}", self.library)
        }
    }
}

/// The declaration a type name refers to.
#[derive(Clone, Copy, Debug)]
pub enum Decl<'a> {
    Struct(&'a ir::Struct),
    Table(&'a ir::Table),
    Union(&'a ir::Union),
    Enum(&'a ir::Enum),
    Bits(&'a ir::Bits),
}

/// Declarations of every library by qualified name.
pub struct Decls<'a> {
    map: HashMap<&'a str, Decl<'a>>,
}

impl<'a> Decls<'a> {
    pub fn new(ir: &'a Ir) -> Decls<'a> {
        let mut map = HashMap::new();
        for library in &ir.libraries {
            for s in &library.structs {
                map.insert(s.name.as_str(), Decl::Struct(s));
            }
            for t in &library.tables {
                map.insert(t.name.as_str(), Decl::Table(t));
            }
            for u in &library.unions {
                map.insert(u.name.as_str(), Decl::Union(u));
            }
            for e in &library.enums {
                map.insert(e.name.as_str(), Decl::Enum(e));
            }
            for b in &library.bits {
                map.insert(b.name.as_str(), Decl::Bits(b));
            }
        }
        Decls { map }
    }

    pub fn kind(&self, name: &str) -> Option<Decl<'a>> {
        self.map.get(name).copied()
    }

    pub fn get(&self, name: &str) -> Result<Decl<'a>, String> {
        self.kind(name)
            .ok_or_else(|| format!("unknown declaration `{name}`"))
    }
}

/// The `$unknown` entries of a table value.
pub fn unknown_members(value: &Value) -> Result<Vec<UnknownCase>, String> {
    match value.get("$unknown") {
        None => Ok(Vec::new()),
        Some(list) => serde_json::from_value(list.clone()).map_err(|e| e.to_string()),
    }
}

/// A value's members by name, checked against the declared names.
pub fn object<'v>(
    value: &'v Value,
    what: &str,
    names: &[&str],
) -> Result<&'v serde_json::Map<String, Value>, String> {
    let object = value
        .as_object()
        .ok_or_else(|| format!("{what}: expected an object, got {value}"))?;
    for key in object.keys() {
        if key != "$unknown" && !names.contains(&key.as_str()) {
            return Err(format!("{what}: no member `{key}`"));
        }
    }
    Ok(object)
}

/// An enum value: a member name or a number.
pub fn enum_value(decl: &ir::Enum, value: &Value) -> Result<(Option<String>, i128), String> {
    match value {
        Value::String(name) => decl
            .members
            .iter()
            .find(|m| &m.name == name)
            .map(|m| (Some(m.name.clone()), m.value as i128))
            .ok_or_else(|| format!("{}: no member `{name}`", decl.name)),
        Value::Number(n) => {
            let number = n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from))
                .ok_or_else(|| format!("{}: {n} is not an integer", decl.name))?;
            let member = decl
                .members
                .iter()
                .find(|m| member_number(decl.underlying, m) == number);
            Ok((member.map(|m| m.name.clone()), number))
        }
        _ => Err(format!("{}: expected a member name or number", decl.name)),
    }
}

fn member_number(underlying: ir::Primitive, member: &ir::ValueMember) -> i128 {
    use ir::Primitive::*;
    match underlying {
        Uint64 => member.unsigned_value as i128,
        _ => member.value as i128,
    }
}
