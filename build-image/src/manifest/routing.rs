//! The checks that need more than one file: protocols and binaries against
//! the workspace, references to children, capability routes (protocols and
//! directories) between parents and children, and dependency cycles among
//! siblings.
//!
//! A route is checked link by link: a `use` needs an `offer` from the
//! parent to this child; an `offer` from `parent` needs the same one level
//! up; an `offer`/`expose` from `#child` needs that child to `expose` it;
//! from `self` needs a declared capability. Every link holds, so every
//! `use` reaches a component that serves the capability (or the component
//! manager, for the builtin ones).
//!
//! Capabilities are matched by name (protocol and directory names never
//! collide), and a route must keep the kind: a directory offered where
//! the source has a protocol of that name is reported too.

use super::diagnostic::{did_you_mean, Code, Diagnostic};
use super::document::{CapabilityKind, Manifest, Source, Spanned};
use super::json5::Span;
use super::tree::Tree;
use super::Context;
use std::collections::{BTreeMap, BTreeSet};

/// Where the root of a checked tree is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootPlace {
    /// The product's root: its parent is the component manager.
    ProductRoot,
    /// A child created in a collection at run time: what it may use
    /// depends on the collection, so its `use`s are checked by the
    /// component manager when it runs.
    Collection,
}

/// Runs every tree-wide check.
pub fn check(tree: &Tree, place: RootPlace, context: &Context, diagnostics: &mut Vec<Diagnostic>) {
    for manifest in tree.manifests.values() {
        check_protocols(manifest, context, diagnostics);
        check_state(manifest, context, diagnostics);
        check_binary(manifest, context, diagnostics);
        check_sources(manifest, &tree.manifests, diagnostics);
        check_cycles(manifest, diagnostics);
    }
    check_offered(tree, place, diagnostics);
}

fn report(
    manifest: &Manifest,
    code: Code,
    message: String,
    at: &Spanned<impl Sized>,
    label: &str,
    help: String,
) -> Diagnostic {
    Diagnostic {
        code,
        message,
        file: manifest.file.clone(),
        span: at.span.clone(),
        label: label.into(),
        help,
    }
}

/// Every capability a manifest names: its kind and its name.
fn mentioned(manifest: &Manifest) -> impl Iterator<Item = (CapabilityKind, &Spanned<String>)> {
    let capabilities = manifest.capabilities.iter().map(|c| (c.kind, &c.name));
    let uses = manifest.uses.iter().map(|u| (u.kind, &u.name));
    let offers = manifest.offers.iter().map(|o| (o.kind, &o.name));
    let exposes = manifest.exposes.iter().map(|e| (e.kind, &e.name));
    capabilities.chain(uses).chain(offers).chain(exposes)
}

/// Protocol names against the IDL (directory names are not IDL names).
fn check_protocols(manifest: &Manifest, context: &Context, diagnostics: &mut Vec<Diagnostic>) {
    let protocols = mentioned(manifest)
        .filter(|(kind, _)| *kind == CapabilityKind::Protocol)
        .map(|(_, name)| name);
    for protocol in protocols {
        if context.protocols.contains(&protocol.value) {
            continue;
        }
        let suggestion = did_you_mean(
            &protocol.value,
            context.protocols.iter().map(String::as_str),
        );
        diagnostics.push(report(
            manifest,
            Code::UnknownProtocol,
            format!("no IDL protocol is named `{}`", protocol.value),
            protocol,
            "unknown protocol",
            format!(
                "{suggestion}protocols are the `@discoverable` protocols of idl/*.idl, named `library.Protocol`"
            ),
        ));
    }
}

fn check_state(manifest: &Manifest, context: &Context, diagnostics: &mut Vec<Diagnostic>) {
    let Some(state) = &manifest.state else {
        return;
    };
    if context.tables.contains(&state.value) {
        return;
    }
    let suggestion = did_you_mean(&state.value, context.tables.iter().map(String::as_str));
    diagnostics.push(report(
        manifest,
        Code::UnknownStateType,
        format!("no IDL table is named `{}`", state.value),
        state,
        "unknown table",
        format!("{suggestion}`state` names a table declared in idl/*.idl, as `library/Type`"),
    ));
}

