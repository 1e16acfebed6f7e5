//! datafs: the mutable file system of `/data`, on the data partition
//! fshost serves (`/partitions/data`). The format and the logic are
//! `datafs-core`'s (copy-on-write, every operation atomic; host-tested
//! with a power cut after every write); this component serves:
//!
//! - the directory `data` (`zx.io`): one file per stored file, read with
//!   `File.Read`;
//! - `zx.data.DataFs` (`idl/data.idl`): write (replace or append), remove,
//!   usage. Each operation is durable when it returns.
//!
//! A blank partition (all zero, as `build-image` writes it) is formatted
//! at first mount; anything else that is not datafs is refused
//! (`docs/datafs.md`).
//!
//! Known gaps: one flat directory; files are written whole (or appended
//! to) in pieces of at most 8 KiB per request, each a copy-on-write of the
//! file.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}
// The block volume blobfs uses: a byte range of a `zx.device.block` device.
#[path = "../../blobfs/src/device.rs"]
mod device;

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use bindings::zx_data::{
    dispatch_data_fs, DataFsGetInfoResponse, DataFsMarker, DataFsRemoveRequest,
    DataFsRemoveResponse, DataFsServer, DataFsWriteRequest, DataFsWriteResponse, DataInfo,
};
use core::cell::RefCell;
use core::future::Future;
use datafs_core::{DataFs, Error, BLOCK_SIZE};
use device::BlockVolume;
use idlc_runtime::Transport;
use zx::{Channel, Status};
use zx_async::Spawner;
use zx_component::bindings::zx_io::{DirEntry, EntryKind};
use zx_component::fs::{Node, Tree};
use zx_idl::ChannelTransport;
use zx_runtime::println;

zx_runtime::entry!(main);

type Shared = Rc<RefCell<DataFs<BlockVolume>>>;

/// The status a client sees for a datafs error.
fn status(error: Error) -> Status {
    match error {
        Error::Io => Status::IO,
        Error::NotFound => Status::NOT_FOUND,
        Error::BadName => Status::INVALID_ARGS,
        Error::NoSpace | Error::TooManyFiles => Status::NO_RESOURCES,
        Error::Blank
        | Error::NotDatafs
        | Error::Version(_)
        | Error::Corrupt(_)
        | Error::TooSmall => Status::INTERNAL,
    }
}

/// The volume: fshost's `partitions/data`.
fn open_volume() -> Result<BlockVolume, String> {
    let partition = zx_component::namespace::open("/partitions/data")
        .map_err(|s| format!("no data partition: {s}"))?;
    BlockVolume::open(partition, None).map_err(|s| format!("the data partition: {s}"))
}

/// Mounts the volume, formatting it if it is blank.
fn mount() -> Result<DataFs<BlockVolume>, String> {
    match DataFs::mount(open_volume()?) {
        Ok((fs, report)) => {
            let usage = fs.usage();
            println!(
                "datafs: mounted generation {}: {} files, {} of {} blocks used{}",
                report.generation,
                usage.files,
                usage.used_blocks,
                usage.total_blocks,
                if report.other_slot_invalid {
                    " (the other root slot is not valid)"
                } else {
                    ""
                }
            );
            Ok(fs)
        }
        Err(Error::Blank) => {
            let fs = DataFs::format(open_volume()?).map_err(|e| format!("format: {e}"))?;
            println!(
                "datafs: formatted a blank volume of {} blocks",
                fs.usage().total_blocks
            );
            Ok(fs)
        }
        Err(error) => Err(format!("cannot mount: {error}")),
    }
}

/// The `data` directory: one file per stored file.
struct DataTree {
    fs: Shared,
}

impl Tree for DataTree {
    fn lookup(&self, path: &str) -> Option<Node> {
        if path.is_empty() {
            return Some(Node::Directory);
        }
        self.fs.borrow().size_of(path).map(Node::File)
    }

