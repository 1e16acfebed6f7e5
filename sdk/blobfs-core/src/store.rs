//! blobfs's logic over any block device ([`Device`]): mount, format,
//! write (create, stream, verify at commit), delete, and verified reads.
//! The blobfs component runs it over `zx.device.block`; the host tests run
//! it over memory, crashing it after every possible write.

use crate::{
    data_offset, encode_bitmap, encode_leaves, find_free, node_offset, FormatError, Node,
    Superblock, Volume, BLOCK_SIZE, NODE_SIZE, SECTOR_SIZE,
};
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use merkle::{MerkleBuilder, MerkleRoot, MerkleTree, HASH_SIZE};

/// A device failed a transfer or a flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoError;

/// What blobfs needs of a block device: byte-addressed transfers in
/// whole sectors, and a flush that makes completed writes durable.
pub trait Device {
    /// Bytes of the volume.
    fn size(&self) -> u64;
    /// Reads `buffer.len()` bytes (whole sectors) from `offset`.
    fn read(&mut self, offset: u64, buffer: &mut [u8]) -> Result<(), IoError>;
    /// Writes `data` (whole sectors) at `offset`.
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), IoError>;
    /// Makes every completed write durable.
    fn flush(&mut self) -> Result<(), IoError>;
}

/// Why a blobfs operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// The device failed.
    Io,
    /// Data on the disk does not match its Merkle tree (or a tree does
    /// not match its root): nothing is returned.
    Integrity,
    /// No blob of that name.
    NotFound,
    /// The blob exists, or is being written.
    AlreadyExists,
    /// No free extent of that size, or no free node.
    NoSpace,
    /// More bytes than the size given at create.
    TooLarge,
    /// Commit before every byte was written.
    Incomplete,
    /// The content's root is not the name given at create.
    WrongContent,
    /// The volume cannot be mounted.
    Format(FormatError),
}

impl From<IoError> for StoreError {
    fn from(_: IoError) -> StoreError {
        StoreError::Io
    }
}

impl core::fmt::Display for StoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StoreError::Io => write!(f, "the device failed"),
            StoreError::Integrity => write!(f, "data integrity error"),
            StoreError::NotFound => write!(f, "no such blob"),
            StoreError::AlreadyExists => write!(f, "the blob exists"),
            StoreError::NoSpace => write!(f, "no space"),
            StoreError::TooLarge => write!(f, "more bytes than the blob's size"),
            StoreError::Incomplete => write!(f, "the blob is incomplete"),
            StoreError::WrongContent => write!(f, "the content does not match the blob's name"),
            StoreError::Format(e) => write!(f, "{e}"),
        }
    }
}

/// A blob being written: made by [`Store::create`], fed by
/// [`Store::write`], ended by [`Store::commit`] or [`Store::abandon`].
#[derive(Debug)]
pub struct Writer {
    node: Node,
    slot: usize,
    builder: MerkleBuilder,
    /// Bytes of the data block not yet full.
    pending: Vec<u8>,
    /// Data blocks written to the disk.
    blocks_written: u64,
}

impl Writer {
    /// The blob's name.
    pub fn root(&self) -> MerkleRoot {
        self.node.root
    }
}

/// How full the volume is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Data-area blocks.
    pub total_blocks: u64,
    /// Of them, in use (committed or being written).
    pub used_blocks: u64,
    /// Blobs listed.
    pub blobs: u64,
    /// Most blobs.
    pub max_blobs: u64,
}

/// What mount found besides the blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MountReport {
    /// Node slots refused (torn, overlapping, out of range).
    pub rejected_nodes: usize,
    /// Whether the on-disk bitmap disagreed with the nodes and was
    /// rewritten.
    pub bitmap_repaired: bool,
}

