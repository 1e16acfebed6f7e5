//! The flat model: resolved libraries and declarations.
//!
//! Every name is resolved to an id, every constant to a value, every type
//! constructor to a [`Type`]. Anonymous layouts are declarations of their
//! own with generated names, as in fidlc. Layout (sizes and bounds) is
//! computed from this model by `crate::layout`, and the IR is lowered from
//! both.

use std::collections::BTreeMap;

use super::arena::{Arena, Id};
use crate::source::Span;

pub type LibraryId = Id<Library>;
pub type DeclId = Id<Decl>;

/// All libraries of one compilation, in dependency order.
#[derive(Debug, Default)]
pub struct Model {
    pub libraries: Arena<Library>,
    pub decls: Arena<Decl>,
}

impl Model {
    /// `library.name/Decl`, the fully qualified name used in the IR.
    pub fn qualified_name(&self, decl: DeclId) -> String {
        let decl = &self.decls[decl];
        format!("{}/{}", self.libraries[decl.library].name, decl.name)
    }
}

#[derive(Debug)]
pub struct Library {
    pub name: String,
    pub span: Span,
    pub attributes: Vec<Attribute>,
    /// Libraries named by `using` in any file of this one.
    pub dependencies: Vec<LibraryId>,
    /// Declarations by name, including generated names of anonymous layouts.
    pub decls: BTreeMap<String, DeclId>,
    /// Declarations in source order (anonymous layouts before their user).
    pub order: Vec<DeclId>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub args: Vec<(String, ConstValue)>,
    pub span: Span,
}

#[derive(Debug)]
pub struct Decl {
    pub library: LibraryId,
    pub name: String,
    pub span: Span,
    pub attributes: Vec<Attribute>,
    /// For anonymous layouts: where the layout was written.
    pub anonymous: bool,
    pub kind: DeclKind,
}

impl Decl {
    pub fn doc(&self) -> Option<&str> {
        doc_of(&self.attributes)
    }
}

pub fn doc_of(attributes: &[Attribute]) -> Option<&str> {
    attributes
        .iter()
        .find(|a| a.name == "doc")
        .and_then(|a| match a.args.first() {
            Some((_, ConstValue::String(s))) => Some(s.as_str()),
            _ => None,
        })
}

/// What a declaration is; `Pending` until the resolver has compiled it.
#[derive(Debug)]
pub enum DeclKind {
    Pending,
    Const(ConstDecl),
    Alias(AliasDecl),
    Struct(StructDecl),
    Table(TableDecl),
    Union(UnionDecl),
    Enum(EnumDecl),
    Bits(BitsDecl),
    Protocol(ProtocolDecl),
    Service(ServiceDecl),
    Resource(ResourceDecl),
}

impl DeclKind {
    pub fn name(&self) -> &'static str {
        match self {
            DeclKind::Pending => "pending",
            DeclKind::Const(_) => "const",
            DeclKind::Alias(_) => "alias",
            DeclKind::Struct(_) => "struct",
            DeclKind::Table(_) => "table",
            DeclKind::Union(_) => "union",
            DeclKind::Enum(_) => "enum",
            DeclKind::Bits(_) => "bits",
            DeclKind::Protocol(_) => "protocol",
            DeclKind::Service(_) => "service",
            DeclKind::Resource(_) => "resource",
        }
    }
}

#[derive(Debug)]
pub struct ConstDecl {
    pub ty: Type,
    pub value: ConstValue,
}

#[derive(Debug)]
pub struct AliasDecl {
    pub target: Type,
}

#[derive(Debug)]
pub struct StructDecl {
    pub resource: bool,
    pub members: Vec<StructMember>,
}

#[derive(Debug)]
pub struct StructMember {
    pub name: String,
    pub span: Span,
    pub attributes: Vec<Attribute>,
    pub ty: Type,
    pub default: Option<ConstValue>,
}

#[derive(Debug)]
pub struct TableDecl {
    pub resource: bool,
    pub members: Vec<OrdinalMember>,
}

#[derive(Debug)]
pub struct UnionDecl {
    pub resource: bool,
    pub strict: bool,
    pub members: Vec<OrdinalMember>,
    /// Generated for a method's result (`response` / `err` / `framework_err`).
    pub is_result: bool,
}

/// A table or union member. `ty` is `None` for `reserved`.
#[derive(Debug)]
pub struct OrdinalMember {
    pub ordinal: u64,
    pub name: Option<String>,
    pub span: Span,
    pub attributes: Vec<Attribute>,
    pub ty: Option<Type>,
}

#[derive(Debug)]
pub struct EnumDecl {
    pub strict: bool,
    pub underlying: Primitive,
    pub members: Vec<ValueMember>,
}

#[derive(Debug)]
pub struct BitsDecl {
    pub strict: bool,
    pub underlying: Primitive,
    pub members: Vec<ValueMember>,
    /// The OR of all members.
    pub mask: u64,
}

#[derive(Debug)]
pub struct ValueMember {
    pub name: String,
    pub span: Span,
    pub attributes: Vec<Attribute>,
    /// The value, sign-extended for signed enums.
    pub value: i128,
}

/// Ordered from most to least open (`Open < Ajar < Closed`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Openness {
    Open,
    Ajar,
    Closed,
}

impl Openness {
    /// The modifier as written in IDL.
    pub fn keyword(self) -> &'static str {
        match self {
            Openness::Open => "open",
            Openness::Ajar => "ajar",
            Openness::Closed => "closed",
        }
    }
}

#[derive(Debug)]
pub struct ProtocolDecl {
    pub openness: Openness,
    pub composes: Vec<DeclId>,
    /// Own methods followed by composed ones (flattened).
    pub methods: Vec<Method>,
}

