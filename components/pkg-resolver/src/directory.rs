//! The package directory `pkg` (`docs/packages.md`): every package in
//! blobfs as a read-only directory of its own, by name.
//!
//! ```text
//! pkg/<name>/meta            the meta blob
//! pkg/<name>/<path>          each file of the package (bin/<binary>)
//! ```
//!
//! Every read goes to the file's blob through `/blob`, so blobfs verifies
//! it against its Merkle root: a damaged block reads as
//! `IO_DATA_INTEGRITY`, never as wrong bytes. A name the last scan of
//! `/blob` did not find is looked for again (a package pushed since). With
//! two packages of one name (a version pushed beside the image's), the
//! directory shows the first listed, as `pkg://<name>` resolves it.

use crate::Index;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use merkle::MerkleRoot;
use zx::Status;
use zx_component::bindings::zx_io::{DirEntry, EntryKind, FileClient, FileReadRequest};
use zx_component::fs::{Node, Tree};
use zx_idl::ChannelTransport;

/// What a path of the package directory names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Directory,
    /// A file: its blob and size.
    File(MerkleRoot, u64),
}

/// The package directory, over the resolver's index of `/blob`.
pub struct PackageDirectory {
    pub index: Rc<RefCell<Option<Index>>>,
}

impl PackageDirectory {
    /// `f` of the index, scanned first if it never was, or again if it
    /// lacks package `name` (when given).
    fn with_index<R>(&self, name: Option<&str>, f: impl Fn(&Index) -> R) -> Option<R> {
        let known = self.index.borrow().as_ref().is_some_and(|index| {
            name.is_none_or(|name| index.packages.iter().any(|(_, p, _)| p.name == name))
        });
        if !known {
            let scanned = Index::scan().ok()?;
            *self.index.borrow_mut() = Some(scanned);
        }
        self.index.borrow().as_ref().map(f)
    }

    fn entry(&self, path: &str) -> Option<Entry> {
        if path.is_empty() {
            return Some(Entry::Directory);
        }
        let (name, rest) = path.split_once('/').unwrap_or((path, ""));
        self.with_index(Some(name), |index| entry_in(index, name, rest))
            .flatten()
    }
}

/// What `rest` names in package `name` (`""`: the package's directory).
fn entry_in(index: &Index, name: &str, rest: &str) -> Option<Entry> {
    let (root, package, meta_size) = index.packages.iter().find(|(_, p, _)| p.name == name)?;
    if rest.is_empty() {
        return Some(Entry::Directory);
    }
    if rest == "meta" {
        return Some(Entry::File(*root, *meta_size));
    }
    if let Some(file) = package.files.iter().find(|f| f.path == rest) {
        return Some(Entry::File(file.root, file.size));
    }
    package
        .files
        .iter()
        .any(|f| {
            f.path
                .strip_prefix(rest)
                .is_some_and(|after| after.starts_with('/'))
        })
        .then_some(Entry::Directory)
}

/// The entries of directory `rest` of package `name`.
fn list_in(index: &Index, name: &str, rest: &str) -> Vec<DirEntry> {
    let Some((_, package, meta_size)) = index.packages.iter().find(|(_, p, _)| p.name == name)
    else {
        return Vec::new();
    };
    let mut entries: BTreeMap<String, (EntryKind, u64)> = BTreeMap::new();
    if rest.is_empty() {
        entries.insert("meta".into(), (EntryKind::File, *meta_size));
    }
    for file in &package.files {
        let below = if rest.is_empty() {
            Some(file.path.as_str())
        } else {
            file.path
                .strip_prefix(rest)
                .and_then(|after| after.strip_prefix('/'))
        };
        let Some(below) = below else { continue };
        match below.split_once('/') {
            Some((directory, _)) => {
                entries.insert(directory.into(), (EntryKind::Directory, 0));
            }
            None => {
                entries.insert(below.into(), (EntryKind::File, file.size));
            }
        }
    }
    entries
        .into_iter()
        .map(|(name, (kind, size))| DirEntry { name, kind, size })
        .collect()
}

/// Up to `count` bytes of blob `root` from `offset`, read verified
/// through `/blob`.
fn read_blob_at(root: &MerkleRoot, offset: u64, count: usize) -> Result<Vec<u8>, Status> {
    let file = zx_component::namespace::open(&format!("/blob/{root}"))?;
    let client = FileClient::new(ChannelTransport::new(file));
    let request = FileReadRequest {
        offset,
        count: u32::try_from(count).unwrap_or(u32::MAX),
    };
    match client.read(request) {
        Ok(Ok(response)) => Ok(response.data),
        Ok(Err(status)) => Err(Status(status)),
        Err(_) => Err(Status::NOT_FOUND),
    }
}

impl Tree for PackageDirectory {
    fn lookup(&self, path: &str) -> Option<Node> {
        match self.entry(path)? {
            Entry::Directory => Some(Node::Directory),
            Entry::File(_, size) => Some(Node::File(size)),
        }
    }

    fn list(&self, path: &str) -> Vec<DirEntry> {
        if path.is_empty() {
            let names = self.with_index(None, |index| {
                let mut names: Vec<String> = index
                    .packages
                    .iter()
                    .map(|(_, p, _)| p.name.clone())
                    .collect();
                names.sort();
                names.dedup();
                names
            });
            return names
                .unwrap_or_default()
                .into_iter()
                .map(|name| DirEntry {
                    name,
                    kind: EntryKind::Directory,
                    size: 0,
                })
                .collect();
        }
        let (name, rest) = path.split_once('/').unwrap_or((path, ""));
        self.with_index(Some(name), |index| list_in(index, name, rest))
            .unwrap_or_default()
    }

    fn read(&self, path: &str, offset: u64, count: usize) -> Option<Vec<u8>> {
        self.read_checked(path, offset, count).ok()
    }

    fn read_checked(&self, path: &str, offset: u64, count: usize) -> Result<Vec<u8>, Status> {
        match self.entry(path) {
            Some(Entry::File(root, _)) => read_blob_at(&root, offset, count),
            _ => Err(Status::NOT_FOUND),
        }
    }
}
