//! Fuchsia's Merkle tree over a blob, computed exactly as Fuchsia computes
//! it, so that a blob's name here (its [`MerkleRoot`]) is the name Fuchsia
//! gives the same bytes.
//!
//! One crate serves the host (`build-image blob-root`, the disk image) and
//! the guest (blobfs, which verifies every read against the tree it stored
//! beside the data), so the two can never disagree.
//!
//! The algorithm (DESIGN.md §9, and Fuchsia's `fuchsia-merkle`):
//!
//! - the data is cut into 8 KiB blocks ([`BLOCK_SIZE`]);
//! - block *i* of level 0 is hashed with SHA-256 over a 12-byte identity —
//!   `offset | level` as a u64 little-endian (offset = *i* × 8192 within
//!   its level), then the block's length as a u32 little-endian — followed
//!   by the block zero-padded to 8 KiB. At level 0 the length is the data
//!   length of that block (the last one may be short); the very first
//!   block of an empty blob is hashed without padding;
//! - the hashes of one level, concatenated, are the data of the next: each
//!   block of [`HASHES_PER_BLOCK`] hashes is hashed with length 8192 and
//!   padded with zero bytes;
//! - the root is the one hash of the level that has one. An empty blob's
//!   root is SHA-256 of the identity alone.
//!
//! [`MerkleTree`] keeps every level (what blobfs stores beside a blob) and
//! checks one data block against it ([`MerkleTree::verify_block`]).
//! [`MerkleBuilder`] computes a tree from data streamed in pieces of any
//! size, so neither side needs the whole blob in memory.
//!
//! Known gaps: none against Fuchsia's format; Fuchsia's compact tree layout
//! on disk is blobfs's business (`docs/blobfs.md`), not this crate's.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;
use sha2::{Digest, Sha256};

/// Bytes per block, of data and of hashes.
pub const BLOCK_SIZE: usize = 8192;
/// Bytes of one SHA-256 hash.
pub const HASH_SIZE: usize = 32;
/// Hashes that fill one block of a hash level.
pub const HASHES_PER_BLOCK: usize = BLOCK_SIZE / HASH_SIZE;

/// A blob's name: the root of its Merkle tree. Printed and parsed as 64
/// lower-case hex digits, as Fuchsia does.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MerkleRoot(pub [u8; HASH_SIZE]);

impl MerkleRoot {
    /// The root's bytes.
    pub fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }
}

impl fmt::Display for MerkleRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for MerkleRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MerkleRoot({self})")
    }
}

/// Why a string is not a [`MerkleRoot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseRootError {
    /// Not 64 characters long.
    Length(usize),
    /// A character that is not a lower- or upper-case hex digit.
    NotHex,
}

impl fmt::Display for ParseRootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseRootError::Length(n) => write!(f, "a Merkle root has 64 hex digits, not {n}"),
            ParseRootError::NotHex => write!(f, "a Merkle root has only hex digits"),
        }
    }
}

impl FromStr for MerkleRoot {
    type Err = ParseRootError;

    fn from_str(text: &str) -> Result<MerkleRoot, ParseRootError> {
        let bytes = text.as_bytes();
        if bytes.len() != 2 * HASH_SIZE {
            return Err(ParseRootError::Length(bytes.len()));
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(ParseRootError::NotHex),
        };
        let mut root = [0u8; HASH_SIZE];
        for (i, pair) in bytes.chunks(2).enumerate() {
            root[i] = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Ok(MerkleRoot(root))
    }
}

/// The 12-byte identity that precedes every hashed block.
fn identity(length: usize, level: usize, offset: usize) -> [u8; 12] {
    let mut bytes = [0u8; 12];
    bytes[..8].copy_from_slice(&((offset as u64) | (level as u64)).to_le_bytes());
    bytes[8..].copy_from_slice(&(length as u32).to_le_bytes());
    bytes
}

const ZEROS: [u8; BLOCK_SIZE] = [0; BLOCK_SIZE];

/// The hash of data block `index` (level 0), at most [`BLOCK_SIZE`] bytes.
/// Only the empty first block is hashed without padding.
pub fn hash_data_block(block: &[u8], index: usize) -> [u8; HASH_SIZE] {
    let block = &block[..block.len().min(BLOCK_SIZE)];
    let offset = index * BLOCK_SIZE;
    let mut hasher = Sha256::new();
    hasher.update(identity(block.len(), 0, offset));
    hasher.update(block);
    if block.len() != BLOCK_SIZE && !(block.is_empty() && offset == 0) {
        hasher.update(&ZEROS[block.len()..]);
    }
    hasher.finalize().into()
}

/// The hash of block `index` of hash level `level` (≥ 1): at most
/// [`HASHES_PER_BLOCK`] hashes, padded with zero hashes.
fn hash_hash_block(hashes: &[[u8; HASH_SIZE]], level: usize, index: usize) -> [u8; HASH_SIZE] {
    let mut hasher = Sha256::new();
    hasher.update(identity(BLOCK_SIZE, level, index * BLOCK_SIZE));
    for hash in hashes {
        hasher.update(hash);
    }
    hasher.update(&ZEROS[..(HASHES_PER_BLOCK - hashes.len()) * HASH_SIZE]);
    hasher.finalize().into()
}

/// A whole Merkle tree: `levels[0]` holds one hash per data block, each
/// next level one hash per block of the level below, the last level one
/// hash, the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerkleTree {
    levels: Vec<Vec<[u8; HASH_SIZE]>>,
}

