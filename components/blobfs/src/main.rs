//! blobfs: a content-addressed store of immutable blobs on a block device,
//! each named by its Fuchsia Merkle root (the `merkle` crate) and checked
//! against its Merkle tree on every read.
//!
//! The format and the logic are `blobfs-core`'s (host-tested, including a
//! power cut after every write); this component puts them on
//! its partition (`zx.device.block`, from fshost) and serves:
//!
//! - `zx.blob.Blobfs` (`idl/blob.idl`): create a blob with its root and
//!   size, stream its bytes over a `BlobWriter`, commit (refused, leaving
//!   nothing, if the content does not match), delete, usage;
//! - the read-only directory `blob` (`zx.io`): one file per blob, named by
//!   its root in hex. A read whose block does not match the tree fails
//!   with `IO_DATA_INTEGRITY`; wrong bytes never reach the reader.
//!
//! A blank device is formatted at first mount; a device with anything else
//! on it that is not blobfs is refused (`docs/blobfs.md`).
//!
//! The volume is `/partitions/blobfs`, which its parent fshost serves: the
//! disk's GPT partition of the blobfs type (the system disk `build-image`
//! writes, with the product's blobs), or a disk without a GPT whole.
//!
//! Known gaps: requests are served one at a time (each device transfer
//! blocks the executor).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}
mod device;

use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use bindings::zx_blob::{
    dispatch_blob_writer, dispatch_blobfs, BlobWriterCommitResponse, BlobWriterServer,
    BlobWriterWriteRequest, BlobWriterWriteResponse, BlobfsCreateRequest, BlobfsCreateResponse,
    BlobfsDeleteRequest, BlobfsDeleteResponse, BlobfsGetInfoResponse, BlobfsMarker, BlobfsServer,
    FilesystemInfo,
};
use blobfs_core::store::{Store, StoreError, Writer};
use blobfs_core::{FormatError, BLOCK_SIZE};
use core::cell::RefCell;
use device::BlockVolume;
use idlc_runtime::{IncomingMessage, OutgoingMessage, Transport};
use merkle::MerkleRoot;
use zx::{Channel, Handle, Status};
use zx_async::Spawner;
use zx_component::bindings::zx_io::{DirEntry, EntryKind};
use zx_component::fs::{Node, Tree};
use zx_idl::ChannelTransport;
use zx_runtime::println;

zx_runtime::entry!(main);

type Shared = Rc<RefCell<Store<BlockVolume>>>;

/// The status a client sees for a store error.
fn status(error: StoreError) -> Status {
    match error {
        StoreError::Io => Status::IO,
        StoreError::Integrity | StoreError::WrongContent => Status::IO_DATA_INTEGRITY,
        StoreError::NotFound => Status::NOT_FOUND,
        StoreError::AlreadyExists => Status::ALREADY_EXISTS,
        StoreError::NoSpace => Status::NO_RESOURCES,
        StoreError::TooLarge => Status::OUT_OF_RANGE,
        StoreError::Incomplete => Status::BAD_STATE,
        StoreError::Format(_) => Status::INTERNAL,
    }
}

/// The volume: fshost's `partitions/blobfs` (the disk's partition of the
/// blobfs GPT type, or a disk without a GPT whole).
fn open_volume() -> Result<BlockVolume, String> {
    let partition = zx_component::namespace::open("/partitions/blobfs")
        .map_err(|s| format!("no blobfs partition: {s}"))?;
    BlockVolume::open(partition, None).map_err(|s| format!("the blobfs partition: {s}"))
}

/// Mounts the volume, formatting it if it is blank.
fn mount() -> Result<Store<BlockVolume>, String> {
    match Store::mount(open_volume()?) {
        Ok((store, report)) => {
            let usage = store.usage();
            println!(
                "blobfs: mounted: {} blobs, {} of {} blocks used{}{}",
                usage.blobs,
                usage.used_blocks,
                usage.total_blocks,
                if report.rejected_nodes > 0 {
                    format!(", {} unsound nodes ignored", report.rejected_nodes)
                } else {
                    String::new()
                },
                if report.bitmap_repaired {
                    ", bitmap rebuilt from the nodes"
                } else {
                    ""
                }
            );
            Ok(store)
        }
        Err(StoreError::Format(FormatError::Blank)) => {
            // Only a blank volume is formatted: anything else might be
            // someone's data.
            let store = Store::format(open_volume()?).map_err(|e| format!("format: {e}"))?;
            println!(
                "blobfs: formatted a blank volume of {} blocks",
                store.usage().total_blocks
            );
            Ok(store)
        }
        Err(error) => Err(format!("cannot mount: {error}")),
    }
}

/// The `blob` directory: one file per listed blob.
struct BlobTree {
    store: Shared,
}

fn parse_root(path: &str) -> Option<MerkleRoot> {
    path.parse().ok()
}

impl Tree for BlobTree {
    fn lookup(&self, path: &str) -> Option<Node> {
        if path.is_empty() {
            return Some(Node::Directory);
        }
        let root = parse_root(path)?;
        self.store.borrow().size_of(&root).map(Node::File)
    }

    fn list(&self, path: &str) -> Vec<DirEntry> {
        if !path.is_empty() {
            return Vec::new();
        }
        self.store
            .borrow()
            .list()
            .into_iter()
            .map(|(root, size)| DirEntry {
                name: root.to_string(),
                kind: EntryKind::File,
                size,
            })
            .collect()
    }

    fn read(&self, path: &str, offset: u64, count: usize) -> Option<Vec<u8>> {
        self.read_checked(path, offset, count).ok()
    }

