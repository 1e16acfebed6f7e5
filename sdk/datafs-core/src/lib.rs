//! datafs: the mutable file system behind `/data` (`docs/datafs.md`): its
//! on-disk format and its logic, shared by the `datafs` component and the
//! host tool (which checks, in tests, what the guest wrote).
//!
//! A datafs volume is a run of 4 KiB blocks ([`BLOCK_SIZE`]):
//!
//! ```text
//! block 0, sector 0     root slot 0  } each: magic, generation, where the
//! block 0, sector 1     root slot 1  } file table is and its SHA-256
//! blocks 1 ..           file table and file data, one contiguous extent each
//! ```
//!
//! It is copy-on-write: an operation (write a whole file, append, remove)
//! never overwrites a block the current root names. It writes the new
//! data and a new file table to free blocks, flushes, then writes a root
//! with the next generation into the *other* slot (one sector, with its
//! own checksum) and flushes again. Mount takes the valid root with the
//! highest generation. So after a power cut at any instant, the volume
//! mounts and holds the state after the last operation whose root reached
//! the disk: each operation happened entirely or not at all.
//!
//! Everything read is validated ([`DataFs::mount`]): a corrupt volume is
//! an error, never a panic. Files are in one flat directory.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
pub use blobfs_core::store::{Device, IoError};
use sha2::{Digest, Sha256};

/// Bytes of one block.
pub const BLOCK_SIZE: usize = 4096;
/// The sector size writes are atomic in (a root slot is one sector).
pub const SECTOR_SIZE: usize = 512;
/// A root slot's first bytes.
pub const MAGIC: [u8; 8] = *b"ZXDATAFS";
/// The format's version.
pub const VERSION: u32 = 1;
/// Most files a volume holds (a `zx.io` directory lists at most 256).
pub const MAX_FILES: usize = 256;
/// Longest file name, in bytes.
pub const MAX_NAME: usize = 255;
/// The smallest volume: the roots, a table block and a data block.
pub const MIN_BLOCKS: u64 = 3;

/// Bytes of a root record before its checksum.
const ROOT_BYTES: usize = 80;

/// Why a datafs operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The device failed.
    Io,
    /// Block 0 is all zero: the volume was never formatted.
    Blank,
    /// Neither root slot holds a datafs root (something else is there).
    NotDatafs,
    /// A version this code does not know.
    Version(u32),
    /// The volume is damaged: what is wrong.
    Corrupt(&'static str),
    /// No file of that name.
    NotFound,
    /// A name that is empty, too long, `.`, `..`, or holds `/` or NUL.
    BadName,
    /// No free extent for the file (or the table).
    NoSpace,
    /// [`MAX_FILES`] files exist already.
    TooManyFiles,
    /// The volume is smaller than [`MIN_BLOCKS`].
    TooSmall,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Io => write!(f, "device error"),
            Error::Blank => write!(f, "the volume is blank (never formatted)"),
            Error::NotDatafs => write!(f, "not a datafs volume"),
            Error::Version(v) => write!(f, "unknown datafs version {v}"),
            Error::Corrupt(what) => write!(f, "the volume is corrupt: {what}"),
            Error::NotFound => write!(f, "no such file"),
            Error::BadName => write!(f, "bad file name"),
            Error::NoSpace => write!(f, "no space left"),
            Error::TooManyFiles => write!(f, "too many files"),
            Error::TooSmall => write!(f, "the volume is too small for datafs"),
        }
    }
}

impl From<IoError> for Error {
    fn from(_: IoError) -> Error {
        Error::Io
    }
}

/// One file of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its extent's first block (0 for an empty file).
    pub start: u64,
    /// Its extent's length in blocks: `ceil(size / BLOCK_SIZE)`.
    pub blocks: u64,
}

/// A root slot's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Root {
    generation: u64,
    total_blocks: u64,
    table_start: u64,
    table_bytes: u64,
    table_hash: [u8; 32],
}

/// Blocks an append copies at a time (64 KiB): what it holds of the old
/// content, whatever the file's size.
const COPY_BLOCKS: usize = 16;

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

fn checksum(bytes: &[u8]) -> u64 {
    u64_at(&Sha256::digest(bytes), 0)
}

