//! Assembling an image: `target/images/<product>/` holds the kernel ELF
//! (booted with QEMU `-kernel` through its PVH note) and the bootfs (passed
//! as the first boot module with `-initrd`).
//!
//! The bootfs holds `bin/<program>` for each of the product's `programs`
//! and, for a product with a `root` component, `meta/<manifest>.cm` for
//! each manifest of its tree plus `bin/<binary>` for each program those
//! manifests name; a product whose components load from packages on its
//! system disk keeps only the bootstrap set's programs and manifests there
//! ([`crate::packages::bootfs_programs`], [`crate::packages::bootfs_manifests`]),
//! with `meta/packages` naming the others. The manifests are checked
//! first: any problem stops the build with every diagnostic.

use crate::cargo::{self, Group};
use crate::manifest;
use crate::product::Product;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// A built image.
#[derive(Debug, Clone)]
pub struct Image {
    /// The product it was built from.
    pub product: Product,
    /// The kernel ELF.
    pub kernel: PathBuf,
    /// The bootfs image.
    pub bootfs: PathBuf,
}

/// Directory of a product's image.
pub fn image_dir(root: &Path, product: &str) -> PathBuf {
    root.join("target/images").join(product)
}

/// Where a product with a system disk keeps its components' programs and
/// manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Outside the bootstrap set, in packages on the system disk (what
    /// every product with one does).
    Packages,
    /// All in the bootfs, the packages still written to the disk: the
    /// bench's point of comparison.
    BootfsOnly,
}

/// Builds the kernel and the product's programs and writes the image.
/// `report` receives one line per file written.
pub fn build(root: &Path, product: &Product, report: &mut dyn FnMut(String)) -> Result<Image> {
    build_with(root, product, Layout::Packages, report)
}

