//! A package per component (`docs/packages.md`): for each manifest of a
//! product's tree, a meta blob (`sdk/package`) naming the component's
//! program by Merkle root and holding its compiled manifest. The system
//! disk's blobfs gets the meta blobs beside the programs' blobs.

use crate::manifest::Compiled;
use anyhow::{anyhow, Result};
use merkle::root_of;
use package::{File, Package};

/// The packages' version: the workspace's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

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
