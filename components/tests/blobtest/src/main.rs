//! blobfs's system test, run as a component beside blobfs. It prints
//! `[PASS] name` / `[FAIL] name: why` lines for the host harness
//! (`build-image/src/systest.rs`, the `storage.*` tests).
//!
//! Without arguments, what it does depends on the disk:
//!
//! - blobfs is empty (first boot): prints the Merkle roots of the test
//!   vectors computed here, in the guest (the host checks them against its
//!   own); writes blobs and reads them back verified; checks that a blob
//!   with the wrong content is refused and leaves nothing; deletes one;
//!   powers off;
//! - blobfs holds the blobs (the host has meanwhile flipped one byte of
//!   [`damaged`]'s data on the disk): reading it fails with
//!   `IO_DATA_INTEGRITY`, the other blob still reads; powers off.
//!
//! With `--crash`: verifies every listed blob (read whole, its root
//! recomputed here equals its name), then writes and deletes blobs without
//! end, until the host kills the machine.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use bindings::zx_blob::{
    BlobRoot, BlobWriterClient, BlobWriterWriteRequest, BlobfsClient, BlobfsCreateRequest,
    BlobfsDeleteRequest, BlobfsMarker, FilesystemInfo, MAX_WRITE,
};
use bindings::zx_component::{RealmClient, RealmShutdownRequest};
use merkle::{root_of, MerkleRoot};
use zx::{Channel, Status};
use zx_idl::ChannelTransport;
use zx_runtime::println;

zx_runtime::entry!(main);

type Outcome = Result<(), String>;

struct Suite {
    failures: u32,
}

impl Suite {
    fn run(&mut self, name: &str, test: impl FnOnce() -> Outcome) {
        match test() {
            Ok(()) => println!("[PASS] {name}"),
            Err(why) => {
                println!("[FAIL] {name}: {why}");
                self.failures += 1;
            }
        }
    }
}

/// Content number `seed` of `size` bytes (the host makes the same).
fn pattern(size: usize, seed: u32) -> Vec<u8> {
    (0..size as u32)
        .map(|i| (i.wrapping_mul(7).wrapping_add(seed.wrapping_mul(13)) % 251) as u8)
        .collect()
}

/// The blob whose data the host damages between the two boots: 100 000
/// bytes of pattern 1 (13 data blocks).
fn damaged() -> Vec<u8> {
    pattern(100_000, 1)
}

/// A blob that stays intact: 3000 bytes of pattern 2.
fn intact() -> Vec<u8> {
    pattern(3000, 2)
}

fn blobfs() -> Result<BlobfsClient<ChannelTransport>, String> {
    let name = BlobfsMarker::DISCOVERABLE_NAME.unwrap_or("zx.blob.Blobfs");
    let channel = zx_component::connect(name).map_err(|s| format!("connect: {s}"))?;
    Ok(BlobfsClient::new(ChannelTransport::new(channel)))
}

fn reply<T, E: core::fmt::Debug>(result: Result<Result<T, i32>, E>) -> Result<T, Status> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(code)) => Err(Status(code)),
        Err(_) => Err(Status::PEER_CLOSED),
    }
}

/// Writes `data` as blob `root` (which may be a wrong name on purpose);
/// the status of the first step that fails.
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

fn listed() -> Result<Vec<(MerkleRoot, u64)>, Status> {
    let directory = zx_component::namespace::open("/blob")?;
    let entries = zx_component::fs::read_dir(directory)?;
    Ok(entries
        .iter()
        .filter_map(|e| Some((e.name.parse().ok()?, e.size)))
        .collect())
}

fn read_blob(root: &MerkleRoot, size: u64) -> Result<Vec<u8>, Status> {
    let directory = zx_component::namespace::open("/blob")?;
    let file = zx_component::fs::open_at(&directory, &format!("{root}"))?;
    zx_component::fs::read_file(file, size as usize + 1)
}

fn info(fs: &BlobfsClient<ChannelTransport>) -> Result<FilesystemInfo, String> {
    fs.get_info()
        .map(|r| r.info)
        .map_err(|e| format!("info: {e:?}"))
}

/// The Merkle test vectors, computed here: the host compares each line
/// with its own root of the same bytes.
fn print_vectors() {
    let vectors: [(&str, Vec<u8>); 6] = [
        ("empty", Vec::new()),
        ("one_block", vec![0xff; 8192]),
        ("eight_blocks", vec![0xff; 65536]),
        ("multi_level", vec![0xff; 2105344]),
        ("unaligned", vec![0xff; 2109440]),
        ("pattern_10000", pattern(10_000, 3)),
    ];
    for (name, data) in vectors {
        println!("blobtest: merkle {name} {} {}", data.len(), root_of(&data));
    }
}

