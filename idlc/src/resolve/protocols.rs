//! Protocols: methods, payloads, `compose`, ordinals.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::attributes::Placement;
use super::declare::{method_is_flexible, upper_camel};
use super::model::*;
use super::{Class, Lookup, Resolver};
use crate::diagnostics::{Diagnostic, ErrorCode};
use crate::source::FileId;
use crate::syntax::ast::{self, LayoutRef, ModifierKind};

/// A method's ordinal: the first 8 bytes of SHA-256 of its selector
/// (`library/Protocol.Method`), little-endian, with the top bit cleared
/// (ordinals with the top bit set are reserved, e.g. for epitaphs).
pub fn method_ordinal(selector: &str) -> u64 {
    let digest = Sha256::digest(selector.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes) & 0x7fff_ffff_ffff_ffff
}

impl Resolver {
    pub(super) fn compile_protocol(
        &mut self,
        id: DeclId,
        file: FileId,
        protocol: &ast::ProtocolDecl,
    ) -> DeclKind {
        use ModifierKind::*;
        let modifiers = self.modifiers(&protocol.modifiers, &[Open, Ajar, Closed], "protocol");
        let openness = modifiers.openness.unwrap_or(Openness::Open);
        let library_name = self.model.libraries[self.model.decls[id].library]
            .name
            .clone();

        let mut methods = Vec::new();
        let available: Vec<&ast::Method> = protocol.methods.iter().collect();
        let names: Vec<&ast::Ident> = available.iter().map(|m| &m.name).collect();
        self.check_names(&names, "protocol");
        let syscall = protocol.attributes.iter().any(|a| {
            a.name.name == "transport"
                && matches!(a.args.first().map(|a| &a.value),
                    Some(ast::Constant::Literal(ast::Literal::String(s), _)) if s == "Syscall")
        });
        for method in available {
            if syscall && method.request.is_none() {
                self.error(
                    Diagnostic::new(
                        ErrorCode::ProtocolMemberNotAllowed,
                        method.name.span,
                        "a `@transport(\"Syscall\")` protocol cannot have events",
                    )
                    .label("event")
                    .help("system calls are initiated by the caller only"),
                );
            }
            methods.push(self.compile_method(id, file, &library_name, protocol, openness, method));
        }
        // Through which composed protocol each method came (`None`: own).
        let mut routes: Vec<Option<DeclId>> = vec![None; methods.len()];

        let mut composes = Vec::new();
        for compose in &protocol.composes {
            let target = match self.lookup(file, &compose.protocol) {
                Lookup::Decl(decl) if self.class(decl) == Class::Protocol => decl,
                Lookup::Decl(decl) => {
                    let class = self.class(decl).name();
                    self.error(
                        Diagnostic::new(
                            ErrorCode::ComposeNotProtocol,
                            compose.protocol.span,
                            format!(
                                "`{}` is a {class}, not a protocol",
                                compose.protocol.dotted()
                            ),
                        )
                        .label("cannot compose this"),
                    );
                    continue;
                }
                _ => {
                    self.error(self.undefined(file, &compose.protocol, &[]));
                    continue;
                }
            };
            if !self.ensure(target) {
                self.error(
                    Diagnostic::new(
                        ErrorCode::ComposeCycle,
                        compose.protocol.span,
                        format!(
                            "`{}` composes this protocol back",
                            compose.protocol.dotted()
                        ),
                    )
                    .label("cycle of compositions"),
                );
                continue;
            }
            if let DeclKind::Protocol(p) = &self.model.decls[target].kind {
                // FIDL's rule: a closed protocol composes only closed ones,
                // an ajar one closed or ajar ones (a protocol must be able
                // to handle every method it takes in).
                if p.openness < openness {
                    self.error(
                        Diagnostic::new(
                            ErrorCode::ComposedProtocolTooOpen,
                            compose.protocol.span,
                            format!(
                                "`{}` is {}, more open than this {} protocol",
                                compose.protocol.dotted(),
                                p.openness.keyword(),
                                openness.keyword()
                            ),
                        )
                        .label("composed here")
                        .help(format!(
                            "a {} protocol can compose only {} protocols; make this protocol {} or the composed one {}",
                            openness.keyword(),
                            if openness == Openness::Closed { "closed" } else { "closed or ajar" },
                            p.openness.keyword(),
                            openness.keyword()
                        )),
                    );
                    continue;
                }
            }
            composes.push(target);
            if let DeclKind::Protocol(p) = &self.model.decls[target].kind {
                for method in &p.methods {
                    if !methods
                        .iter()
                        .any(|m: &Method| m.selector == method.selector)
                    {
                        methods.push(method.clone());
                        routes.push(Some(target));
                    }
                }
            }
        }

        // Name and ordinal collisions, own and composed methods together.
        // Two methods that came through the same composed protocol collide
        // there already, and are reported there only, not again in every
        // protocol that composes it.
        let mut by_name: BTreeMap<&str, (&Method, Option<DeclId>)> = BTreeMap::new();
        let mut by_ordinal: BTreeMap<u64, (&Method, Option<DeclId>)> = BTreeMap::new();
        let mut errors = Vec::new();
        for (method, &route) in methods.iter().zip(&routes) {
            let new_here = |other: Option<DeclId>| route.is_none() || other != route;
            if let Some(&(first, first_route)) = by_name.get(method.name.as_str()) {
                if first.declared_in != method.declared_in && new_here(first_route) {
                    errors.push(
                        Diagnostic::new(
                            ErrorCode::DuplicateMemberName,
                            if method.declared_in == id {
                                method.span
                            } else {
                                first.span
                            },
                            format!(
                                "method `{}` is defined twice through `compose`",
                                method.name
                            ),
                        )
                        .label("conflicting method")
                        .related(
                            if method.declared_in == id {
                                first.span
                            } else {
                                method.span
                            },
                            "the other definition",
                        ),
                    );
                }
                continue;
            }
            by_name.insert(&method.name, (method, route));
            if let Some(&(first, first_route)) = by_ordinal.get(&method.ordinal) {
                if !new_here(first_route) {
                    continue;
                }
                errors.push(
                    Diagnostic::new(
                        ErrorCode::MethodOrdinalCollision,
                        method.span,
                        format!(
                            "methods `{}` and `{}` have the same ordinal {:#x}",
                            first.name, method.name, method.ordinal
                        ),
                    )
                    .label("ordinal collision")
                    .related(first.span, "the other method")
                    .help("rename one of them, or give it another `@selector`"),
                );
                continue;
            }
            by_ordinal.insert(method.ordinal, (method, route));
        }
        for e in errors {
            self.error(e);
        }

        DeclKind::Protocol(ProtocolDecl {
            openness,
            composes,
            methods,
        })
    }

