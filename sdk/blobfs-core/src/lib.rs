//! blobfs's on-disk format (`docs/blobfs.md`) and its logic ([`store`]),
//! shared by the blobfs component and the host tool, so that both read and write one layout
//! and the host can check (and, in tests, damage) what the guest wrote.
//!
//! A blobfs volume is a run of 8 KiB blocks ([`BLOCK_SIZE`], the Merkle
//! block size):
//!
//! ```text
//! block 0                superblock (magic, geometry, checksum)
//! 1 ..                   allocation bitmap: one bit per data block
//! .. + node_blocks       node table: NODES_PER_BLOCK nodes of 64 bytes per block
//! data_start ..          data area: one contiguous extent per blob,
//!                        [level-0 Merkle hashes][data blocks]
//! ```
//!
//! Crash consistency is by ordered writes: a blob's extent (tree and
//! data) is written and flushed before its node, and a node is one
//! 64-byte record inside one 512-byte sector, with its own checksum. The
//! node table is the truth: the bitmap is written after it and rebuilt
//! from the nodes at mount ([`Volume::allocation`]).
//!
//! Everything read is validated ([`Superblock::decode`], [`Node::decode`],
//! [`Volume::nodes`]): a corrupt volume gives an error, never a panic.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod store;

use alloc::vec;
use alloc::vec::Vec;
use merkle::{MerkleRoot, HASH_SIZE};
use sha2::{Digest, Sha256};

pub use merkle::BLOCK_SIZE;

/// The superblock's first bytes.
pub const MAGIC: [u8; 8] = *b"ZXBLOBFS";
/// The format's version.
pub const VERSION: u32 = 1;
/// Bytes of one node.
pub const NODE_SIZE: usize = 64;
/// Nodes in one block.
pub const NODES_PER_BLOCK: usize = BLOCK_SIZE / NODE_SIZE;
/// Blocks of the node table: at most this × [`NODES_PER_BLOCK`] blobs.
pub const NODE_BLOCKS: u64 = 2;
/// Data blocks one bitmap block covers.
pub const BITS_PER_BLOCK: u64 = BLOCK_SIZE as u64 * 8;
/// The sector size writes are atomic in (a node never straddles two).
pub const SECTOR_SIZE: usize = 512;
/// The smallest volume: superblock, bitmap, nodes and one data block.
pub const MIN_BLOCKS: u64 = 1 + 1 + NODE_BLOCKS + 1;

/// Why a volume cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// Block 0 is all zero: the volume was never formatted.
    Blank,
    /// Block 0 does not start with [`MAGIC`].
    BadMagic,
    /// A version this code does not know.
    Version(u32),
    /// The superblock's checksum does not match.
    Checksum,
    /// Geometry that does not add up (or does not fit the device).
    Geometry,
    /// The volume is smaller than [`MIN_BLOCKS`].
    TooSmall,
}

impl core::fmt::Display for FormatError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FormatError::Blank => write!(f, "the volume is blank (never formatted)"),
            FormatError::BadMagic => write!(f, "not a blobfs volume (bad magic)"),
            FormatError::Version(v) => write!(f, "unknown blobfs version {v}"),
            FormatError::Checksum => write!(f, "the superblock's checksum does not match"),
            FormatError::Geometry => write!(f, "the superblock's geometry is inconsistent"),
            FormatError::TooSmall => write!(f, "the volume is too small for blobfs"),
        }
    }
}

/// The first 8 bytes of SHA-256 of `bytes`, as a u64: the checksum of the
/// superblock and of each node.
fn checksum(bytes: &[u8]) -> u64 {
    let digest = Sha256::digest(bytes);
    u64::from_le_bytes(digest[..8].try_into().unwrap_or([0; 8]))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or([0; 4]))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]))
}