/// A mounted blobfs.
pub struct Store<D: Device> {
    device: D,
    superblock: Superblock,
    /// The node table's bytes as on the disk (plus committed changes).
    table: Vec<u8>,
    /// The listed blobs, by name: their node slot and node.
    blobs: BTreeMap<MerkleRoot, (usize, Node)>,
    /// Slots of blobs being written.
    reserved: Vec<usize>,
    /// Names of blobs being written.
    writing: Vec<MerkleRoot>,
    /// One flag per data-area block.
    used: Vec<bool>,
    /// Trees checked against their roots, by name.
    trees: BTreeMap<MerkleRoot, MerkleTree>,
}

impl<D: Device> Store<D> {
    /// Writes an empty blobfs over the whole device and mounts it.
    pub fn format(mut device: D) -> Result<Store<D>, StoreError> {
        let blocks = device.size() / BLOCK_SIZE as u64;
        let superblock = Superblock::for_blocks(blocks).map_err(StoreError::Format)?;
        let zero = vec![0u8; BLOCK_SIZE];
        for block in superblock.bitmap_start..superblock.data_start {
            device.write(block * BLOCK_SIZE as u64, &zero)?;
        }
        device.flush()?;
        // The superblock last: a volume with one is wholly formatted.
        device.write(0, &superblock.encode())?;
        device.flush()?;
        Store::mount(device).map(|(store, _)| store)
    }

    /// Mounts the blobfs on `device`: reads the superblock and the node
    /// table, lists every sound node, rebuilds the allocation from them
    /// and repairs the on-disk bitmap if it disagrees.
    pub fn mount(mut device: D) -> Result<(Store<D>, MountReport), StoreError> {
        let mut block = vec![0u8; BLOCK_SIZE];
        device.read(0, &mut block)?;
        let device_blocks = device.size() / BLOCK_SIZE as u64;
        let superblock = Superblock::decode(&block, device_blocks).map_err(StoreError::Format)?;
        let mut table = vec![0u8; superblock.node_blocks as usize * BLOCK_SIZE];
        device.read(superblock.nodes_start * BLOCK_SIZE as u64, &mut table)?;
        let volume = Volume::new(superblock, &table);
        let (listed, rejected) = volume.nodes();
        let used = volume.allocation();
        let mut on_disk = vec![0u8; superblock.bitmap_blocks as usize * BLOCK_SIZE];
        device.read(superblock.bitmap_start * BLOCK_SIZE as u64, &mut on_disk)?;
        let expected = encode_bitmap(&used, superblock.bitmap_blocks);
        let bitmap_repaired = on_disk != expected;
        if bitmap_repaired {
            device.write(superblock.bitmap_start * BLOCK_SIZE as u64, &expected)?;
            device.flush()?;
        }
        let store = Store {
            device,
            superblock,
            table,
            blobs: listed
                .into_iter()
                .map(|(slot, n)| (n.root, (slot, n)))
                .collect(),
            reserved: Vec::new(),
            writing: Vec::new(),
            used,
            trees: BTreeMap::new(),
        };
        let report = MountReport {
            rejected_nodes: rejected.len(),
            bitmap_repaired,
        };
        Ok((store, report))
    }

    /// The device (to inspect it in tests, or to take it back).
    pub fn into_device(self) -> D {
        self.device
    }

    /// The listed blobs and their sizes, by name.
    pub fn list(&self) -> Vec<(MerkleRoot, u64)> {
        self.blobs.values().map(|(_, n)| (n.root, n.size)).collect()
    }

    /// The size of blob `root`, if listed.
    pub fn size_of(&self, root: &MerkleRoot) -> Option<u64> {
        self.blobs.get(root).map(|(_, n)| n.size)
    }

    /// How full the volume is.
    pub fn usage(&self) -> Usage {
        Usage {
            total_blocks: self.superblock.data_blocks,
            used_blocks: self.used.iter().filter(|&&u| u).count() as u64,
            blobs: self.blobs.len() as u64,
            max_blobs: self.superblock.max_nodes() as u64,
        }
    }

