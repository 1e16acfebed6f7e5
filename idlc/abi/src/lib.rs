//! The ABI of IDL protocols and state tables as a hot-swap compares them,
//! and the compatibility check the component manager runs before it swaps
//! one version of a component for another (docs/hot-swap.md).
//!
//! `build-image` computes a [`ComponentAbi`] from idlc's IR for every
//! component and carries it in the compiled manifest: each protocol the
//! component serves ([`ProtocolAbi`]: method ordinals, directions,
//! strictness, request and response types) and its declared hot-swap state
//! (an IDL table). Every named type reachable from those is described once
//! ([`TypeAbi`]), and types are written as small canonical expressions
//! ([`TypeAbi::members`]) in which a named type appears as `@library/Name`,
//! so that two versions compare structurally: a renamed type with the same
//! wire shape is still compatible.
//!
//! [`check_swap`] says whether a new version may replace an old one while
//! clients built against the old one keep calling: the new version serves
//! every protocol the old one served, every old method keeps its ordinal,
//! direction, strictness and wire-compatible types (tables and flexible
//! unions and enums may gain members; non-resource tables may lose them;
//! nothing else may change), it adds no strict event, and its state table
//! reads the old state. Following FIDL's evolution rules, a *flexible*
//! method may be removed when the new version's protocol answers it as
//! unknown (`open` for a two-way method, `open` or `ajar` for a one-way
//! one): a client calling it gets the framework's `UNKNOWN_METHOD` and its
//! channel stays open. A strict method may not be removed. A refusal
//! ([`Refusal`]) names the protocol, the method and the type that changed.
//!
//! The crate is `no_std` (with `alloc`) so that the component manager runs
//! the very check the host tests exercise. Known gap: constraints that do
//! not change the wire format (a handle's rights) are compared as written,
//! so loosening them counts as a change.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// What a named type is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeKind {
    Struct,
    Table,
    Union,
    Enum,
    Bits,
}

impl fmt::Display for TypeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TypeKind::Struct => "struct",
            TypeKind::Table => "table",
            TypeKind::Union => "union",
            TypeKind::Enum => "enum",
            TypeKind::Bits => "bits",
        })
    }
}

/// One member of a named type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAbi {
    /// A table's or union's ordinal, a struct member's position (from 1),
    /// an enum's or bits' value (as `u64`).
    pub ordinal: u64,
    /// Its name (not part of the wire format: shown in refusals only).
    pub name: String,
    /// Its type expression (empty for enum and bits members).
    pub ty: String,
}

/// A named type: a struct, table, union, enum or bits.
///
/// Type expressions are what idlc's IR says, written canonically:
/// `uint32`, `string:256`, `string` (unbounded), `vector<E>:N`,
/// `array<E, N>`, `handle<channel, R>` (R: rights, `same` for the same
/// rights), `client_end<library/Protocol>`, `server_end<…>`, and a named
/// type as `@library/Name`; a trailing `?` marks an optional one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeAbi {
    /// `library/Name`.
    pub name: String,
    pub kind: TypeKind,
    /// Strict (a union, enum or bits); structs and tables are always
    /// `false`.
    pub strict: bool,
    /// A resource type (may hold handles).
    pub resource: bool,
    /// An enum's or bits' underlying primitive; empty otherwise.
    pub underlying: String,
    pub members: Vec<MemberAbi>,
}

/// How a method travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodKind {
    /// Client to server, no reply.
    OneWay,
    /// Client to server, with a reply.
    TwoWay,
    /// Server to client.
    Event,
}

impl fmt::Display for MethodKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MethodKind::OneWay => "one-way",
            MethodKind::TwoWay => "two-way",
            MethodKind::Event => "an event",
        })
    }
}

/// One method (or event) of a protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodAbi {
    pub name: String,
    pub ordinal: u64,
    pub kind: MethodKind,
    pub strict: bool,
    /// The payload the initiator sends (`@library/Name`), empty for `()`.
    pub request: String,
    /// The reply payload (for a method with an error or a flexible two-way
    /// method, the generated result union), empty for none.
    pub response: String,
}

/// A protocol a component serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolAbi {
    /// Its discoverable name, e.g. `examples.echo.Echo`.
    pub name: String,
    /// What its servers do with a flexible method they do not know.
    pub openness: Openness,
    pub methods: Vec<MethodAbi>,
    /// Every named type its methods reach.
    pub types: Vec<TypeAbi>,
}

