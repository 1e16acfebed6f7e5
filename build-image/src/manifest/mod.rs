//! Component manifests: reading, checking and compiling
//! `manifests/components/<name>.json5` (the format is in docs/manifests.md).
//!
//! The steps, each reporting all of its errors before the build stops:
//!
//! 1. [`json5`]: parse with the span of every key and value;
//! 2. [`document`]: to a typed [`document::Manifest`] — keys, types,
//!    values, limits, duplicate names (one file at a time);
//! 3. [`tree`]: load the root manifest and every manifest reachable
//!    through `children` (missing or recursive manifests);
//! 4. [`routing`]: protocols and state types against the IDL ([`idl`]), binaries
//!    against the workspace, child references, routes of protocols and
//!    directories, cycles;
//! 5. [`compile`]: encode each manifest (with the [`abi`] of what it serves
//!    and of its state) as a `zx.component.decl`
//!    `ComponentDecl` with the IDL's generated bindings, for the bootfs.
//!
//! Every problem is a [`Diagnostic`] with a stable code (`cm-NNNN`), the
//! manifest's path and a span; [`Diagnostics`] renders them with `miette`.
//!
//! Capabilities are protocols (named by the IDL) and read-only directories
//! (used at a path of the namespace). What is offered to a collection is checked at build time; what the children
//! created in it at run time `use` is checked by the component manager.

pub mod abi;
pub mod bindings;
pub mod compile;
pub mod diagnostic;
pub mod document;
pub mod idl;
pub mod json5;
pub mod routing;
pub mod tree;

pub use diagnostic::{Code, Diagnostic, Diagnostics};
pub use routing::RootPlace;

use crate::product::Product;
use anyhow::Result;
use std::collections::BTreeSet;
use std::path::Path;
use tree::{Loader, Reference};

/// Where the manifests of products live, relative to the workspace.
pub const COMPONENTS_DIR: &str = "manifests/components";

/// What the checks compare manifests with.
#[derive(Debug, Clone)]
pub struct Context {
    /// The discoverable protocol names of `idl/`.
    pub protocols: BTreeSet<String>,
    /// The tables of `idl/`, as `library/Type` (for `state`).
    pub tables: BTreeSet<String>,
    /// The ABIs of `idl/`'s protocols and tables, for the compiled
    /// manifests (the hot-swap's compatibility check).
    pub abis: abi::Abis,
    /// The workspace's binary targets; `None` skips the missing-binary check.
    pub binaries: Option<BTreeSet<String>>,
}

impl Context {
    /// Protocols from `idl/*.idl`, binaries from `cargo metadata`.
    pub fn from_workspace(root: &Path) -> Result<Context> {
        let names = idl::names(root)?;
        Ok(Context {
            protocols: names.protocols,
            tables: names.tables,
            abis: names.abis,
            binaries: Some(crate::cargo::binary_owners(root)?.into_keys().collect()),
        })
    }
}

/// A compiled manifest.
#[derive(Debug, Clone)]
pub struct CompiledManifest {
    pub name: String,
    /// Its bootfs path, `meta/<name>.cm`.
    pub path: String,
    /// The encoded `ComponentDecl`.
    pub bytes: Vec<u8>,
    /// The binary its program names (without `bin/`), if it has one.
    pub binary: Option<String>,
}

/// The result of checking a component tree.
#[derive(Debug, Clone, Default)]
pub struct Compiled {
    /// One per manifest of the tree, by name.
    pub manifests: Vec<CompiledManifest>,
    /// The binaries the tree's programs name (without `bin/`), sorted.
    pub programs: Vec<String>,
}

/// Checks and compiles the tree rooted at manifest `root`, whose files are
/// in `<workspace>/<dir>`. `named_at` is where the root was named.
pub fn check_tree(
    workspace: &Path,
    dir: &Path,
    root: &str,
    named_at: Option<Reference>,
    context: &Context,
) -> Result<Compiled, Diagnostics> {
    check_tree_at(
        workspace,
        dir,
        root,
        RootPlace::ProductRoot,
        named_at,
        context,
    )
}

/// [`check_tree`], for a root placed at `place`.
pub fn check_tree_at(
    workspace: &Path,
    dir: &Path,
    root: &str,
    place: RootPlace,
    named_at: Option<Reference>,
    context: &Context,
) -> Result<Compiled, Diagnostics> {
    let mut found = Vec::new();
    let loader = Loader { workspace, dir };
    let tree = loader.load(root, named_at, &mut found);
    routing::check(&tree, place, context, &mut found);
    let mut compiled = Compiled::default();
    if found.is_empty() {
        for manifest in tree.manifests.values() {
            match compile::encode(&compile::declaration(manifest, &context.abis)) {
                Ok(bytes) => compiled.manifests.push(CompiledManifest {
                    name: manifest.name.clone(),
                    path: compile::bootfs_path(&manifest.name),
                    bytes,
                    binary: manifest.program.as_ref().map(|p| p.binary.value.clone()),
                }),
                Err(error) => found.push(Diagnostic {
                    code: Code::InvalidValue,
                    message: format!("the manifest does not fit the IDL's bounds: {error:?}"),
                    file: manifest.file.clone(),
                    span: 0..0,
                    label: "while encoding this manifest".into(),
                    help: "a list is longer than idl/component_decl.idl allows".into(),
                }),
            }
            if let Some(program) = &manifest.program {
                compiled.programs.push(program.binary.value.clone());
            }
        }
    }
    let mut diagnostics = Diagnostics(found);
    if !diagnostics.is_empty() {
        diagnostics.normalize();
        return Err(diagnostics);
    }
    compiled.programs.sort();
    compiled.programs.dedup();
    Ok(compiled)
}