    /// Starts writing blob `root` of `size` bytes: reserves a node and an
    /// extent (in memory only: nothing reaches the disk's metadata until
    /// [`Store::commit`]).
    pub fn create(&mut self, root: MerkleRoot, size: u64) -> Result<Writer, StoreError> {
        if self.blobs.contains_key(&root) || self.writing.contains(&root) {
            return Err(StoreError::AlreadyExists);
        }
        let blocks = Node::extent_blocks_for(size);
        if blocks > self.superblock.data_blocks || blocks > u32::MAX as u64 {
            return Err(StoreError::NoSpace);
        }
        let taken: Vec<usize> = self.blobs.values().map(|(slot, _)| *slot).collect();
        let slot = (0..self.superblock.max_nodes())
            .find(|s| !taken.contains(s) && !self.reserved.contains(s))
            .ok_or(StoreError::NoSpace)?;
        let start = find_free(&self.used, blocks).ok_or(StoreError::NoSpace)?;
        self.mark(start, blocks, true);
        self.reserved.push(slot);
        self.writing.push(root);
        Ok(Writer {
            node: Node {
                root,
                size,
                extent_start: start,
            },
            slot,
            builder: MerkleBuilder::new(),
            pending: Vec::new(),
            blocks_written: 0,
        })
    }

    fn mark(&mut self, start: u64, blocks: u64, value: bool) {
        self.used[start as usize..(start + blocks) as usize]
            .iter_mut()
            .for_each(|u| *u = value);
    }

    /// Appends `data` to the blob: full data blocks go to the disk at once.
    pub fn write(&mut self, writer: &mut Writer, data: &[u8]) -> Result<(), StoreError> {
        let total = writer.builder.len() + data.len() as u64;
        if total > writer.node.size {
            return Err(StoreError::TooLarge);
        }
        writer.builder.write(data);
        writer.pending.extend_from_slice(data);
        while writer.pending.len() >= BLOCK_SIZE {
            let block: Vec<u8> = writer.pending.drain(..BLOCK_SIZE).collect();
            self.write_data_block(writer, &block)?;
        }
        Ok(())
    }

    fn write_data_block(&mut self, writer: &mut Writer, block: &[u8]) -> Result<(), StoreError> {
        let at = data_offset(
            &self.superblock,
            writer.node.data_block(writer.blocks_written),
        );
        self.device.write(at, block)?;
        writer.blocks_written += 1;
        Ok(())
    }

    /// Ends a write: checks the size and the root; then writes the tree,
    /// flushes, writes the node, flushes, and writes the bitmap. A blob
    /// that does not match is refused and its reservation released: the
    /// disk's metadata never referred to it.
    pub fn commit(&mut self, mut writer: Writer) -> Result<(), StoreError> {
        if writer.builder.len() != writer.node.size {
            self.abandon(writer);
            return Err(StoreError::Incomplete);
        }
        let tree = core::mem::take(&mut writer.builder).finish();
        if tree.root() != writer.node.root {
            self.abandon(writer);
            return Err(StoreError::WrongContent);
        }
        let result = self.persist(&mut writer, &tree);
        if result.is_err() {
            self.abandon(writer);
            return result;
        }
        self.release_reservation(&writer);
        self.blobs
            .insert(writer.node.root, (writer.slot, writer.node));
        self.trees.insert(writer.node.root, tree);
        // The bitmap last: mount rebuilds it from the nodes if a power cut
        // lands before it.
        self.write_bitmap()
    }

    fn persist(&mut self, writer: &mut Writer, tree: &MerkleTree) -> Result<(), StoreError> {
        if !writer.pending.is_empty() {
            let mut block = core::mem::take(&mut writer.pending);
            block.resize(BLOCK_SIZE, 0);
            self.write_data_block(writer, &block)?;
        }
        if Node::merkle_blocks_for(writer.node.size) > 0 {
            let leaves = encode_leaves(tree.leaves());
            let at = data_offset(&self.superblock, writer.node.extent_start);
            self.device.write(at, &leaves)?;
        }
        // Ordered writes: the extent is durable before the node names it.
        self.device.flush()?;
        self.write_node(writer.slot, Some(&writer.node))?;
        self.device.flush()?;
        Ok(())
    }