/// What a protocol's servers do with a flexible method they do not know
/// (FIDL's `open`, `ajar`, `closed`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Openness {
    /// Unknown methods close the channel.
    #[default]
    Closed,
    /// Unknown flexible one-way methods are ignored.
    Ajar,
    /// Unknown flexible one-way methods are ignored, unknown flexible
    /// two-way methods answered with the framework's `UNKNOWN_METHOD`.
    Open,
}

impl Openness {
    /// Whether a server of this openness answers a call of a flexible
    /// method of `kind` it does not know without closing the channel.
    pub fn tolerates(self, kind: MethodKind) -> bool {
        match kind {
            MethodKind::OneWay => self != Openness::Closed,
            MethodKind::TwoWay => self == Openness::Open,
            // An event the server no longer sends costs its clients nothing.
            MethodKind::Event => true,
        }
    }
}

impl fmt::Display for Openness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Openness::Closed => "closed",
            Openness::Ajar => "ajar",
            Openness::Open => "open",
        })
    }
}

/// What a version of a component offers to a swap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentAbi {
    /// Its state table (`library/Name`), if its manifest declares one.
    pub state: Option<String>,
    /// Every named type the state table reaches, itself included.
    pub state_types: Vec<TypeAbi>,
    /// The protocols it serves.
    pub protocols: Vec<ProtocolAbi>,
}

/// Which of the two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Old,
    New,
}

/// One change that breaks compatibility, found while comparing two types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeChange {
    /// The type that changed, as the old version names it (`library/Name`
    /// or a type expression).
    pub ty: String,
    /// What changed, e.g. "member 1 (`value`) was string:1024, now
    /// string:64".
    pub what: String,
}

impl fmt::Display for TypeChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "type {} changed: {}", self.ty, self.what)
    }
}

/// Why a swap is refused. Each names what a person must look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A version's manifest declares no `state`: it cannot hand over or
    /// take over a running instance.
    NoState(Version),
    /// The new version does not serve a protocol the old one served.
    ProtocolRemoved { protocol: String },
    /// A method of the old version is gone from the new one.
    /// Refused when it was strict, or flexible and the new version's
    /// protocol would close the channel of a client calling it.
    MethodRemoved {
        protocol: String,
        method: String,
        strict: bool,
        openness: Openness,
    },
    /// A method kept its name but not its ordinal, direction or
    /// strictness.
    MethodChanged {
        protocol: String,
        method: String,
        what: String,
    },
    /// A method's request or response type changed incompatibly.
    TypeChanged {
        protocol: String,
        method: String,
        change: TypeChange,
    },
    /// The new version adds a strict event, which clients built for the
    /// old one cannot receive.
    StrictEventAdded { protocol: String, method: String },
    /// The new state table cannot read the old state.
    StateChanged { change: TypeChange },
    /// A compiled manifest names a type it does not describe (it was not
    /// written by `build-image`).
    Malformed { what: String },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoState(version) => write!(
                f,
                "the {} version declares no `state` in its manifest: a component without a state table cannot be swapped",
                match version {
                    Version::Old => "running",
                    Version::New => "new",
                }
            ),
            Refusal::ProtocolRemoved { protocol } => {
                write!(f, "the new version does not serve {protocol}")
            }
            Refusal::MethodRemoved {
                protocol,
                method,
                strict: true,
                ..
            } => write!(
                f,
                "{protocol}.{method}: the new version has no such method, and it is strict"
            ),
            Refusal::MethodRemoved {
                protocol,
                method,
                openness,
                ..
            } => write!(
                f,
                "{protocol}.{method}: the new version has no such method, and its protocol is {openness}: a call would close the channel"
            ),
            Refusal::MethodChanged {
                protocol,
                method,
                what,
            } => write!(f, "{protocol}.{method}: {what}"),
            Refusal::TypeChanged {
                protocol,
                method,
                change,
            } => write!(f, "{protocol}.{method}: {change}"),
            Refusal::StrictEventAdded { protocol, method } => write!(
                f,
                "{protocol}.{method}: the new version adds a strict event, which clients of the old one cannot receive"
            ),
            Refusal::StateChanged { change } => {
                write!(f, "state: the new version cannot read the old state: {change}")
            }
            Refusal::Malformed { what } => write!(f, "malformed ABI in a manifest: {what}"),
        }
    }
}