    fn compile_method(
        &mut self,
        protocol_id: DeclId,
        file: FileId,
        library_name: &str,
        protocol: &ast::ProtocolDecl,
        openness: Openness,
        method: &ast::Method,
    ) -> Method {
        use ModifierKind::*;
        self.modifiers(&method.modifiers, &[Strict, Flexible], "method");
        let attributes = self.attributes(file, &method.attributes, Placement::Method);
        let kind = match (&method.request, &method.response) {
            (None, _) => MethodKind::Event,
            (Some(_), None) => MethodKind::OneWay,
            (Some(_), Some(_)) => MethodKind::TwoWay,
        };
        let flexible = method_is_flexible(protocol, method);
        let not_allowed = match openness {
            Openness::Open => false,
            Openness::Ajar => flexible && kind == MethodKind::TwoWay,
            Openness::Closed => flexible,
        };
        if not_allowed {
            let span = method
                .modifiers
                .iter()
                .find(|m| m.kind == Flexible)
                .map_or(method.name.span, |m| m.span);
            let which = if openness == Openness::Ajar {
                "an ajar protocol cannot have flexible two-way methods"
            } else {
                "a closed protocol cannot have flexible methods"
            };
            self.error(
                Diagnostic::new(ErrorCode::FlexibleMethodNotAllowed, span, which)
                    .label("flexible method")
                    .help("make the method `strict`, or the protocol `open`"),
            );
        }

        let selector_attr = attributes
            .iter()
            .find(|a| a.name == "selector")
            .and_then(|a| match a.args.first() {
                Some((_, ConstValue::String(s))) => Some(s.clone()),
                _ => None,
            });
        let selector = match selector_attr {
            Some(s) if s.contains('/') => s,
            Some(s) => format!("{library_name}/{}.{s}", protocol.name.name),
            None => format!("{library_name}/{}.{}", protocol.name.name, method.name.name),
        };
        let ordinal = method_ordinal(&selector);

        let request = match &method.request {
            Some(payload) => self.payload(file, payload),
            None => None,
        };
        let mut response = method
            .response
            .as_ref()
            .and_then(|payload| self.payload(file, payload));
        let error = method.error.as_ref().map(|e| {
            let ty = self.resolve_type(file, e);
            let ok = match &ty {
                Type::Primitive(Primitive::Int32 | Primitive::Uint32) | Type::Invalid => true,
                Type::Named {
                    decl,
                    optional: false,
                } if self.class(*decl) == Class::Enum => {
                    self.ensure(*decl);
                    matches!(&self.model.decls[*decl].kind,
                        DeclKind::Enum(en) if matches!(en.underlying, Primitive::Int32 | Primitive::Uint32))
                }
                _ => false,
            };
            if !ok {
                self.error(
                    Diagnostic::new(
                        ErrorCode::InvalidErrorType,
                        e.span,
                        "invalid error type",
                    )
                    .label("not int32, uint32 or an enum of them")
                    .help("declare an `enum : int32` (or `uint32`) of error codes"),
                );
            }
            ty
        });
        let mut success = None;
        if kind == MethodKind::TwoWay && (error.is_some() || flexible) {
            let base = format!("{}{}", protocol.name.name, upper_camel(&method.name.name));
            let library = self.model.decls[protocol_id].library;
            let decls = &self.model.libraries[library].decls;
            success = response.or_else(|| decls.get(&format!("{base}Response")).copied());
            response = decls.get(&format!("{base}Result")).copied();
        }
        Method {
            name: method.name.name.clone(),
            span: method.name.span,
            attributes,
            ordinal,
            selector,
            strict: !flexible,
            kind,
            request,
            response,
            success,
            error,
            declared_in: protocol_id,
        }
    }

