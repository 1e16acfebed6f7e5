//! fshost: finds the partitions on the disk the driver manager serves
//! (`/dev/block/0`) by their GPT type GUID (`sdk/partitions`) and serves
//! each one found as a block device of its own in the `partitions`
//! directory: `partitions/blobfs` and `partitions/data`. Its child blobfs
//! mounts `partitions/blobfs`; fshost exposes blobfs's `blob` directory and
//! `zx.blob.Blobfs` on to the components that `use` them. Its child datafs
//! mounts `partitions/data`, and fshost exposes its `data` directory and
//! `zx.data.DataFs` (`/data`).
//!
//! A partition is `zx.device.block.Block` narrowed: block numbers are
//! relative to the partition's first sector, `GetInfo` reports the
//! partition's size, and a transfer past its end is `OUT_OF_RANGE` before
//! it reaches the driver. Each connection gets its own connection to the
//! disk, so VMO ids stay per client.
//!
//! A disk without a GPT (a test machine's blank disk) is served whole as
//! `partitions/blobfs`.
//!
//! Known gaps: one disk (`/dev/block/0`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use bindings::zx_device_block::{
    dispatch_block, BlockAttachVmoRequest, BlockAttachVmoResponse, BlockClient, BlockFlushResponse,
    BlockGetInfoResponse, BlockGetStatsResponse, BlockReadRequest, BlockReadResponse, BlockServer,
    BlockWriteRequest, BlockWriteResponse,
};
use idlc_runtime::Transport;
use zx::{Channel, Status, Vmo};
use zx_async::Spawner;
use zx_component::bindings::zx_io::{DirEntry, EntryKind};
use zx_component::fs::{Node, Tree};
use zx_idl::ChannelTransport;
use zx_runtime::println;

zx_runtime::entry!(main);

/// A partition: a name in `partitions` and a run of the disk's sectors.
#[derive(Debug, Clone)]
struct Partition {
    name: &'static str,
    first: u64,
    sectors: u64,
}

fn call<T, E>(result: Result<Result<T, i32>, E>) -> Result<T, Status> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(code)) => Err(Status(code)),
        Err(_) => Err(Status::PEER_CLOSED),
    }
}

/// Opens `/dev/block/0`, waiting up to 10 s for the driver to publish it.
fn open_disk() -> Result<BlockClient<ChannelTransport>, Status> {
    let deadline = zx::deadline_after(10_000_000_000);
    loop {
        let listed = zx_component::namespace::open("/dev/block")
            .and_then(zx_component::fs::read_dir)
            .map(|entries| entries.iter().any(|e| e.name == "0"))
            .unwrap_or(false);
        if listed {
            let channel = zx_component::namespace::open("/dev/block/0")?;
            return Ok(BlockClient::new(ChannelTransport::new(channel)));
        }
        if zx::clock_get_monotonic().into_nanos() > deadline {
            return Err(Status::TIMED_OUT);
        }
        let _ = zx::nanosleep(zx::deadline_after(50_000_000));
    }
}

/// Reads `count` sectors from `first` of `disk`.
fn read_sectors(
    disk: &BlockClient<ChannelTransport>,
    sector_size: u64,
    first: u64,
    count: u32,
) -> Result<Vec<u8>, Status> {
    let bytes = u64::from(count) * sector_size;
    let vmo = Vmo::create(bytes, 0)?;
    let copy = vmo.handle().duplicate(zx::Rights::SAME_RIGHTS)?;
    let attached = call(disk.attach_vmo(BlockAttachVmoRequest {
        vmo: idlc_runtime::Handle::from_raw(copy.into_raw()),
    }))?;
    call(disk.read(BlockReadRequest {
        vmo_id: attached.id,
        vmo_offset: 0,
        block: first,
        count,
    }))?;
    let mut data = vec![0u8; bytes as usize];
    vmo.read(&mut data, 0)?;
    Ok(data)
}

/// The disk's partitions of the types this system knows.
fn find_partitions() -> Result<Vec<Partition>, String> {
    let disk = open_disk().map_err(|s| format!("no disk: {s}"))?;
    let info = disk
        .get_info()
        .map_err(|_| String::from("the disk does not answer"))?;
    let sector_size = u64::from(info.info.block_size);
    let sectors = info.info.block_count;
    let lba1 = read_sectors(&disk, sector_size, 1, 1).map_err(|s| format!("read: {s}"))?;
    let header = match partitions::read_header(&lba1, sectors) {
        Ok(header) => header,
        Err(partitions::GptError::NoTable) => {
            println!("fshost: /dev/block/0 has no GPT: serving it whole as partitions/blobfs");
            return Ok(vec![Partition {
                name: "blobfs",
                first: 0,
                sectors,
            }]);
        }
        Err(error) => return Err(format!("/dev/block/0: {error}")),
    };
    let count = header.entries_bytes().div_ceil(sector_size as usize) as u32;
    let entries = read_sectors(&disk, sector_size, header.entries_lba, count)
        .map_err(|s| format!("read: {s}"))?;
    let found = header
        .partitions(&entries, sectors)
        .map_err(|error| format!("/dev/block/0: {error}"))?;
    let mut known = Vec::new();
    for partition in found {
        let name = if partition.type_guid == partitions::BLOBFS_TYPE {
            "blobfs"
        } else if partition.type_guid == partitions::DATA_TYPE {
            "data"
        } else {
            continue;
        };
        if known.iter().any(|p: &Partition| p.name == name) {
            continue; // the first of a type wins
        }
        println!(
            "fshost: {name} partition {} at sector {}, {} sectors",
            partition.unique_guid, partition.first_lba, partition.sectors
        );
        known.push(Partition {
            name,
            first: partition.first_lba,
            sectors: partition.sectors,
        });
    }
    Ok(known)
}

