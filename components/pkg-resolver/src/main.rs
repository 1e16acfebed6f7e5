//! The package resolver (`docs/packages.md`): serves `zx.pkg.Resolver`,
//! which turns `pkg://<name>` into the component that package holds: the
//! compiled manifest from its meta blob and its program (`bin/<binary>`)
//! in a VMO. Everything is read through `/blob` (blobfs), which checks
//! every block against the blob's Merkle tree, and the blob names come
//! from the meta blob: a damaged byte anywhere in a package is
//! `IO_DATA_INTEGRITY` for that package, logged with the blob it is in.
//! A program is streamed from blobfs into its VMO one reply at a time:
//! the resolver never holds a copy of it. A program over `MAX_PROGRAM`
//! (16 MiB) is refused with `OUT_OF_RANGE` before it is read. The VMO is
//! charged to the resolver's job until its receiver closes it (the
//! component manager, once it has launched the program): its memory
//! limit leaves room for the largest program beside its own needs.
//!
//! The meta blobs are found by scanning `/blob` at the first request of
//! any connection (blobfs holds at most 256 blobs), and again when a
//! request names a package the last scan did not find (one pushed from
//! the host since). `pkg://<name>?hash=<meta root>` names one package
//! exactly: a version pushed beside the image's of the same name.
//!
//! The component manager asks it for every component whose program is not
//! in the bootfs (`realm/resolve.rs` there); the console's `pkg resolve`
//! asks it too.
//!
//! It also serves the package directory `pkg` (`directory.rs`): each
//! package as a read-only directory, `pkg/<name>/meta` and its files
//! (`pkg/<name>/bin/<binary>`), read verified through `/blob`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod directory;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use bindings::zx_pkg::{
    dispatch_resolver, ResolverMarker, ResolverResolveRequest, ResolverResolveResponse,
    ResolverServer, MAX_MANIFEST, MAX_PROGRAM,
};
use core::cell::RefCell;
use idlc_runtime::Transport;
use merkle::MerkleRoot;
use zx::{Channel, Status, Vmo};
use zx_component::fs::Tree;
use zx_idl::ChannelTransport;
use zx_runtime::println;

zx_runtime::entry!(main);

/// Meta blobs are small: larger blobs are not looked at when scanning.
const MAX_META: u64 = 64 * 1024;

/// Reads the whole blob `root` (`size` bytes) through `/blob`, verified.
fn read_blob(root: &MerkleRoot, size: u64) -> Result<Vec<u8>, Status> {
    let file = zx_component::namespace::open(&format!("/blob/{root}"))?;
    let data = zx_component::fs::read_file(file, size as usize)?;
    if data.len() as u64 != size {
        return Err(Status::IO_DATA_INTEGRITY);
    }
    Ok(data)
}

/// Blob `root` (`size` bytes, read verified through `/blob`) in a new
/// VMO, streamed: each reply of blobfs goes straight into the VMO, so the
/// resolver holds no copy of the program, whatever its size.
fn program_vmo(root: &MerkleRoot, size: u64) -> Result<Vmo, Status> {
    let length = usize::try_from(size).map_err(|_| Status::OUT_OF_RANGE)?;
    let vmo = Vmo::create(size.max(1), 0)?;
    let file = zx_component::namespace::open(&format!("/blob/{root}"))?;
    let read =
        zx_component::fs::read_file_with(file, length, |offset, piece| vmo.write(piece, offset))?;
    if read != size {
        return Err(Status::IO_DATA_INTEGRITY);
    }
    Ok(vmo)
}

/// The packages in blobfs: each meta blob's root, decoded content and
/// size.
pub struct Index {
    pub packages: Vec<(MerkleRoot, package::Package, u64)>,
    /// Blobs small enough to be meta blobs that failed verification: a
    /// package not found may be one of them.
    damaged: Vec<MerkleRoot>,
}

impl Index {
    pub fn scan() -> Result<Index, Status> {
        let entries =
            zx_component::namespace::open("/blob").and_then(zx_component::fs::read_dir)?;
        let mut packages = Vec::new();
        let mut damaged = Vec::new();
        for entry in entries.iter().filter(|e| e.size <= MAX_META) {
            let Ok(root) = entry.name.parse::<MerkleRoot>() else {
                continue;
            };
            let head = zx_component::namespace::open(&format!("/blob/{root}"))
                .and_then(|file| zx_component::fs::read_file(file, package::MAGIC.len() + 1));
            match head {
                Ok(head) if package::looks_like_meta(&head) => {}
                Ok(_) => continue,
                Err(status) => {
                    // A damaged blob may be a meta blob: say so, go on.
                    println!("pkg-resolver: blob {root}: {status}");
                    if status == Status::IO_DATA_INTEGRITY {
                        damaged.push(root);
                    }
                    continue;
                }
            }
            match read_blob(&root, entry.size).map(|bytes| package::decode(&bytes)) {
                Ok(Ok(decoded)) => packages.push((root, decoded, entry.size)),
                Ok(Err(error)) => println!("pkg-resolver: meta blob {root}: {error}"),
                Err(status) => {
                    println!("pkg-resolver: meta blob {root}: {status}");
                    if status == Status::IO_DATA_INTEGRITY {
                        damaged.push(root);
                    }
                }
            }
        }
        Ok(Index { packages, damaged })
    }
}

/// What a package URL names: `pkg://<name>` (the package of that name)
/// or `pkg://<name>?hash=<meta root>` (that very package, which must be
/// named `<name>`).
#[derive(Debug, PartialEq, Eq)]
struct Url<'a> {
    name: &'a str,
    hash: Option<MerkleRoot>,
}

