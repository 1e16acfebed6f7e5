//! The checks of `@available` that hold for every version at once, run on
//! the whole raw AST before any snapshot is taken:
//!
//! * arguments: named, known, of the right kind (versions are 1 to 2^31-1,
//!   `NEXT` or `HEAD`), `platform` only on the library, `replaced` never on
//!   it, `renamed` only on members and only with `removed` or `replaced`,
//!   versioned modifiers only `added` and `removed`;
//! * order: `added` ≤ `deprecated` < `removed`/`replaced`, and `removed`
//!   and `replaced` not both;
//! * nesting: an element is not added before, nor removed after, its parent;
//! * replacement: `replaced=N` needs an element of the same name (or of the
//!   `renamed` name) added at `N` in the same scope; `removed=N` must not
//!   have one (that would be a replacement, so say `replaced`).
//!
//! It also collects every version the arguments name, per platform: the
//! points at which a library can change, so the ones to check.

use std::collections::BTreeMap;

use super::{Availability, LibraryInfo, Range, Version};
use crate::diagnostics::{did_you_mean, Diagnostic, ErrorCode};
use crate::source::{FileId, Span};
use crate::syntax::ast::{self, LayoutRef};

pub(super) struct Validation {
    pub diagnostics: Vec<Diagnostic>,
    /// `(platform, version)` named by an `added`, `removed` or `replaced`.
    pub versions: Vec<(String, Version)>,
}

/// Where an `@available` is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Library,
    Declaration,
    /// A named member: layout, service and resource members, methods.
    Member,
    /// A `compose` (a member without a name of its own).
    Compose,
    Modifier,
}

/// An element of a scope in which names must be unique at every version.
struct Element {
    name: String,
    span: Span,
    own: Availability,
    range: Range,
}

struct Validator {
    platform: String,
    diagnostics: Vec<Diagnostic>,
    versions: Vec<(String, Version)>,
}

pub(super) fn validate(
    files: &[(FileId, ast::File)],
    libraries: &BTreeMap<String, LibraryInfo>,
) -> Validation {
    let mut v = Validator {
        platform: String::new(),
        diagnostics: Vec::new(),
        versions: Vec::new(),
    };
    // Declarations of a library form one scope across its files.
    let mut scopes: BTreeMap<String, Vec<Element>> = BTreeMap::new();
    for (_, file) in files {
        let name = file.library.dotted();
        let library_range = libraries.get(&name).map_or(Range::ALWAYS, |l| l.range);
        v.platform = libraries
            .get(&name)
            .map_or_else(String::new, |l| l.platform.clone());
        v.attributes(
            &file.library_attributes,
            Place::Library,
            None,
            Range::ALWAYS,
        );
        let scope = scopes.entry(name).or_default();
        for decl in &file.declarations {
            let attributes = crate::resolve::attributes_of(decl);
            let mut own = v.attributes(
                attributes,
                Place::Declaration,
                Some(&decl.name().name),
                library_range,
            );
            // `type X = struct { … }`: the layout's own attributes count too.
            if let ast::Declaration::Type(t) = decl {
                if let LayoutRef::Inline(layout) = &t.ty.layout {
                    if own.span.is_none() {
                        own = v.attributes(
                            &layout.attributes,
                            Place::Declaration,
                            Some(&t.name.name),
                            library_range,
                        );
                    }
                }
            }
            let range = library_range.inherit(&own);
            v.declaration(decl, range);
            scope.push(Element {
                name: decl.name().name.clone(),
                span: decl.name().span,
                own,
                range,
            });
        }
    }
    for elements in scopes.values() {
        v.replacements(elements);
    }
    Validation {
        diagnostics: v.diagnostics,
        versions: v.versions,
    }
}