    /// Drops a blob being written; nothing of it stays.
    pub fn abandon(&mut self, writer: Writer) {
        self.mark(writer.node.extent_start, writer.node.extent_blocks(), false);
        self.release_reservation(&writer);
    }

    fn release_reservation(&mut self, writer: &Writer) {
        self.reserved.retain(|&s| s != writer.slot);
        self.writing.retain(|r| *r != writer.node.root);
    }

    /// Deletes blob `root`: its node is cleared (and flushed) before its
    /// blocks are freed.
    pub fn delete(&mut self, root: &MerkleRoot) -> Result<(), StoreError> {
        let (slot, node) = *self.blobs.get(root).ok_or(StoreError::NotFound)?;
        self.write_node(slot, None)?;
        self.device.flush()?;
        self.blobs.remove(root);
        self.trees.remove(root);
        self.mark(node.extent_start, node.extent_blocks(), false);
        self.write_bitmap()
    }

    /// Writes node `slot` (or clears it): one sector of the table.
    fn write_node(&mut self, slot: usize, node: Option<&Node>) -> Result<(), StoreError> {
        let bytes = node.map_or([0u8; NODE_SIZE], Node::encode);
        self.table[slot * NODE_SIZE..(slot + 1) * NODE_SIZE].copy_from_slice(&bytes);
        let sector = slot * NODE_SIZE / SECTOR_SIZE;
        let offset = node_offset(&self.superblock, 0) + (sector * SECTOR_SIZE) as u64;
        let data = &self.table[sector * SECTOR_SIZE..(sector + 1) * SECTOR_SIZE];
        self.device.write(offset, data)?;
        Ok(())
    }

    /// Writes the bitmap of the committed blobs (not of reservations).
    fn write_bitmap(&mut self) -> Result<(), StoreError> {
        let mut committed = vec![false; self.used.len()];
        for (_, node) in self.blobs.values() {
            let start = node.extent_start as usize;
            committed[start..start + node.extent_blocks() as usize]
                .iter_mut()
                .for_each(|u| *u = true);
        }
        let bytes = encode_bitmap(&committed, self.superblock.bitmap_blocks);
        self.device
            .write(self.superblock.bitmap_start * BLOCK_SIZE as u64, &bytes)?;
        Ok(())
    }

    /// The tree of a listed blob, read from its extent and checked against
    /// its name.
    fn tree(&mut self, node: &Node) -> Result<MerkleTree, StoreError> {
        if let Some(tree) = self.trees.get(&node.root) {
            return Ok(tree.clone());
        }
        let data_blocks = Node::data_blocks_for(node.size);
        let tree = if Node::merkle_blocks_for(node.size) == 0 {
            // At most one block: its hash is the root.
            MerkleTree::from_leaves(vec![*node.root.as_bytes()])
        } else {
            let mut bytes = vec![0u8; Node::merkle_blocks_for(node.size) as usize * BLOCK_SIZE];
            self.device
                .read(data_offset(&self.superblock, node.extent_start), &mut bytes)?;
            let leaves = bytes
                .chunks(HASH_SIZE)
                .take(data_blocks as usize)
                .map(|c| {
                    let mut hash = [0u8; HASH_SIZE];
                    hash.copy_from_slice(c);
                    hash
                })
                .collect();
            MerkleTree::from_leaves(leaves)
        };
        if tree.root() != node.root {
            return Err(StoreError::Integrity);
        }
        self.trees.insert(node.root, tree.clone());
        Ok(tree)
    }