/// The volume's geometry, in block 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    /// Blocks of the whole volume.
    pub total_blocks: u64,
    /// First bitmap block.
    pub bitmap_start: u64,
    /// Bitmap blocks.
    pub bitmap_blocks: u64,
    /// First node-table block.
    pub nodes_start: u64,
    /// Node-table blocks.
    pub node_blocks: u64,
    /// First data block.
    pub data_start: u64,
    /// Data blocks.
    pub data_blocks: u64,
}

/// Bytes of an encoded superblock (the rest of block 0 is zero).
const SUPERBLOCK_BYTES: usize = 8 + 4 + 4 + 7 * 8 + 8;

impl Superblock {
    /// The geometry of a fresh volume of `total_blocks` blocks.
    pub fn for_blocks(total_blocks: u64) -> Result<Superblock, FormatError> {
        if total_blocks < MIN_BLOCKS {
            return Err(FormatError::TooSmall);
        }
        let bitmap_blocks = total_blocks.div_ceil(BITS_PER_BLOCK);
        let nodes_start = 1 + bitmap_blocks;
        let data_start = nodes_start + NODE_BLOCKS;
        if data_start >= total_blocks {
            return Err(FormatError::TooSmall);
        }
        Ok(Superblock {
            total_blocks,
            bitmap_start: 1,
            bitmap_blocks,
            nodes_start,
            node_blocks: NODE_BLOCKS,
            data_start,
            data_blocks: total_blocks - data_start,
        })
    }

    /// Most blobs (nodes).
    pub fn max_nodes(&self) -> usize {
        self.node_blocks as usize * NODES_PER_BLOCK
    }

    /// Block 0's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut block = vec![0u8; BLOCK_SIZE];
        block[..8].copy_from_slice(&MAGIC);
        block[8..12].copy_from_slice(&VERSION.to_le_bytes());
        block[12..16].copy_from_slice(&(BLOCK_SIZE as u32).to_le_bytes());
        let fields = [
            self.total_blocks,
            self.bitmap_start,
            self.bitmap_blocks,
            self.nodes_start,
            self.node_blocks,
            self.data_start,
            self.data_blocks,
        ];
        for (i, value) in fields.iter().enumerate() {
            block[16 + 8 * i..24 + 8 * i].copy_from_slice(&value.to_le_bytes());
        }
        let sum = checksum(&block[..SUPERBLOCK_BYTES - 8]);
        block[SUPERBLOCK_BYTES - 8..SUPERBLOCK_BYTES].copy_from_slice(&sum.to_le_bytes());
        block
    }

    /// Reads and checks block 0 of a volume of `device_blocks` blocks.
    pub fn decode(block: &[u8], device_blocks: u64) -> Result<Superblock, FormatError> {
        if block.len() < SUPERBLOCK_BYTES {
            return Err(FormatError::Geometry);
        }
        if block.iter().all(|&b| b == 0) {
            return Err(FormatError::Blank);
        }
        if block[..8] != MAGIC {
            return Err(FormatError::BadMagic);
        }
        let version = u32_at(block, 8);
        if version != VERSION {
            return Err(FormatError::Version(version));
        }
        if checksum(&block[..SUPERBLOCK_BYTES - 8]) != u64_at(block, SUPERBLOCK_BYTES - 8) {
            return Err(FormatError::Checksum);
        }
        if u32_at(block, 12) as usize != BLOCK_SIZE {
            return Err(FormatError::Geometry);
        }
        let field = |i: usize| u64_at(block, 16 + 8 * i);
        let read = Superblock {
            total_blocks: field(0),
            bitmap_start: field(1),
            bitmap_blocks: field(2),
            nodes_start: field(3),
            node_blocks: field(4),
            data_start: field(5),
            data_blocks: field(6),
        };
        // Only the layout this version writes is accepted.
        if read.total_blocks > device_blocks
            || Superblock::for_blocks(read.total_blocks) != Ok(read)
        {
            return Err(FormatError::Geometry);
        }
        Ok(read)
    }
}

