//! Products: `manifests/products/<name>.toml`, the list of what goes into
//! an image and how QEMU runs it.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::Path;

/// A product definition.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// One line saying what the product is for.
    pub description: String,
    /// User programs (binary targets of the workspace), placed in the bootfs
    /// as `bin/<name>`.
    pub programs: Vec<String>,
    /// The root component's manifest (`manifests/components/<root>.json5`),
    /// if the product runs a component tree: that manifest and every one
    /// reachable through `children` are checked and compiled into the
    /// bootfs as `meta/<name>.cm`, with the binaries their programs name.
    #[serde(default)]
    pub root: Option<String>,
    /// Manifests shipped for children created in collections at run time
    /// (`Realm.CreateChild`): each is checked (except its `use`s, which
    /// the component manager checks against the collection's offers) and
    /// compiled into the bootfs with its binaries.
    #[serde(default)]
    pub dynamic: Vec<String>,
    /// The kernel command line.
    #[serde(default)]
    pub cmdline: String,
    /// Machine settings (`[machine]`; `[qemu]` is the older name).
    #[serde(default, alias = "machine")]
    pub qemu: MachineConfig,
    /// The product's name (its file name), filled in on load.
    #[serde(skip)]
    pub name: String,
}

/// The virtual machine a product runs on.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct MachineConfig {
    /// Guest memory, in QEMU's syntax (`512M`, `4G`).
    #[serde(default = "default_memory")]
    pub memory: String,
    /// Number of CPUs.
    #[serde(default = "default_cpus")]
    pub cpus: u32,
    /// virtio-blk disks, each backed by an image file.
    #[serde(default)]
    pub disks: Vec<crate::machine::Disk>,
    /// A virtio-net card and its back end.
    #[serde(default)]
    pub net: Option<crate::machine::Net>,
    /// Host port forwards of the user-mode network, in QEMU's `hostfwd`
    /// syntax (`tcp:127.0.0.1:8080-:80`).
    #[serde(default)]
    pub forwards: Vec<String>,
    /// The host bridge: a virtio-console port on a Unix socket.
    #[serde(default)]
    pub bridge: bool,
}

fn default_memory() -> String {
    "512M".into()
}

fn default_cpus() -> u32 {
    1
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            memory: default_memory(),
            cpus: default_cpus(),
            disks: Vec::new(),
            net: None,
            forwards: Vec::new(),
            bridge: false,
        }
    }
}

impl Product {
    /// Loads `manifests/products/<name>.toml` under `root`.
    pub fn load(root: &Path, name: &str) -> Result<Product> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!("invalid product name {name:?}: use letters, digits, '-' and '_'");
        }
        let path = root.join("manifests/products").join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "no product {name:?}: cannot read {} (products: {})",
                path.display(),
                list(root).join(", ")
            )
        })?;
        let mut product: Product =
            toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
        product.name = name.into();
        if product.programs.is_empty() {
            bail!("{}: a product needs at least one program", path.display());
        }
        crate::machine::check(&product.qemu.disks)
            .with_context(|| format!("in {}", path.display()))?;
        Ok(product)
    }
}

/// Names of the products under `root`.
pub fn list(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("manifests/products"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            entry
                .file_name()
                .to_str()?
                .strip_suffix(".toml")
                .map(String::from)
        })
        .collect();
    names.sort();
    names
}