/// Parses a package URL; `None` if it is not one.
fn parse_url(url: &str) -> Option<Url<'_>> {
    let rest = url.strip_prefix("pkg://")?;
    let (name, hash) = match rest.split_once('?') {
        Some((name, query)) => (name, Some(query.strip_prefix("hash=")?.parse().ok()?)),
        None => (rest, None),
    };
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'?');
    valid.then_some(Url { name, hash })
}

/// The index, shared by every connection (scanned once).
struct Resolver {
    index: Rc<RefCell<Option<Index>>>,
}

impl Resolver {
    fn resolve(&mut self, url: &str) -> Result<ResolverResolveResponse, Status> {
        let wanted = parse_url(url).ok_or(Status::INVALID_ARGS)?;
        let matches = |(root, package, _): &&(MerkleRoot, package::Package, u64)| {
            package.name == wanted.name && wanted.hash.as_ref().is_none_or(|hash| hash == root)
        };
        // A package written since the last scan (pushed from the host) is
        // found by scanning again.
        let known = self
            .index
            .borrow()
            .as_ref()
            .is_some_and(|index| index.packages.iter().any(|p| matches(&p)));
        if !known {
            let scanned = Index::scan()?;
            *self.index.borrow_mut() = Some(scanned);
        }
        let index = self.index.borrow();
        let index = index.as_ref().ok_or(Status::INTERNAL)?;
        // With two packages of one name (a version pushed beside the
        // image's), `pkg://<name>` is the first listed: ask by hash.
        let Some((root, found, _)) = index.packages.iter().find(|p| matches(p)) else {
            // Its meta blob may be one that failed verification: that is
            // an integrity error, not an absence.
            if let Some(blob) = index.damaged.first() {
                println!("pkg-resolver: {url}: not among the verified meta blobs (blob {blob}): IO_DATA_INTEGRITY");
                return Err(Status::IO_DATA_INTEGRITY);
            }
            return Err(Status::NOT_FOUND);
        };
        if found.manifest.len() > MAX_MANIFEST as usize {
            return Err(Status::OUT_OF_RANGE);
        }
        let program = found.files.iter().find(|f| f.path.starts_with("bin/"));
        let (vmo, size) = match program {
            Some(file) if file.size > u64::from(MAX_PROGRAM) => {
                // Refused before a byte is read: the manager would not
                // launch it, and this VMO is charged to the resolver.
                println!(
                    "pkg-resolver: {url}: {} is {} bytes, over the {} MiB limit: OUT_OF_RANGE",
                    file.path,
                    file.size,
                    MAX_PROGRAM >> 20
                );
                return Err(Status::OUT_OF_RANGE);
            }
            Some(file) => {
                let vmo = program_vmo(&file.root, file.size).inspect_err(|status| {
                    println!(
                        "pkg-resolver: {url}: {} (blob {}): {status}",
                        file.path, file.root
                    )
                })?;
                (vmo, file.size)
            }
            None => (Vmo::create(1, 0)?, 0),
        };
        Ok(ResolverResolveResponse {
            root: root.0,
            version: found.version.clone(),
            manifest: found.manifest.clone(),
            program: idlc_runtime::Handle::from_raw(vmo.into_handle().into_raw()),
            program_size: size,
        })
    }
}

impl ResolverServer for Resolver {
    fn resolve(&mut self, request: ResolverResolveRequest) -> Result<ResolverResolveResponse, i32> {
        Resolver::resolve(self, &request.url).map_err(|status| {
            println!("pkg-resolver: cannot resolve {}: {status}", request.url);
            status.0
        })
    }
}

async fn serve(channel: Channel, index: Rc<RefCell<Option<Index>>>) {
    let transport = ChannelTransport::new(channel);
    let mut resolver = Resolver { index };
    while let Some(mut message) = zx_component::next_message(&transport).await {
        if let Some(reply) = dispatch_resolver(&mut resolver, &mut message)
            .ok()
            .flatten()
        {
            if transport.send(reply).is_err() {
                return;
            }
        }
    }
}

/// The checked path below the package directory `pkg` that `path` names.
fn below_pkg(path: &str) -> Option<String> {
    match path.strip_prefix("pkg")? {
        "" => Some(String::new()),
        rest => zx_component::fs::join("", rest.strip_prefix('/')?),
    }
}

fn main() -> i64 {
    let Some(outgoing) = zx_component::Outgoing::take() else {
        println!("pkg-resolver: no outgoing directory");
        return 1;
    };
    let Ok(mut executor) = zx_async::Executor::new() else {
        return 1;
    };
    let spawner = executor.spawner();
    let index = Rc::new(RefCell::new(None));
    let tree: Rc<dyn Tree> = Rc::new(directory::PackageDirectory {
        index: Rc::clone(&index),
    });
    let accept = async move {
        while let Some((path, channel)) = outgoing.next().await {
            if Some(path.as_str()) == ResolverMarker::DISCOVERABLE_NAME {
                spawner.spawn(serve(channel, Rc::clone(&index)));
            } else if let Some(below) = below_pkg(&path) {
                zx_component::fs::serve(Rc::clone(&tree), below, channel, &spawner);
            } else {
                println!("pkg-resolver: no service named {path}");
            }
        }
    };
    let Some(lifecycle) = zx_component::Lifecycle::take() else {
        executor.run(accept);
        return 0;
    };
    executor.spawner().spawn(accept);
    executor.run(async move { lifecycle.stopped().await });
    println!("pkg-resolver: stopping");
    0
}