/// Why a data block does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// The tree has no block of that index.
    NoSuchBlock(usize),
    /// The block's hash is not the tree's.
    Mismatch(usize),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::NoSuchBlock(i) => write!(f, "the tree has no data block {i}"),
            VerifyError::Mismatch(i) => write!(f, "data block {i} does not match its hash"),
        }
    }
}

impl MerkleTree {
    /// The tree of `data`.
    pub fn of(data: &[u8]) -> MerkleTree {
        let mut builder = MerkleBuilder::new();
        builder.write(data);
        builder.finish()
    }

    /// Rebuilds a tree from its level-0 hashes (what blobfs stores),
    /// computing the levels above.
    pub fn from_leaves(leaves: Vec<[u8; HASH_SIZE]>) -> MerkleTree {
        let mut levels = vec![leaves];
        while levels[levels.len() - 1].len() > 1 {
            let below = &levels[levels.len() - 1];
            let level = levels.len();
            let next = below
                .chunks(HASHES_PER_BLOCK)
                .enumerate()
                .map(|(index, hashes)| hash_hash_block(hashes, level, index))
                .collect();
            levels.push(next);
        }
        MerkleTree { levels }
    }

    /// The root: the blob's name.
    pub fn root(&self) -> MerkleRoot {
        MerkleRoot(self.levels[self.levels.len() - 1][0])
    }

    /// Every level, the data blocks' hashes first.
    pub fn levels(&self) -> &[Vec<[u8; HASH_SIZE]>] {
        &self.levels
    }

    /// The data blocks' hashes.
    pub fn leaves(&self) -> &[[u8; HASH_SIZE]] {
        &self.levels[0]
    }

    /// Checks data block `index` (the last may be short) against the tree.
    pub fn verify_block(&self, index: usize, block: &[u8]) -> Result<(), VerifyError> {
        let expected = self.levels[0]
            .get(index)
            .ok_or(VerifyError::NoSuchBlock(index))?;
        if &hash_data_block(block, index) == expected {
            Ok(())
        } else {
            Err(VerifyError::Mismatch(index))
        }
    }
}

/// Computes a [`MerkleTree`] from data written in pieces of any size.
#[derive(Clone, Debug, Default)]
pub struct MerkleBuilder {
    /// A partial data block between writes (never a full one).
    partial: Vec<u8>,
    leaves: Vec<[u8; HASH_SIZE]>,
    length: u64,
}

