//! The component tree of a product: its root manifest and every manifest
//! reachable through `children`, each file read once, and one instance per
//! place a manifest appears in the tree (routing is checked per instance,
//! because what a component may `use` depends on its parent).

use super::diagnostic::{source_file, Code, Diagnostic, SourceFile};
use super::document::{self, Manifest};
use super::json5::Span;
use std::collections::BTreeMap;
use std::path::Path;

/// A component in the tree.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Its manifest's name.
    pub manifest: String,
    /// Its parent instance and its name there; `None` for the root.
    pub parent: Option<(usize, String)>,
}

/// The manifests of a tree and its instances (index 0 is the root).
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub manifests: BTreeMap<String, Manifest>,
    pub instances: Vec<Instance>,
}

/// A tree larger than this is refused (it would be a mistake, and this keeps
/// a wide fan-out of shared manifests from exploding).
const MAX_INSTANCES: usize = 4096;

/// Where a manifest was named, for "missing manifest" diagnostics.
#[derive(Debug, Clone)]
pub struct Reference {
    pub file: SourceFile,
    pub span: Span,
}

/// Manifest files live in `<workspace>/<dir>/<name>.json5`; diagnostics
/// show `<dir>/<name>.json5`.
pub struct Loader<'a> {
    pub workspace: &'a Path,
    pub dir: &'a Path,
}

impl Loader<'_> {
    /// The path shown in diagnostics.
    pub fn display_path(&self, name: &str) -> String {
        self.dir
            .join(format!("{name}.json5"))
            .to_string_lossy()
            .into_owned()
    }

    /// Reads one manifest; `None` if the file does not exist (the caller
    /// reports that where the manifest was named).
    pub fn read(&self, name: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<Option<Manifest>> {
        let path = self.display_path(name);
        let text = std::fs::read_to_string(self.workspace.join(&path)).ok()?;
        let (manifest, found) = document::read(name, &path, text);
        diagnostics.extend(found);
        Some(manifest)
    }

    /// Loads the tree rooted at manifest `root`. `named_at` is where the
    /// root was named (a product file), if anywhere.
    pub fn load(
        &self,
        root: &str,
        named_at: Option<Reference>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Tree {
        let mut tree = Tree::default();
        // Files read so far: `None` = missing or unreadable as a manifest.
        let mut files: BTreeMap<String, Option<Manifest>> = BTreeMap::new();
        match self.read(root, diagnostics) {
            Some(manifest) => {
                files.insert(root.into(), manifest);
            }
            None => {
                let reference = named_at.unwrap_or_else(|| Reference {
                    file: source_file(&self.display_path(root), String::new()),
                    span: 0..0,
                });
                diagnostics.push(Diagnostic {
                    code: Code::MissingManifest,
                    message: format!("no manifest `{}`", self.display_path(root)),
                    file: reference.file,
                    span: reference.span,
                    label: "the root manifest is missing".into(),
                    help: format!(
                        "create {} or name an existing manifest",
                        self.display_path(root)
                    ),
                });
                return tree;
            }
        }
        tree.instances.push(Instance {
            manifest: root.into(),
            parent: None,
        });
        // Depth-first, with the chain of manifests above each instance to
        // catch a manifest that contains itself.
        let mut stack: Vec<(usize, Vec<String>)> = vec![(0, vec![root.into()])];
        while let Some((index, ancestors)) = stack.pop() {
            let name = tree.instances[index].manifest.clone();
            let Some(Some(manifest)) = files.get(&name) else {
                continue;
            };
            let children = manifest.children.clone();
            let file = manifest.file.clone();
            for child in children.iter().rev() {
                let child_manifest = &child.manifest.value;
                if ancestors.contains(child_manifest) {
                    diagnostics.push(Diagnostic {
                        code: Code::RecursiveManifest,
                        message: format!(
                            "manifest `{child_manifest}` contains itself: {} → {child_manifest}",
                            ancestors.join(" → ")
                        ),
                        file: file.clone(),
                        span: child.manifest.span.clone(),
                        label: "this child would contain this manifest again".into(),
                        help: "a component tree is finite: use a collection for children created at run time".into(),
                    });
                    continue;
                }
                if !files.contains_key(child_manifest) {
                    match self.read(child_manifest, diagnostics) {
                        Some(loaded) => {
                            files.insert(child_manifest.clone(), loaded);
                        }
                        None => {
                            diagnostics.push(Diagnostic {
                                code: Code::MissingManifest,
                                message: format!(
                                    "child `{}` has no manifest `{}`",
                                    child.name.value,
                                    self.display_path(child_manifest)
                                ),
                                file: file.clone(),
                                span: child.manifest.span.clone(),
                                label: "no such manifest".into(),
                                help: format!(
                                    "create {} or name an existing manifest",
                                    self.display_path(child_manifest)
                                ),
                            });
                            files.insert(child_manifest.clone(), None);
                        }
                    }
                }
                if !matches!(files.get(child_manifest), Some(Some(_))) {
                    continue;
                }
                if tree.instances.len() >= MAX_INSTANCES {
                    diagnostics.push(Diagnostic {
                        code: Code::RecursiveManifest,
                        message: format!(
                            "the component tree has more than {MAX_INSTANCES} components"
                        ),
                        file: file.clone(),
                        span: child.manifest.span.clone(),
                        label: "the tree grows too large here".into(),
                        help: "use a collection for children created at run time".into(),
                    });
                    return finish(tree, files);
                }
                tree.instances.push(Instance {
                    manifest: child_manifest.clone(),
                    parent: Some((index, child.name.value.clone())),
                });
                let mut chain = ancestors.clone();
                chain.push(child_manifest.clone());
                stack.push((tree.instances.len() - 1, chain));
            }
        }
        finish(tree, files)
    }
}

fn finish(mut tree: Tree, files: BTreeMap<String, Option<Manifest>>) -> Tree {
    tree.manifests = files
        .into_iter()
        .filter_map(|(name, manifest)| Some((name, manifest?)))
        .collect();
    tree
}
