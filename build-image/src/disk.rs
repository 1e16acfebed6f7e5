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

/// A byte range of a file, as blobfs's device.
struct FileRange<'a> {
    file: &'a File,
    base: u64,
    size: u64,
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
}
