//! Compiling a checked manifest into its binary form: a
//! `zx.component.decl/ComponentDecl` table, encoded as a standalone
//! (headerless) FIDL v2 message by the generated bindings. This is what
//! `build-image` writes to the bootfs as `meta/<name>.cm` and what the
//! component manager decodes.
//!
//! Every vector and `limits` are always present (possibly empty, or zero
//! for "no limit"); `program`, `state_type` and `driver` only when declared. A
//! `Use` of a protocol has an empty `path`.
//!
//! For the hot-swap, a manifest also carries the ABI of each protocol it
//! serves and of its state table ([`super::abi`]), and its grace period.

use super::abi::{self, Abis};
use super::bindings::zx_component_decl as decl;
use super::document::{self, Manifest};

pub use decl::ComponentDecl;

/// The bootfs path of a compiled manifest.
pub fn bootfs_path(name: &str) -> String {
    format!("meta/{name}.cm")
}

fn kind(kind: document::CapabilityKind) -> decl::CapabilityKind {
    match kind {
        document::CapabilityKind::Protocol => decl::CapabilityKind::Protocol,
        document::CapabilityKind::Directory => decl::CapabilityKind::Directory,
        document::CapabilityKind::Resource => decl::CapabilityKind::Resource,
    }
}

fn source(source: &document::Source) -> (decl::Source, String) {
    match source {
        document::Source::Parent => (decl::Source::Parent, String::new()),
        document::Source::Self_ => (decl::Source::Self_, String::new()),
        document::Source::Child(child) => (decl::Source::Child, child.clone()),
    }
}

/// The grace period of a swap whose manifest does not set one: 2 s.
pub const DEFAULT_SWAP_GRACE_MS: u32 = 2000;

/// The declaration of a checked manifest; `abis` are those of `idl/`.
pub fn declaration(manifest: &Manifest, abis: &Abis) -> ComponentDecl {
    let state = manifest.state.as_ref().map(|s| s.value.clone());
    ComponentDecl {
        name: Some(manifest.name.clone()),
        program: manifest.program.as_ref().map(|program| decl::Program {
            binary: format!("bin/{}", program.binary.value),
            args: program.args.clone(),
        }),
        capabilities: Some(
            manifest
                .capabilities
                .iter()
                .map(|c| decl::Capability {
                    kind: kind(c.kind),
                    name: c.name.value.clone(),
                })
                .collect(),
        ),
        uses: Some(
            manifest
                .uses
                .iter()
                .map(|u| decl::Use {
                    kind: kind(u.kind),
                    name: u.name.value.clone(),
                    path: u.path.as_ref().map(|p| p.value.clone()).unwrap_or_default(),
                    source: if u.from_framework {
                        decl::Source::Framework
                    } else {
                        decl::Source::Parent
                    },
                })
                .collect(),
        ),
        offers: Some(
            manifest
                .offers
                .iter()
                .map(|o| {
                    let (source, source_child) = source(&o.from.value);
                    decl::Offer {
                        kind: kind(o.kind),
                        name: o.name.value.clone(),
                        source,
                        source_child,
                        target_child: o.to.value.clone(),
                    }
                })
                .collect(),
        ),
        exposes: Some(
            manifest
                .exposes
                .iter()
                .map(|e| {
                    let (source, source_child) = source(&e.from.value);
                    decl::Expose {
                        kind: kind(e.kind),
                        name: e.name.value.clone(),
                        source,
                        source_child,
                    }
                })
                .collect(),
        ),
        children: Some(
            manifest
                .children
                .iter()
                .map(|c| decl::Child {
                    name: c.name.value.clone(),
                    manifest: c.manifest.value.clone(),
                    startup: match c.startup {
                        document::Startup::Eager => decl::StartupMode::Eager,
                        document::Startup::Lazy => decl::StartupMode::Lazy,
                    },
                    on_terminate: match c.on_terminate {
                        document::OnTerminate::None => decl::OnTerminate::None,
                        document::OnTerminate::Restart => decl::OnTerminate::Restart,
                    },
                })
                .collect(),
        ),
        collections: Some(
            manifest
                .collections
                .iter()
                .map(|c| decl::Collection {
                    name: c.value.clone(),
                })
                .collect(),
        ),
        limits: Some(decl::Limits {
            memory_bytes: manifest.limits.memory_bytes,
            handles: manifest.limits.handles,
            threads: manifest.limits.threads,
            processes: manifest.limits.processes,
            components: manifest.limits.components,
            connections: manifest.limits.connections,
        }),
        protocol_abis: Some(
            manifest
                .capabilities
                .iter()
                .filter(|c| c.kind == document::CapabilityKind::Protocol)
                .filter_map(|c| abis.protocols.get(&c.name.value))
                .map(abi::to_decl_protocol)
                .collect(),
        ),
        state_abi: state.as_ref().map(|state| {
            abis.tables
                .get(state)
                .map(|types| types.iter().map(abi::to_decl_type).collect())
                .unwrap_or_default()
        }),
        swap_grace_nanos: state.as_ref().map(|_| {
            u64::from(manifest.swap_grace_ms.unwrap_or(DEFAULT_SWAP_GRACE_MS)) * 1_000_000
        }),
        state_type: state,
        driver: (!manifest.driver.is_empty()).then(|| {
            let any = |v: Option<u32>| v.unwrap_or(decl::ANY);
            manifest
                .driver
                .iter()
                .map(|m| decl::DeviceMatch {
                    vendor: any(m.vendor.map(u32::from)),
                    device: any(m.device.map(u32::from)),
                    class: any(m.class.map(u32::from)),
                    subclass: any(m.subclass.map(u32::from)),
                })
                .collect()
        }),
        unknown_fields: Vec::new(),
    }
}

/// Encodes a declaration. Fails only if a value exceeds a bound of the IDL
/// (the checks keep names and lists within them).
pub fn encode(declaration: &ComponentDecl) -> Result<Vec<u8>, idlc_runtime::EncodeError> {
    let mut value = declaration.clone();
    let (mut bytes, mut handles) = (Vec::new(), Vec::new());
    idlc_runtime::encode(&mut value, &mut bytes, &mut handles)?;
    Ok(bytes)
}

/// Decodes a `.cm` file (what the component manager does).
pub fn decode(bytes: &[u8]) -> Result<ComponentDecl, idlc_runtime::DecodeError> {
    idlc_runtime::decode(bytes, &mut [])
}