/// [`build`], with the components where `layout` says.
pub fn build_with(
    root: &Path,
    product: &Product,
    layout: Layout,
    report: &mut dyn FnMut(String),
) -> Result<Image> {
    let components = match &product.root {
        Some(_) => {
            let context = manifest::Context::from_workspace(root)?;
            manifest::check_product(root, product, &context)
                .map_err(|diagnostics| anyhow::anyhow!("component manifests:\n{diagnostics}"))?
        }
        None => None,
    };
    let manifest_names: Vec<String> = components
        .iter()
        .flat_map(|c| &c.manifests)
        .map(|m| m.name.clone())
        .collect();
    product.check_component_manager_root(&manifest_names)?;
    let mut program_names = product.programs.clone();
    for program in components.iter().flat_map(|c| &c.programs) {
        if !program_names.contains(program) {
            program_names.push(program.clone());
        }
    }
    // The first build compiles every crate twice over (minutes): say what
    // is being built rather than wait in silence.
    report("building the kernel (cargo, profile os, target/os/kernel)".into());
    let kernel_built = cargo::build(root, Group::Kernel)?.remove(0);
    report(format!(
        "building the user programs (cargo, profile os, target/os/user): {}",
        program_names.join(", ")
    ));
    let programs = cargo::build(root, Group::User(&program_names))?;

    let dir = image_dir(root, &product.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let kernel = dir.join("kernel.elf");
    let kernel_bytes = std::fs::read(&kernel_built)
        .with_context(|| format!("cannot read {}", kernel_built.display()))?;
    write_if_changed(&kernel, &kernel_bytes)?;
    report(format!(
        "wrote {} ({} KiB)",
        kernel.display(),
        file_kib(&kernel)
    ));

    let mut builder = bootfs::Builder::new();
    let mut contents = Vec::new();
    let from_packages = layout == Layout::Packages;
    let in_bootfs =
        crate::packages::bootfs_programs(product, components.as_ref()).filter(|_| from_packages);
    for (name, path) in program_names.iter().zip(&programs) {
        if !in_bootfs.as_ref().is_none_or(|keep| keep.contains(name)) {
            continue; // loaded from its package
        }
        let data =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let path = format!("bin/{name}");
        builder
            .add(&path, data)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        contents.push(path);
    }
    let manifests_kept =
        crate::packages::bootfs_manifests(product, components.as_ref()).filter(|_| from_packages);
    for compiled in components.iter().flat_map(|c| &c.manifests) {
        if !manifests_kept
            .as_ref()
            .is_none_or(|keep| keep.contains(&compiled.name))
        {
            continue; // it comes with its package
        }
        builder
            .add(&compiled.path, compiled.bytes.clone())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        contents.push(compiled.path.clone());
    }
    // The programs' bytes and a package per component (its meta blob),
    // for the system disk and for the roots `meta/packages` lists.
    let built: Vec<(String, Vec<u8>)> = program_names
        .iter()
        .zip(&programs)
        .map(|(name, path)| {
            let data =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            Ok((name.clone(), data))
        })
        .collect::<Result<_>>()?;
    let packages = match &components {
        Some(components) => crate::packages::build(components, &built)?,
        None => Vec::new(),
    };
    if let (Some(kept), Some(components)) = (&manifests_kept, &components) {
        for (path, bytes) in crate::packages::bootfs_index(components, kept, &packages)? {
            builder
                .add(&path, bytes)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            contents.push(path);
        }
    }
    // A text file describing the image, readable in the guest at
    // /boot/etc/product through the `boot` directory capability.
    let about = format!(
        "product: {}\n{}\nroot component: {}\n",
        product.name,
        product.description,
        product.root.as_deref().unwrap_or("(none)")
    );
    builder
        .add("etc/product", about.into_bytes())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    contents.push("etc/product".into());
    let bootfs = dir.join("bootfs.img");
    write_if_changed(&bootfs, &builder.build())?;
    report(format!(
        "wrote {} ({} KiB: {})",
        bootfs.display(),
        file_kib(&bootfs),
        contents.join(", ")
    ));
    for disk in &product.qemu.disks {
        if disk.contents != crate::machine::DiskContents::System {
            continue;
        }
        // A package per component: its meta blob beside the programs.
        let mut blobs: Vec<crate::disk::Blob> = built
            .iter()
            .map(|(name, data)| crate::disk::Blob {
                path: format!("bin/{name}"),
                data: data.clone(),
            })
            .collect();
        for (package, meta) in &packages {
            blobs.push(crate::disk::Blob {
                path: format!("meta/{}.pkg", package.name),
                data: meta.clone(),
            });
        }
        let size = crate::machine::parse_size(&disk.size)?;
        let path = dir.join(format!("{}.img", disk.name));
        let roots = crate::disk::write_system_disk(&path, size, &blobs)?;
        let listing: String = roots
            .iter()
            .zip(&blobs)
            .map(|(root, blob)| format!("{root}  {}\n", blob.path))
            .collect();
        write_if_changed(
            &dir.join(format!("{}.blobs", disk.name)),
            listing.as_bytes(),
        )?;
        let package_listing: String = packages
            .iter()
            .map(|(package, meta)| {
                format!(
                    "{}  {} {}\n",
                    merkle::root_of(meta),
                    package.name,
                    package.version
                )
            })
            .collect();
        write_if_changed(
            &dir.join(format!("{}.packages", disk.name)),
            package_listing.as_bytes(),
        )?;
        report(format!(
            "wrote {} (GPT: blobfs with {} blobs, {} of them packages' meta blobs; data; {} MiB)",
            path.display(),
            blobs.len(),
            packages.len(),
            size >> 20
        ));
    }
    Ok(Image {
        product: product.clone(),
        kernel,
        bootfs,
    })
}

/// Writes `bytes` to `path` unless it already holds them: an image that
/// did not change is not rewritten under a QEMU that may be reading it
/// (tests boot images in parallel).
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    // Write aside and rename, so a reader sees the old file or the new.
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))
}

fn file_kib(path: &Path) -> u64 {
    std::fs::metadata(path)
        .map(|m| m.len().div_ceil(1024))
        .unwrap_or(0)
}