impl Validator {
    fn error(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn declaration(&mut self, decl: &ast::Declaration, range: Range) {
        match decl {
            ast::Declaration::Const(c) => self.type_ctor(&c.ty, range),
            ast::Declaration::Alias(a) => self.type_ctor(&a.target, range),
            ast::Declaration::Type(t) => match &t.ty.layout {
                LayoutRef::Inline(layout) => self.layout_body(layout, range),
                LayoutRef::Named(_) => self.type_ctor(&t.ty, range),
            },
            ast::Declaration::Protocol(p) => {
                self.modifiers(&p.modifiers, range);
                for compose in &p.composes {
                    self.attributes(&compose.attributes, Place::Compose, None, range);
                }
                let mut methods = Vec::new();
                for method in &p.methods {
                    let own = self.attributes(
                        &method.attributes,
                        Place::Member,
                        Some(&method.name.name),
                        range,
                    );
                    let method_range = range.inherit(&own);
                    self.modifiers(&method.modifiers, method_range);
                    for payload in [&method.request, &method.response].into_iter().flatten() {
                        if let Some(ty) = &payload.ty {
                            self.type_ctor(ty, method_range);
                        }
                    }
                    if let Some(error) = &method.error {
                        self.type_ctor(error, method_range);
                    }
                    methods.push(Element {
                        name: method.name.name.clone(),
                        span: method.name.span,
                        own,
                        range: method_range,
                    });
                }
                self.replacements(&methods);
            }
            ast::Declaration::Service(s) => {
                let members = s
                    .members
                    .iter()
                    .map(|m| (&m.attributes, &m.name, Some(&m.ty)))
                    .collect::<Vec<_>>();
                self.named_members(&members, range);
            }
            ast::Declaration::Resource(r) => {
                if let Some(underlying) = &r.underlying {
                    self.type_ctor(underlying, range);
                }
                let members = r
                    .properties
                    .iter()
                    .map(|m| (&m.attributes, &m.name, Some(&m.ty)))
                    .collect::<Vec<_>>();
                self.named_members(&members, range);
            }
        }
    }

    /// Members with a name and maybe a type, forming one scope.
    fn named_members(
        &mut self,
        members: &[(&Vec<ast::Attribute>, &ast::Ident, Option<&ast::TypeCtor>)],
        parent: Range,
    ) {
        let mut elements = Vec::new();
        for (attributes, name, ty) in members {
            let own = self.attributes(attributes, Place::Member, Some(&name.name), parent);
            let range = parent.inherit(&own);
            if let Some(ty) = ty {
                self.type_ctor(ty, range);
            }
            elements.push(Element {
                name: name.name.clone(),
                span: name.span,
                own,
                range,
            });
        }
        self.replacements(&elements);
    }

    /// The anonymous layouts of a type constructor.
    fn type_ctor(&mut self, ctor: &ast::TypeCtor, range: Range) {
        match &ctor.layout {
            LayoutRef::Inline(layout) => {
                if let Some(attribute) = layout
                    .attributes
                    .iter()
                    .find(|a| a.name.name == "available")
                {
                    self.error(
                        Diagnostic::new(
                            ErrorCode::InvalidAvailability,
                            attribute.span,
                            "an anonymous layout has the availability of its member",
                        )
                        .label("`@available` on an anonymous layout")
                        .help("put `@available` on the member (or method) instead"),
                    );
                }
                self.layout_body(layout, range);
            }
            LayoutRef::Named(_) => {
                for param in &ctor.params {
                    if let ast::LayoutParam::Type(inner) = param {
                        self.type_ctor(inner, range);
                    }
                }
            }
        }
    }

    fn layout_body(&mut self, layout: &ast::Layout, range: Range) {
        self.modifiers(&layout.modifiers, range);
        if let Some(subtype) = &layout.subtype {
            self.type_ctor(subtype, range);
        }
        let mut elements = Vec::new();
        for member in &layout.members {
            let (attributes, name, ty) = match member {
                ast::LayoutMember::Struct {
                    attributes,
                    name,
                    ty,
                    ..
                } => (attributes, Some(name), Some(ty)),
                ast::LayoutMember::Ordinal {
                    attributes, member, ..
                } => (
                    attributes,
                    member.as_ref().map(|(n, _)| n),
                    member.as_ref().map(|(_, t)| t),
                ),
                ast::LayoutMember::Value {
                    attributes, name, ..
                } => (attributes, Some(name), None),
            };
            let own = self.attributes(
                attributes,
                Place::Member,
                name.map(|n| n.name.as_str()),
                range,
            );
            let member_range = range.inherit(&own);
            if let Some(ty) = ty {
                self.type_ctor(ty, member_range);
            }
            if let Some(name) = name {
                elements.push(Element {
                    name: name.name.clone(),
                    span: name.span,
                    own,
                    range: member_range,
                });
            }
        }
        self.replacements(&elements);
    }

    fn modifiers(&mut self, modifiers: &[ast::Modifier], parent: Range) {
        for modifier in modifiers {
            if modifier.availability.is_empty() {
                continue;
            }
            self.check(
                &modifier.availability,
                modifier.span,
                Place::Modifier,
                None,
                parent,
            );
        }
    }

    /// Validates the `@available` among `attributes`, if any, and returns
    /// what it says.
    fn attributes(
        &mut self,
        attributes: &[ast::Attribute],
        place: Place,
        name: Option<&str>,
        parent: Range,
    ) -> Availability {
        let Some(attribute) = attributes.iter().find(|a| a.name.name == "available") else {
            return Availability::default();
        };
        self.check(&attribute.args, attribute.span, place, name, parent)
    }

    fn check(
        &mut self,
        args: &[ast::AttributeArg],
        span: Span,
        place: Place,
        name: Option<&str>,
        parent: Range,
    ) -> Availability {
        let what = if place == Place::Modifier {
            "a versioned modifier"
        } else {
            "`@available`"
        };
        if args.is_empty() {
            self.error(
                Diagnostic::new(
                    ErrorCode::InvalidAvailability,
                    span,
                    format!("{what} needs at least one argument"),
                )
                .label("no arguments")
                .help("write e.g. `@available(added=1)`"),
            );
        }
        for arg in args {
            let Some(key) = &arg.name else {
                self.error(
                    Diagnostic::new(
                        ErrorCode::InvalidAttributeArgument,
                        arg.span,
                        "`@available` arguments must be named",
                    )
                    .label("unnamed argument")
                    .help("write `@available(added=1)`"),
                );
                continue;
            };
            let key_name = key.name.as_str();
            let allowed: &[&str] = match place {
                Place::Modifier => &["added", "removed"],
                Place::Library => &[
                    "platform",
                    "added",
                    "deprecated",
                    "removed",
                    "note",
                    "legacy",
                ],
                _ => &[
                    "added",
                    "deprecated",
                    "removed",
                    "replaced",
                    "renamed",
                    "note",
                    "legacy",
                ],
            };
            let known = [
                "platform",
                "added",
                "deprecated",
                "removed",
                "replaced",
                "renamed",
                "note",
                "legacy",
            ];
            if !known.contains(&key_name) {
                let help = did_you_mean(key_name, allowed.iter().copied());
                self.error(
                    Diagnostic::new(
                        ErrorCode::InvalidAttributeArgument,
                        key.span,
                        format!("`@available` has no argument `{key_name}`"),
                    )
                    .label("unknown argument")
                    .maybe_help(help),
                );
                continue;
            }
            if !allowed.contains(&key_name) {
                let (message, help) = match (place, key_name) {
                    (Place::Modifier, _) => (
                        format!("`{key_name}` is not allowed on a modifier"),
                        "a modifier takes only `added` and `removed`",
                    ),
                    (_, "platform") => (
                        "`platform` is allowed only on the library".to_string(),
                        "move it to the `@available` of the `library` declaration",
                    ),
                    (Place::Library, "replaced") => (
                        "a library cannot be `replaced`".to_string(),
                        "use `removed`",
                    ),
                    _ => (
                        format!("`{key_name}` is not allowed on a library"),
                        "`renamed` goes on members",
                    ),
                };
                self.error(
                    Diagnostic::new(ErrorCode::InvalidAvailability, key.span, message)
                        .label("not allowed here")
                        .help(help),
                );
                continue;
            }
            let kind_ok = match key_name {
                "added" | "deprecated" | "removed" | "replaced" => {
                    if Version::of_constant(&arg.value).is_none() {
                        self.error(
                            Diagnostic::new(
                                ErrorCode::InvalidAvailability,
                                arg.value.span(),
                                format!(
                                    "`{key_name}` must be a version: 1 to {}, `NEXT` or `HEAD`",
                                    Version::MAX_NUMBERED
                                ),
                            )
                            .label("invalid version"),
                        );
                    }
                    true
                }
                "platform" | "note" | "renamed" => matches!(
                    &arg.value,
                    ast::Constant::Literal(ast::Literal::String(_), _)
                ),
                _ => matches!(&arg.value, ast::Constant::Literal(ast::Literal::Bool(_), _)),
            };
            if !kind_ok {
                let expected = if key_name == "legacy" {
                    "a boolean"
                } else {
                    "a string"
                };
                self.error(
                    Diagnostic::new(
                        ErrorCode::InvalidAttributeArgument,
                        arg.value.span(),
                        format!("`{key_name}` takes {expected}"),
                    )
                    .label(format!("expected {expected}")),
                );
            }
        }
        let mut own = Availability::from_args(args);
        own.span = Some(span);
        for (version, _) in [own.added, own.removed, own.replaced].into_iter().flatten() {
            self.versions.push((self.platform.clone(), version));
        }
        self.check_order(&own, span, place, name, parent);
        own
    }

    fn check_order(
        &mut self,
        own: &Availability,
        span: Span,
        place: Place,
        name: Option<&str>,
        parent: Range,
    ) {
        if let Some((platform, platform_span)) = &own.platform {
            if !super::is_platform_name(platform) {
                self.error(
                    Diagnostic::new(
                        ErrorCode::InvalidAvailability,
                        *platform_span,
                        format!("invalid platform name `{platform}`"),
                    )
                    .label("not a platform name")
                    .help("platform names are lowercase letters, digits and `_`"),
                );
            }
        }
        if place == Place::Library && own.added.is_none() {
            self.error(
                Diagnostic::new(
                    ErrorCode::InvalidAvailability,
                    span,
                    "the library's `@available` must say when it was `added`",
                )
                .label("no `added`")
                .help("write e.g. `@available(added=1)`"),
            );
        }
        if let (Some(removed), Some(_)) = (own.removed, own.replaced) {
            self.error(
                Diagnostic::new(
                    ErrorCode::InvalidAvailability,
                    removed.1,
                    "`removed` and `replaced` exclude each other",
                )
                .label("both given")
                .help("`replaced` is `removed` plus a replacement added at the same version"),
            );
        }
        if let Some((renamed, renamed_span)) = &own.renamed {
            if own.end().is_none() {
                self.error(
                    Diagnostic::new(
                        ErrorCode::InvalidAvailability,
                        *renamed_span,
                        "`renamed` needs `removed` or `replaced`",
                    )
                    .label("renamed when?")
                    .help("the element is renamed at the version it is replaced or removed"),
                );
            }
            if place != Place::Member {
                self.error(
                    Diagnostic::new(
                        ErrorCode::InvalidAvailability,
                        *renamed_span,
                        "only members can be `renamed`",
                    )
                    .label("not a member")
                    .help("to rename a declaration, replace it by one with the new name"),
                );
            } else if name == Some(renamed.as_str()) {
                self.error(
                    Diagnostic::new(
                        ErrorCode::InvalidAvailability,
                        *renamed_span,
                        format!("`renamed` to `{renamed}` keeps the same name"),
                    )
                    .label("same name")
                    .help("remove `renamed`, or choose another name"),
                );
            }
        }
        // added ≤ deprecated < end, added < end.
        let end_key = if own.removed.is_some() {
            "removed"
        } else {
            "replaced"
        };
        let steps = [
            ("added", own.added),
            ("deprecated", own.deprecated),
            (end_key, own.end()),
        ];
        for (i, (first, a)) in steps.iter().enumerate() {
            for (second, b) in &steps[i + 1..] {
                let (Some(a), Some(b)) = (a, b) else { continue };
                let allowed_equal = *first == "added" && *second == "deprecated";
                if a.0 > b.0 || (a.0 == b.0 && !allowed_equal) {
                    self.error(
                        Diagnostic::new(
                            ErrorCode::InvalidAvailability,
                            b.1,
                            format!("`{second}` must come after `{first}`"),
                        )
                        .label(format!("{second} = {}", b.0))
                        .related(a.1, format!("{first} = {}", a.0))
                        .help(format!("`{first}` < `{second}` is required")),
                    );
                }
            }
        }
        // Within the parent's lifetime.
        if place == Place::Library {
            return;
        }
        if let (Some((added, added_span)), Some(parent_added)) = (own.added, parent.added) {
            if added < parent_added {
                self.error(
                    Diagnostic::new(
                        ErrorCode::InvalidAvailability,
                        added_span,
                        format!(
                            "`added={added}` is before the enclosing element is added (at {parent_added})"
                        ),
                    )
                    .label("too early")
                    .help("an element cannot exist before its parent; drop `added` to inherit the parent's"),
                );
            }
        }
        if let (Some((end, end_span)), Some(parent_end)) = (own.end(), parent.end) {
            if end > parent_end {
                self.error(
                    Diagnostic::new(
                        ErrorCode::InvalidAvailability,
                        end_span,
                        format!(
                            "`{end_key}={end}` is after the enclosing element is removed (at {parent_end})"
                        ),
                    )
                    .label("too late")
                    .help("an element cannot outlive its parent"),
                );
            }
        }
    }

    /// `replaced` / `removed` against the other elements of one scope.
    fn replacements(&mut self, elements: &[Element]) {
        for (i, element) in elements.iter().enumerate() {
            let added_at = |name: &str, version: Version| {
                elements
                    .iter()
                    .enumerate()
                    .find(|(j, other)| {
                        *j != i && other.name == name && other.range.added == Some(version)
                    })
                    .map(|(_, other)| other.span)
            };
            if let Some((version, span)) = element.own.replaced {
                let target = element
                    .own
                    .renamed
                    .as_ref()
                    .map_or(element.name.as_str(), |(n, _)| n.as_str());
                if added_at(target, version).is_none() {
                    let message = if target == element.name {
                        format!(
                            "`{}` is `replaced={version}`, but no other `{target}` is added at {version}",
                            element.name
                        )
                    } else {
                        format!(
                            "`{}` is `replaced={version}` and `renamed` to `{target}`, but no `{target}` is added at {version}",
                            element.name
                        )
                    };
                    self.error(
                        Diagnostic::new(ErrorCode::ReplacedWithoutReplacement, span, message)
                            .label("nothing replaces it")
                            .help(format!(
                                "declare the replacement `{target}` with `@available(added={version})`, or write `removed={version}` if the element is simply gone"
                            )),
                    );
                }
            }
            if let Some((version, span)) = element.own.removed {
                if element.own.renamed.is_some() {
                    continue; // the old element is renamed, freeing its name
                }
                if let Some(replacement) = added_at(&element.name, version) {
                    self.error(
                        Diagnostic::new(
                            ErrorCode::RemovedWithReplacement,
                            span,
                            format!(
                                "`{}` is `removed={version}`, but another `{}` is added at {version}",
                                element.name, element.name
                            ),
                        )
                        .label("removed here")
                        .related(replacement, "added here")
                        .help(format!(
                            "write `replaced={version}` if the new element replaces this one, or give the new element another name"
                        )),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax;

    fn codes(text: &str) -> Vec<(ErrorCode, String)> {
        let file = syntax::parse(FileId(0), text).unwrap();
        let files = vec![(FileId(0), file)];
        let libraries = super::super::libraries(&files);
        validate(&files, &libraries)
            .diagnostics
            .into_iter()
            .map(|d| (d.code, d.message))
            .collect()
    }

    #[test]
    fn replacement_rules() {
        assert!(codes(
            "@available(added=1) library r; type S = struct { @available(replaced=2) x int32; @available(added=2) x int64; };"
        )
        .is_empty());
        let missing =
            codes("@available(added=1) library r; @available(replaced=2) type T = struct {};");
        assert_eq!(missing[0].0, ErrorCode::ReplacedWithoutReplacement);
        let removed = codes(
            "@available(added=1) library r; @available(removed=2) type T = struct {}; @available(added=2) type T = table {};",
        );
        assert_eq!(removed[0].0, ErrorCode::RemovedWithReplacement);
        // `renamed` names the replacement.
        assert!(codes(
            "@available(added=1) library r; protocol P { @available(replaced=2, renamed=\"B\") A(); @available(added=2) B(); };"
        )
        .is_empty());
        assert_eq!(
            codes("@available(added=1) library r; protocol P { @available(replaced=2, renamed=\"B\") A(); @available(added=2) A(); };")[0].0,
            ErrorCode::ReplacedWithoutReplacement
        );
    }

    #[test]
    fn argument_rules() {
        let cases = [
            "@available(added=1) library r; @available(added=0) type T = struct {};",
            "@available(added=1) library r; @available(removed=2, replaced=2) type T = struct {};",
            "@available(added=1) library r; @available(removed=2, renamed=\"U\") type T = struct {};",
            "@available(added=1) library r; type T = struct { @available(renamed=\"y\") x int32; };",
            "@available(added=2) library r; @available(added=1) type T = struct {};",
            "@available(added=1) library r; @available(removed=3) type T = struct { @available(removed=4) x int32; };",
            "@available(platform=\"p\") library r;",
            "@available(added=1, replaced=2) library r;",
            "@available(added=1) library r; type T = strict(deprecated=2) enum { A = 1; };",
            "@available(added=1) library r; @available() type T = struct {};",
        ];
        for case in cases {
            let found = codes(case);
            assert!(
                found
                    .iter()
                    .any(|(c, _)| *c == ErrorCode::InvalidAvailability),
                "{case}: {found:?}"
            );
        }
        assert!(codes(
            "@available(platform=\"p\", added=1) library r; @available(added=NEXT, deprecated=NEXT, removed=HEAD) type T = struct {};"
        )
        .is_empty());
    }
}
