//! The compatibility check before a swap: the ABIs a compiled manifest
//! carries (`protocol_abis`, `state_abi`, written by build-image from
//! idlc's IR) turned into `idl_abi`'s types and compared with
//! `idl_abi::check_swap`.

use alloc::string::String;
use alloc::vec::Vec;
use idl_abi::{
    ComponentAbi, MemberAbi, MethodAbi, MethodKind, Openness, ProtocolAbi, TypeAbi, TypeKind,
};

use super::super::decl::zx_component_decl as decl;

/// Whether a version with manifest `new` may replace one with `old`; the
/// refusal, worded for a person, if not.
pub(in super::super) fn check(
    old: &decl::ComponentDecl,
    new: &decl::ComponentDecl,
) -> Result<(), String> {
    idl_abi::check_swap(&component(old), &component(new))
        .map_err(|refusal| alloc::format!("{refusal}"))
}

fn component(decl: &decl::ComponentDecl) -> ComponentAbi {
    ComponentAbi {
        state: decl.state_type.clone(),
        state_types: decl.state_abi.iter().flatten().map(type_abi).collect(),
        protocols: decl.protocol_abis.iter().flatten().map(protocol).collect(),
    }
}

fn protocol(abi: &decl::ProtocolAbi) -> ProtocolAbi {
    ProtocolAbi {
        name: abi.name.clone(),
        openness: match abi.openness {
            decl::ProtocolOpenness::Closed => Openness::Closed,
            decl::ProtocolOpenness::Ajar => Openness::Ajar,
            decl::ProtocolOpenness::Open => Openness::Open,
        },
        methods: abi
            .methods
            .iter()
            .map(|m| MethodAbi {
                name: m.name.clone(),
                ordinal: m.ordinal,
                kind: match m.kind {
                    decl::MethodKind::OneWay => MethodKind::OneWay,
                    decl::MethodKind::TwoWay => MethodKind::TwoWay,
                    decl::MethodKind::Event => MethodKind::Event,
                },
                strict: m.strict,
                request: m.request.clone(),
                response: m.response.clone(),
            })
            .collect(),
        types: abi.types.iter().map(type_abi).collect(),
    }
}

fn type_abi(abi: &decl::TypeAbi) -> TypeAbi {
    TypeAbi {
        name: abi.name.clone(),
        kind: match abi.kind {
            decl::TypeKind::Struct => TypeKind::Struct,
            decl::TypeKind::Table => TypeKind::Table,
            decl::TypeKind::Union => TypeKind::Union,
            decl::TypeKind::Enum => TypeKind::Enum,
            decl::TypeKind::Bits => TypeKind::Bits,
        },
        strict: abi.strict,
        resource: abi.resource,
        underlying: abi.underlying.clone(),
        members: abi
            .members
            .iter()
            .map(|m| MemberAbi {
                ordinal: m.ordinal,
                name: m.name.clone(),
                ty: m.type_expression.clone(),
            })
            .collect::<Vec<_>>(),
    }
}