fn hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Root {
    fn encode(&self) -> [u8; SECTOR_SIZE] {
        let mut sector = [0u8; SECTOR_SIZE];
        sector[0..8].copy_from_slice(&MAGIC);
        sector[8..12].copy_from_slice(&VERSION.to_le_bytes());
        sector[12..16].copy_from_slice(&(BLOCK_SIZE as u32).to_le_bytes());
        sector[16..24].copy_from_slice(&self.generation.to_le_bytes());
        sector[24..32].copy_from_slice(&self.total_blocks.to_le_bytes());
        sector[32..40].copy_from_slice(&self.table_start.to_le_bytes());
        sector[40..48].copy_from_slice(&self.table_bytes.to_le_bytes());
        sector[48..80].copy_from_slice(&self.table_hash);
        let sum = checksum(&sector[..ROOT_BYTES]);
        sector[ROOT_BYTES..ROOT_BYTES + 8].copy_from_slice(&sum.to_le_bytes());
        sector
    }

    fn decode(sector: &[u8]) -> Result<Root, Error> {
        if sector.iter().all(|&b| b == 0) {
            return Err(Error::Blank);
        }
        if sector[0..8] != MAGIC {
            return Err(Error::NotDatafs);
        }
        if checksum(&sector[..ROOT_BYTES]) != u64_at(sector, ROOT_BYTES) {
            return Err(Error::Corrupt("a root's checksum does not match"));
        }
        let version = u32_at(sector, 8);
        if version != VERSION {
            return Err(Error::Version(version));
        }
        if u32_at(sector, 12) as usize != BLOCK_SIZE {
            return Err(Error::Corrupt("a root names another block size"));
        }
        let mut table_hash = [0u8; 32];
        table_hash.copy_from_slice(&sector[48..80]);
        Ok(Root {
            generation: u64_at(sector, 16),
            total_blocks: u64_at(sector, 24),
            table_start: u64_at(sector, 32),
            table_bytes: u64_at(sector, 40),
            table_hash,
        })
    }

    fn table_blocks(&self) -> u64 {
        table_blocks_for(self.table_bytes)
    }
}

fn blocks_for(bytes: u64) -> u64 {
    bytes.div_ceil(BLOCK_SIZE as u64)
}

fn table_blocks_for(bytes: u64) -> u64 {
    blocks_for(bytes).max(1)
}

/// Whether `name` may name a file.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name != "."
        && name != ".."
        && !name.bytes().any(|b| b == b'/' || b == 0)
}

/// The table's bytes: a u32 count, then per file a u8 name length, the
/// name, and size, start and blocks as u64s (little-endian).
fn encode_table(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for entry in entries {
        out.push(entry.name.len() as u8);
        out.extend_from_slice(entry.name.as_bytes());
        out.extend_from_slice(&entry.size.to_le_bytes());
        out.extend_from_slice(&entry.start.to_le_bytes());
        out.extend_from_slice(&entry.blocks.to_le_bytes());
    }
    out
}

fn decode_table(bytes: &[u8]) -> Result<Vec<Entry>, Error> {
    let bad = Error::Corrupt("the file table does not parse");
    if bytes.len() < 4 {
        return Err(bad);
    }
    let count = u32_at(bytes, 0) as usize;
    if count > MAX_FILES {
        return Err(Error::Corrupt("the file table lists too many files"));
    }
    let mut at = 4;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let length = *bytes.get(at).ok_or(bad)? as usize;
        at += 1;
        let name = bytes.get(at..at + length).ok_or(bad)?;
        let name = core::str::from_utf8(name).map_err(|_| bad)?;
        at += length;
        let fields = bytes.get(at..at + 24).ok_or(bad)?;
        at += 24;
        entries.push(Entry {
            name: name.into(),
            size: u64_at(fields, 0),
            start: u64_at(fields, 8),
            blocks: u64_at(fields, 16),
        });
    }
    if at != bytes.len() {
        return Err(bad);
    }
    Ok(entries)
}

/// How full a volume is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Blocks of the volume (the root block included).
    pub total_blocks: u64,
    /// Of them, in use (the root block, the table and the files).
    pub used_blocks: u64,
    /// Files stored.
    pub files: u64,
}

/// What mount found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountReport {
    /// The generation mounted: operations since format, plus one.
    pub generation: u64,
    /// The other slot held no valid root (torn by a power cut, or blank).
    pub other_slot_invalid: bool,
}