/// Checks and compiles a product's component tree, and the trees of the
/// manifests it ships for children created at run time (`dynamic`);
/// `Ok(None)` for a product without `root`.
pub fn check_product(
    workspace: &Path,
    product: &Product,
    context: &Context,
) -> Result<Option<Compiled>, Diagnostics> {
    let Some(root) = &product.root else {
        return Ok(None);
    };
    let path = format!("manifests/products/{}.toml", product.name);
    let text = std::fs::read_to_string(workspace.join(&path)).unwrap_or_default();
    let named_at = |key: &str| Reference {
        file: diagnostic::source_file(&path, text.clone()),
        span: key_value_span(&text, key).unwrap_or(0..0),
    };
    let dir = Path::new(COMPONENTS_DIR);
    let mut found = Vec::new();
    let mut compiled = Compiled::default();
    let trees = std::iter::once((root, RootPlace::ProductRoot, "root")).chain(
        product
            .dynamic
            .iter()
            .map(|name| (name, RootPlace::Collection, "dynamic")),
    );
    for (name, place, key) in trees {
        match check_tree_at(workspace, dir, name, place, Some(named_at(key)), context) {
            Ok(tree) => {
                for manifest in tree.manifests {
                    if !compiled.manifests.iter().any(|m| m.name == manifest.name) {
                        compiled.manifests.push(manifest);
                    }
                }
                compiled.programs.extend(tree.programs);
            }
            Err(diagnostics) => found.extend(diagnostics.0),
        }
    }
    let mut diagnostics = Diagnostics(found);
    if !diagnostics.is_empty() {
        diagnostics.normalize();
        return Err(diagnostics);
    }
    compiled.programs.sort();
    compiled.programs.dedup();
    Ok(Some(compiled))
}

/// The span of the value of the `<key> = …` line of a product file.
fn key_value_span(text: &str, key: &str) -> Option<std::ops::Range<usize>> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key) {
            if key == "dynamic" && rest.trim_start().starts_with('=') {
                let start = line.find('[')?;
                let end = line.rfind(']').map_or(line.trim_end().len(), |e| e + 1);
                return Some(offset + start..offset + end);
            }
            if rest.trim_start().starts_with('=') {
                let start = line.find('"')?;
                let end = line[start + 1..].find('"')? + start + 2;
                return Some(offset + start..offset + end);
            }
        }
        offset += line.len();
    }
    None
}

/// Checks every manifest in `<workspace>/<dir>`: each file on its own, and
/// the tree of every manifest that no other names as a child (a top-level
/// manifest); a driver's manifest (one with `driver`) is checked as a
/// child of a collection. Returns the names of the top-level manifests
/// that are not drivers.
pub fn check_directory(
    workspace: &Path,
    dir: &Path,
    context: &Context,
) -> Result<Vec<String>, Diagnostics> {
    let loader = Loader { workspace, dir };
    let mut names: Vec<String> = std::fs::read_dir(workspace.join(dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry
                .file_name()
                .to_str()?
                .strip_suffix(".json5")?
                .to_string();
            Some(name)
        })
        .collect();
    names.sort();
    let mut found = Vec::new();
    let mut children = BTreeSet::new();
    // Drivers are created at run time in the driver manager's collection:
    // checked as collection children (their uses depend on the offers).
    let mut drivers = BTreeSet::new();
    // Versions a running component is hot-swapped to (a `state`, and no
    // tree names them): checked like collection children, since they run
    // in the place of the component they replace.
    let mut versions = BTreeSet::new();
    for name in &names {
        if !document::is_valid_name(name) {
            found.push(Diagnostic {
                code: Code::InvalidValue,
                message: format!("`{name}` is not a valid manifest name"),
                file: diagnostic::source_file(&loader.display_path(name), String::new()),
                span: 0..0,
                label: "this file name".into(),
                help: "manifest file names use lowercase letters, digits, `_` and `-`".into(),
            });
            continue;
        }
        let mut local = Vec::new();
        if let Some(Some(manifest)) = loader.read(name, &mut local) {
            children.extend(manifest.children.iter().map(|c| c.manifest.value.clone()));
            if !manifest.driver.is_empty() {
                drivers.insert(name.clone());
            }
            if manifest.state.is_some() {
                versions.insert(name.clone());
            }
        }
        // Trees report these again; only keep them for files no tree reads.
        found.extend(local);
    }
    let roots: Vec<String> = names
        .iter()
        .filter(|name| document::is_valid_name(name) && !children.contains(*name))
        .cloned()
        .collect();
    for root in &roots {
        let place = if drivers.contains(root) || versions.contains(root) {
            RootPlace::Collection
        } else {
            RootPlace::ProductRoot
        };
        if let Err(diagnostics) = check_tree_at(workspace, dir, root, place, None, context) {
            found.extend(diagnostics.0);
        }
    }
    let mut diagnostics = Diagnostics(found);
    if diagnostics.is_empty() {
        Ok(roots
            .into_iter()
            .filter(|r| !drivers.contains(r) && !versions.contains(r))
            .collect())
    } else {
        diagnostics.normalize();
        Err(diagnostics)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_root_line_of_a_product() {
        let text = "description = \"x\"\nroot = \"root\"\n";
        let span = super::key_value_span(text, "root").unwrap();
        assert_eq!(&text[span], "\"root\"");
    }
}