fn check_binary(manifest: &Manifest, context: &Context, diagnostics: &mut Vec<Diagnostic>) {
    let (Some(program), Some(binaries)) = (&manifest.program, &context.binaries) else {
        return;
    };
    if binaries.contains(&program.binary.value) {
        return;
    }
    let suggestion = did_you_mean(&program.binary.value, binaries.iter().map(String::as_str));
    diagnostics.push(report(
        manifest,
        Code::MissingBinary,
        format!(
            "no workspace package has a binary named `{}`",
            program.binary.value
        ),
        &program.binary,
        "no such binary",
        format!(
            "{suggestion}`bin/<name>` names a binary target of the workspace (`cargo metadata`); add the component's crate to the workspace"
        ),
    ));
}

/// Whether a capability is found where a route needs it: by name, then
/// by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Yes,
    /// Under that name, but as the other kind.
    OtherKind(CapabilityKind),
    No,
}

impl Found {
    /// Looks for `name` of `kind` among `candidates`.
    fn among<'a>(
        kind: CapabilityKind,
        name: &str,
        candidates: impl IntoIterator<Item = (CapabilityKind, &'a str)>,
    ) -> Found {
        let mut found = Found::No;
        for (candidate_kind, candidate) in candidates {
            if candidate != name {
                continue;
            }
            if candidate_kind == kind {
                return Found::Yes;
            }
            found = Found::OtherKind(candidate_kind);
        }
        found
    }
}

/// Whether `child`'s manifest exposes `name` as `kind` (yes when the
/// manifest could not be read: that is reported on its own).
fn child_exposes(
    manifest: &Manifest,
    child: &str,
    kind: CapabilityKind,
    name: &str,
    manifests: &BTreeMap<String, Manifest>,
) -> Found {
    let Some(child_manifest) = manifest
        .children
        .iter()
        .find(|c| c.name.value == child)
        .and_then(|c| manifests.get(&c.manifest.value))
    else {
        return Found::Yes;
    };
    Found::among(
        kind,
        name,
        child_manifest
            .exposes
            .iter()
            .map(|e| (e.kind, e.name.value.as_str())),
    )
}

fn check_sources(
    manifest: &Manifest,
    manifests: &BTreeMap<String, Manifest>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let children: Vec<&str> = manifest
        .children
        .iter()
        .map(|c| c.name.value.as_str())
        .collect();
    let declared = |kind: CapabilityKind, name: &str| {
        Found::among(
            kind,
            name,
            manifest
                .capabilities
                .iter()
                .map(|c| (c.kind, c.name.value.as_str())),
        )
    };
    let mut check_source = |kind: CapabilityKind,
                            name: &Spanned<String>,
                            from: &Spanned<Source>,
                            verb: (&str, &str)| {
        let key = kind.key();
        match &from.value {
            Source::Parent => {}
            Source::Self_ => match declared(kind, &name.value) {
                Found::Yes => {}
                Found::No => diagnostics.push(report(
                    manifest,
                    Code::NotDeclared,
                    format!(
                        "`{}` is {} from self but not declared in `capabilities`",
                        name.value, verb.0
                    ),
                    from,
                    "this component does not declare it",
                    format!(
                        "add `{{ {key}: \"{}\" }}` to `capabilities`, or {} it from where it is served",
                        name.value, verb.1
                    ),
                )),
                Found::OtherKind(declared) => diagnostics.push(report(
                    manifest,
                    Code::NotDeclared,
                    format!(
                        "`{}` is {} from self as a {key}, but `capabilities` declares a {declared}",
                        name.value, verb.0
                    ),
                    from,
                    "this component declares another kind",
                    format!(
                        "write `{declared}: \"{}\"` here, as in `capabilities`",
                        name.value
                    ),
                )),
            },
            Source::Child(child) if !children.contains(&child.as_str()) => {
                diagnostics.push(no_such_child(manifest, child, from, &children))
            }
            Source::Child(child) => {
                match child_exposes(manifest, child, kind, &name.value, manifests) {
                    Found::Yes => {}
                    Found::No => diagnostics.push(report(
                        manifest,
                        Code::NotExposedByChild,
                        format!(
                            "`{}` is {} from `#{child}`, which does not expose it",
                            name.value, verb.0
                        ),
                        from,
                        "this child does not expose it",
                        format!(
                            "add `{{ {key}: \"{}\", from: \"self\" }}` to the `expose` of `#{child}`'s manifest",
                            name.value
                        ),
                    )),
                    Found::OtherKind(exposed) => diagnostics.push(report(
                        manifest,
                        Code::NotExposedByChild,
                        format!(
                            "`{}` is {} from `#{child}` as a {key}, but `#{child}` exposes a {exposed}",
                            name.value, verb.0
                        ),
                        from,
                        "this child exposes another kind",
                        format!(
                            "write `{exposed}: \"{}\"` here, as in the `expose` of `#{child}`'s manifest",
                            name.value
                        ),
                    )),
                }
            }
        }
    };
    for offer in &manifest.offers {
        check_source(offer.kind, &offer.name, &offer.from, ("offered", "offer"));
    }
    for expose in &manifest.exposes {
        check_source(
            expose.kind,
            &expose.name,
            &expose.from,
            ("exposed", "expose"),
        );
    }
    // An offer may go to a child or to a collection (then it reaches every
    // child created in the collection at run time).
    let mut targets = children.clone();
    targets.extend(manifest.collections.iter().map(|c| c.value.as_str()));
    for offer in &manifest.offers {
        if !targets.contains(&offer.to.value.as_str()) {
            diagnostics.push(no_such_child(
                manifest,
                &offer.to.value,
                &offer.to,
                &targets,
            ));
        }
    }
}

