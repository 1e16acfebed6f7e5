//! The product's system disk: a GPT (the `gpt` crate) with a blobfs
//! partition holding the product's blobs and an empty data partition,
//! partition types from the `partitions` crate (`docs/blobfs.md`).

use anyhow::{anyhow, Context, Result};
use blobfs_core::store::{Device, IoError, Store};
use merkle::{root_of, MerkleRoot};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Partitions start on 1 MiB boundaries.
const ALIGN_SECTORS: u64 = 2048;
const SECTOR: u64 = 512;

/// A byte range of a file, as blobfs's (and datafs's) device.
pub struct FileRange<'a> {
    /// The file.
    pub file: &'a File,
    /// The range's first byte in the file.
    pub base: u64,
    /// Its bytes.
    pub size: u64,
}

impl Device for FileRange<'_> {
    fn size(&self) -> u64 {
        self.size
    }
    fn read(&mut self, offset: u64, buffer: &mut [u8]) -> Result<(), IoError> {
        if offset + buffer.len() as u64 > self.size {
            return Err(IoError);
        }
        self.file
            .read_exact_at(buffer, self.base + offset)
            .map_err(|_| IoError)
    }
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), IoError> {
        if offset + data.len() as u64 > self.size {
            return Err(IoError);
        }
        // Zero blocks are left as holes: the file stays sparse.
        if data.iter().all(|&b| b == 0) && self.read_is_zero(offset, data.len()) {
            return Ok(());
        }
        self.file
            .write_all_at(data, self.base + offset)
            .map_err(|_| IoError)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

impl FileRange<'_> {
    fn read_is_zero(&self, offset: u64, length: usize) -> bool {
        let mut buffer = vec![0u8; length];
        self.file
            .read_exact_at(&mut buffer, self.base + offset)
            .is_ok_and(|()| buffer.iter().all(|&b| b == 0))
    }
}

/// One blob of the image: its name in the product and its bytes.
pub struct Blob {
    /// Where it comes from (`bin/<program>`).
    pub path: String,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// Where a partition lies, in sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// First sector.
    pub first: u64,
    /// Sectors.
    pub sectors: u64,
}

/// Writes a system disk of `size` bytes at `path`: GPT, a blobfs
/// partition (half of the disk) with `blobs`, and a data partition (the
/// rest). Returns the blobs' roots, in order.
pub fn write_system_disk(path: &Path, size: u64, blobs: &[Blob]) -> Result<Vec<MerkleRoot>> {
    // Written aside and renamed: a copy in progress sees the old image.
    let partial = path.with_extension("partial");
    let roots = write_system_disk_at(&partial, size, blobs)?;
    std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(roots)
}

/// The system-disk template `build` wrote for disk `name` of `image`.
pub fn template(image: &crate::image::Image, name: &str) -> std::path::PathBuf {
    image
        .kernel
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!("{name}.img"))
}

fn write_system_disk_at(path: &Path, size: u64, blobs: &[Blob]) -> Result<Vec<MerkleRoot>> {
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.set_len(size)?;
    let sectors = size / SECTOR;
    let mbr = gpt::mbr::ProtectiveMBR::with_lb_size(u32::try_from(sectors - 1).unwrap_or(u32::MAX));
    mbr.overwrite_lba0(&mut file)
        .map_err(|e| anyhow!("protective MBR: {e}"))?;
    let mut disk = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .create_from_device(file, None)
        .map_err(|e| anyhow!("GPT: {e}"))?;
    let usable = sectors.saturating_sub(2 * ALIGN_SECTORS + 64);
    let blob_bytes = usable / 2 / ALIGN_SECTORS * ALIGN_SECTORS * SECTOR;
    let kind = |guid: partitions::Guid| -> Result<gpt::partition_types::Type> {
        Ok(gpt::partition_types::Type {
            guid: guid.to_string().parse().map_err(|e| anyhow!("{e}"))?,
            os: gpt::partition_types::OperatingSystem::Custom("zircon-like".into()),
        })
    };
    let blob_id = disk
        .add_partition(
            "blobfs",
            blob_bytes,
            kind(partitions::BLOBFS_TYPE)?,
            0,
            Some(ALIGN_SECTORS),
        )
        .map_err(|e| anyhow!("blobfs partition: {e}"))?;
    let free = disk.find_free_sectors();
    let (_, largest) = free
        .iter()
        .copied()
        .max_by_key(|(_, n)| *n)
        .unwrap_or((0, 0));
    let data_bytes =
        (largest.saturating_sub(ALIGN_SECTORS)) / ALIGN_SECTORS * ALIGN_SECTORS * SECTOR;
    disk.add_partition(
        "data",
        data_bytes,
        kind(partitions::DATA_TYPE)?,
        0,
        Some(ALIGN_SECTORS),
    )
    .map_err(|e| anyhow!("data partition: {e}"))?;
    let blob_partition = disk.partitions()[&blob_id].clone();
    let file = disk.write().map_err(|e| anyhow!("GPT: {e}"))?;
    let range = FileRange {
        file: &file,
        base: blob_partition.first_lba * SECTOR,
        size: (blob_partition.last_lba - blob_partition.first_lba + 1) * SECTOR,
    };
    let mut store = Store::format(range).map_err(|e| anyhow!("blobfs: {e}"))?;
    let mut roots = Vec::new();
    for blob in blobs {
        let root = root_of(&blob.data);
        if store.size_of(&root).is_none() {
            let mut writer = store
                .create(root, blob.data.len() as u64)
                .map_err(|e| anyhow!("blobfs: {}: {e}", blob.path))?;
            store
                .write(&mut writer, &blob.data)
                .and_then(|()| store.commit(writer))
                .map_err(|e| anyhow!("blobfs: {}: {e}", blob.path))?;
        }
        roots.push(root);
    }
    Ok(roots)
}

