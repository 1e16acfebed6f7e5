//! The bootfs image format: a read-only archive of the files the system
//! needs before any file system runs (userboot's programs, the component
//! manager, manifests).
//!
//! `build-image` writes it, the kernel hands it to userboot as a boot module,
//! and readers find files by name. Every file's data starts on a 4 KiB
//! boundary so it can later be mapped as VMO pages without copying.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! offset 0   header  (16 bytes)
//!            magic      [u8; 8]  = b"ZXBOOTFS"
//!            version    u32      = 1
//!            entries    u32      number of directory entries
//! offset 16  directory (entries × 24 bytes + names)
//!            name_offset u32   offset of the name from the image start
//!            name_len    u32   at most MAX_NAME_LEN, UTF-8, no NUL
//!            data_offset u64   4 KiB aligned
//!            data_len    u64
//! then       names, then file data at 4 KiB boundaries
//! ```
//!
//! Reading validates everything (bounds, alignment, UTF-8, overlaps with the
//! header) and never panics on a corrupt image: bootfs comes from outside
//! the kernel.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

/// The image magic.
pub const MAGIC: [u8; 8] = *b"ZXBOOTFS";
/// The format version this crate reads and writes.
pub const VERSION: u32 = 1;
/// Alignment of file data.
pub const DATA_ALIGN: usize = 4096;
/// Longest file name.
pub const MAX_NAME_LEN: usize = 255;

const HEADER_LEN: usize = 16;
const ENTRY_LEN: usize = 24;

/// Why an image is not a valid bootfs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootfsError {
    /// Shorter than its header or directory says.
    Truncated,
    /// The magic is wrong.
    BadMagic,
    /// A version this reader does not know.
    UnsupportedVersion(u32),
    /// Entry `index` points outside the image or is misaligned.
    BadEntry {
        /// Index of the entry in the directory.
        index: usize,
    },
    /// A name is empty, too long or not UTF-8.
    BadName {
        /// Index of the entry in the directory.
        index: usize,
    },
    /// Two files share a name (writing).
    DuplicateName(String),
}

impl core::fmt::Display for BootfsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BootfsError::Truncated => write!(f, "bootfs image is truncated"),
            BootfsError::BadMagic => write!(f, "not a bootfs image (bad magic)"),
            BootfsError::UnsupportedVersion(v) => write!(f, "unsupported bootfs version {v}"),
            BootfsError::BadEntry { index } => {
                write!(f, "bootfs entry {index} is out of bounds or misaligned")
            }
            BootfsError::BadName { index } => write!(f, "bootfs entry {index} has an invalid name"),
            BootfsError::DuplicateName(name) => write!(f, "bootfs file {name:?} appears twice"),
        }
    }
}

/// One file of a bootfs image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct File<'a> {
    /// Its path, e.g. `bin/userboot`.
    pub name: &'a str,
    /// Offset of its data within the image (4 KiB aligned).
    pub offset: usize,
    /// Its contents.
    pub data: &'a [u8],
}

/// A validated bootfs image.
#[derive(Clone, Copy, Debug)]
pub struct Bootfs<'a> {
    image: &'a [u8],
    entries: usize,
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        bytes.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

