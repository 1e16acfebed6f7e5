//! The ABI a compiled manifest carries for the hot-swap's compatibility
//! check (`idl_abi::check_swap`, run by the component manager before it
//! swaps): computed here from idlc's IR, for every `@discoverable`
//! protocol and every table of `idl/`, and written into the manifest of each
//! component that serves the protocol or names the table as its `state`.

use super::bindings::zx_component_decl as decl;
use idl_abi::{MemberAbi, MethodAbi, MethodKind, Openness, ProtocolAbi, TypeAbi, TypeKind};
use idlc::ir;
use std::collections::{BTreeMap, BTreeSet};

/// The ABIs of one compilation of `idl/`.
#[derive(Debug, Clone, Default)]
pub struct Abis {
    /// By discoverable name. A name several libraries declare (versions
    /// of one protocol, `@discoverable("examples.echo.Echo")` in
    /// `examples.echo.v2`) maps to the library the name starts with.
    pub protocols: BTreeMap<String, ProtocolAbi>,
    /// By discoverable name and declaring library: a component whose
    /// `state` table lives in a library that declares the protocol gets
    /// that library's version of it (see `compile.rs`).
    pub versions: BTreeMap<(String, String), ProtocolAbi>,
    /// For each named table (`library/Name`), the types it reaches, itself
    /// first.
    pub tables: BTreeMap<String, Vec<TypeAbi>>,
}

/// Computes the ABIs of every discoverable protocol and named table of
/// `ir`.
pub fn abis(ir: &ir::Ir) -> Abis {
    let index = Index::new(ir);
    let mut abis = Abis::default();
    for library in &ir.libraries {
        for protocol in &library.protocols {
            if let Some(name) = &protocol.discoverable_name {
                let abi = index.protocol(name, protocol);
                let canonical = name
                    .strip_prefix(library.name.as_str())
                    .is_some_and(|rest| rest.starts_with('.'));
                if canonical || !abis.protocols.contains_key(name) {
                    abis.protocols.insert(name.clone(), abi.clone());
                }
                abis.versions
                    .insert((name.clone(), library.name.clone()), abi);
            }
        }
        for table in library.tables.iter().filter(|t| !t.anonymous) {
            abis.tables
                .insert(table.name.clone(), index.reachable([table.name.clone()]));
        }
    }
    abis
}

/// Every named type of a compilation, by name.
struct Index<'a> {
    types: BTreeMap<&'a str, Named<'a>>,
}