/// Where a blob lives and what it is: one entry of the node table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// The blob's name.
    pub root: MerkleRoot,
    /// Its size in bytes.
    pub size: u64,
    /// First block of its extent, relative to the data area.
    pub extent_start: u64,
}

/// Node flag: the entry holds a blob.
const NODE_ALLOCATED: u32 = 1;

/// What a node slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Nothing (all zero).
    Free,
    /// A blob.
    Blob(Node),
    /// Bytes that are not a valid node (a torn or damaged write): treated
    /// as free, never listed.
    Invalid,
}

impl Node {
    /// Data blocks of a blob of `size` bytes.
    pub fn data_blocks_for(size: u64) -> u64 {
        size.div_ceil(BLOCK_SIZE as u64)
    }

    /// Blocks of stored level-0 hashes for a blob of `size` bytes: none for
    /// a blob of at most one block (its one hash is the root).
    pub fn merkle_blocks_for(size: u64) -> u64 {
        let data = Node::data_blocks_for(size);
        if data <= 1 {
            0
        } else {
            (data * HASH_SIZE as u64).div_ceil(BLOCK_SIZE as u64)
        }
    }

    /// Blocks of the whole extent of a blob of `size` bytes.
    pub fn extent_blocks_for(size: u64) -> u64 {
        Node::merkle_blocks_for(size) + Node::data_blocks_for(size)
    }

    /// Blocks of this blob's extent.
    pub fn extent_blocks(&self) -> u64 {
        Node::extent_blocks_for(self.size)
    }

    /// The data-area block of the blob's data block `index`.
    pub fn data_block(&self, index: u64) -> u64 {
        self.extent_start + Node::merkle_blocks_for(self.size) + index
    }

    /// The node's 64 bytes.
    pub fn encode(&self) -> [u8; NODE_SIZE] {
        let mut bytes = [0u8; NODE_SIZE];
        bytes[..32].copy_from_slice(self.root.as_bytes());
        bytes[32..40].copy_from_slice(&self.size.to_le_bytes());
        bytes[40..48].copy_from_slice(&self.extent_start.to_le_bytes());
        bytes[48..52].copy_from_slice(&(self.extent_blocks() as u32).to_le_bytes());
        bytes[52..56].copy_from_slice(&NODE_ALLOCATED.to_le_bytes());
        let sum = checksum(&bytes[..56]);
        bytes[56..].copy_from_slice(&sum.to_le_bytes());
        bytes
    }

    /// Reads one node slot.
    pub fn decode(bytes: &[u8]) -> Slot {
        if bytes.len() != NODE_SIZE {
            return Slot::Invalid;
        }
        if bytes.iter().all(|&b| b == 0) {
            return Slot::Free;
        }
        if checksum(&bytes[..56]) != u64_at(bytes, 56) || u32_at(bytes, 52) != NODE_ALLOCATED {
            return Slot::Invalid;
        }
        let mut root = [0u8; HASH_SIZE];
        root.copy_from_slice(&bytes[..32]);
        let node = Node {
            root: MerkleRoot(root),
            size: u64_at(bytes, 32),
            extent_start: u64_at(bytes, 40),
        };
        if u64::from(u32_at(bytes, 48)) != node.extent_blocks() {
            return Slot::Invalid;
        }
        Slot::Blob(node)
    }
}

/// A mounted view of the metadata: superblock plus node table.
#[derive(Debug, Clone)]
pub struct Volume {
    /// The geometry.
    pub superblock: Superblock,
    /// Every node slot, in order.
    pub slots: Vec<Slot>,
}

/// Why a node was not listed at mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Its bytes are not a valid node.
    Invalid(usize),
    /// Its extent reaches past the data area.
    OutOfRange(usize),
    /// Its extent overlaps an earlier node's.
    Overlap(usize),
    /// Another node has the same root.
    Duplicate(usize),
}