    /// A method payload: a struct, table or union, never empty `struct {}`.
    fn payload(&mut self, file: FileId, payload: &ast::Payload) -> Option<DeclId> {
        let ctor = payload.ty.as_ref()?;
        if let LayoutRef::Inline(layout) = &ctor.layout {
            if layout.kind == ast::LayoutKind::Struct && layout.members.is_empty() {
                self.error(
                    Diagnostic::new(
                        ErrorCode::EmptyPayloadStruct,
                        ctor.span,
                        "an empty struct payload must be written `()`",
                    )
                    .label("empty struct")
                    .help("remove `struct {}`"),
                );
                return None;
            }
        }
        match self.resolve_type(file, ctor) {
            Type::Named {
                decl,
                optional: false,
            } if matches!(
                self.class(decl),
                Class::Struct | Class::Table | Class::Union
            ) =>
            {
                Some(decl)
            }
            Type::Invalid => None,
            _ => {
                self.error(
                    Diagnostic::new(
                        ErrorCode::InvalidPayloadType,
                        ctor.span,
                        "a method payload must be a struct, table or union",
                    )
                    .label("invalid payload")
                    .help("wrap the value in a struct: `(struct { value T; })`"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::method_ordinal;

    #[test]
    fn ordinal_is_truncated_sha256() {
        // SHA-256("") starts e3 b0 c4 42 98 fc 1c 14.
        assert_eq!(method_ordinal(""), 0x141c_fc98_42c4_b0e3);
        assert_eq!(method_ordinal("a/P.M") >> 63, 0);
    }
}