fn no_such_child(
    manifest: &Manifest,
    child: &str,
    at: &Spanned<impl Sized>,
    children: &[&str],
) -> Diagnostic {
    let suggestion = did_you_mean(child, children.iter().copied());
    let known = if children.is_empty() {
        "this manifest has no children".to_string()
    } else {
        format!("its children are: {}", children.join(", "))
    };
    report(
        manifest,
        Code::NoSuchChild,
        format!("there is no child `#{child}`"),
        at,
        "no such child",
        format!("{suggestion}{known}"),
    )
}

/// Offers between siblings are strong dependencies (the target needs the
/// source running); a cycle among them could never start.
fn check_cycles(manifest: &Manifest, diagnostics: &mut Vec<Diagnostic>) {
    let mut edges: BTreeMap<&str, Vec<(&str, usize)>> = BTreeMap::new();
    for (index, offer) in manifest.offers.iter().enumerate() {
        if let Source::Child(source) = &offer.from.value {
            edges
                .entry(source.as_str())
                .or_default()
                .push((offer.to.value.as_str(), index));
        }
    }
    // Depth-first search; an edge into a node on the stack closes a cycle,
    // reported at the offer that closes it.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Active,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = BTreeMap::new();
    let mut reported = BTreeSet::new();
    fn visit<'a>(
        node: &'a str,
        edges: &BTreeMap<&'a str, Vec<(&'a str, usize)>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
        found: &mut Vec<(Vec<&'a str>, usize)>,
    ) {
        marks.insert(node, Mark::Active);
        path.push(node);
        for &(next, offer) in edges.get(node).into_iter().flatten() {
            match marks.get(next) {
                Some(Mark::Active) => {
                    let start = path.iter().position(|n| *n == next).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next);
                    found.push((cycle, offer));
                }
                Some(Mark::Done) => {}
                None => visit(next, edges, marks, path, found),
            }
        }
        path.pop();
        marks.insert(node, Mark::Done);
    }
    let mut found = Vec::new();
    let nodes: Vec<&str> = edges.keys().copied().collect();
    for node in nodes {
        if !marks.contains_key(node) {
            visit(node, &edges, &mut marks, &mut Vec::new(), &mut found);
        }
    }
    for (cycle, offer_index) in found {
        if !reported.insert(offer_index) {
            continue;
        }
        let offer = &manifest.offers[offer_index];
        let chain = cycle
            .iter()
            .map(|n| format!("#{n}"))
            .collect::<Vec<_>>()
            .join(" → ");
        diagnostics.push(report(
            manifest,
            Code::DependencyCycle,
            format!("children depend on each other in a cycle: {chain}"),
            &offer.to,
            "this offer closes the cycle",
            "each offer makes its target depend on its source; break the cycle by serving one of these capabilities from elsewhere".into(),
        ));
    }
}

/// Protocols the component manager serves itself, offered to the root
/// component as if by a parent.
pub const BUILTIN_PROTOCOLS: &[&str] = &["zx.component.Realm", "zx.component.swap.SwapController"];

