//! The raw AST: what one file says, with spans, before any name is resolved.
//!
//! It mirrors the grammar closely. Nothing here is checked beyond syntax:
//! modifiers may be repeated or misplaced, names may be undefined, numbers
//! may overflow. The resolver reports all of that with diagnostics.

use crate::source::Span;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A dotted name: `fuchsia.io`, `zx.Rights.READ`, `Color`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompoundIdent {
    pub parts: Vec<Ident>,
    pub span: Span,
}

impl CompoundIdent {
    pub fn dotted(&self) -> String {
        self.parts
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }
}

#[derive(Clone, Debug)]
pub struct File {
    pub library: CompoundIdent,
    pub library_attributes: Vec<Attribute>,
    pub usings: Vec<Using>,
    pub declarations: Vec<Declaration>,
}

#[derive(Clone, Debug)]
pub struct Using {
    pub attributes: Vec<Attribute>,
    pub library: CompoundIdent,
    pub alias: Option<Ident>,
    pub span: Span,
}

/// `@name(args)` or a `///` doc comment (name `doc`, one string argument).
#[derive(Clone, Debug)]
pub struct Attribute {
    pub name: Ident,
    pub args: Vec<AttributeArg>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct AttributeArg {
    pub name: Option<Ident>,
    pub value: Constant,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModifierKind {
    Strict,
    Flexible,
    Resource,
    Open,
    Ajar,
    Closed,
}

impl ModifierKind {
    pub fn keyword(self) -> &'static str {
        match self {
            ModifierKind::Strict => "strict",
            ModifierKind::Flexible => "flexible",
            ModifierKind::Resource => "resource",
            ModifierKind::Open => "open",
            ModifierKind::Ajar => "ajar",
            ModifierKind::Closed => "closed",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Modifier {
    pub kind: ModifierKind,
    pub span: Span,
    /// `added=…` / `removed=…` of a versioned modifier
    /// (`open(added=24)`); empty for a plain one.
    pub availability: Vec<AttributeArg>,
}

#[derive(Clone, Debug)]
pub enum Declaration {
    Const(ConstDecl),
    Alias(AliasDecl),
    Type(TypeDecl),
    Protocol(ProtocolDecl),
    Service(ServiceDecl),
    Resource(ResourceDecl),
}

impl Declaration {
    pub fn name(&self) -> &Ident {
        match self {
            Declaration::Const(d) => &d.name,
            Declaration::Alias(d) => &d.name,
            Declaration::Type(d) => &d.name,
            Declaration::Protocol(d) => &d.name,
            Declaration::Service(d) => &d.name,
            Declaration::Resource(d) => &d.name,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ConstDecl {
    pub attributes: Vec<Attribute>,
    pub name: Ident,
    pub ty: TypeCtor,
    pub value: Constant,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct AliasDecl {
    pub attributes: Vec<Attribute>,
    pub name: Ident,
    pub target: TypeCtor,
    pub span: Span,
}

/// `type Name = <type constructor>;` — normally an inline layout.
#[derive(Clone, Debug)]
pub struct TypeDecl {
    pub attributes: Vec<Attribute>,
    pub name: Ident,
    pub ty: TypeCtor,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct ProtocolDecl {
    pub attributes: Vec<Attribute>,
    pub modifiers: Vec<Modifier>,
    pub name: Ident,
    pub composes: Vec<Compose>,
    pub methods: Vec<Method>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Compose {
    pub attributes: Vec<Attribute>,
    pub protocol: CompoundIdent,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Method {
    pub attributes: Vec<Attribute>,
    pub modifiers: Vec<Modifier>,
    pub name: Ident,
    /// `None` for events (`-> OnFoo(...)`).
    pub request: Option<Payload>,
    /// `None` for one-way methods.
    pub response: Option<Payload>,
    pub error: Option<TypeCtor>,
    pub span: Span,
}

/// The parenthesised part of a method: `()` or `(T)`.
#[derive(Clone, Debug)]
pub struct Payload {
    pub ty: Option<TypeCtor>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct ServiceDecl {
    pub attributes: Vec<Attribute>,
    pub name: Ident,
    pub members: Vec<ServiceMember>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct ServiceMember {
    pub attributes: Vec<Attribute>,
    pub name: Ident,
    pub ty: TypeCtor,
    pub span: Span,
}

/// `resource_definition handle : uint32 { properties { subtype T; rights R; }; };`
#[derive(Clone, Debug)]
pub struct ResourceDecl {
    pub attributes: Vec<Attribute>,
    pub name: Ident,
    pub underlying: Option<TypeCtor>,
    pub properties: Vec<ResourceProperty>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct ResourceProperty {
    pub attributes: Vec<Attribute>,
    pub name: Ident,
    pub ty: TypeCtor,
    pub span: Span,
}

/// A use of a type: a layout, its parameters and its constraints.
#[derive(Clone, Debug)]
pub struct TypeCtor {
    pub layout: LayoutRef,
    pub params: Vec<LayoutParam>,
    /// Span of `<...>` parameters, if any.
    pub params_span: Option<Span>,
    pub constraints: Vec<Constant>,
    pub constraints_span: Option<Span>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum LayoutRef {
    Named(CompoundIdent),
    Inline(Box<Layout>),
}

/// A layout parameter. `vector<Foo>`: `Foo` is parsed as a type; the
/// resolver decides whether a bare name is a type or a constant.
#[derive(Clone, Debug)]
pub enum LayoutParam {
    Type(TypeCtor),
    Literal(Literal, Span),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayoutKind {
    Struct,
    Table,
    Union,
    Enum,
    Bits,
}

impl LayoutKind {
    pub fn keyword(self) -> &'static str {
        match self {
            LayoutKind::Struct => "struct",
            LayoutKind::Table => "table",
            LayoutKind::Union => "union",
            LayoutKind::Enum => "enum",
            LayoutKind::Bits => "bits",
        }
    }
}

/// An inline layout: `strict enum : uint8 { … }`, `struct { … }`.
#[derive(Clone, Debug)]
pub struct Layout {
    pub attributes: Vec<Attribute>,
    pub modifiers: Vec<Modifier>,
    pub kind: LayoutKind,
    pub kind_span: Span,
    pub subtype: Option<TypeCtor>,
    pub members: Vec<LayoutMember>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum LayoutMember {
    /// `name Type = default;` (structs).
    Struct {
        attributes: Vec<Attribute>,
        name: Ident,
        ty: TypeCtor,
        default: Option<Constant>,
        span: Span,
    },
    /// `1: name Type;` or `1: reserved;` (tables and unions).
    Ordinal {
        attributes: Vec<Attribute>,
        ordinal: u64,
        ordinal_span: Span,
        /// `None` for `reserved`.
        member: Option<(Ident, TypeCtor)>,
        span: Span,
    },
    /// `NAME = value;` (enums and bits).
    Value {
        attributes: Vec<Attribute>,
        name: Ident,
        value: Constant,
        span: Span,
    },
}

impl LayoutMember {
    pub fn span(&self) -> Span {
        match self {
            LayoutMember::Struct { span, .. }
            | LayoutMember::Ordinal { span, .. }
            | LayoutMember::Value { span, .. } => *span,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Constant {
    Literal(Literal, Span),
    Identifier(CompoundIdent),
    /// `a | b` (bits and integers).
    Or(Box<Constant>, Box<Constant>, Span),
}

impl Constant {
    pub fn span(&self) -> Span {
        match self {
            Constant::Literal(_, span) | Constant::Or(_, _, span) => *span,
            Constant::Identifier(id) => id.span,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Bool(bool),
    /// The source text of a number (decimal, `0x…`, `0b…`, or a float).
    Number(String),
    /// The unescaped value of a string literal.
    String(String),
}