#[derive(Clone, Copy)]
enum Named<'a> {
    Struct(&'a ir::Struct),
    Table(&'a ir::Table),
    Union(&'a ir::Union),
    Enum(&'a ir::Enum),
    Bits(&'a ir::Bits),
}

impl<'a> Index<'a> {
    fn new(ir: &'a ir::Ir) -> Index<'a> {
        let mut types = BTreeMap::new();
        for library in &ir.libraries {
            for s in &library.structs {
                types.insert(s.name.as_str(), Named::Struct(s));
            }
            for t in &library.tables {
                types.insert(t.name.as_str(), Named::Table(t));
            }
            for u in &library.unions {
                types.insert(u.name.as_str(), Named::Union(u));
            }
            for e in &library.enums {
                types.insert(e.name.as_str(), Named::Enum(e));
            }
            for b in &library.bits {
                types.insert(b.name.as_str(), Named::Bits(b));
            }
        }
        Index { types }
    }

    fn protocol(&self, name: &str, protocol: &ir::Protocol) -> ProtocolAbi {
        let methods: Vec<MethodAbi> = protocol
            .methods
            .iter()
            .map(|method| MethodAbi {
                name: method.name.clone(),
                ordinal: method.ordinal,
                kind: match method.kind {
                    ir::MethodKind::OneWay => MethodKind::OneWay,
                    ir::MethodKind::TwoWay => MethodKind::TwoWay,
                    ir::MethodKind::Event => MethodKind::Event,
                },
                strict: method.strict,
                request: method
                    .request
                    .as_ref()
                    .map(|n| format!("@{n}"))
                    .unwrap_or_default(),
                response: method
                    .response
                    .as_ref()
                    .map(|n| format!("@{n}"))
                    .unwrap_or_default(),
            })
            .collect();
        let roots = protocol
            .methods
            .iter()
            .flat_map(|m| m.request.iter().chain(&m.response))
            .cloned();
        ProtocolAbi {
            name: name.to_string(),
            openness: match protocol.openness {
                ir::Openness::Closed => Openness::Closed,
                ir::Openness::Ajar => Openness::Ajar,
                ir::Openness::Open => Openness::Open,
            },
            methods,
            types: self.reachable(roots),
        }
    }

    /// The descriptions of `roots` and every named type they reach, in
    /// the order first reached.
    fn reachable(&self, roots: impl IntoIterator<Item = String>) -> Vec<TypeAbi> {
        let mut seen = BTreeSet::new();
        let mut pending: Vec<String> = roots.into_iter().collect();
        pending.reverse();
        let mut out = Vec::new();
        while let Some(name) = pending.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let Some(described) = self.describe(&name) else {
                continue;
            };
            let mut inner = Vec::new();
            for member in &described.members {
                inner.extend(idl_abi_names(&member.ty));
            }
            inner.reverse();
            pending.extend(inner);
            out.push(described);
        }
        out
    }

    fn describe(&self, name: &str) -> Option<TypeAbi> {
        let plain = |kind, resource, members| TypeAbi {
            name: name.to_string(),
            kind,
            strict: false,
            resource,
            underlying: String::new(),
            members,
        };
        let ordinal_members = |members: &[ir::OrdinalMember]| -> Vec<MemberAbi> {
            members
                .iter()
                .filter_map(|m| {
                    // Reserved ordinals carry nothing.
                    let ty = m.ty.as_ref()?;
                    Some(MemberAbi {
                        ordinal: m.ordinal,
                        name: m.name.clone().unwrap_or_default(),
                        ty: expression(ty),
                    })
                })
                .collect()
        };
        let value_members = |members: &[ir::ValueMember]| -> Vec<MemberAbi> {
            members
                .iter()
                .map(|m| MemberAbi {
                    ordinal: m.unsigned_value,
                    name: m.name.clone(),
                    ty: String::new(),
                })
                .collect()
        };
        Some(match *self.types.get(name)? {
            Named::Struct(s) => plain(
                TypeKind::Struct,
                s.resource,
                s.members
                    .iter()
                    .enumerate()
                    .map(|(i, m)| MemberAbi {
                        ordinal: i as u64 + 1,
                        name: m.name.clone(),
                        ty: expression(&m.ty),
                    })
                    .collect(),
            ),
            Named::Table(t) => plain(TypeKind::Table, t.resource, ordinal_members(&t.members)),
            Named::Union(u) => TypeAbi {
                strict: u.strict,
                ..plain(TypeKind::Union, u.resource, ordinal_members(&u.members))
            },
            Named::Enum(e) => TypeAbi {
                strict: e.strict,
                underlying: e.underlying.name().to_string(),
                ..plain(TypeKind::Enum, false, value_members(&e.members))
            },
            Named::Bits(b) => TypeAbi {
                strict: b.strict,
                underlying: b.underlying.name().to_string(),
                ..plain(TypeKind::Bits, false, value_members(&b.members))
            },
        })
    }
}

/// The named types (`@library/Name`) an expression mentions.
fn idl_abi_names(expression: &str) -> Vec<String> {
    expression
        .split('@')
        .skip(1)
        .map(|rest| {
            rest.split(['<', '>', ',', ':', '?', ' '])
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// A type as a canonical expression (see `idl_abi::TypeAbi`).
pub fn expression(ty: &ir::Type) -> String {
    let optional = |text: String, optional: bool| {
        if optional {
            text + "?"
        } else {
            text
        }
    };
    let bound = |max: Option<u32>| max.map(|m| format!(":{m}")).unwrap_or_default();
    match &ty.kind {
        ir::TypeKind::Primitive { subtype } => subtype.name().to_string(),
        ir::TypeKind::String { max, optional: o } => optional(format!("string{}", bound(*max)), *o),
        ir::TypeKind::Vector {
            element,
            max,
            optional: o,
        } => optional(
            format!("vector<{}>{}", expression(element), bound(*max)),
            *o,
        ),
        ir::TypeKind::Array { element, count } => {
            format!("array<{}, {count}>", expression(element))
        }
        ir::TypeKind::Handle {
            subtype,
            rights,
            optional: o,
            ..
        } => optional(
            format!(
                "handle<{subtype}, {}>",
                rights.map_or("same".to_string(), |r| format!("{r:#x}"))
            ),
            *o,
        ),
        ir::TypeKind::Endpoint {
            role,
            protocol,
            optional: o,
        } => {
            let role = match role {
                ir::EndpointRole::Client => "client_end",
                ir::EndpointRole::Server => "server_end",
            };
            optional(format!("{role}<{protocol}>"), *o)
        }
        ir::TypeKind::Identifier {
            identifier,
            optional: o,
            ..
        } => optional(format!("@{identifier}"), *o),
    }
}

/// The ABI types as the compiled manifest carries them.
pub fn to_decl_protocol(abi: &ProtocolAbi) -> decl::ProtocolAbi {
    decl::ProtocolAbi {
        name: abi.name.clone(),
        openness: match abi.openness {
            Openness::Closed => decl::ProtocolOpenness::Closed,
            Openness::Ajar => decl::ProtocolOpenness::Ajar,
            Openness::Open => decl::ProtocolOpenness::Open,
        },
        methods: abi
            .methods
            .iter()
            .map(|m| decl::MethodAbi {
                name: m.name.clone(),
                ordinal: m.ordinal,
                kind: match m.kind {
                    MethodKind::OneWay => decl::MethodKind::OneWay,
                    MethodKind::TwoWay => decl::MethodKind::TwoWay,
                    MethodKind::Event => decl::MethodKind::Event,
                },
                strict: m.strict,
                request: m.request.clone(),
                response: m.response.clone(),
            })
            .collect(),
        types: abi.types.iter().map(to_decl_type).collect(),
    }
}

/// See [`to_decl_protocol`].
pub fn to_decl_type(abi: &TypeAbi) -> decl::TypeAbi {
    decl::TypeAbi {
        name: abi.name.clone(),
        kind: match abi.kind {
            TypeKind::Struct => decl::TypeKind::Struct,
            TypeKind::Table => decl::TypeKind::Table,
            TypeKind::Union => decl::TypeKind::Union,
            TypeKind::Enum => decl::TypeKind::Enum,
            TypeKind::Bits => decl::TypeKind::Bits,
        },
        strict: abi.strict,
        resource: abi.resource,
        underlying: abi.underlying.clone(),
        members: abi
            .members
            .iter()
            .map(|m| decl::MemberAbi {
                ordinal: m.ordinal,
                name: m.name.clone(),
                type_expression: m.ty.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
