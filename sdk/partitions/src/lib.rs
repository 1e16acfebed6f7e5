//! GPT partition tables as the guest reads them, and the partition type
//! GUIDs this system uses (`docs/blobfs.md`, "Disk layout").
//!
//! The host writes the table with the `gpt` crate (`build-image`); the
//! guest, which has no `std`, reads it here: the primary header at LBA 1
//! (signature, size, both CRC32s checked) and its entry array. Everything
//! read is validated; a damaged table is an error, never a panic.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;
use core::fmt;

/// A GUID as GPT stores it: the first three fields little-endian.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// Parses the usual text form (`2967380E-134C-4CBB-B6DA-17E7CE1CA45D`).
    pub const fn parse(text: &str) -> Option<Guid> {
        let t = text.as_bytes();
        if t.len() != 36 || t[8] != b'-' || t[13] != b'-' || t[18] != b'-' || t[23] != b'-' {
            return None;
        }
        // The text's bytes in order, then reordered into GPT's layout.
        let mut plain = [0u8; 16];
        let mut i = 0;
        let mut n = 0;
        while i < 36 {
            if t[i] == b'-' {
                i += 1;
                continue;
            }
            let (Some(high), Some(low)) = (hex(t[i]), hex(t[i + 1])) else {
                return None;
            };
            plain[n] = high << 4 | low;
            n += 1;
            i += 2;
        }
        let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
        let mut bytes = [0u8; 16];
        let mut k = 0;
        while k < 16 {
            bytes[k] = plain[order[k]];
            k += 1;
        }
        Some(Guid(bytes))
    }
}

const fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-",
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9]
        )?;
        for byte in &b[10..] {
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

const fn known(text: &str) -> Guid {
    match Guid::parse(text) {
        Some(guid) => guid,
        None => panic!("not a GUID"),
    }
}

/// The type of this system's blobfs partition. Our own GUID, not
/// Fuchsia's blob type: the on-disk format is ours (`docs/blobfs.md`).
pub const BLOBFS_TYPE: Guid = known("BFE07B90-BA72-4E26-8BA1-31A83D40D53F");
/// The type of the mutable data partition (`/data`).
pub const DATA_TYPE: Guid = known("7921608E-8F27-4C17-935E-A1A904630E2C");

/// Why a disk's partition table cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GptError {
    /// LBA 1 has no `EFI PART` signature.
    NoTable,
    /// The header's CRC32 does not match.
    HeaderChecksum,
    /// The entries' CRC32 does not match.
    EntriesChecksum,
    /// Sizes or positions that do not fit the disk.
    Geometry,
}

impl fmt::Display for GptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GptError::NoTable => write!(f, "no GPT (no signature at LBA 1)"),
            GptError::HeaderChecksum => write!(f, "the GPT header's CRC32 does not match"),
            GptError::EntriesChecksum => write!(f, "the GPT entries' CRC32 does not match"),
            GptError::Geometry => write!(f, "the GPT describes sectors the disk does not have"),
        }
    }
}

/// One partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// Its type.
    pub type_guid: Guid,
    /// Its own GUID.
    pub unique_guid: Guid,
    /// First sector.
    pub first_lba: u64,
    /// Sectors (last − first + 1).
    pub sectors: u64,
}

/// Where the header says its entries are: (first LBA, count, entry size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// First LBA of the entry array.
    pub entries_lba: u64,
    /// Entries.
    pub entries: u32,
    /// Bytes per entry.
    pub entry_size: u32,
    entries_crc: u32,
}

/// The IEEE CRC32 (reflected, polynomial 0xEDB88320) GPT uses.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from(u32_at(b, at)) | u64::from(u32_at(b, at + 4)) << 32
}

/// Reads the primary header (`lba1`: the sector at LBA 1) of a disk of
/// `disk_sectors` sectors.
pub fn read_header(lba1: &[u8], disk_sectors: u64) -> Result<Header, GptError> {
    if lba1.len() < 92 || &lba1[..8] != b"EFI PART" {
        return Err(GptError::NoTable);
    }
    let size = u32_at(lba1, 12) as usize;
    if !(92..=lba1.len()).contains(&size) {
        return Err(GptError::Geometry);
    }
    let mut copy = Vec::from(&lba1[..size]);
    copy[16..20].fill(0);
    if crc32(&copy) != u32_at(lba1, 16) {
        return Err(GptError::HeaderChecksum);
    }
    let header = Header {
        entries_lba: u64_at(lba1, 72),
        entries: u32_at(lba1, 80),
        entry_size: u32_at(lba1, 84),
        entries_crc: u32_at(lba1, 88),
    };
    if header.entry_size < 128 || header.entries > 1024 || header.entries_lba >= disk_sectors {
        return Err(GptError::Geometry);
    }
    Ok(header)
}

impl Header {
    /// Bytes of the entry array.
    pub fn entries_bytes(&self) -> usize {
        self.entries as usize * self.entry_size as usize
    }

    /// The partitions in `entries` (the entry array's bytes, at least
    /// [`Header::entries_bytes`]); unused entries (type all zero) skipped.
    pub fn partitions(
        &self,
        entries: &[u8],
        disk_sectors: u64,
    ) -> Result<Vec<Partition>, GptError> {
        let bytes = entries
            .get(..self.entries_bytes())
            .ok_or(GptError::Geometry)?;
        if crc32(bytes) != self.entries_crc {
            return Err(GptError::EntriesChecksum);
        }
        let mut found = Vec::new();
        for entry in bytes.chunks(self.entry_size as usize) {
            let mut type_guid = [0u8; 16];
            type_guid.copy_from_slice(&entry[..16]);
            if type_guid == [0; 16] {
                continue;
            }
            let mut unique_guid = [0u8; 16];
            unique_guid.copy_from_slice(&entry[16..32]);
            let (first, last) = (u64_at(entry, 32), u64_at(entry, 40));
            if last < first || last >= disk_sectors {
                return Err(GptError::Geometry);
            }
            found.push(Partition {
                type_guid: Guid(type_guid),
                unique_guid: Guid(unique_guid),
                first_lba: first,
                sectors: last - first + 1,
            });
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_parse_into_gpt_byte_order_and_print_back() {
        // Fuchsia's blob type, whose GPT bytes Fuchsia's gpt.h lists.
        let guid = Guid::parse("2967380E-134C-4CBB-B6DA-17E7CE1CA45D").unwrap();
        assert_eq!(
            guid.0,
            [
                0x0e, 0x38, 0x67, 0x29, 0x4c, 0x13, 0xbb, 0x4c, 0xb6, 0xda, 0x17, 0xe7, 0xce, 0x1c,
                0xa4, 0x5d
            ]
        );
        assert_eq!(guid.to_string(), "2967380E-134C-4CBB-B6DA-17E7CE1CA45D");
        assert_eq!(Guid::parse("2967380E-134C-4CBB-B6DA-17E7CE1CA45"), None);
        assert_eq!(Guid::parse("2967380E-134C-4CBB-B6DA-17E7CE1CA4XD"), None);
    }

    #[test]
    fn crc32_is_ieee() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn a_damaged_header_is_refused() {
        assert_eq!(read_header(&[0; 512], 100), Err(GptError::NoTable));
        let mut lba1 = [0u8; 512];
        lba1[..8].copy_from_slice(b"EFI PART");
        lba1[12..16].copy_from_slice(&92u32.to_le_bytes());
        assert_eq!(read_header(&lba1, 100), Err(GptError::HeaderChecksum));
    }
}
