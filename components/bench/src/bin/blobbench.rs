//! blobbench: the blobfs cases of `build-image bench` (issue 12).
//!
//! A component of the `bench-blob` product, beside the driver manager,
//! the virtio-blk driver, fshost and blobfs (which formats the blank
//! benchmark disk it is given): it writes blobs of 1 MiB through
//! `zx.blob.Blobfs` (create with the root and size, stream the bytes,
//! commit: blobfs verifies them against the root and writes data and
//! Merkle tree) and reads them back through `/blob` (every block checked
//! against the tree before it is returned), and prints `BENCH` lines as
//! `bench` does, then powers the machine off. There is no Linux peer:
//! the figure is guest instructions per MiB.
//!
//! Samples count the instructions the whole system ran: the TSC interval
//! less the ticks the CPU spent halted meanwhile (`info::CPU_STATS`,
//! through the debug resource). The cases wait for the disk, and under
//! `-icount sleep=off` a halt skips virtual time up to the next timer, so
//! the raw interval would mostly be idle time (as in `netbench`).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}
#[path = "../stats.rs"]
#[allow(dead_code)]
mod stats;
#[path = "../tsc.rs"]
mod tsc;

use alloc::format;
use alloc::vec::Vec;
use bindings::zx_blob::{
    BlobRoot, BlobWriterClient, BlobWriterWriteRequest, BlobfsClient, BlobfsCreateRequest,
    BlobfsDeleteRequest, BlobfsMarker, MAX_WRITE,
};
use bindings::zx_component::{RealmClient, RealmShutdownRequest};
use merkle::{root_of, MerkleRoot};
use stats::Bench;
use zx::{Channel, Status};
use zx_idl::ChannelTransport;
use zx_runtime::println;

zx_runtime::entry!(main);

/// Samples per case.
const ITERS: usize = 8;
/// Bytes per blob.
const BLOB_BYTES: usize = 1 << 20;

fn reply<T, E>(result: Result<Result<T, i32>, E>) -> Result<T, Status> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(code)) => Err(Status(code)),
        Err(_) => Err(Status::PEER_CLOSED),
    }
}

/// Blob `seed`'s bytes: distinct per seed, not compressible to nothing.
fn pattern(seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761) | 1;
    (0..BLOB_BYTES)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

fn write_blob(
    fs: &BlobfsClient<ChannelTransport>,
    root: MerkleRoot,
    data: &[u8],
) -> Result<(), Status> {
    let (client, server) = Channel::create()?;
    reply(fs.create(BlobfsCreateRequest {
        root: BlobRoot { bytes: root.0 },
        size: data.len() as u64,
        writer: idlc_runtime::Handle::from_raw(server.into_handle().into_raw()),
    }))?;
    let writer = BlobWriterClient::new(ChannelTransport::new(client));
    for piece in data.chunks(MAX_WRITE as usize) {
        reply(writer.write(BlobWriterWriteRequest {
            data: piece.to_vec(),
        }))?;
    }
    reply(writer.commit()).map(|_| ())
}

fn read_blob(root: &MerkleRoot) -> Result<Vec<u8>, Status> {
    let file = zx_component::namespace::open(&format!("/blob/{root}"))?;
    zx_component::fs::read_file(file, BLOB_BYTES + 1)
}

/// Instructions run by the system now (`tsc::busy`); without the idle
/// counter, the TSC alone.
fn busy(debug: &zx::Resource) -> u64 {
    tsc::busy(debug).unwrap_or_else(|_| tsc::read())
}

/// blobfs is published once fshost has found the disk: wait for it.
fn blobfs() -> Option<BlobfsClient<ChannelTransport>> {
    let name = BlobfsMarker::DISCOVERABLE_NAME.unwrap_or("zx.blob.Blobfs");
    for _ in 0..200 {
        if let Ok(channel) = zx_component::connect(name) {
            let fs = BlobfsClient::new(ChannelTransport::new(channel));
            if fs.get_info().is_ok() {
                return Some(fs);
            }
        }
        let _ = zx::nanosleep(zx::deadline_after(50_000_000));
    }
    None
}

fn run() -> Result<(), Status> {
    let debug = zx_component::resource("debug").ok_or(Status::ACCESS_DENIED)?;
    debug.cpu_stats()?;
    let fs = blobfs().ok_or(Status::NOT_FOUND)?;
    // The bytes and roots are made first: only blobfs's work is counted.
    let blobs: Vec<(MerkleRoot, Vec<u8>)> = (0..ITERS as u32)
        .map(|seed| {
            let data = pattern(seed + 1);
            (root_of(&data), data)
        })
        .collect();
    let mut bench = Bench::new(ITERS);
    let mut failure = None;
    // The hashing alone (the Merkle root of 1 MiB, in this process): what
    // blobfs does at least once per write and per verified read.
    bench.run_timed("merkle_root_1m", ITERS, |i| {
        let (root, data) = &blobs[i % ITERS];
        let start = busy(&debug);
        let again = root_of(data);
        let spent = busy(&debug).saturating_sub(start);
        if again != *root {
            failure = Some(("the Merkle root changed", Status::INTERNAL));
        }
        spent
    });
    bench.run_timed("blob_write_1m", ITERS, |i| {
        let (root, data) = &blobs[i % ITERS];
        let start = busy(&debug);
        let written = write_blob(&fs, *root, data);
        let spent = busy(&debug).saturating_sub(start);
        if let Err(status) = written {
            failure = Some(("a blob write failed", status));
        }
        spent
    });
    bench.run_timed("blob_read_1m", ITERS, |i| {
        let (root, data) = &blobs[i % ITERS];
        let start = busy(&debug);
        let read = read_blob(root);
        let spent = busy(&debug).saturating_sub(start);
        match read {
            Ok(back) if back == *data => {}
            Ok(_) => failure = Some(("a blob read back differs", Status::IO_DATA_INTEGRITY)),
            Err(status) => failure = Some(("a blob read failed", status)),
        }
        spent
    });
    for (root, _) in &blobs {
        let _ = reply(fs.delete(BlobfsDeleteRequest {
            root: BlobRoot { bytes: root.0 },
        }));
    }
    if let Some((what, status)) = failure {
        stats::error(what, status);
    }
    Ok(())
}

fn main() -> i64 {
    println!("BENCH-START ours-blob");
    if let Err(status) = run() {
        stats::error("blob cases", status);
    }
    println!("BENCH-END");
    if let Ok(channel) = zx_component::connect("zx.component.Realm") {
        let realm = RealmClient::new(ChannelTransport::new(channel));
        let _ = realm.shutdown(RealmShutdownRequest { status: 0 });
    }
    0
}
