//! One version of the source: the raw AST without the elements that do not
//! exist at the selected version of their platform.
//!
//! A parent that is absent takes its children with it, which is how
//! inheritance works here: a member's anonymous layout, a protocol's
//! methods, a layout's modifiers disappear with their parent. What remains
//! still carries its `@available` (kept in the IR as an attribute).

use std::collections::BTreeMap;

use super::{Availability, LibraryInfo, Selection, Version};
use crate::source::FileId;
use crate::syntax::ast::{self, LayoutRef};

/// The files as they are at `selection`.
pub fn snapshot(files: &[(FileId, ast::File)], selection: &Selection) -> Vec<(FileId, ast::File)> {
    let libraries = super::libraries(files);
    snapshot_with(files, &libraries, selection)
}

pub(crate) fn snapshot_with(
    files: &[(FileId, ast::File)],
    libraries: &BTreeMap<String, LibraryInfo>,
    selection: &Selection,
) -> Vec<(FileId, ast::File)> {
    files
        .iter()
        .map(|(id, file)| {
            let info = libraries.get(&file.library.dotted());
            let (version, present) = match info {
                Some(info) => {
                    let version = selection.version_for(&info.platform);
                    (version, info.range.contains(version))
                }
                None => (Version::HEAD, true),
            };
            let mut file = file.clone();
            if present {
                let at = At(version);
                file.declarations.retain_mut(|decl| at.declaration(decl));
            } else {
                // The library does not exist yet (or any more): it has no
                // declarations, but can still be named by `using`.
                file.declarations.clear();
            }
            (*id, file)
        })
        .collect()
}

/// Filters elements at one version.
struct At(Version);

impl At {
    fn keep(&self, attributes: &[ast::Attribute]) -> bool {
        Availability::of(attributes).contains(self.0)
    }

    fn modifiers(&self, modifiers: &mut Vec<ast::Modifier>) {
        modifiers.retain(|m| Availability::from_args(&m.availability).contains(self.0));
    }

    /// Filters a declaration in place; false if it is absent.
    fn declaration(&self, decl: &mut ast::Declaration) -> bool {
        match decl {
            ast::Declaration::Const(d) => self.keep(&d.attributes),
            ast::Declaration::Alias(d) => self.keep(&d.attributes),
            ast::Declaration::Type(d) => {
                let keep_layout = match &d.ty.layout {
                    LayoutRef::Inline(layout) => self.keep(&layout.attributes),
                    LayoutRef::Named(_) => true,
                };
                if !self.keep(&d.attributes) || !keep_layout {
                    return false;
                }
                self.type_ctor(&mut d.ty);
                true
            }
            ast::Declaration::Protocol(p) => {
                if !self.keep(&p.attributes) {
                    return false;
                }
                self.modifiers(&mut p.modifiers);
                p.composes.retain(|c| self.keep(&c.attributes));
                p.methods.retain_mut(|m| {
                    if !self.keep(&m.attributes) {
                        return false;
                    }
                    self.modifiers(&mut m.modifiers);
                    for payload in [&mut m.request, &mut m.response].into_iter().flatten() {
                        if let Some(ty) = &mut payload.ty {
                            self.type_ctor(ty);
                        }
                    }
                    if let Some(error) = &mut m.error {
                        self.type_ctor(error);
                    }
                    true
                });
                true
            }
            ast::Declaration::Service(s) => {
                if !self.keep(&s.attributes) {
                    return false;
                }
                s.members.retain(|m| self.keep(&m.attributes));
                true
            }
            ast::Declaration::Resource(r) => {
                if !self.keep(&r.attributes) {
                    return false;
                }
                r.properties.retain(|p| self.keep(&p.attributes));
                true
            }
        }
    }

    /// Filters the anonymous layouts of a type constructor.
    fn type_ctor(&self, ctor: &mut ast::TypeCtor) {
        match &mut ctor.layout {
            LayoutRef::Inline(layout) => self.layout(layout),
            LayoutRef::Named(_) => {
                for param in &mut ctor.params {
                    if let ast::LayoutParam::Type(inner) = param {
                        self.type_ctor(inner);
                    }
                }
            }
        }
    }

    fn layout(&self, layout: &mut ast::Layout) {
        self.modifiers(&mut layout.modifiers);
        layout.members.retain_mut(|member| {
            let attributes = match member {
                ast::LayoutMember::Struct { attributes, .. }
                | ast::LayoutMember::Ordinal { attributes, .. }
                | ast::LayoutMember::Value { attributes, .. } => attributes,
            };
            if !self.keep(attributes) {
                return false;
            }
            match member {
                ast::LayoutMember::Struct { ty, .. }
                | ast::LayoutMember::Ordinal {
                    member: Some((_, ty)),
                    ..
                } => self.type_ctor(ty),
                _ => {}
            }
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax;

    fn names_at(text: &str, version: &str) -> Vec<String> {
        let file = syntax::parse(FileId(0), text).unwrap();
        let selection = Selection::parse([version]).unwrap();
        let files = snapshot(&[(FileId(0), file)], &selection);
        let mut out = Vec::new();
        for decl in &files[0].1.declarations {
            out.push(decl.name().name.clone());
            if let ast::Declaration::Type(t) = decl {
                if let LayoutRef::Inline(layout) = &t.ty.layout {
                    for m in &layout.members {
                        if let ast::LayoutMember::Struct { name, ty, .. } = m {
                            out.push(format!("{}.{}", t.name.name, name.name));
                            if let LayoutRef::Named(n) = &ty.layout {
                                out.push(format!("  {}", n.dotted()));
                            }
                        }
                    }
                    for m in &layout.modifiers {
                        out.push(format!("{} {}", t.name.name, m.kind.keyword()));
                    }
                }
            }
        }
        out
    }

    const LIBRARY: &str = "@available(added=1) library v;
        @available(removed=2) type Old = struct {};
        @available(added=NEXT) type New = struct {};
        type S = strict(removed=3) flexible(added=3) union {
            @available(replaced=2) 1: x int32;
            @available(added=2) 1: x int64;
        };
        type T = struct { @available(replaced=2) x int32; @available(added=2) x int64; };";

    #[test]
    fn elements_and_modifiers_follow_the_version() {
        assert_eq!(
            names_at(LIBRARY, "1"),
            ["Old", "S", "S strict", "T", "T.x", "  int32"]
        );
        assert_eq!(
            names_at(LIBRARY, "2"),
            ["S", "S strict", "T", "T.x", "  int64"]
        );
        assert_eq!(
            names_at(LIBRARY, "3"),
            ["S", "S flexible", "T", "T.x", "  int64"]
        );
        assert_eq!(
            names_at(LIBRARY, "NEXT"),
            ["New", "S", "S flexible", "T", "T.x", "  int64"]
        );
    }

    #[test]
    fn a_library_not_yet_added_is_empty() {
        assert!(names_at("@available(added=5) library v; type A = struct {};", "4").is_empty());
        assert_eq!(
            names_at("@available(added=5) library v; type A = struct {};", "HEAD"),
            ["A"]
        );
    }
}