impl Volume {
    /// Reads the node table (`node_table`: its `node_blocks` blocks).
    pub fn new(superblock: Superblock, node_table: &[u8]) -> Volume {
        let slots = node_table
            .chunks(NODE_SIZE)
            .take(superblock.max_nodes())
            .map(Node::decode)
            .collect();
        Volume { superblock, slots }
    }

    /// The blobs to list, by slot, and the slots refused: only valid,
    /// in-range nodes whose extents overlap no earlier one's and whose
    /// root is not already listed.
    pub fn nodes(&self) -> (Vec<(usize, Node)>, Vec<Rejected>) {
        let mut used = vec![false; self.superblock.data_blocks as usize];
        let mut listed: Vec<(usize, Node)> = Vec::new();
        let mut rejected = Vec::new();
        for (slot, entry) in self.slots.iter().enumerate() {
            let node = match entry {
                Slot::Free => continue,
                Slot::Invalid => {
                    rejected.push(Rejected::Invalid(slot));
                    continue;
                }
                Slot::Blob(node) => *node,
            };
            let end = node.extent_start.checked_add(node.extent_blocks());
            if end.is_none_or(|end| end > self.superblock.data_blocks) {
                rejected.push(Rejected::OutOfRange(slot));
                continue;
            }
            let range =
                node.extent_start as usize..(node.extent_start + node.extent_blocks()) as usize;
            if used[range.clone()].iter().any(|&u| u) {
                rejected.push(Rejected::Overlap(slot));
                continue;
            }
            if listed.iter().any(|(_, other)| other.root == node.root) {
                rejected.push(Rejected::Duplicate(slot));
                continue;
            }
            used[range].iter_mut().for_each(|u| *u = true);
            listed.push((slot, node));
        }
        (listed, rejected)
    }

    /// The allocation bitmap the listed nodes imply (one bool per data
    /// block): what the on-disk bitmap must say.
    pub fn allocation(&self) -> Vec<bool> {
        let mut used = vec![false; self.superblock.data_blocks as usize];
        for (_, node) in self.nodes().0 {
            let start = node.extent_start as usize;
            used[start..start + node.extent_blocks() as usize]
                .iter_mut()
                .for_each(|u| *u = true);
        }
        used
    }
}

/// The bitmap blocks' bytes for `used` (bit `i % 8` of byte `i / 8`).
pub fn encode_bitmap(used: &[bool], bitmap_blocks: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; bitmap_blocks as usize * BLOCK_SIZE];
    for (i, _) in used.iter().enumerate().filter(|(_, &u)| u) {
        bytes[i / 8] |= 1 << (i % 8);
    }
    bytes
}

/// The first run of `count` free blocks in `used`, if any.
pub fn find_free(used: &[bool], count: u64) -> Option<u64> {
    if count == 0 {
        return Some(0);
    }
    let count = count as usize;
    let mut run = 0;
    for (i, &u) in used.iter().enumerate() {
        run = if u { 0 } else { run + 1 };
        if run == count {
            return Some((i + 1 - count) as u64);
        }
    }
    None
}

/// Byte offset in the volume of node `slot`.
pub fn node_offset(superblock: &Superblock, slot: usize) -> u64 {
    superblock.nodes_start * BLOCK_SIZE as u64 + (slot * NODE_SIZE) as u64
}

/// Byte offset in the volume of data-area block `block`.
pub fn data_offset(superblock: &Superblock, block: u64) -> u64 {
    (superblock.data_start + block) * BLOCK_SIZE as u64
}