impl<'a> Bootfs<'a> {
    /// Validates `image` as a bootfs.
    pub fn parse(image: &'a [u8]) -> Result<Bootfs<'a>, BootfsError> {
        if image.len() < HEADER_LEN {
            return Err(BootfsError::Truncated);
        }
        if image[..8] != MAGIC {
            return Err(BootfsError::BadMagic);
        }
        let version = read_u32(image, 8).ok_or(BootfsError::Truncated)?;
        if version != VERSION {
            return Err(BootfsError::UnsupportedVersion(version));
        }
        let entries = read_u32(image, 12).ok_or(BootfsError::Truncated)? as usize;
        let directory_end = entries
            .checked_mul(ENTRY_LEN)
            .and_then(|n| n.checked_add(HEADER_LEN))
            .ok_or(BootfsError::Truncated)?;
        if directory_end > image.len() {
            return Err(BootfsError::Truncated);
        }
        let fs = Bootfs { image, entries };
        for index in 0..entries {
            fs.entry(index)?;
        }
        Ok(fs)
    }

    fn entry(&self, index: usize) -> Result<File<'a>, BootfsError> {
        let at = HEADER_LEN + index * ENTRY_LEN;
        let image = self.image;
        let bad_entry = BootfsError::BadEntry { index };
        let name_offset = read_u32(image, at).ok_or(BootfsError::Truncated)? as usize;
        let name_len = read_u32(image, at + 4).ok_or(BootfsError::Truncated)? as usize;
        let data_offset = read_u64(image, at + 8).ok_or(BootfsError::Truncated)?;
        let data_len = read_u64(image, at + 16).ok_or(BootfsError::Truncated)?;
        if name_len == 0 || name_len > MAX_NAME_LEN {
            return Err(BootfsError::BadName { index });
        }
        let directory_end = HEADER_LEN + self.entries * ENTRY_LEN;
        if name_offset < directory_end {
            return Err(bad_entry);
        }
        let name_bytes = image
            .get(name_offset..name_offset.checked_add(name_len).ok_or(bad_entry.clone())?)
            .ok_or(bad_entry.clone())?;
        let name = core::str::from_utf8(name_bytes).map_err(|_| BootfsError::BadName { index })?;
        let data_offset = usize::try_from(data_offset).map_err(|_| bad_entry.clone())?;
        let data_len = usize::try_from(data_len).map_err(|_| bad_entry.clone())?;
        if data_offset % DATA_ALIGN != 0 || data_offset < directory_end {
            return Err(bad_entry);
        }
        let data = image
            .get(data_offset..data_offset.checked_add(data_len).ok_or(bad_entry.clone())?)
            .ok_or(bad_entry)?;
        Ok(File {
            name,
            offset: data_offset,
            data,
        })
    }

    /// The files, in directory order.
    pub fn files(&self) -> impl Iterator<Item = File<'a>> + '_ {
        // Every entry was validated by `parse`.
        (0..self.entries).filter_map(|index| self.entry(index).ok())
    }

    /// The file called `name`.
    pub fn find(&self, name: &str) -> Option<File<'a>> {
        self.files().find(|file| file.name == name)
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether the image holds no files.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }
}

/// Builds a bootfs image.
#[derive(Default)]
pub struct Builder {
    files: Vec<(String, Vec<u8>)>,
}