impl MerkleBuilder {
    /// An empty builder.
    pub fn new() -> MerkleBuilder {
        MerkleBuilder::default()
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.length
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Appends `data`.
    pub fn write(&mut self, mut data: &[u8]) {
        self.length += data.len() as u64;
        if !self.partial.is_empty() {
            let take = (BLOCK_SIZE - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() == BLOCK_SIZE {
                let hash = hash_data_block(&self.partial, self.leaves.len());
                self.leaves.push(hash);
                self.partial.clear();
            }
        }
        for block in data.chunks(BLOCK_SIZE) {
            if block.len() == BLOCK_SIZE {
                let hash = hash_data_block(block, self.leaves.len());
                self.leaves.push(hash);
            } else {
                self.partial.extend_from_slice(block);
            }
        }
    }

    /// The tree of everything written.
    pub fn finish(mut self) -> MerkleTree {
        if !self.partial.is_empty() || self.leaves.is_empty() {
            let hash = hash_data_block(&self.partial, self.leaves.len());
            self.leaves.push(hash);
        }
        MerkleTree::from_leaves(self.leaves)
    }
}

/// The root of `data`.
pub fn root_of(data: &[u8]) -> MerkleRoot {
    MerkleTree::of(data).root()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Roots from Fuchsia's own tests (`src/sys/pkg/lib/fuchsia-merkle`,
    /// builder.rs and util.rs): the same inputs must give the same roots.
    const FUCHSIA_VECTORS: &[(usize, &str)] = &[
        // Empty: SHA-256 of the identity alone.
        (
            0,
            "15ec7bf0b50732b49f8228e07d24365338f9e3ab994b00af08e5a3bffe55fd8b",
        ),
        // One full block of 0xff.
        (
            8192,
            "68d131bc271f9c192d4f6dcd8fe61bef90004856da19d0f2f514a7f4098b0737",
        ),
        // Exactly 8 blocks: one level of hashes above the data.
        (
            65536,
            "f75f59a944d2433bc6830ec243bfefa457704d2aed12f30539cd4f18bf1d62cf",
        ),
        // 257 blocks: two hash levels (256 hashes fill a block).
        (
            2105344,
            "7d75dfb18bfd48e03b5be4e8e9aeea2f89880cb81c1551df855e0d0a0cc59a67",
        ),
        // 257.5 blocks: a short last block, two hash levels.
        (
            2109440,
            "7577266aa98ce587922fdc668c186e27f3c742fb1b732737153b70ae46973e43",
        ),
    ];

    fn root(text: &str) -> MerkleRoot {
        text.parse().unwrap()
    }

    #[test]
    fn fuchsia_vectors_of_0xff() {
        for &(size, expected) in FUCHSIA_VECTORS {
            assert_eq!(root_of(&vec![0xff; size]), root(expected), "{size} bytes");
        }
    }

    #[test]
    fn fuchsia_vector_of_a_pattern_not_a_multiple_of_the_block() {
        // Fuchsia's `test_fuchsia`: 0xff0080 bytes of the repeating
        // pattern ff 00 80 — 16 MiB less 32 KiB plus 128 bytes, three
        // levels of hashes.
        let data: Vec<u8> = [0xff, 0x00, 0x80]
            .iter()
            .copied()
            .cycle()
            .take(0xff0080)
            .collect();
        assert_eq!(
            root_of(&data),
            root("2feb488cffc976061998ac90ce7292241dfa86883c0edc279433b5c4370d0f30")
        );
    }

    #[test]
    fn fuchsia_vector_of_one_full_hash_block() {
        // util.rs `test_hash_hashes_full_block`: 256 blocks of 0xff, whose
        // 256 hashes exactly fill one hash block.
        let hashes: Vec<_> = (0..HASHES_PER_BLOCK)
            .map(|i| hash_data_block(&[0xff; BLOCK_SIZE], i))
            .collect();
        assert_eq!(
            MerkleRoot(hash_hash_block(&hashes, 1, 0)),
            root("1e6e9c870e2fade25b1b0288ac7c216f6fae31c1599c0c57fb7030c15d385a8d")
        );
        assert_eq!(
            root_of(&vec![0xff; HASHES_PER_BLOCK * BLOCK_SIZE]),
            root("1e6e9c870e2fade25b1b0288ac7c216f6fae31c1599c0c57fb7030c15d385a8d")
        );
    }

    #[test]
    fn streamed_in_any_piece_size_gives_the_same_root() {
        let data: Vec<u8> = (0..70_001u32).map(|i| (i * 31 + 7) as u8).collect();
        let whole = root_of(&data);
        for piece in [1, 100, 1024, 8191, 8192, 8193, 65536] {
            let mut builder = MerkleBuilder::new();
            for chunk in data.chunks(piece) {
                builder.write(chunk);
            }
            assert_eq!(builder.len(), data.len() as u64);
            assert_eq!(builder.finish().root(), whole, "pieces of {piece}");
        }
    }

    #[test]
    fn levels_and_rebuild_from_leaves() {
        let tree = MerkleTree::of(&vec![0xff; 2105344]);
        let sizes: Vec<usize> = tree.levels().iter().map(Vec::len).collect();
        assert_eq!(sizes, [257, 2, 1]);
        assert_eq!(MerkleTree::from_leaves(tree.leaves().to_vec()), tree);
    }

    #[test]
    fn verify_block_catches_one_flipped_bit() {
        let mut data: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
        let tree = MerkleTree::of(&data);
        assert_eq!(tree.verify_block(2, &data[16384..]), Ok(()));
        data[16390] ^= 1;
        assert_eq!(
            tree.verify_block(2, &data[16384..]),
            Err(VerifyError::Mismatch(2))
        );
        assert_eq!(tree.verify_block(3, &[]), Err(VerifyError::NoSuchBlock(3)));
    }

    #[test]
    fn roots_parse_and_print() {
        let text = "15ec7bf0b50732b49f8228e07d24365338f9e3ab994b00af08e5a3bffe55fd8b";
        assert_eq!(root(text).to_string(), text);
        assert_eq!(
            "15EC7BF0B50732B49F8228E07D24365338F9E3AB994B00AF08E5A3BFFE55FD8B"
                .parse::<MerkleRoot>()
                .map(|r| r.to_string()),
            Ok(text.into())
        );
        assert_eq!("abc".parse::<MerkleRoot>(), Err(ParseRootError::Length(3)));
        assert_eq!(
            text.replace('f', "g").parse::<MerkleRoot>(),
            Err(ParseRootError::NotHex)
        );
    }
}