/// The level-0 hashes stored for a blob, as blocks (zero-padded).
pub fn encode_leaves(leaves: &[[u8; HASH_SIZE]]) -> Vec<u8> {
    let mut bytes: Vec<u8> = leaves.iter().flatten().copied().collect();
    bytes.resize(bytes.len().div_ceil(BLOCK_SIZE) * BLOCK_SIZE, 0);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(size: u64, start: u64, tag: u8) -> Node {
        Node {
            root: MerkleRoot([tag; 32]),
            size,
            extent_start: start,
        }
    }

    #[test]
    fn superblock_round_trips_and_refuses_damage() {
        let sb = Superblock::for_blocks(8192).unwrap();
        assert_eq!(sb.data_start, 4);
        let mut block = sb.encode();
        assert_eq!(Superblock::decode(&block, 8192), Ok(sb));
        assert_eq!(Superblock::decode(&block, 100), Err(FormatError::Geometry));
        assert_eq!(
            Superblock::decode(&[0; BLOCK_SIZE], 8192),
            Err(FormatError::Blank)
        );
        block[20] ^= 1;
        assert_eq!(Superblock::decode(&block, 8192), Err(FormatError::Checksum));
        block[0] = b'X';
        assert_eq!(Superblock::decode(&block, 8192), Err(FormatError::BadMagic));
        assert_eq!(Superblock::for_blocks(4), Err(FormatError::TooSmall));
    }

    #[test]
    fn extents_hold_the_tree_then_the_data() {
        assert_eq!(Node::extent_blocks_for(0), 0);
        assert_eq!(Node::extent_blocks_for(8192), 1);
        assert_eq!(Node::extent_blocks_for(8193), 1 + 2);
        // 257 data blocks: 257 hashes fill two hash blocks.
        assert_eq!(Node::extent_blocks_for(257 * 8192), 2 + 257);
        assert_eq!(node(8193, 10, 1).data_block(1), 12);
    }

    #[test]
    fn nodes_round_trip_and_a_torn_node_is_never_listed() {
        let n = node(100_000, 3, 7);
        assert_eq!(Node::decode(&n.encode()), Slot::Blob(n));
        assert_eq!(Node::decode(&[0; NODE_SIZE]), Slot::Free);
        let mut torn = n.encode();
        torn[40..].fill(0); // only the first part reached the disk
        assert_eq!(Node::decode(&torn), Slot::Invalid);
    }

    #[test]
    fn mount_lists_only_sound_nodes() {
        let sb = Superblock::for_blocks(64).unwrap();
        let mut table = vec![0u8; BLOCK_SIZE * NODE_BLOCKS as usize];
        let nodes = [
            node(8192 * 3, 0, 1), // blocks 0..4
            node(8192, 2, 2),     // overlaps the first
            node(8192, 1000, 3),  // past the end
            node(8192 * 3, 0, 1), // same extent again: overlap
            node(10, 4, 4),       // fine
            node(10, 5, 4),       // same root as the one before
        ];
        for (i, n) in nodes.iter().enumerate() {
            table[i * NODE_SIZE..(i + 1) * NODE_SIZE].copy_from_slice(&n.encode());
        }
        table[6 * NODE_SIZE] = 9; // garbage
        let volume = Volume::new(sb, &table);
        let (listed, rejected) = volume.nodes();
        assert_eq!(listed, [(0, nodes[0]), (4, nodes[4])]);
        assert_eq!(
            rejected,
            [
                Rejected::Overlap(1),
                Rejected::OutOfRange(2),
                Rejected::Overlap(3),
                Rejected::Duplicate(5),
                Rejected::Invalid(6)
            ]
        );
        let used = volume.allocation();
        assert_eq!(used.iter().filter(|&&u| u).count(), 5);
        assert_eq!(find_free(&used, 2), Some(5));
        assert_eq!(encode_bitmap(&used, 1)[0], 0b1_1111);
    }

    #[test]
    fn find_free_needs_a_contiguous_run() {
        let used = [false, true, false, false, true, false, false, false];
        assert_eq!(find_free(&used, 1), Some(0));
        assert_eq!(find_free(&used, 2), Some(2));
        assert_eq!(find_free(&used, 3), Some(5));
        assert_eq!(find_free(&used, 4), None);
    }
}