/// Where a system disk's partitions lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The disk's size in sectors.
    pub sectors: u64,
    /// The blobfs partition.
    pub blobfs: Extent,
    /// The data partition.
    pub data: Extent,
}

/// The layout of the system disk at `path`, read as the guest reads it
/// (`sdk/partitions`); `None` if it has no GPT or lacks either partition.
pub fn layout(path: &Path) -> Result<Option<Layout>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let sectors = file.metadata()?.len() / SECTOR;
    let mut lba1 = vec![0u8; SECTOR as usize];
    file.read_exact_at(&mut lba1, SECTOR)?;
    let Ok(header) = partitions::read_header(&lba1, sectors) else {
        return Ok(None);
    };
    let mut entries = vec![0u8; header.entries_bytes()];
    file.read_exact_at(&mut entries, header.entries_lba * SECTOR)?;
    let Ok(found) = header.partitions(&entries, sectors) else {
        return Ok(None);
    };
    let extent_of = |kind| {
        found.iter().find(|p| p.type_guid == kind).map(|p| Extent {
            first: p.first_lba,
            sectors: p.sectors,
        })
    };
    Ok(
        match (
            extent_of(partitions::BLOBFS_TYPE),
            extent_of(partitions::DATA_TYPE),
        ) {
            (Some(blobfs), Some(data)) => Some(Layout {
                sectors,
                blobfs,
                data,
            }),
            _ => None,
        },
    )
}

/// What [`refresh_system_disk`] did to a machine's disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// It already held the product's blobfs partition.
    Unchanged,
    /// Its blobfs partition was replaced by the product's; the data
    /// partition was not touched.
    BlobfsReplaced,
    /// The layout changed (the disk's size): the disk was written anew
    /// from the template, with the old data partition copied into the new
    /// one (which is at least as large).
    DataMoved,
}

/// Brings the machine's system disk at `machine` up to date with the
/// product's `template`, keeping its `/data`: if the layouts match, the
/// blobfs partition is rewritten when its bytes differ from the
/// template's; if they do not, a new disk is made from the template and
/// the old data partition copied in. An error, touching nothing, when the
/// data cannot be kept: the old disk has no GPT (an older blank disk) or
/// its data partition is larger than the new one.
pub fn refresh_system_disk(template: &Path, machine: &Path) -> Result<Refresh> {
    let new = layout(template)?
        .with_context(|| format!("{} is not a system disk", template.display()))?;
    let Some(old) = layout(machine)? else {
        anyhow::bail!(
            "{} has no system-disk GPT (an older disk): its contents cannot be kept; \
             remove it to get the product's new system disk",
            machine.display()
        );
    };
    if old == new {
        let source = File::open(template)?;
        let target = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(machine)?;
        let replaced = copy_range(&source, &target, new.blobfs, new.blobfs, true)?;
        return Ok(if replaced {
            Refresh::BlobfsReplaced
        } else {
            Refresh::Unchanged
        });
    }
    if old.data.sectors > new.data.sectors {
        anyhow::bail!(
            "{}: the new system disk's data partition ({} sectors) is smaller than the old one's \
             ({} sectors): /data cannot be kept; remove the disk to start afresh",
            machine.display(),
            new.data.sectors,
            old.data.sectors
        );
    }
    let partial = machine.with_extension("partial");
    copy_sparse(template, &partial)?;
    {
        let source = File::open(machine)?;
        let target = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&partial)?;
        copy_range(&source, &target, old.data, new.data, false)?;
    }
    std::fs::rename(&partial, machine)
        .with_context(|| format!("cannot write {}", machine.display()))?;
    Ok(Refresh::DataMoved)
}

