//! netbench: the network cases of `build-image bench` (issue 13).
//!
//! A component of the `bench-net` product, beside the driver manager, the
//! virtio-net driver and the netstack. It serves two TCP ports that the
//! host reaches through QEMU's user network (host forwards set up by
//! `build-image bench`, `build-image/src/bench/net.rs` is the client):
//!
//! - 5001, a sink: each connection carries [`RX_BYTES`] from the host,
//!   read until end of stream; a sample is the instructions from before
//!   `accept` to the end of stream, per MiB received.
//! - 5002, request + reply: each connection sends [`REQUEST_BYTES`], gets
//!   as many back, and is closed; a sample is one connection's cycle, from
//!   before one `accept` to before the next.
//!
//! Samples count the instructions the whole system ran: the TSC interval
//! less the ticks the CPU spent halted meanwhile (`info::CPU_STATS`; under
//! `-icount sleep=off` a halt skips virtual time up to the next timer, and
//! the host's pace decides how often that happens). The Linux peer counts
//! the same with an idle-priority spinner (`peer.c`).
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

use alloc::vec;
use bindings::zx_component::{RealmClient, RealmShutdownRequest};
use stats::Bench;
use zx::Status;
use zx_idl::ChannelTransport;
use zx_net::TcpListener;
use zx_runtime::println;

zx_runtime::entry!(main);

/// Iteration counts and sizes: the same as the Linux peer's and the host
/// client's.
const ITERS_NET_RX: usize = 8;
const ITERS_NET_RR: usize = 100;
/// Bytes the host sends per sink connection.
const RX_BYTES: usize = 4 << 20;
/// Bytes of a request and of its reply.
const REQUEST_BYTES: usize = 64;
const RX_PORT: u16 = 5001;
const RR_PORT: u16 = 5002;

fn wait_for_address() -> Result<(), Status> {
    for _ in 0..600 {
        if let Ok(info) = zx_net::interface() {
            if info.address != [0; 4] {
                return Ok(());
            }
        }
        let _ = zx::nanosleep(zx::deadline_after(50_000_000));
    }
    Err(Status::TIMED_OUT)
}

fn run() -> Result<(), Status> {
    let debug = zx_component::resource("debug").ok_or(Status::ACCESS_DENIED)?;
    wait_for_address()?;
    let sink = TcpListener::bind(RX_PORT, 4)?;
    let server = TcpListener::bind(RR_PORT, 4)?;
    let mut bench = Bench::new(ITERS_NET_RR);
    println!("NETBENCH-READY");
    let mut buffer = vec![0u8; 64 << 10];
    let mut failure = None;
    let before = zx_net::interface()?;
    bench.run_timed("net_tcp_rx_mib", ITERS_NET_RX, |_| {
        let start = tsc::busy(&debug).unwrap_or(0);
        let mut received = 0usize;
        match sink.accept() {
            Ok((stream, _)) => loop {
                match stream.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => received += n,
                    Err(status) => {
                        failure = Some(("sink read", status));
                        break;
                    }
                }
            },
            Err(status) => failure = Some(("sink accept", status)),
        }
        let end = tsc::busy(&debug).unwrap_or(0);
        if received != RX_BYTES && failure.is_none() {
            failure = Some(("sink: short transfer", Status::IO));
        }
        // Per MiB received.
        (end - start) * (1 << 20) / RX_BYTES as u64
    });
    // A breakdown (no Linux peer): what the netstack did per MiB.
    let after = zx_net::interface()?;
    let mib = (ITERS_NET_RX * RX_BYTES) as u64 >> 20;
    for (name, count) in [
        (
            "net_rx_frames_received_per_mib",
            after.frames_received - before.frames_received,
        ),
        (
            "net_rx_frames_sent_per_mib",
            after.frames_sent - before.frames_sent,
        ),
        (
            "net_rx_netstack_rounds_per_mib",
            after.rounds - before.rounds,
        ),
    ] {
        stats::line(name, 1, count / mib, count / mib);
    }
    let mut request = [0u8; REQUEST_BYTES];
    let mut serve = |failure: &mut Option<(&'static str, Status)>| match server.accept() {
        Ok((stream, _)) => {
            let mut got = 0;
            while got < REQUEST_BYTES {
                match stream.read(&mut request[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(status) => {
                        *failure = Some(("request read", status));
                        return;
                    }
                }
            }
            if got != REQUEST_BYTES {
                *failure = Some(("request: short", Status::IO));
            } else if let Err(status) = stream.write_all(&request) {
                *failure = Some(("reply write", status));
            }
        }
        Err(status) => *failure = Some(("request accept", status)),
    };
    // Sample i: from before accept i to before accept i + 1; the host
    // makes one connection more than there are samples.
    let mut last = tsc::busy(&debug)?;
    bench.run_timed("net_tcp_connect_rr_close", ITERS_NET_RR, |_| {
        serve(&mut failure);
        let now = tsc::busy(&debug).unwrap_or(0);
        let sample = now - last;
        last = now;
        sample
    });
    serve(&mut failure);
    if let Some((what, status)) = failure {
        stats::error(what, status);
    }
    Ok(())
}

fn main() -> i64 {
    println!("BENCH-START ours-net");
    if let Err(status) = run() {
        stats::error("network cases", status);
    }
    println!("BENCH-END");
    if let Ok(channel) = zx_component::connect("zx.component.Realm") {
        let realm = RealmClient::new(ChannelTransport::new(channel));
        let _ = realm.shutdown(RealmShutdownRequest { status: 0 });
    }
    0
}