/// One client's connection to a partition: the disk narrowed.
struct PartitionConnection {
    disk: BlockClient<ChannelTransport>,
    partition: Partition,
}

impl PartitionConnection {
    /// The disk's block for the partition's `block`, if `count` blocks
    /// from there lie inside the partition.
    fn translate(&self, block: u64, count: u32) -> Result<u64, i32> {
        let end = block
            .checked_add(u64::from(count))
            .ok_or(Status::OUT_OF_RANGE.0)?;
        if end > self.partition.sectors {
            return Err(Status::OUT_OF_RANGE.0);
        }
        Ok(self.partition.first + block)
    }
}

fn status_of<T, E>(result: Result<Result<T, i32>, E>) -> Result<T, i32> {
    call(result).map_err(|s| s.0)
}

impl BlockServer for PartitionConnection {
    fn get_info(&mut self) -> BlockGetInfoResponse {
        match self.disk.get_info() {
            Ok(mut response) => {
                response.info.block_count = self.partition.sectors;
                response.serial = self.partition.name.into();
                response
            }
            Err(_) => BlockGetInfoResponse {
                info: bindings::zx_device_block::BlockInfo {
                    block_size: 512,
                    block_count: 0,
                    read_only: true,
                    max_transfer_blocks: 0,
                },
                serial: String::new(),
            },
        }
    }

    fn attach_vmo(
        &mut self,
        request: BlockAttachVmoRequest,
    ) -> Result<BlockAttachVmoResponse, i32> {
        status_of(self.disk.attach_vmo(request))
    }

    fn read(&mut self, mut request: BlockReadRequest) -> Result<BlockReadResponse, i32> {
        request.block = self.translate(request.block, request.count)?;
        status_of(self.disk.read(request))
    }

    fn write(&mut self, mut request: BlockWriteRequest) -> Result<BlockWriteResponse, i32> {
        request.block = self.translate(request.block, request.count)?;
        status_of(self.disk.write(request))
    }

    fn flush(&mut self) -> Result<BlockFlushResponse, i32> {
        status_of(self.disk.flush())
    }

    fn get_stats(&mut self) -> BlockGetStatsResponse {
        self.disk.get_stats().unwrap_or(BlockGetStatsResponse {
            stats: bindings::zx_device_block::DeviceStats {
                interrupts: 0,
                requests: 0,
                polls: 0,
            },
        })
    }
}

async fn serve_partition(channel: Channel, mut connection: PartitionConnection) {
    let transport = ChannelTransport::new(channel);
    while let Some(mut message) = zx_component::next_message(&transport).await {
        match dispatch_block(&mut connection, &mut message) {
            Ok(Some(reply)) => {
                if transport.send(reply).is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(_) => return,
        }
    }
}

/// The `partitions` directory: one service entry per partition found.
struct PartitionsTree {
    found: Vec<Partition>,
    spawner: Spawner,
}

impl Tree for PartitionsTree {
    fn lookup(&self, path: &str) -> Option<Node> {
        if path.is_empty() {
            return Some(Node::Directory);
        }
        self.found
            .iter()
            .any(|p| p.name == path)
            .then_some(Node::Service)
    }

    fn list(&self, path: &str) -> Vec<DirEntry> {
        if !path.is_empty() {
            return Vec::new();
        }
        self.found
            .iter()
            .map(|p| DirEntry {
                name: p.name.into(),
                kind: EntryKind::Service,
                size: 0,
            })
            .collect()
    }

    fn read(&self, _path: &str, _offset: u64, _count: usize) -> Option<Vec<u8>> {
        None
    }

    fn connect(&self, path: &str, channel: Channel) {
        let Some(partition) = self.found.iter().find(|p| p.name == path) else {
            return;
        };
        let Ok(disk) = open_disk() else {
            return; // `channel` closes: the client sees PEER_CLOSED
        };
        let connection = PartitionConnection {
            disk,
            partition: partition.clone(),
        };
        self.spawner.spawn(serve_partition(channel, connection));
    }
}

/// The checked path below the `partitions` directory that `path` names.
fn below_partitions(path: &str) -> Option<String> {
    match path.strip_prefix("partitions")? {
        "" => Some(String::new()),
        rest => zx_component::fs::join("", rest.strip_prefix('/')?),
    }
}

fn main() -> i64 {
    let Some(outgoing) = zx_component::Outgoing::take() else {
        println!("fshost: no outgoing directory");
        return 1;
    };
    let found = match find_partitions() {
        Ok(found) => found,
        Err(why) => {
            println!("fshost: {why}");
            Vec::new()
        }
    };
    let Ok(mut executor) = zx_async::Executor::new() else {
        return 1;
    };
    let spawner = executor.spawner();
    let tree: Rc<dyn Tree> = Rc::new(PartitionsTree {
        found,
        spawner: spawner.clone(),
    });
    let accept = async move {
        while let Some((path, channel)) = outgoing.next().await {
            match below_partitions(&path) {
                Some(below) => zx_component::fs::serve(Rc::clone(&tree), below, channel, &spawner),
                None => println!("fshost: no service named {path}"),
            }
        }
    };
    let Some(lifecycle) = zx_component::Lifecycle::take() else {
        executor.run(accept);
        return 0;
    };
    executor.spawner().spawn(accept);
    executor.run(async move { lifecycle.stopped().await });
    println!("fshost: stopping");
    0
}