/// A mounted datafs volume.
pub struct DataFs<D: Device> {
    device: D,
    root: Root,
    /// Sorted by name.
    entries: Vec<Entry>,
    /// One flag per block: named by the current root.
    used: Vec<bool>,
}

impl<D: Device> DataFs<D> {
    /// Formats `device` as an empty volume (generation 1 in slot 1, slot 0
    /// cleared) and mounts it.
    pub fn format(mut device: D) -> Result<DataFs<D>, Error> {
        let total_blocks = device.size() / BLOCK_SIZE as u64;
        if total_blocks < MIN_BLOCKS {
            return Err(Error::TooSmall);
        }
        let table = encode_table(&[]);
        let mut block = vec![0u8; BLOCK_SIZE];
        block[..table.len()].copy_from_slice(&table);
        device.write(BLOCK_SIZE as u64, &block)?;
        device.write(0, &[0u8; SECTOR_SIZE])?;
        device.flush()?;
        let root = Root {
            generation: 1,
            total_blocks,
            table_start: 1,
            table_bytes: table.len() as u64,
            table_hash: hash(&table),
        };
        device.write(SECTOR_SIZE as u64, &root.encode())?;
        device.flush()?;
        let mut used = vec![false; total_blocks as usize];
        used[0] = true;
        used[1] = true;
        Ok(DataFs {
            device,
            root,
            entries: Vec::new(),
            used,
        })
    }

    /// Mounts `device`: the valid root with the highest generation, its
    /// table checked against the root's hash, every extent checked to lie
    /// on the volume and overlap no other.
    pub fn mount(mut device: D) -> Result<(DataFs<D>, MountReport), Error> {
        let total = device.size() / BLOCK_SIZE as u64;
        if total < MIN_BLOCKS {
            return Err(Error::TooSmall);
        }
        let mut first = vec![0u8; BLOCK_SIZE];
        device.read(0, &mut first)?;
        if first.iter().all(|&b| b == 0) {
            return Err(Error::Blank);
        }
        let slots = [
            Root::decode(&first[..SECTOR_SIZE]),
            Root::decode(&first[SECTOR_SIZE..2 * SECTOR_SIZE]),
        ];
        let best = match (&slots[0], &slots[1]) {
            (Ok(a), Ok(b)) => {
                if a.generation >= b.generation {
                    *a
                } else {
                    *b
                }
            }
            (Ok(a), Err(_)) => *a,
            (Err(_), Ok(b)) => *b,
            (Err(a), Err(b)) => {
                // A torn root next to a blank slot is still a datafs
                // volume: say it is corrupt rather than foreign.
                return Err(match (*a, *b) {
                    (Error::NotDatafs | Error::Blank, Error::NotDatafs | Error::Blank) => {
                        Error::NotDatafs
                    }
                    (Error::NotDatafs | Error::Blank, other) | (other, _) => other,
                });
            }
        };
        let report = MountReport {
            generation: best.generation,
            other_slot_invalid: slots.iter().any(|s| s.is_err()),
        };
        if best.total_blocks < MIN_BLOCKS || best.total_blocks > total {
            return Err(Error::Corrupt("the root's size does not fit the device"));
        }
        let mut used = vec![false; best.total_blocks as usize];
        used[0] = true;
        let table_blocks = best.table_blocks();
        claim(&mut used, best.table_start, table_blocks)?;
        let mut table = vec![0u8; (table_blocks as usize) * BLOCK_SIZE];
        device.read(best.table_start * BLOCK_SIZE as u64, &mut table)?;
        table.truncate(best.table_bytes as usize);
        if hash(&table) != best.table_hash {
            return Err(Error::Corrupt("the file table does not match its hash"));
        }
        let entries = decode_table(&table)?;
        for (i, entry) in entries.iter().enumerate() {
            if !valid_name(&entry.name) {
                return Err(Error::Corrupt("a file has a bad name"));
            }
            if i > 0 && entries[i - 1].name >= entry.name {
                return Err(Error::Corrupt("the file table is not sorted"));
            }
            if entry.blocks != blocks_for(entry.size) {
                return Err(Error::Corrupt("a file's extent does not match its size"));
            }
            if entry.blocks > 0 {
                claim(&mut used, entry.start, entry.blocks)?;
            }
        }
        Ok((
            DataFs {
                device,
                root: best,
                entries,
                used,
            },
            report,
        ))
    }