fn first_boot(suite: &mut Suite, fs: &BlobfsClient<ChannelTransport>) {
    print_vectors();
    let blobs = [damaged(), intact(), Vec::new()];
    suite.run("blob.write", || {
        for data in &blobs {
            write_blob(fs, root_of(data), data).map_err(|s| format!("write: {s}"))?;
        }
        Ok(())
    });
    suite.run("blob.list", || {
        let listed = listed().map_err(|s| format!("list: {s}"))?;
        for data in &blobs {
            let entry = (root_of(data), data.len() as u64);
            if !listed.contains(&entry) {
                return Err(format!("{} is not listed in {listed:?}", entry.0));
            }
        }
        Ok(())
    });
    suite.run("blob.read_verified", || {
        for data in &blobs {
            let root = root_of(data);
            let back = read_blob(&root, data.len() as u64).map_err(|s| format!("read: {s}"))?;
            if &back != data || root_of(&back) != root {
                return Err(format!("{root} read back differs"));
            }
        }
        Ok(())
    });
    suite.run("blob.wrong_content_refused", || {
        let before = info(fs)?;
        let claimed = root_of(&pattern(40_000, 4));
        match write_blob(fs, claimed, &pattern(40_000, 5)) {
            Err(Status::IO_DATA_INTEGRITY) => {}
            other => return Err(format!("a wrong-content write gave {other:?}")),
        }
        let listed = listed().map_err(|s| format!("list: {s}"))?;
        if listed.iter().any(|(root, _)| *root == claimed) {
            return Err("the refused blob is listed".into());
        }
        let after = info(fs)?;
        if after.used_blocks != before.used_blocks || after.blob_count != before.blob_count {
            return Err(format!("usage went from {before:?} to {after:?}"));
        }
        // The name is free again: the right content is accepted.
        write_blob(fs, claimed, &pattern(40_000, 4)).map_err(|s| format!("rewrite: {s}"))
    });
    suite.run("blob.duplicate_refused", || {
        match write_blob(fs, root_of(&intact()), &intact()) {
            Err(Status::ALREADY_EXISTS) => Ok(()),
            other => Err(format!("writing a stored blob again gave {other:?}")),
        }
    });
    suite.run("blob.delete", || {
        let before = info(fs)?;
        let data = pattern(20_000, 6);
        let root = root_of(&data);
        write_blob(fs, root, &data).map_err(|s| format!("write: {s}"))?;
        reply(fs.delete(BlobfsDeleteRequest {
            root: BlobRoot { bytes: root.0 },
        }))
        .map_err(|s| format!("delete: {s}"))?;
        if listed()
            .map_err(|s| format!("list: {s}"))?
            .iter()
            .any(|(r, _)| *r == root)
        {
            return Err("the deleted blob is listed".into());
        }
        match reply(fs.delete(BlobfsDeleteRequest {
            root: BlobRoot { bytes: root.0 },
        })) {
            Err(Status::NOT_FOUND) => {}
            other => return Err(format!("deleting again gave {other:?}")),
        }
        let after = info(fs)?;
        (after.used_blocks == before.used_blocks)
            .then_some(())
            .ok_or_else(|| format!("usage went from {before:?} to {after:?}"))
    });
    println!("blobtest: damage {}", root_of(&damaged()));
}

fn second_boot(suite: &mut Suite) {
    suite.run("blob.integrity_error", || {
        let data = damaged();
        match read_blob(&root_of(&data), data.len() as u64) {
            Err(Status::IO_DATA_INTEGRITY) => Ok(()),
            Ok(back) if back == data => Err("the damaged blob read back whole".into()),
            Ok(_) => Err("wrong bytes reached the reader".into()),
            Err(other) => Err(format!("reading the damaged blob gave {other}")),
        }
    });
    suite.run("blob.intact_after_damage", || {
        let data = intact();
        let back = read_blob(&root_of(&data), data.len() as u64).map_err(|s| format!("{s}"))?;
        (back == data)
            .then_some(())
            .ok_or_else(|| "read back differs".into())
    });
}

/// The crash workload: check what is listed, then write without end.
fn crash_workload(fs: &BlobfsClient<ChannelTransport>) {
    let listed = match listed() {
        Ok(listed) => listed,
        Err(status) => {
            println!("[FAIL] crash.mount: cannot list /blob: {status}");
            return;
        }
    };
    let mut bad = 0;
    for (root, size) in &listed {
        match read_blob(root, *size) {
            Ok(data) if data.len() as u64 == *size && root_of(&data) == *root => {}
            Ok(_) => {
                println!("[FAIL] crash.listed_blob_verifies: {root} reads back wrong");
                bad += 1;
            }
            Err(status) => {
                println!("[FAIL] crash.listed_blob_verifies: {root}: {status}");
                bad += 1;
            }
        }
    }
    println!(
        "blobtest: {} blobs listed, {} verified",
        listed.len(),
        listed.len() - bad
    );
    let mut seed = listed.len() as u32 * 1000 + 7;
    let mut written: Vec<MerkleRoot> = listed.iter().map(|(root, _)| *root).collect();
    println!("blobtest: writing");
    loop {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let size = (seed >> 8) as usize % 120_000;
        let data = pattern(size, seed);
        let root = root_of(&data);
        match write_blob(fs, root, &data) {
            Ok(()) | Err(Status::ALREADY_EXISTS) => written.push(root),
            Err(status) => println!("blobtest: write failed: {status}"),
        }
        if written.len() > 12 {
            let oldest = written.remove(0);
            let _ = reply(fs.delete(BlobfsDeleteRequest {
                root: BlobRoot { bytes: oldest.0 },
            }));
        }
    }
}

fn main() -> i64 {
    let fs = match blobfs() {
        Ok(fs) => fs,
        Err(why) => {
            println!("[FAIL] blob.connect: {why}");
            return 1;
        }
    };
    if zx_runtime::args().iter().any(|a| a == "--crash") {
        crash_workload(&fs);
        return 1;
    }
    let mut suite = Suite { failures: 0 };
    let first = match listed() {
        Ok(listed) => listed.is_empty(),
        Err(status) => {
            println!("[FAIL] blob.list: {status}");
            return 1;
        }
    };
    if first {
        first_boot(&mut suite, &fs);
    } else {
        second_boot(&mut suite);
    }
    println!("blobtest: done, {} failures", suite.failures);
    if let Ok(realm) = zx_component::connect("zx.component.Realm") {
        let realm = RealmClient::new(ChannelTransport::new(realm));
        let _ = realm.shutdown(RealmShutdownRequest {
            status: suite.failures.min(99) as u8,
        });
    }
    suite.failures as i64
}