/// Whether `new` may replace `old` while `old`'s clients keep calling.
/// Returns the first reason it may not.
pub fn check_swap(old: &ComponentAbi, new: &ComponentAbi) -> Result<(), Refusal> {
    let Some(old_state) = &old.state else {
        return Err(Refusal::NoState(Version::Old));
    };
    let Some(new_state) = &new.state else {
        return Err(Refusal::NoState(Version::New));
    };
    for old_protocol in &old.protocols {
        let Some(new_protocol) = new.protocols.iter().find(|p| p.name == old_protocol.name) else {
            return Err(Refusal::ProtocolRemoved {
                protocol: old_protocol.name.clone(),
            });
        };
        check_protocol(old_protocol, new_protocol)?;
    }
    let mut types = Types {
        old: &old.state_types,
        new: &new.state_types,
        seen: BTreeSet::new(),
    };
    types
        .named(old_state, new_state)
        .map_err(|found| match found {
            Found::Change(change) => Refusal::StateChanged { change },
            Found::Missing(what) => Refusal::Malformed { what },
        })
}

fn check_protocol(old: &ProtocolAbi, new: &ProtocolAbi) -> Result<(), Refusal> {
    let protocol = || old.name.clone();
    for old_method in &old.methods {
        let method = || old_method.name.clone();
        let Some(new_method) = new.methods.iter().find(|m| m.name == old_method.name) else {
            // FIDL's evolution rule: a flexible method may go when the new
            // server answers it as unknown (the client gets the framework's
            // `UNKNOWN_METHOD`, its channel stays open); a strict one may not.
            if !old_method.strict && new.openness.tolerates(old_method.kind) {
                continue;
            }
            return Err(Refusal::MethodRemoved {
                protocol: protocol(),
                method: method(),
                strict: old_method.strict,
                openness: new.openness,
            });
        };
        let changed = |what: String| Refusal::MethodChanged {
            protocol: protocol(),
            method: method(),
            what,
        };
        if new_method.ordinal != old_method.ordinal {
            return Err(changed(format!(
                "ordinal was {:#x}, now {:#x}",
                old_method.ordinal, new_method.ordinal
            )));
        }
        if new_method.kind != old_method.kind {
            return Err(changed(format!(
                "was {}, now {}",
                old_method.kind, new_method.kind
            )));
        }
        if new_method.strict != old_method.strict {
            return Err(changed(format!(
                "was {}, now {}",
                strictness(old_method.strict),
                strictness(new_method.strict)
            )));
        }
        let mut types = Types {
            old: &old.types,
            new: &new.types,
            seen: BTreeSet::new(),
        };
        for (what, old_ty, new_ty) in [
            ("request", &old_method.request, &new_method.request),
            ("response", &old_method.response, &new_method.response),
        ] {
            types
                .expression(old_ty, new_ty)
                .map_err(|found| match found {
                    Found::Change(mut change) => {
                        if change.ty.is_empty() {
                            change.ty = format!("of the {what}");
                        }
                        Refusal::TypeChanged {
                            protocol: protocol(),
                            method: method(),
                            change,
                        }
                    }
                    Found::Missing(what) => Refusal::Malformed { what },
                })?;
        }
    }
    for new_method in &new.methods {
        let added = !old.methods.iter().any(|m| m.name == new_method.name);
        if added && new_method.kind == MethodKind::Event && new_method.strict {
            return Err(Refusal::StrictEventAdded {
                protocol: protocol(),
                method: new_method.name.clone(),
            });
        }
    }
    Ok(())
}

fn strictness(strict: bool) -> &'static str {
    if strict {
        "strict"
    } else {
        "flexible"
    }
}

/// What a comparison found.
enum Found {
    Change(TypeChange),
    /// A named type without a description.
    Missing(String),
}

/// Compares types of the old version with those of the new one.
struct Types<'a> {
    old: &'a [TypeAbi],
    new: &'a [TypeAbi],
    /// Pairs already compared (or being compared: recursive types).
    seen: BTreeSet<(String, String)>,
}