    /// Up to `count` bytes of blob `root` from `offset`, each data block
    /// checked against the blob's Merkle tree first: a block that does not
    /// match is [`StoreError::Integrity`], never returned.
    pub fn read(
        &mut self,
        root: &MerkleRoot,
        offset: u64,
        count: usize,
    ) -> Result<Vec<u8>, StoreError> {
        let (_, node) = *self.blobs.get(root).ok_or(StoreError::NotFound)?;
        let tree = self.tree(&node)?;
        let end = offset.saturating_add(count as u64).min(node.size);
        let mut out = Vec::new();
        let mut at = offset;
        let mut block = vec![0u8; BLOCK_SIZE];
        while at < end {
            let index = at / BLOCK_SIZE as u64;
            let block_start = index * BLOCK_SIZE as u64;
            let length = (node.size - block_start).min(BLOCK_SIZE as u64) as usize;
            self.device.read(
                data_offset(&self.superblock, node.data_block(index)),
                &mut block,
            )?;
            tree.verify_block(index as usize, &block[..length])
                .map_err(|_| StoreError::Integrity)?;
            let from = (at - block_start) as usize;
            let to = ((end - block_start) as usize).min(length);
            out.extend_from_slice(&block[from..to]);
            at = block_start + to as u64;
        }
        Ok(out)
    }