impl Builder {
    /// An empty image.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Adds a file; names must be unique, 1..=255 bytes.
    pub fn add(&mut self, name: &str, data: Vec<u8>) -> Result<&mut Builder, BootfsError> {
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(BootfsError::BadName {
                index: self.files.len(),
            });
        }
        if self.files.iter().any(|(existing, _)| existing == name) {
            return Err(BootfsError::DuplicateName(name.into()));
        }
        self.files.push((name.into(), data));
        Ok(self)
    }

    /// The finished image.
    pub fn build(&self) -> Vec<u8> {
        let directory_end = HEADER_LEN + self.files.len() * ENTRY_LEN;
        let names_len: usize = self.files.iter().map(|(name, _)| name.len()).sum();
        let mut data_offset = (directory_end + names_len).next_multiple_of(DATA_ALIGN);
        let mut image = Vec::new();
        image.extend_from_slice(&MAGIC);
        image.extend_from_slice(&VERSION.to_le_bytes());
        image.extend_from_slice(&(self.files.len() as u32).to_le_bytes());
        let mut name_offset = directory_end;
        let mut layout = Vec::new();
        for (name, data) in &self.files {
            image.extend_from_slice(&(name_offset as u32).to_le_bytes());
            image.extend_from_slice(&(name.len() as u32).to_le_bytes());
            image.extend_from_slice(&(data_offset as u64).to_le_bytes());
            image.extend_from_slice(&(data.len() as u64).to_le_bytes());
            layout.push(data_offset);
            name_offset += name.len();
            data_offset = (data_offset + data.len()).next_multiple_of(DATA_ALIGN);
        }
        for (name, _) in &self.files {
            image.extend_from_slice(name.as_bytes());
        }
        for ((_, data), offset) in self.files.iter().zip(layout) {
            image.resize(offset, 0);
            image.extend_from_slice(data);
        }
        image.resize(image.len().next_multiple_of(DATA_ALIGN), 0);
        image
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut builder = Builder::new();
        builder.add("bin/userboot", vec![1, 2, 3]).unwrap();
        builder.add("bin/empty", vec![]).unwrap();
        builder.add("data/big", vec![7; 5000]).unwrap();
        builder.build()
    }

    #[test]
    fn round_trip() {
        let image = sample();
        assert_eq!(image.len() % DATA_ALIGN, 0);
        let fs = Bootfs::parse(&image).unwrap();
        assert_eq!(fs.len(), 3);
        let names: Vec<_> = fs.files().map(|f| f.name).collect();
        assert_eq!(names, ["bin/userboot", "bin/empty", "data/big"]);
        assert_eq!(fs.find("bin/userboot").unwrap().data, [1, 2, 3]);
        assert_eq!(fs.find("bin/empty").unwrap().data, [] as [u8; 0]);
        let big = fs.find("data/big").unwrap();
        assert_eq!(big.data.len(), 5000);
        assert_eq!(big.offset % DATA_ALIGN, 0);
        assert!(fs.find("missing").is_none());
    }

    #[test]
    fn builder_refuses_bad_names() {
        let mut builder = Builder::new();
        builder.add("a", vec![]).unwrap();
        assert_eq!(
            builder.add("a", vec![]).err(),
            Some(BootfsError::DuplicateName("a".into()))
        );
        assert!(builder.add("", vec![]).is_err());
        assert!(builder.add(&"x".repeat(256), vec![]).is_err());
    }

    #[test]
    fn corrupt_images_are_rejected() {
        let good = sample();
        assert_eq!(
            Bootfs::parse(&good[..10]).err(),
            Some(BootfsError::Truncated)
        );
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(Bootfs::parse(&bad).err(), Some(BootfsError::BadMagic));
        let mut bad = good.clone();
        bad[8] = 9;
        assert_eq!(
            Bootfs::parse(&bad).err(),
            Some(BootfsError::UnsupportedVersion(9))
        );
        let mut bad = good.clone();
        bad[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Bootfs::parse(&bad).err(), Some(BootfsError::Truncated));
        // Data offset of entry 0 misaligned.
        let mut bad = good.clone();
        bad[HEADER_LEN + 8] = 1;
        assert_eq!(
            Bootfs::parse(&bad).err(),
            Some(BootfsError::BadEntry { index: 0 })
        );
        // Data length past the end.
        let mut bad = good.clone();
        bad[HEADER_LEN + 16..HEADER_LEN + 24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            Bootfs::parse(&bad).err(),
            Some(BootfsError::BadEntry { index: 0 })
        );
        // Name not UTF-8.
        let mut bad = good.clone();
        let name_at = HEADER_LEN + 3 * ENTRY_LEN;
        bad[name_at] = 0xff;
        assert_eq!(
            Bootfs::parse(&bad).err(),
            Some(BootfsError::BadName { index: 0 })
        );
    }

    #[test]
    fn every_single_byte_corruption_is_handled() {
        // No input may panic the reader: flip each byte of the header and
        // directory to several values.
        let good = sample();
        for at in 0..HEADER_LEN + 3 * ENTRY_LEN + 30 {
            for value in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[at] = value;
                if let Ok(fs) = Bootfs::parse(&bad) {
                    for file in fs.files() {
                        assert!(file.offset + file.data.len() <= bad.len());
                    }
                }
            }
        }
    }
}
