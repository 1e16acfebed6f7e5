//! The JSON IR: the contract between the compiler and every backend.
//!
//! Backends read only this (never the AST or the flat model), so a backend
//! can live in another process or language. The schema is documented in
//! `docs/idl-ir.md`; [`IR_VERSION`] changes whenever a field changes meaning
//! or disappears.
//!
//! Names of declarations are fully qualified: `library.name/Decl`.

mod lower;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::layout::{FieldShape, TypeShape};
pub use crate::resolve::model::{EndpointRole, MethodKind, Openness, Primitive};
pub use lower::lower;

pub const IR_VERSION: u32 = 1;

/// Every library of a compilation, dependencies first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ir {
    pub ir_version: u32,
    pub libraries: Vec<Library>,
}

impl Ir {
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    pub fn from_json(text: &str) -> Result<Ir, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn library(&self, name: &str) -> Option<&Library> {
        self.libraries.iter().find(|l| l.name == name)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Library {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    pub dependencies: Vec<String>,
    pub consts: Vec<Const>,
    pub aliases: Vec<Alias>,
    pub structs: Vec<Struct>,
    pub tables: Vec<Table>,
    pub unions: Vec<Union>,
    pub enums: Vec<Enum>,
    pub bits: Vec<Bits>,
    pub protocols: Vec<Protocol>,
    pub services: Vec<Service>,
    pub resources: Vec<Resource>,
    /// Every declaration, in an order where a declaration comes after those
    /// it contains inline (useful for C-like backends).
    pub declaration_order: Vec<String>,
}

/// `file:line:column` of a declaration or member name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    /// Positional arguments are named `value`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, serde_json::Value>,
}

/// A type, with its wire shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Type {
    #[serde(flatten)]
    pub kind: TypeKind,
    pub shape: TypeShape,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TypeKind {
    Primitive {
        subtype: Primitive,
    },
    String {
        max: Option<u32>,
        optional: bool,
    },
    Vector {
        element: Box<Type>,
        max: Option<u32>,
        optional: bool,
    },
    Array {
        element: Box<Type>,
        count: u32,
    },
    Handle {
        /// The resource definition, e.g. `zx/Handle`.
        resource: Option<String>,
        /// Object type number (`0` = any).
        object_type: u32,
        subtype: String,
        /// Rights the handle must have; absent = same rights as sent.
        rights: Option<u32>,
        optional: bool,
    },
    Endpoint {
        role: EndpointRole,
        protocol: String,
        optional: bool,
    },
    /// A struct (`optional` = boxed), table, union, enum or bits.
    Identifier {
        identifier: String,
        decl_kind: DeclKind,
        optional: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclKind {
    Const,
    Alias,
    Struct,
    Table,
    Union,
    Enum,
    Bits,
    Protocol,
    Service,
    Resource,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Const {
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    #[serde(rename = "type")]
    pub ty: Type,
    pub value: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alias {
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    pub target: Type,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Struct {
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// Generated for an anonymous layout.
    pub anonymous: bool,
    pub resource: bool,
    pub members: Vec<StructMember>,
    pub shape: TypeShape,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StructMember {
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    #[serde(rename = "type")]
    pub ty: Type,
    pub field_shape: FieldShape,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    pub anonymous: bool,
    pub resource: bool,
    pub members: Vec<OrdinalMember>,
    pub shape: TypeShape,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Union {
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    pub anonymous: bool,
    pub resource: bool,
    pub strict: bool,
    /// Generated for a method reply (`response`, `err`, `framework_err`).
    pub is_result: bool,
    pub members: Vec<OrdinalMember>,
    pub shape: TypeShape,
}

/// A table or union member; `ty` and `name` are absent for `reserved`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrdinalMember {
    pub ordinal: u64,
    pub name: Option<String>,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    #[serde(rename = "type")]
    pub ty: Option<Type>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Enum {
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    pub anonymous: bool,
    pub strict: bool,
    #[serde(rename = "type")]
    pub underlying: Primitive,
    pub members: Vec<ValueMember>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bits {
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    pub anonymous: bool,
    pub strict: bool,
    #[serde(rename = "type")]
    pub underlying: Primitive,
    pub mask: u64,
    pub members: Vec<ValueMember>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValueMember {
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    pub value: i64,
    /// The value as an unsigned number of the underlying width (for
    /// `uint64` values above `i64::MAX`, and bit patterns).
    pub unsigned_value: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Protocol {
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    pub openness: Openness,
    /// `@transport`, default `Channel`.
    pub transport: String,
    /// `@discoverable` name (`library.name.Protocol` by default).
    pub discoverable_name: Option<String>,
    pub composed: Vec<String>,
    pub methods: Vec<Method>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Method {
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    pub ordinal: u64,
    pub selector: String,
    pub strict: bool,
    pub kind: MethodKind,
    /// Payload sent by the initiator (the server, for events).
    pub request: Option<String>,
    /// Reply payload: the result union when `has_error` or flexible two-way.
    pub response: Option<String>,
    /// The success payload inside a result union.
    pub success: Option<String>,
    pub error: Option<Type>,
    pub has_error: bool,
    /// The protocol that declares it (differs for composed methods).
    pub declared_in: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    pub members: Vec<ServiceMember>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceMember {
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    pub protocol: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    pub subtype: Option<String>,
    pub rights: Option<String>,
}

/// Finds a doc comment among attributes.
pub fn doc(attributes: &[Attribute]) -> Option<&str> {
    attributes
        .iter()
        .find(|a| a.name == "doc")
        .and_then(|a| a.args.get("value"))
        .and_then(|v| v.as_str())
}