#[derive(Clone, Debug)]
pub struct Method {
    pub name: String,
    pub span: Span,
    pub attributes: Vec<Attribute>,
    pub ordinal: u64,
    /// The string hashed into the ordinal: `library/Protocol.Method`.
    pub selector: String,
    pub strict: bool,
    pub kind: MethodKind,
    /// The payload struct/table/union sent by the initiator (for events, by
    /// the server). `None` means an empty payload.
    pub request: Option<DeclId>,
    /// The payload of the reply. For methods with `error` or flexible
    /// two-way methods this is the generated result union.
    pub response: Option<DeclId>,
    /// The success payload when `response` is a result union.
    pub success: Option<DeclId>,
    pub error: Option<Type>,
    /// The protocol that declares the method (differs for composed ones).
    pub declared_in: DeclId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    OneWay,
    TwoWay,
    Event,
}

#[derive(Debug)]
pub struct ServiceDecl {
    pub members: Vec<ServiceMember>,
}

#[derive(Debug)]
pub struct ServiceMember {
    pub name: String,
    pub span: Span,
    pub attributes: Vec<Attribute>,
    pub ty: Type,
}

/// `resource_definition`: how handles of a kind are constrained.
#[derive(Debug)]
pub struct ResourceDecl {
    pub underlying: Primitive,
    /// The enum naming subtypes (`zx.ObjType`).
    pub subtype: Option<DeclId>,
    /// The bits naming rights (`zx.Rights`).
    pub rights: Option<DeclId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Primitive {
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Float32,
    Float64,
}

impl Primitive {
    pub const ALL: [Primitive; 11] = [
        Primitive::Bool,
        Primitive::Int8,
        Primitive::Int16,
        Primitive::Int32,
        Primitive::Int64,
        Primitive::Uint8,
        Primitive::Uint16,
        Primitive::Uint32,
        Primitive::Uint64,
        Primitive::Float32,
        Primitive::Float64,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Primitive::Bool => "bool",
            Primitive::Int8 => "int8",
            Primitive::Int16 => "int16",
            Primitive::Int32 => "int32",
            Primitive::Int64 => "int64",
            Primitive::Uint8 => "uint8",
            Primitive::Uint16 => "uint16",
            Primitive::Uint32 => "uint32",
            Primitive::Uint64 => "uint64",
            Primitive::Float32 => "float32",
            Primitive::Float64 => "float64",
        }
    }

    pub fn from_name(name: &str) -> Option<Primitive> {
        Primitive::ALL.into_iter().find(|p| p.name() == name)
    }

    pub fn size(self) -> u32 {
        match self {
            Primitive::Bool | Primitive::Int8 | Primitive::Uint8 => 1,
            Primitive::Int16 | Primitive::Uint16 => 2,
            Primitive::Int32 | Primitive::Uint32 | Primitive::Float32 => 4,
            Primitive::Int64 | Primitive::Uint64 | Primitive::Float64 => 8,
        }
    }

    pub fn is_integer(self) -> bool {
        !matches!(
            self,
            Primitive::Bool | Primitive::Float32 | Primitive::Float64
        )
    }

    pub fn is_unsigned(self) -> bool {
        matches!(
            self,
            Primitive::Uint8 | Primitive::Uint16 | Primitive::Uint32 | Primitive::Uint64
        )
    }

    pub fn is_float(self) -> bool {
        matches!(self, Primitive::Float32 | Primitive::Float64)
    }

    /// The inclusive range of an integer type.
    pub fn range(self) -> (i128, i128) {
        match self {
            Primitive::Int8 => (i8::MIN.into(), i8::MAX.into()),
            Primitive::Int16 => (i16::MIN.into(), i16::MAX.into()),
            Primitive::Int32 => (i32::MIN.into(), i32::MAX.into()),
            Primitive::Int64 => (i64::MIN.into(), i64::MAX.into()),
            Primitive::Uint8 => (0, u8::MAX.into()),
            Primitive::Uint16 => (0, u16::MAX.into()),
            Primitive::Uint32 => (0, u32::MAX.into()),
            Primitive::Uint64 => (0, u64::MAX.into()),
            _ => (0, 0),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointRole {
    Client,
    Server,
}

/// A resolved type.
#[derive(Clone, Debug, PartialEq)]
pub enum Type {
    Primitive(Primitive),
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
        /// The `resource_definition` (e.g. `zx/Handle`), if any.
        resource: Option<DeclId>,
        /// Object type number (0 = any).
        object_type: u32,
        subtype: String,
        /// Required rights; `None` means "same rights" (no reduction).
        rights: Option<u32>,
        optional: bool,
    },
    Endpoint {
        role: EndpointRole,
        protocol: DeclId,
        optional: bool,
    },
    /// A struct (optional = boxed), table, union, enum or bits.
    Named {
        decl: DeclId,
        optional: bool,
    },
    /// Stands in for a type that failed to resolve, to avoid cascades.
    Invalid,
}

impl Type {
    pub fn is_optional(&self) -> bool {
        match self {
            Type::String { optional, .. }
            | Type::Vector { optional, .. }
            | Type::Handle { optional, .. }
            | Type::Endpoint { optional, .. }
            | Type::Named { optional, .. } => *optional,
            _ => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum ConstValue {
    Bool(bool),
    Int(i128),
    Float(f64),
    String(String),
}

impl std::fmt::Display for ConstValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConstValue::Bool(b) => write!(f, "{b}"),
            ConstValue::Int(i) => write!(f, "{i}"),
            ConstValue::Float(x) => write!(f, "{x}"),
            ConstValue::String(s) => write!(f, "{s:?}"),
        }
    }
}