/// Copies the sectors of `from` in `source` over those of `to` in
/// `target` (`to` at least as long); with `only_if_different`, touches
/// nothing when they are equal already. Returns whether it wrote. Zero
/// chunks over zero chunks are skipped (the file stays sparse).
fn copy_range(
    source: &File,
    target: &File,
    from: Extent,
    to: Extent,
    only_if_different: bool,
) -> Result<bool> {
    const CHUNK: u64 = 64 * 1024;
    let length = from.sectors * SECTOR;
    let mut a = vec![0u8; CHUNK as usize];
    let mut b = vec![0u8; CHUNK as usize];
    if only_if_different {
        let mut same = true;
        let mut at = 0;
        while at < length && same {
            let n = (length - at).min(CHUNK) as usize;
            source.read_exact_at(&mut a[..n], from.first * SECTOR + at)?;
            target.read_exact_at(&mut b[..n], to.first * SECTOR + at)?;
            same = a[..n] == b[..n];
            at += n as u64;
        }
        if same {
            return Ok(false);
        }
    }
    let mut at = 0;
    while at < length {
        let n = (length - at).min(CHUNK) as usize;
        source.read_exact_at(&mut a[..n], from.first * SECTOR + at)?;
        target.read_exact_at(&mut b[..n], to.first * SECTOR + at)?;
        if a[..n] != b[..n] {
            target.write_all_at(&a[..n], to.first * SECTOR + at)?;
        }
        at += n as u64;
    }
    target.sync_all()?;
    Ok(true)
}

/// The files of the datafs in the data partition of the system disk at
/// `path`, with their contents (for tests: the host's look at `/data`).
pub fn data_files(path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let layout =
        layout(path)?.with_context(|| format!("{} is not a system disk", path.display()))?;
    let file = File::open(path)?;
    let range = FileRange {
        file: &file,
        base: layout.data.first * SECTOR,
        size: layout.data.sectors * SECTOR,
    };
    let (mut fs, _) =
        datafs_core::DataFs::mount(range).map_err(|e| anyhow!("the data partition: {e}"))?;
    let names: Vec<String> = fs.list().iter().map(|e| e.name.clone()).collect();
    names
        .into_iter()
        .map(|name| {
            let data = fs
                .read_all(&name)
                .map_err(|e| anyhow!("/data/{name}: {e}"))?;
            Ok((name, data))
        })
        .collect()
}