    /// The files, sorted by name.
    pub fn list(&self) -> &[Entry] {
        &self.entries
    }

    /// The size of file `name`, if there is one.
    pub fn size_of(&self, name: &str) -> Option<u64> {
        self.find(name).ok().map(|i| self.entries[i].size)
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|entry| entry.name.as_str().cmp(name))
    }

    /// How full the volume is.
    pub fn usage(&self) -> Usage {
        Usage {
            total_blocks: self.root.total_blocks,
            used_blocks: self.used.iter().filter(|&&u| u).count() as u64,
            files: self.entries.len() as u64,
        }
    }

    /// The operations committed since format, plus one.
    pub fn generation(&self) -> u64 {
        self.root.generation
    }

    /// Reads at most `count` bytes of `name` from `offset` (fewer at the
    /// end, none past it).
    pub fn read(&mut self, name: &str, offset: u64, count: usize) -> Result<Vec<u8>, Error> {
        let entry = &self.entries[self.find(name).map_err(|_| Error::NotFound)?];
        if offset >= entry.size || count == 0 {
            return Ok(Vec::new());
        }
        let end = entry.size.min(offset.saturating_add(count as u64));
        let block_size = BLOCK_SIZE as u64;
        let first = offset / block_size;
        let last = end.div_ceil(block_size);
        let mut buffer = vec![0u8; ((last - first) * block_size) as usize];
        self.device
            .read((entry.start + first) * block_size, &mut buffer)?;
        let skip = (offset - first * block_size) as usize;
        Ok(buffer[skip..skip + (end - offset) as usize].to_vec())
    }

    /// Reads the whole of `name`.
    pub fn read_all(&mut self, name: &str) -> Result<Vec<u8>, Error> {
        let size = self.size_of(name).ok_or(Error::NotFound)?;
        self.read(name, 0, size as usize)
    }

    /// Replaces `name`'s content with `data` (creating the file), or with
    /// `append` adds `data` to its end: atomically, durable on return.
    pub fn write(&mut self, name: &str, data: &[u8], append: bool) -> Result<(), Error> {
        if !valid_name(name) {
            return Err(Error::BadName);
        }
        let found = self.find(name);
        if found.is_err() && self.entries.len() >= MAX_FILES {
            return Err(Error::TooManyFiles);
        }
        // An append keeps the old content's whole blocks where they are
        // on the device and copies them to the new extent in bounded
        // pieces; only its last, partial block is carried in memory.
        let old = match found {
            Ok(i) if append => Some(self.entries[i].clone()),
            _ => None,
        };
        let kept = old.as_ref().map_or(0, |old| old.size);
        let size = kept.checked_add(data.len() as u64).ok_or(Error::NoSpace)?;
        let blocks = blocks_for(size);
        let mut taken = self.used.clone();
        let start = if blocks > 0 {
            allocate(&mut taken, blocks).ok_or(Error::NoSpace)?
        } else {
            0
        };
        let entry = Entry {
            name: name.into(),
            size,
            start,
            blocks,
        };
        let mut entries = self.entries.clone();
        match found {
            Ok(i) => entries[i] = entry,
            Err(i) => entries.insert(i, entry),
        }
        let block_size = BLOCK_SIZE as u64;
        let whole = kept / block_size;
        if let Some(old) = &old {
            let mut piece = vec![0u8; COPY_BLOCKS * BLOCK_SIZE];
            let mut block = 0;
            while block < whole {
                let count = (whole - block).min(COPY_BLOCKS as u64);
                let piece = &mut piece[..count as usize * BLOCK_SIZE];
                self.device.read((old.start + block) * block_size, piece)?;
                self.device.write((start + block) * block_size, piece)?;
                block += count;
            }
        }
        if blocks > whole {
            // The old content's partial last block, then the new bytes.
            let partial = (kept - whole * block_size) as usize;
            let mut tail = vec![0u8; (blocks - whole) as usize * BLOCK_SIZE];
            if let (Some(old), true) = (&old, partial > 0) {
                self.device
                    .read((old.start + whole) * block_size, &mut tail[..BLOCK_SIZE])?;
            }
            tail[partial..partial + data.len()].copy_from_slice(data);
            tail[partial + data.len()..].fill(0);
            self.device.write((start + whole) * block_size, &tail)?;
        }
        self.commit(entries, taken)
    }

    /// Removes `name`: atomically, durable on return.
    pub fn remove(&mut self, name: &str) -> Result<(), Error> {
        let i = self.find(name).map_err(|_| Error::NotFound)?;
        let mut entries = self.entries.clone();
        entries.remove(i);
        let taken = self.used.clone();
        self.commit(entries, taken)
    }

    /// Writes `entries` as a new table in blocks free in `taken` (the
    /// current state's blocks and the new data's), flushes, writes the
    /// next root into the other slot, flushes, and makes it current.
    fn commit(&mut self, entries: Vec<Entry>, mut taken: Vec<bool>) -> Result<(), Error> {
        let table = encode_table(&entries);
        let table_blocks = table_blocks_for(table.len() as u64);
        let table_start = allocate(&mut taken, table_blocks).ok_or(Error::NoSpace)?;
        let mut padded = vec![0u8; (table_blocks as usize) * BLOCK_SIZE];
        padded[..table.len()].copy_from_slice(&table);
        self.device
            .write(table_start * BLOCK_SIZE as u64, &padded)?;
        self.device.flush()?;
        let root = Root {
            generation: self.root.generation + 1,
            total_blocks: self.root.total_blocks,
            table_start,
            table_bytes: table.len() as u64,
            table_hash: hash(&table),
        };
        let slot = root.generation % 2;
        self.device
            .write(slot * SECTOR_SIZE as u64, &root.encode())?;
        self.device.flush()?;
        let mut used = vec![false; self.root.total_blocks as usize];
        used[0] = true;
        for block in table_start..table_start + table_blocks {
            used[block as usize] = true;
        }
        for entry in &entries {
            for block in entry.start..entry.start + entry.blocks {
                used[block as usize] = true;
            }
        }
        self.root = root;
        self.entries = entries;
        self.used = used;
        Ok(())
    }

    /// The device, for tests that look at the bytes.
    pub fn into_device(self) -> D {
        self.device
    }
}