/// Directories the component manager serves itself, offered to the root
/// component as if by a parent: `boot` is the bootfs, read-only.
pub const BUILTIN_DIRECTORIES: &[&str] = &["boot"];

/// The builtin capabilities, as (kind, name).
fn builtins() -> impl Iterator<Item = (CapabilityKind, &'static str)> {
    let protocols = BUILTIN_PROTOCOLS
        .iter()
        .map(|name| (CapabilityKind::Protocol, *name));
    let directories = BUILTIN_DIRECTORIES
        .iter()
        .map(|name| (CapabilityKind::Directory, *name));
    let resources = super::document::RESOURCES
        .iter()
        .map(|name| (CapabilityKind::Resource, *name));
    protocols.chain(directories).chain(resources)
}

/// "the protocol `a.B` and the directory `boot`".
fn describe_builtins() -> String {
    let list = |kind: &str, names: &[&str]| {
        let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        let plural = if names.len() == 1 { "" } else { "s" };
        format!("the {kind}{plural} {}", names.join(", "))
    };
    format!(
        "{}, {} and {}",
        list("protocol", BUILTIN_PROTOCOLS),
        list("directory", BUILTIN_DIRECTORIES),
        list("resource", super::document::RESOURCES)
    )
}

/// Every `use`, and every `offer` from `parent`, must be offered by the
/// parent to this very child, as the same kind of capability.
fn check_offered(tree: &Tree, place: RootPlace, diagnostics: &mut Vec<Diagnostic>) {
    for instance in &tree.instances {
        if instance.parent.is_none() && place == RootPlace::Collection {
            continue;
        }
        let Some(manifest) = tree.manifests.get(&instance.manifest) else {
            continue;
        };
        let parent = instance.parent.as_ref().and_then(|(index, name)| {
            Some((tree.manifests.get(&tree.instances[*index].manifest)?, name))
        });
        let offered = |kind: CapabilityKind, name: &str| match parent {
            Some((parent, child)) => Found::among(
                kind,
                name,
                parent
                    .offers
                    .iter()
                    .filter(|o| o.to.value == *child)
                    .map(|o| (o.kind, o.name.value.as_str())),
            ),
            // The root's parent is the component manager itself.
            None => Found::among(kind, name, builtins()),
        };
        let missing = |kind: CapabilityKind, name: &Spanned<String>, at: &Span, found: Found| {
            let key = kind.key();
            let (message, help) = match (parent, found) {
                (Some((parent, child)), Found::OtherKind(offered)) => (
                    format!(
                        "`{}` is offered to this component as a {offered}, not a {key} (by its parent `{}`, as `#{child}`)",
                        name.value, parent.name
                    ),
                    format!(
                        "write `{offered}: \"{}\"` here, as in the `offer` of {}",
                        name.value,
                        parent.file.name()
                    ),
                ),
                (Some((parent, child)), _) => (
                    format!(
                        "`{}` is not offered to this component by its parent (`{}`, as `#{child}`)",
                        name.value, parent.name
                    ),
                    format!(
                        "add `{{ {key}: \"{}\", from: …, to: \"#{child}\" }}` to the `offer` of {}",
                        name.value,
                        parent.file.name()
                    ),
                ),
                (None, _) => (
                    format!(
                        "`{}` cannot reach the root component: it has no parent",
                        name.value
                    ),
                    format!(
                        "the root's parent is the component manager, which provides only {}",
                        describe_builtins()
                    ),
                ),
            };
            Diagnostic {
                code: Code::NotOffered,
                message,
                file: manifest.file.clone(),
                span: at.clone(),
                label: "not routed to this component".into(),
                help,
            }
        };
        for used in manifest.uses.iter().filter(|u| !u.from_framework) {
            let found = offered(used.kind, &used.name.value);
            // An optional use may go unoffered, not offered as another kind.
            if found != Found::Yes && !(used.optional && found == Found::No) {
                diagnostics.push(missing(used.kind, &used.name, &used.name.span, found));
            }
        }
        for offer in &manifest.offers {
            if offer.from.value != Source::Parent {
                continue;
            }
            let found = offered(offer.kind, &offer.name.value);
            if found != Found::Yes {
                diagnostics.push(missing(offer.kind, &offer.name, &offer.from.span, found));
            }
        }
    }
}