/// Copies `from` to `to`, leaving holes where `from` has 64 KiB of zeros
/// (disk images are mostly empty).
pub fn copy_sparse(from: &Path, to: &Path) -> Result<()> {
    let mut source = File::open(from).with_context(|| format!("cannot open {}", from.display()))?;
    let length = source.metadata()?.len();
    let mut target = File::create(to).with_context(|| format!("cannot create {}", to.display()))?;
    target.set_len(length)?;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut at = 0;
    while at < length {
        let n = (length - at).min(buffer.len() as u64) as usize;
        source.read_exact(&mut buffer[..n])?;
        if buffer[..n].iter().any(|&b| b != 0) {
            target.seek(SeekFrom::Start(at))?;
            target.write_all(&buffer[..n])?;
        }
        at += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_finds_blobfs_by_type_and_reads_every_blob() {
        let dir = std::env::temp_dir().join(format!("system-disk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("data.img");
        let blobs: Vec<Blob> = [0usize, 5000, 100_000]
            .iter()
            .map(|&size| Blob {
                path: format!("bin/p{size}"),
                data: (0..size).map(|i| (i % 253) as u8).collect(),
            })
            .collect();
        let size = 16 << 20;
        let roots = write_system_disk(&path, size, &blobs).unwrap();
        // Read it back as the guest does: the partitions crate, then
        // blobfs-core on the partition of the blobfs type.
        let image = std::fs::read(&path).unwrap();
        let sectors = size / SECTOR;
        let header = partitions::read_header(&image[512..1024], sectors).unwrap();
        let at = header.entries_lba as usize * 512;
        let found = header.partitions(&image[at..], sectors).unwrap();
        assert_eq!(found.len(), 2);
        let blobfs = found
            .iter()
            .find(|p| p.type_guid == partitions::BLOBFS_TYPE)
            .unwrap();
        let data = found
            .iter()
            .find(|p| p.type_guid == partitions::DATA_TYPE)
            .unwrap();
        assert_eq!(blobfs.first_lba % ALIGN_SECTORS, 0);
        assert!(data.first_lba >= blobfs.first_lba + blobfs.sectors);
        let file = File::open(&path).unwrap();
        let range = FileRange {
            file: &file,
            base: blobfs.first_lba * SECTOR,
            size: blobfs.sectors * SECTOR,
        };
        let (mut store, report) = Store::mount(range).unwrap();
        assert!(!report.bitmap_repaired);
        for (root, blob) in roots.iter().zip(&blobs) {
            assert_eq!(store.read_all(root).unwrap(), blob.data);
        }
        // A sparse copy is the same image.
        let copy = dir.join("copy.img");
        copy_sparse(&path, &copy).unwrap();
        assert_eq!(std::fs::read(&copy).unwrap(), image);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn blobs(seed: usize) -> Vec<Blob> {
        [1000usize, 20_000]
            .iter()
            .map(|&size| Blob {
                path: format!("bin/p{size}"),
                data: (0..size).map(|i| ((i + seed) % 251) as u8).collect(),
            })
            .collect()
    }

    fn put_data_file(path: &Path, name: &str, content: &[u8]) {
        let layout = layout(path).unwrap().unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        let range = FileRange {
            file: &file,
            base: layout.data.first * SECTOR,
            size: layout.data.sectors * SECTOR,
        };
        let mut fs = datafs_core::DataFs::format(range).unwrap();
        fs.write(name, content, false).unwrap();
    }

    fn blob_roots(path: &Path) -> Vec<MerkleRoot> {
        let layout = layout(path).unwrap().unwrap();
        let file = File::open(path).unwrap();
        let range = FileRange {
            file: &file,
            base: layout.blobfs.first * SECTOR,
            size: layout.blobfs.sectors * SECTOR,
        };
        let (store, _) = Store::mount(range).unwrap();
        let mut roots: Vec<MerkleRoot> = store.list().into_iter().map(|(r, _)| r).collect();
        roots.sort_by_key(|r| r.to_string());
        roots
    }

    #[test]
    fn a_rebuilt_product_replaces_blobfs_and_keeps_data() {
        let dir = std::env::temp_dir().join(format!("system-refresh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let machine = dir.join("machine.img");
        let template = dir.join("template.img");
        write_system_disk(&machine, 16 << 20, &blobs(0)).unwrap();
        put_data_file(&machine, "kept", b"user data");
        // The same product: nothing to do.
        write_system_disk(&template, 16 << 20, &blobs(0)).unwrap();
        assert_eq!(
            refresh_system_disk(&template, &machine).unwrap(),
            Refresh::Unchanged
        );
        // A rebuilt product: new blobs, /data kept.
        write_system_disk(&template, 16 << 20, &blobs(7)).unwrap();
        let mut expected = write_system_disk(&template, 16 << 20, &blobs(7)).unwrap();
        expected.sort_by_key(|r| r.to_string());
        assert_eq!(
            refresh_system_disk(&template, &machine).unwrap(),
            Refresh::BlobfsReplaced
        );
        assert_eq!(blob_roots(&machine), expected);
        let kept = vec![("kept".to_string(), b"user data".to_vec())];
        assert_eq!(data_files(&machine).unwrap(), kept);
        // A larger disk: a new layout, /data copied over.
        write_system_disk(&template, 32 << 20, &blobs(9)).unwrap();
        assert_eq!(
            refresh_system_disk(&template, &machine).unwrap(),
            Refresh::DataMoved
        );
        assert_eq!(data_files(&machine).unwrap(), kept);
        assert_eq!(std::fs::metadata(&machine).unwrap().len(), 32 << 20);
        // A smaller one cannot hold the data: an error, nothing touched.
        write_system_disk(&template, 16 << 20, &blobs(9)).unwrap();
        let before = std::fs::read(&machine).unwrap();
        let error = refresh_system_disk(&template, &machine).unwrap_err();
        assert!(
            format!("{error}").contains("/data cannot be kept"),
            "{error}"
        );
        assert_eq!(std::fs::read(&machine).unwrap(), before);
        // A disk without a GPT: an error too.
        std::fs::write(&machine, vec![0u8; 1 << 20]).unwrap();
        assert!(refresh_system_disk(&template, &machine).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