/// Marks `count` blocks from `start` used; an extent off the volume or
/// over one already marked is corruption.
fn claim(used: &mut [bool], start: u64, count: u64) -> Result<(), Error> {
    let end = start
        .checked_add(count)
        .filter(|&end| start >= 1 && end <= used.len() as u64)
        .ok_or(Error::Corrupt("an extent lies off the volume"))?;
    for block in start..end {
        if core::mem::replace(&mut used[block as usize], true) {
            return Err(Error::Corrupt("two extents overlap"));
        }
    }
    Ok(())
}

/// The first run of `count` free blocks, marked used.
fn allocate(used: &mut [bool], count: u64) -> Option<u64> {
    let count = count as usize;
    let mut run = 0;
    for block in 1..used.len() {
        if used[block] {
            run = 0;
            continue;
        }
        run += 1;
        if run == count {
            let start = block + 1 - count;
            used[start..=block].iter_mut().for_each(|u| *u = true);
            return Some(start as u64);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disk in memory that, once `budget` writes have been made, drops
    /// every later one (a power cut after that many writes); with `tear`,
    /// the write the cut lands in is half made.
    #[derive(Clone)]
    struct MemoryDisk {
        bytes: Vec<u8>,
        budget: Option<usize>,
        tear: bool,
        writes: usize,
    }

    impl MemoryDisk {
        fn new(blocks: usize) -> MemoryDisk {
            MemoryDisk {
                bytes: vec![0; blocks * BLOCK_SIZE],
                budget: None,
                tear: false,
                writes: 0,
            }
        }
    }

    impl Device for MemoryDisk {
        fn size(&self) -> u64 {
            self.bytes.len() as u64
        }
        fn read(&mut self, offset: u64, buffer: &mut [u8]) -> Result<(), IoError> {
            let at = offset as usize;
            buffer.copy_from_slice(self.bytes.get(at..at + buffer.len()).ok_or(IoError)?);
            Ok(())
        }
        fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), IoError> {
            assert_eq!(offset as usize % SECTOR_SIZE, 0);
            assert_eq!(data.len() % SECTOR_SIZE, 0);
            self.writes += 1;
            let mut data = data;
            if let Some(budget) = self.budget {
                if self.writes > budget + 1 || (self.writes == budget + 1 && !self.tear) {
                    return Ok(()); // lost in the power cut
                }
                if self.writes == budget + 1 {
                    // Torn: the first half arrives (garbage for a root).
                    data = &data[..data.len() / 2];
                    let at = offset as usize;
                    for (i, b) in data.iter().enumerate() {
                        self.bytes[at + i] = b ^ 0x5a;
                    }
                    return Ok(());
                }
            }
            let at = offset as usize;
            self.bytes
                .get_mut(at..at + data.len())
                .ok_or(IoError)?
                .copy_from_slice(data);
            Ok(())
        }
        fn flush(&mut self) -> Result<(), IoError> {
            Ok(())
        }
    }

    fn content(size: usize, seed: u8) -> Vec<u8> {
        (0..size)
            .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn blank_is_blank_and_format_mounts_empty() {
        let disk = MemoryDisk::new(64);
        assert_eq!(
            DataFs::mount(disk.clone()).err(),
            Some(Error::Blank),
            "a blank disk"
        );
        let fs = DataFs::format(disk).unwrap();
        assert_eq!(fs.usage().files, 0);
        let (fs, report) = DataFs::mount(fs.into_device()).unwrap();
        assert_eq!(report.generation, 1);
        assert_eq!(fs.list(), &[]);
        assert_eq!(fs.usage().used_blocks, 2);
    }

    #[test]
    fn files_round_trip_across_mounts() {
        let mut fs = DataFs::format(MemoryDisk::new(64)).unwrap();
        let big = content(3 * BLOCK_SIZE + 17, 1);
        fs.write("b", &big, false).unwrap();
        fs.write("a", b"hello", false).unwrap();
        fs.write("a", b" world", true).unwrap();
        fs.write("empty", b"", false).unwrap();
        fs.write("gone", b"x", false).unwrap();
        fs.remove("gone").unwrap();
        let (mut fs, report) = DataFs::mount(fs.into_device()).unwrap();
        assert_eq!(report.generation, 7);
        let names: Vec<&str> = fs.list().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "empty"]);
        assert_eq!(fs.read_all("a").unwrap(), b"hello world");
        assert_eq!(fs.read_all("b").unwrap(), big);
        assert_eq!(fs.read_all("empty").unwrap(), b"");
        assert_eq!(fs.read("b", 4090, 10).unwrap(), &big[4090..4100]);
        assert_eq!(fs.read("b", big.len() as u64, 10).unwrap(), b"");
        assert_eq!(fs.read_all("gone"), Err(Error::NotFound));
        // root block + table block + a (1) + b (4)
        assert_eq!(fs.usage().used_blocks, 7);
    }

    #[test]
    fn bad_names_and_full_volumes_are_refused() {
        let mut fs = DataFs::format(MemoryDisk::new(8)).unwrap();
        for name in ["", ".", "..", "a/b", "nul\0"] {
            assert_eq!(fs.write(name, b"x", false), Err(Error::BadName), "{name:?}");
        }
        let long = "n".repeat(MAX_NAME + 1);
        assert_eq!(fs.write(&long, b"x", false), Err(Error::BadName));
        assert_eq!(
            fs.write("big", &content(7 * BLOCK_SIZE, 0), false),
            Err(Error::NoSpace)
        );
        assert_eq!(fs.list(), &[]);
        assert_eq!(fs.remove("nothing"), Err(Error::NotFound));
        assert_eq!(
            DataFs::format(MemoryDisk::new(2)).err(),
            Some(Error::TooSmall)
        );
    }

    #[test]
    fn foreign_and_damaged_volumes_are_errors() {
        let mut disk = MemoryDisk::new(16);
        disk.bytes[0..8].copy_from_slice(b"FAT32   ");
        assert_eq!(DataFs::mount(disk).err(), Some(Error::NotDatafs));

        let mut fs = DataFs::format(MemoryDisk::new(16)).unwrap();
        fs.write("f", b"data", false).unwrap();
        let table_start = fs.root.table_start as usize;
        let mut disk = fs.into_device();
        disk.bytes[table_start * BLOCK_SIZE] ^= 1;
        assert_eq!(
            DataFs::mount(disk).err(),
            Some(Error::Corrupt("the file table does not match its hash"))
        );

        let mut fs = DataFs::format(MemoryDisk::new(16)).unwrap();
        fs.write("f", b"data", false).unwrap();
        let mut disk = fs.into_device();
        // Generation 2 is in slot 0; damage it: slot 1 (generation 1) wins.
        disk.bytes[20] ^= 1;
        let (fs, report) = DataFs::mount(disk).unwrap();
        assert_eq!(report.generation, 1);
        assert!(report.other_slot_invalid);
        assert_eq!(fs.list(), &[]);
    }

    #[test]
    fn the_table_can_grow_past_one_block() {
        let mut fs = DataFs::format(MemoryDisk::new(512)).unwrap();
        for i in 0..MAX_FILES {
            let name = format!("{i:0>200}");
            fs.write(&name, &[i as u8], false).unwrap();
        }
        assert_eq!(
            fs.write("one-too-many", b"", false),
            Err(Error::TooManyFiles)
        );
        let (mut fs, _) = DataFs::mount(fs.into_device()).unwrap();
        assert_eq!(fs.list().len(), MAX_FILES);
        assert!(fs.root.table_blocks() > 1);
        let name = format!("{:0>200}", 77);
        assert_eq!(fs.read_all(&name).unwrap(), [77]);
    }

    /// The workload the cut tests run; returns the states a mount may see
    /// (each as a sorted list of (name, content)), after each operation.
    fn workload(fs: &mut DataFs<MemoryDisk>) -> Vec<Vec<(String, Vec<u8>)>> {
        let mut states = vec![Vec::new()];
        let ops: Vec<(&str, Option<Vec<u8>>, bool)> = vec![
            ("a", Some(content(5000, 1)), false),
            ("b", Some(content(100, 2)), false),
            ("a", Some(content(9000, 3)), false),
            ("b", Some(content(300, 4)), true),
            ("a", None, false),
            ("c", Some(content(12000, 5)), false),
            ("b", Some(Vec::new()), false),
        ];
        let mut model: Vec<(String, Vec<u8>)> = Vec::new();
        for (name, data, append) in ops {
            let at = model.iter().position(|(n, _)| n == name);
            match data {
                None => {
                    fs.remove(name).unwrap();
                    model.remove(at.unwrap());
                }
                Some(data) => {
                    fs.write(name, &data, append).unwrap();
                    match at {
                        Some(i) if append => model[i].1.extend_from_slice(&data),
                        Some(i) => model[i].1 = data,
                        None => model.push((name.into(), data)),
                    }
                }
            }
            model.sort();
            states.push(model.clone());
        }
        states
    }

    fn state_of(fs: &mut DataFs<MemoryDisk>) -> Vec<(String, Vec<u8>)> {
        let names: Vec<String> = fs.list().iter().map(|e| e.name.clone()).collect();
        names
            .into_iter()
            .map(|name| {
                let data = fs.read_all(&name).unwrap();
                (name, data)
            })
            .collect()
    }

    #[test]
    fn a_power_cut_after_any_write_leaves_one_whole_state() {
        let fs = DataFs::format(MemoryDisk::new(32)).unwrap();
        let base = fs.into_device();
        let mut full = DataFs::mount(base.clone()).unwrap().0;
        let states = workload(&mut full);
        let total = full.into_device().writes - base.writes;
        for tear in [false, true] {
            let mut seen = vec![false; states.len()];
            for cut in 0..=total {
                let mut disk = base.clone();
                disk.budget = Some(disk.writes + cut);
                disk.tear = tear;
                let mut fs = DataFs::mount(disk).unwrap().0;
                workload(&mut fs); // the disk drops what comes after the cut
                let mut disk = fs.into_device();
                disk.budget = None;
                let (mut fs, _) = DataFs::mount(disk)
                    .unwrap_or_else(|e| panic!("cut after {cut} writes (tear {tear}): {e}"));
                let state = state_of(&mut fs);
                let index = states
                    .iter()
                    .position(|s| *s == state)
                    .unwrap_or_else(|| panic!("cut after {cut} (tear {tear}): {state:?}"));
                seen[index] = true;
            }
            assert!(seen.iter().all(|&s| s), "every state was seen: {seen:?}");
        }
    }
}