    fn list(&self, path: &str) -> Vec<DirEntry> {
        if !path.is_empty() {
            return Vec::new();
        }
        self.fs
            .borrow()
            .list()
            .iter()
            .map(|entry| DirEntry {
                name: entry.name.clone(),
                kind: EntryKind::File,
                size: entry.size,
            })
            .collect()
    }

    fn read(&self, path: &str, offset: u64, count: usize) -> Option<Vec<u8>> {
        self.read_checked(path, offset, count).ok()
    }

    fn read_checked(&self, path: &str, offset: u64, count: usize) -> Result<Vec<u8>, Status> {
        let result = self.fs.borrow_mut().read(path, offset, count);
        result.map_err(status)
    }
}

/// One `DataFs` connection.
struct DataFsConnection {
    fs: Shared,
}

impl DataFsServer for DataFsConnection {
    fn write(&mut self, request: DataFsWriteRequest) -> Result<DataFsWriteResponse, i32> {
        let result = self
            .fs
            .borrow_mut()
            .write(&request.name, &request.data, request.append);
        result.map(|()| DataFsWriteResponse {}).map_err(|e| {
            println!("datafs: write {}: {e}", request.name);
            status(e).0
        })
    }

    fn remove(&mut self, request: DataFsRemoveRequest) -> Result<DataFsRemoveResponse, i32> {
        let result = self.fs.borrow_mut().remove(&request.name);
        result
            .map(|()| DataFsRemoveResponse {})
            .map_err(|e| status(e).0)
    }

    fn get_info(&mut self) -> DataFsGetInfoResponse {
        let usage = self.fs.borrow().usage();
        DataFsGetInfoResponse {
            info: DataInfo {
                block_size: BLOCK_SIZE as u32,
                total_blocks: usage.total_blocks,
                used_blocks: usage.used_blocks,
                file_count: usage.files,
            },
        }
    }
}

async fn serve_data_fs(channel: Channel, mut connection: DataFsConnection) {
    let transport = ChannelTransport::new(channel);
    while let Some(mut message) = zx_component::next_message(&transport).await {
        if let Some(reply) = dispatch_data_fs(&mut connection, &mut message)
            .ok()
            .flatten()
        {
            if transport.send(reply).is_err() {
                return;
            }
        }
    }
}

/// The checked path below the `data` directory that `path` names.
fn below_data(path: &str) -> Option<String> {
    match path.strip_prefix("data")? {
        "" => Some(String::new()),
        rest => zx_component::fs::join("", rest.strip_prefix('/')?),
    }
}

fn accept(
    outgoing: zx_component::Outgoing,
    fs: Shared,
    spawner: Spawner,
) -> impl Future<Output = ()> {
    let tree: Rc<dyn Tree> = Rc::new(DataTree { fs: Rc::clone(&fs) });
    async move {
        while let Some((path, channel)) = outgoing.next().await {
            if Some(path.as_str()) == DataFsMarker::DISCOVERABLE_NAME {
                let connection = DataFsConnection { fs: Rc::clone(&fs) };
                spawner.spawn(serve_data_fs(channel, connection));
            } else if let Some(below) = below_data(&path) {
                zx_component::fs::serve(Rc::clone(&tree), below, channel, &spawner);
            } else {
                println!("datafs: no service named {path}");
            }
        }
    }
}

fn main() -> i64 {
    let Some(outgoing) = zx_component::Outgoing::take() else {
        println!("datafs: no outgoing directory");
        return 1;
    };
    let fs: Shared = match mount() {
        Ok(fs) => Rc::new(RefCell::new(fs)),
        Err(why) => {
            println!("datafs: {why}");
            return 1;
        }
    };
    let Ok(mut executor) = zx_async::Executor::new() else {
        return 1;
    };
    let accept = accept(outgoing, fs, executor.spawner());
    let Some(lifecycle) = zx_component::Lifecycle::take() else {
        executor.run(accept);
        return 0;
    };
    executor.spawner().spawn(accept);
    executor.run(async move { lifecycle.stopped().await });
    println!("datafs: stopping");
    0
}