    /// Reads the whole of blob `root`, verified.
    pub fn read_all(&mut self, root: &MerkleRoot) -> Result<Vec<u8>, StoreError> {
        let size = self.size_of(root).ok_or(StoreError::NotFound)?;
        self.read(root, 0, size as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use merkle::root_of;

    /// A disk in memory that, once `budget` writes have been made, drops
    /// every later one: a power cut after that many writes.
    #[derive(Clone)]
    struct MemoryDisk {
        bytes: Vec<u8>,
        budget: Option<usize>,
        writes: usize,
    }

    impl MemoryDisk {
        fn new(blocks: usize) -> MemoryDisk {
            MemoryDisk {
                bytes: vec![0; blocks * BLOCK_SIZE],
                budget: None,
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
            if self.budget.is_some_and(|b| self.writes > b) {
                return Ok(()); // lost in the power cut
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

    fn blob(size: usize, seed: u8) -> (MerkleRoot, Vec<u8>) {
        let data: Vec<u8> = (0..size)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect();
        (root_of(&data), data)
    }

    fn put(store: &mut Store<MemoryDisk>, data: &[u8]) -> Result<MerkleRoot, StoreError> {
        let root = root_of(data);
        let mut writer = store.create(root, data.len() as u64)?;
        for piece in data.chunks(5000) {
            store.write(&mut writer, piece)?;
        }
        store.commit(writer)?;
        Ok(root)
    }

    #[test]
    fn blobs_survive_a_remount_and_read_back_verified() {
        let mut store = Store::format(MemoryDisk::new(64)).unwrap();
        let sizes = [0, 1, 8192, 8193, 100_000];
        let mut roots = Vec::new();
        for (i, &size) in sizes.iter().enumerate() {
            let (root, data) = blob(size, i as u8);
            assert_eq!(put(&mut store, &data), Ok(root));
            roots.push((root, data));
        }
        let (mut store, report) = Store::mount(store.into_device()).unwrap();
        assert_eq!(report, MountReport::default());
        assert_eq!(store.list().len(), sizes.len());
        for (root, data) in &roots {
            assert_eq!(&store.read_all(root).unwrap(), data);
        }
        // A read in the middle crossing a block boundary.
        let (root, data) = &roots[4];
        assert_eq!(store.read(root, 8000, 500).unwrap(), &data[8000..8500]);
        assert_eq!(store.read(root, 200_000, 10).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn wrong_content_is_refused_and_leaves_nothing() {
        let mut store = Store::format(MemoryDisk::new(64)).unwrap();
        let before = store.usage();
        let (root, _) = blob(20_000, 1);
        let (_, other) = blob(20_000, 2);
        let mut writer = store.create(root, 20_000).unwrap();
        store.write(&mut writer, &other).unwrap();
        assert_eq!(store.commit(writer), Err(StoreError::WrongContent));
        assert_eq!(store.usage(), before);
        assert!(store.list().is_empty());
        let writer = store.create(root, 20_000).unwrap();
        assert_eq!(store.commit(writer), Err(StoreError::Incomplete));
        let mut writer = store.create(root, 10).unwrap();
        assert_eq!(
            store.write(&mut writer, &other[..11]),
            Err(StoreError::TooLarge)
        );
        store.abandon(writer);
        let (store, _) = Store::mount(store.into_device()).unwrap();
        assert!(store.list().is_empty());
        assert_eq!(store.usage(), before);
    }

    #[test]
    fn a_flipped_byte_on_disk_is_an_integrity_error() {
        let mut store = Store::format(MemoryDisk::new(64)).unwrap();
        let (root, data) = blob(30_000, 3);
        put(&mut store, &data).unwrap();
        let node = store.blobs[&root].1;
        let mut disk = store.into_device();
        let at = data_offset(&Superblock::for_blocks(64).unwrap(), node.data_block(2)) as usize;
        disk.bytes[at + 17] ^= 0x40;
        let (mut store, _) = Store::mount(disk).unwrap();
        assert_eq!(store.read_all(&root), Err(StoreError::Integrity));
        // Blocks before the damage still read.
        assert_eq!(store.read(&root, 0, 8192).unwrap(), &data[..8192]);
        assert_eq!(store.read(&root, 16384, 1), Err(StoreError::Integrity));
    }

    #[test]
    fn delete_frees_the_space_and_duplicates_are_refused() {
        let mut store = Store::format(MemoryDisk::new(64)).unwrap();
        let empty = store.usage();
        let (root, data) = blob(50_000, 4);
        put(&mut store, &data).unwrap();
        assert_eq!(put(&mut store, &data), Err(StoreError::AlreadyExists));
        assert_eq!(store.delete(&root), Ok(()));
        assert_eq!(store.delete(&root), Err(StoreError::NotFound));
        assert_eq!(store.usage(), empty);
        let (store, report) = Store::mount(store.into_device()).unwrap();
        assert!(store.list().is_empty());
        assert!(!report.bitmap_repaired);
        let too_big = (64 * BLOCK_SIZE) as u64;
        let mut store = store;
        assert_eq!(
            store.create(root_of(&[]), too_big).err(),
            Some(StoreError::NoSpace)
        );
    }

    #[test]
    fn a_power_cut_after_any_write_leaves_only_whole_blobs() {
        // Run one workload (writes and a delete), cutting the power after
        // every possible number of writes; each time, mount the result and
        // check that every listed blob reads back whole and verified.
        let mut contents = Vec::new();
        for (i, size) in [40_000usize, 8192, 3, 70_000].iter().enumerate() {
            contents.push(blob(*size, 10 + i as u8));
        }
        let workload = |store: &mut Store<MemoryDisk>| {
            for (_, data) in &contents[..3] {
                let _ = put(store, data);
            }
            let _ = store.delete(&contents[0].0);
            let _ = put(store, &contents[3].1);
        };
        let formatted = Store::format(MemoryDisk::new(64)).unwrap().into_device();
        let mut full = Store::mount(formatted.clone()).unwrap().0;
        workload(&mut full);
        let total_writes = full.into_device().writes - formatted.writes;
        let mut seen_partial = false;
        for cut in 0..=total_writes {
            let mut disk = formatted.clone();
            disk.budget = Some(disk.writes + cut);
            let mut store = Store::mount(disk).unwrap().0;
            workload(&mut store);
            let mut disk = store.into_device();
            disk.budget = None;
            let (mut store, _) = Store::mount(disk).unwrap();
            let listed = store.list();
            if listed.len() < 3 {
                seen_partial = true;
            }
            for (root, size) in listed {
                let data = store.read_all(&root).unwrap_or_else(|e| {
                    panic!("cut after {cut} writes: {root} does not read: {e}")
                });
                assert_eq!(data.len() as u64, size);
                assert_eq!(root_of(&data), root);
            }
        }
        assert!(seen_partial, "no cut landed before the end");
    }
}