impl Types<'_> {
    /// Compares two type expressions: the same shape once the named types
    /// are taken out, and each named type compatible with its counterpart.
    fn expression(&mut self, old: &str, new: &str) -> Result<(), Found> {
        let (old_shape, old_names) = split_names(old);
        let (new_shape, new_names) = split_names(new);
        if old_shape != new_shape || old_names.len() != new_names.len() {
            return Err(Found::Change(TypeChange {
                ty: String::new(),
                what: format!("was {}, now {}", or_none(old), or_none(new)),
            }));
        }
        for (old_name, new_name) in old_names.iter().zip(&new_names) {
            self.named(old_name, new_name)?;
        }
        Ok(())
    }

    /// Compares named type `old` (of the old version) with `new`.
    fn named(&mut self, old: &str, new: &str) -> Result<(), Found> {
        if !self.seen.insert((old.to_string(), new.to_string())) {
            return Ok(());
        }
        let find = |types: &[TypeAbi], name: &str| types.iter().find(|t| t.name == name).cloned();
        let old_type = find(self.old, old)
            .ok_or_else(|| Found::Missing(format!("type {old} is not described")))?;
        let new_type = find(self.new, new)
            .ok_or_else(|| Found::Missing(format!("type {new} is not described")))?;
        let change = |what: String| {
            Found::Change(TypeChange {
                ty: old.to_string(),
                what,
            })
        };
        if old_type.kind != new_type.kind {
            return Err(change(format!(
                "was a {}, now a {}",
                old_type.kind, new_type.kind
            )));
        }
        if old_type.strict != new_type.strict {
            return Err(change(format!(
                "was {}, now {}",
                strictness(old_type.strict),
                strictness(new_type.strict)
            )));
        }
        if old_type.resource != new_type.resource {
            return Err(change(if old_type.resource {
                "is no longer a resource type".into()
            } else {
                "became a resource type".into()
            }));
        }
        if old_type.underlying != new_type.underlying {
            return Err(change(format!(
                "underlying type was {}, now {}",
                old_type.underlying, new_type.underlying
            )));
        }
        let member = |m: &MemberAbi| {
            if m.name.is_empty() {
                format!("member {}", m.ordinal)
            } else {
                format!("member {} (`{}`)", m.ordinal, m.name)
            }
        };
        // Structs and strict unions, enums and bits may not gain members;
        // tables and flexible ones may.
        let closed = match old_type.kind {
            TypeKind::Struct => true,
            TypeKind::Table => false,
            TypeKind::Union | TypeKind::Enum | TypeKind::Bits => old_type.strict,
        };
        for old_member in &old_type.members {
            let Some(new_member) = new_type
                .members
                .iter()
                .find(|m| m.ordinal == old_member.ordinal)
            else {
                // A table may lose a member (FIDL's evolution rule): its
                // readers keep what they do not know as unknown fields and
                // write it back unchanged (a state read by an older version
                // comes back whole). Not a resource table: an unknown
                // field's handles would be closed.
                if old_type.kind == TypeKind::Table && !old_type.resource {
                    continue;
                }
                return Err(change(format!("{} was removed", member(old_member))));
            };
            if let Err(found) = self.expression(&old_member.ty, &new_member.ty) {
                return Err(match found {
                    // Say which member of this type changed, unless the
                    // change lies deeper, in a named type of its own.
                    Found::Change(inner) if inner.ty.is_empty() => {
                        change(format!("{} {}", member(old_member), inner.what))
                    }
                    other => other,
                });
            }
        }
        if closed {
            if let Some(added) = new_type
                .members
                .iter()
                .find(|m| !old_type.members.iter().any(|o| o.ordinal == m.ordinal))
            {
                let container = if old_type.kind == TypeKind::Struct {
                    "struct".to_string()
                } else {
                    format!("strict {}", old_type.kind)
                };
                return Err(change(format!(
                    "{} was added to a {container}",
                    member(added)
                )));
            }
        }
        Ok(())
    }
}

fn or_none(expression: &str) -> &str {
    if expression.is_empty() {
        "nothing"
    } else {
        expression
    }
}

/// Splits a type expression into its shape, with every `@library/Name`
/// replaced by `@`, and the names in order.
fn split_names(expression: &str) -> (String, Vec<String>) {
    let mut shape = String::new();
    let mut names = Vec::new();
    let mut chars = expression.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        shape.push(c);
        if c != '@' {
            continue;
        }
        let mut end = expression.len();
        while let Some(&(next_at, next)) = chars.peek() {
            if matches!(next, '<' | '>' | ',' | ':' | '?' | ' ') {
                end = next_at;
                break;
            }
            chars.next();
        }
        names.push(expression[at + 1..end].to_string());
    }
    (shape, names)
}

#[cfg(test)]
mod tests;