    fn read_checked(&self, path: &str, offset: u64, count: usize) -> Result<Vec<u8>, Status> {
        let root = parse_root(path).ok_or(Status::NOT_FOUND)?;
        let result = self.store.borrow_mut().read(&root, offset, count);
        result.map_err(|error| {
            if error == StoreError::Integrity {
                println!("blobfs: {root}: integrity error at offset {offset}");
            }
            status(error)
        })
    }
}

/// One `Blobfs` connection.
struct BlobfsConnection {
    store: Shared,
    spawner: Spawner,
}

impl BlobfsServer for BlobfsConnection {
    fn create(&mut self, request: BlobfsCreateRequest) -> Result<BlobfsCreateResponse, i32> {
        let channel = Channel::from_handle(Handle::from_raw(request.writer.into_raw()));
        let root = MerkleRoot(request.root.bytes);
        let writer = self
            .store
            .borrow_mut()
            .create(root, request.size)
            .map_err(|e| status(e).0)?;
        let connection = WriterConnection {
            store: Rc::clone(&self.store),
            writer: Some(writer),
        };
        self.spawner.spawn(serve_writer(channel, connection));
        Ok(BlobfsCreateResponse {})
    }

    fn delete(&mut self, request: BlobfsDeleteRequest) -> Result<BlobfsDeleteResponse, i32> {
        let root = MerkleRoot(request.root.bytes);
        self.store
            .borrow_mut()
            .delete(&root)
            .map(|()| BlobfsDeleteResponse {})
            .map_err(|e| status(e).0)
    }

    fn get_info(&mut self) -> BlobfsGetInfoResponse {
        let usage = self.store.borrow().usage();
        BlobfsGetInfoResponse {
            info: FilesystemInfo {
                block_size: BLOCK_SIZE as u32,
                total_blocks: usage.total_blocks,
                used_blocks: usage.used_blocks,
                blob_count: usage.blobs,
                max_blobs: usage.max_blobs,
            },
        }
    }
}

/// One blob being written; the blob is abandoned if the channel closes
/// before `Commit`.
struct WriterConnection {
    store: Shared,
    writer: Option<Writer>,
}

impl BlobWriterServer for WriterConnection {
    fn write(&mut self, request: BlobWriterWriteRequest) -> Result<BlobWriterWriteResponse, i32> {
        let writer = self.writer.as_mut().ok_or(Status::BAD_STATE.0)?;
        self.store
            .borrow_mut()
            .write(writer, &request.data)
            .map(|()| BlobWriterWriteResponse {})
            .map_err(|e| status(e).0)
    }

    fn commit(&mut self) -> Result<BlobWriterCommitResponse, i32> {
        let writer = self.writer.take().ok_or(Status::BAD_STATE.0)?;
        let root = writer.root();
        match self.store.borrow_mut().commit(writer) {
            Ok(()) => Ok(BlobWriterCommitResponse {}),
            Err(error) => {
                println!("blobfs: {root} refused: {error}");
                Err(status(error).0)
            }
        }
    }
}

async fn serve_writer(channel: Channel, mut connection: WriterConnection) {
    serve(channel, |message| {
        dispatch_blob_writer(&mut connection, message)
            .ok()
            .flatten()
    })
    .await;
    if let Some(writer) = connection.writer.take() {
        connection.store.borrow_mut().abandon(writer);
    }
}

/// Serves one connection with `dispatch` until it closes.
async fn serve(
    channel: Channel,
    mut dispatch: impl FnMut(&mut IncomingMessage) -> Option<OutgoingMessage>,
) {
    let transport = ChannelTransport::new(channel);
    while let Some(mut message) = zx_component::next_message(&transport).await {
        if let Some(reply) = dispatch(&mut message) {
            if transport.send(reply).is_err() {
                return;
            }
        }
    }
}

/// The checked path below the `blob` directory that `path` names.
fn below_blob(path: &str) -> Option<String> {
    match path.strip_prefix("blob")? {
        "" => Some(String::new()),
        rest => zx_component::fs::join("", rest.strip_prefix('/')?),
    }
}

fn main() -> i64 {
    let Some(outgoing) = zx_component::Outgoing::take() else {
        println!("blobfs: no outgoing directory");
        return 1;
    };
    let store: Shared = match mount() {
        Ok(store) => Rc::new(RefCell::new(store)),
        Err(why) => {
            println!("blobfs: {why}");
            return 1;
        }
    };
    let Ok(mut executor) = zx_async::Executor::new() else {
        return 1;
    };
    let spawner = executor.spawner();
    let tree: Rc<dyn Tree> = Rc::new(BlobTree {
        store: Rc::clone(&store),
    });
    let accept = async move {
        while let Some((path, channel)) = outgoing.next().await {
            if Some(path.as_str()) == BlobfsMarker::DISCOVERABLE_NAME {
                let mut connection = BlobfsConnection {
                    store: Rc::clone(&store),
                    spawner: spawner.clone(),
                };
                spawner.spawn(serve(channel, move |message| {
                    dispatch_blobfs(&mut connection, message).ok().flatten()
                }));
            } else if let Some(below) = below_blob(&path) {
                zx_component::fs::serve(Rc::clone(&tree), below, channel, &spawner);
            } else {
                println!("blobfs: no service named {path}");
            }
        }
    };
    let Some(lifecycle) = zx_component::Lifecycle::take() else {
        executor.run(accept);
        return 0;
    };
    executor.spawner().spawn(accept);
    executor.run(async move { lifecycle.stopped().await });
    println!("blobfs: stopping");
    0
}
