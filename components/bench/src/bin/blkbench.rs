//! blkbench: the block-device cases of `build-image bench` (issue 11).
//!
//! A component of the `bench-blk` product, beside the driver manager and
//! the virtio-blk driver: it reads the benchmark disk through
//! `/dev/block/0` (`zx.device.block/Block`, data in a VMO) and prints
//! `BENCH` lines as `bench` does, then powers the machine off. The Linux
//! peer reads the same disk as `/dev/vda` with `O_DIRECT`
//! (`build-image/bench/linux-peer/peer.c`), with the same iteration
//! counts and the same pseudo-random offsets.
//!
//! A read waits for the device, and under `-icount sleep=off` a CPU that
//! halts meanwhile skips virtual time to its next timer. So a sample
//! counts the instructions the whole system ran: the TSC interval less
//! the ticks the CPU spent halted (`info::CPU_STATS`, through the debug
//! resource its manifest uses, [`tsc::busy`]); the Linux peer subtracts
//! the turns of an idle-priority spinner instead.
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

use bindings::zx_component::{RealmClient, RealmShutdownRequest};
use bindings::zx_device_block::{BlockAttachVmoRequest, BlockClient, BlockReadRequest};
use stats::Bench;
use zx::{Status, Vmo};
use zx_idl::ChannelTransport;
use zx_runtime::println;

zx_runtime::entry!(main);

/// Iteration counts: the same as the Linux peer's.
const ITERS_BLOCK_SEQUENTIAL: usize = 32;
const ITERS_BLOCK_RANDOM: usize = 256;
/// Bytes per sequential sample.
const SEQUENTIAL_BYTES: u64 = 1 << 20;
/// Blocks (512 bytes) per request: the driver's largest transfer (1 MiB).
const REQUEST_BLOCKS: u32 = 2048;
/// 4 KiB pages on the benchmark disk (64 MiB).
const DISK_PAGES: u64 = 16384;

/// The pseudo-random 4 KiB page of sample `state` (Knuth's MMIX LCG, as in
/// the peer).
fn next_page(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*state >> 33) % DISK_PAGES
}

fn open_disk() -> Option<BlockClient<ChannelTransport>> {
    // The driver publishes the disk shortly after boot: wait for it.
    for _ in 0..200 {
        let listed = zx_component::namespace::open("/dev/block")
            .and_then(zx_component::fs::read_dir)
            .is_ok_and(|entries| entries.iter().any(|e| e.name == "0"));
        if listed {
            let channel = zx_component::namespace::open("/dev/block/0").ok()?;
            return Some(BlockClient::new(ChannelTransport::new(channel)));
        }
        let _ = zx::nanosleep(zx::deadline_after(50_000_000));
    }
    None
}

fn read(disk: &BlockClient<ChannelTransport>, vmo_offset: u64, block: u64, count: u32) -> bool {
    matches!(
        disk.read(BlockReadRequest {
            vmo_id: 0,
            vmo_offset,
            block,
            count,
        }),
        Ok(Ok(_))
    )
}

fn run() -> Result<(), Status> {
    let debug = zx_component::resource("debug").ok_or(Status::ACCESS_DENIED)?;
    tsc::busy(&debug)?;
    let busy = || tsc::busy(&debug).unwrap_or(0);
    let disk = open_disk().ok_or(Status::NOT_FOUND)?;
    let vmo = Vmo::create(SEQUENTIAL_BYTES, 0)?;
    let copy = vmo.handle().duplicate(zx::Rights::SAME_RIGHTS)?;
    match disk.attach_vmo(BlockAttachVmoRequest {
        vmo: idlc_runtime::Handle::from_raw(copy.into_raw()),
    }) {
        Ok(Ok(_)) => {}
        _ => return Err(Status::INTERNAL),
    }
    let mut bench = Bench::new(ITERS_BLOCK_RANDOM);
    let mut failed = false;
    // Sequential: 1 MiB per sample, consecutive megabytes, in the largest
    // requests the driver takes.
    bench.run_timed("blk_seq_read_1m", ITERS_BLOCK_SEQUENTIAL, |i| {
        let first = i as u64 * (SEQUENTIAL_BYTES / 512);
        let start = busy();
        let requests = (SEQUENTIAL_BYTES / 512) as u32 / REQUEST_BLOCKS;
        for k in 0..requests {
            let offset = k as u64 * REQUEST_BLOCKS as u64;
            failed |= !read(&disk, offset * 512, first + offset, REQUEST_BLOCKS);
        }
        busy().saturating_sub(start)
    });
    // Random: one 4 KiB page per sample.
    let mut state = 1u64;
    bench.run_timed("blk_rand_read_4k", ITERS_BLOCK_RANDOM, |_| {
        let page = next_page(&mut state);
        let start = busy();
        failed |= !read(&disk, 0, page * 8, 8);
        busy().saturating_sub(start)
    });
    if failed {
        stats::error("a block read failed", Status::INTERNAL);
    }
    Ok(())
}

fn main() -> i64 {
    println!("BENCH-START ours-blk");
    if let Err(status) = run() {
        stats::error("block cases", status);
    }
    println!("BENCH-END");
    if let Ok(channel) = zx_component::connect("zx.component.Realm") {
        let realm = RealmClient::new(ChannelTransport::new(channel));
        let _ = realm.shutdown(RealmShutdownRequest { status: 0 });
    }
    0
}
