//! A package per component (`docs/packages.md`): for each manifest of a
//! product's tree, a meta blob (`sdk/package`) naming the component's
//! program by Merkle root and holding its compiled manifest. The system
//! disk's blobfs gets the meta blobs beside the programs' blobs.

use crate::machine::DiskContents;
use crate::manifest::Compiled;
use crate::product::Product;
use anyhow::{anyhow, Result};
use merkle::root_of;
use package::{File, Package};

/// The packages' version: the workspace's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The components whose programs stay in the bootfs of a product that
/// loads the others from packages: what it takes to reach blobfs and
/// resolve a package (the driver manager and the block driver, fshost,
/// blobfs, the resolver) and the logger they write to.
pub const BOOTSTRAP: &[&str] = &[
    "logger",
    "driver_manager",
    "virtio_blk",
    "fshost",
    "blobfs",
    "pkg_resolver",
];

/// The programs a product's bootfs holds, if not all of them: for a
/// product with a system disk whose tree has the package resolver, the
/// product's own `programs` and the [`BOOTSTRAP`] components' binaries;
/// every other component's program is loaded from its package (the
/// component manager asks the resolver for it, `docs/packages.md`).
pub fn bootfs_programs(product: &Product, components: Option<&Compiled>) -> Option<Vec<String>> {
    let components = components?;
    let system_disk = product
        .qemu
        .disks
        .iter()
        .any(|d| d.contents == DiskContents::System);
    let resolver = components
        .manifests
        .iter()
        .any(|m| m.name == "pkg_resolver");
    if !system_disk || !resolver {
        return None;
    }
    let mut keep = product.programs.clone();
    keep.extend(
        components
            .manifests
            .iter()
            .filter(|m| BOOTSTRAP.contains(&m.name.as_str()))
            .filter_map(|m| m.binary.clone()),
    );
    Some(keep)
}

/// The compiled manifests a product's bootfs holds, if not all of them:
/// for a product that loads components from packages (see
/// [`bootfs_programs`]), the [`BOOTSTRAP`] components' and the root's (the
/// component manager loads it first); every other component's manifest
/// comes with its package.
pub fn bootfs_manifests(product: &Product, components: Option<&Compiled>) -> Option<Vec<String>> {
    bootfs_programs(product, components)?;
    let mut keep: Vec<String> = BOOTSTRAP.iter().map(|name| name.to_string()).collect();
    keep.extend(product.component_manager_root().map(str::to_string));
    Some(keep)
}

/// What else the bootfs of a product that loads components from packages
/// holds (`kept`: [`bootfs_manifests`]), as `(path, bytes)`:
/// `meta/packages`, the components whose manifests come with their
/// packages, one a line as `<name> <meta root>` (`packages`: the image's
/// packages, [`build`]), so the component manager knows them and resolves
/// each to the image's own package, whatever else of that name is pushed
/// beside it; and, for each of those that is a driver, `meta/<name>.bind`:
/// a declaration with only its `driver` matches, which the driver manager
/// reads to know which device it binds to.
pub fn bootfs_index(
    components: &Compiled,
    kept: &[String],
    packages: &[(Package, Vec<u8>)],
) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    let mut names = String::new();
    for manifest in &components.manifests {
        if kept.contains(&manifest.name) {
            continue;
        }
        let (_, meta) = packages
            .iter()
            .find(|(package, _)| package.name == manifest.name)
            .ok_or_else(|| anyhow!("no package was built for {}", manifest.name))?;
        names.push_str(&format!("{} {}\n", manifest.name, root_of(meta)));
        let decl = crate::manifest::compile::decode(&manifest.bytes)
            .map_err(|e| anyhow!("{}: {e:?}", manifest.path))?;
        if let Some(driver) = decl.driver.filter(|m| !m.is_empty()) {
            let bind = crate::manifest::bindings::zx_component_decl::ComponentDecl {
                driver: Some(driver),
                ..Default::default()
            };
            let bytes = crate::manifest::compile::encode(&bind)
                .map_err(|e| anyhow!("{}: {e:?}", manifest.path))?;
            files.push((format!("meta/{}.bind", manifest.name), bytes));
        }
    }
    files.push(("meta/packages".into(), names.into_bytes()));
    Ok(files)
}

/// One package per manifest of `components`, in manifest order, with its
/// meta blob. `programs` are the built programs, `(name, bytes)`.
pub fn build(
    components: &Compiled,
    programs: &[(String, Vec<u8>)],
) -> Result<Vec<(Package, Vec<u8>)>> {
    let mut packages = Vec::new();
    for manifest in &components.manifests {
        let mut files = Vec::new();
        if let Some(binary) = &manifest.binary {
            let (_, bytes) = programs
                .iter()
                .find(|(name, _)| name == binary)
                .ok_or_else(|| {
                    anyhow!("package {}: program {binary} was not built", manifest.name)
                })?;
            files.push(File {
                path: format!("bin/{binary}"),
                root: root_of(bytes),
                size: bytes.len() as u64,
            });
        }
        let package = Package {
            name: manifest.name.clone(),
            version: VERSION.into(),
            files,
            manifest: manifest.bytes.clone(),
        };
        package::check(&package).map_err(|e| anyhow!("package {}: {e}", manifest.name))?;
        let meta = package::encode(&package);
        packages.push((package, meta));
    }
    Ok(packages)
}
