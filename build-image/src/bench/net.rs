//! The host side of the network cases: a client that sends each guest's
//! TCP sink its bytes and makes its connect + request + close round trips
//! through QEMU's host forwards, once the guest prints `NETBENCH-READY`.
//!
//! The guests count the instructions (`components/bench/src/bin/netbench.rs`,
//! `peer.c`); the host measures only the wall-clock throughput, for
//! information (TCG on a shared machine: it varies from run to run).

use super::machine::NetPorts;
use crate::qemu::ConsoleLines;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Transfers to the sink (the guests' `ITERS_NET_RX`).
pub const ITERS_NET_RX: usize = 8;
/// Round trips measured (the guests' `ITERS_NET_RR`); the client makes one
/// more connection.
pub const ITERS_NET_RR: usize = 100;
/// Bytes per transfer to the sink.
pub const RX_BYTES: usize = 4 << 20;
/// Bytes of a request and of its reply.
pub const REQUEST_BYTES: usize = 64;
/// What the guest prints once it listens.
pub const READY: &str = "NETBENCH-READY";
/// How long the guest may take to boot and listen.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long one transfer or round trip may take.
const IO_TIMEOUT: Duration = Duration::from_secs(120);

/// Wall-clock figures of one guest's network cases (host clock).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Wall {
    /// Bytes sent to the sink per second of the transfers, in MB/s.
    pub rx_mb_per_s: f64,
    /// Mean connect + request + close round trip, in milliseconds.
    pub round_trip_ms: f64,
}

/// Two free host ports (bound and released: another program could take
/// them in between, which would fail the run visibly).
pub fn free_ports() -> Result<NetPorts> {
    let a = TcpListener::bind("127.0.0.1:0")?;
    let b = TcpListener::bind("127.0.0.1:0")?;
    Ok(NetPorts {
        rx: a.local_addr()?.port(),
        rr: b.local_addr()?.port(),
    })
}

/// Starts the client for one guest: it waits for [`READY`] on `lines`.
pub fn spawn_client(lines: ConsoleLines, ports: NetPorts) -> JoinHandle<Result<Wall>> {
    std::thread::spawn(move || {
        let started = Instant::now();
        loop {
            if lines.lock().unwrap().iter().any(|(_, l)| l.contains(READY)) {
                break;
            }
            if lines
                .lock()
                .unwrap()
                .iter()
                .any(|(_, l)| l.contains("BENCH-END"))
            {
                bail!("the guest ended without listening");
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!("the guest did not print {READY} in {READY_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        run_client(ports)
    })
}

fn connect(port: u16) -> Result<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .with_context(|| format!("cannot connect to 127.0.0.1:{port}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

fn run_client(ports: NetPorts) -> Result<Wall> {
    let payload: Vec<u8> = (0..RX_BYTES).map(|i| (i * 7 + 3) as u8).collect();
    let mut transfer_time = Duration::ZERO;
    for i in 0..ITERS_NET_RX {
        let started = Instant::now();
        let mut stream = connect(ports.rx)?;
        stream
            .write_all(&payload)
            .with_context(|| format!("transfer {i}: write"))?;
        stream.shutdown(Shutdown::Write)?;
        let mut rest = Vec::new();
        stream
            .read_to_end(&mut rest)
            .with_context(|| format!("transfer {i}: waiting for the guest to close"))?;
        transfer_time += started.elapsed();
    }
    let request = [b'q'; REQUEST_BYTES];
    let started = Instant::now();
    for i in 0..=ITERS_NET_RR {
        let mut stream = connect(ports.rr)?;
        stream
            .write_all(&request)
            .with_context(|| format!("round trip {i}: write"))?;
        let mut reply = Vec::new();
        stream
            .read_to_end(&mut reply)
            .with_context(|| format!("round trip {i}: read"))?;
        if reply != request {
            bail!(
                "round trip {i}: the reply has {} bytes, not the request's {REQUEST_BYTES}",
                reply.len()
            );
        }
    }
    let round_trips = started.elapsed();
    Ok(Wall {
        rx_mb_per_s: (RX_BYTES * ITERS_NET_RX) as f64 / transfer_time.as_secs_f64() / 1e6,
        round_trip_ms: round_trips.as_secs_f64() * 1e3 / (ITERS_NET_RR + 1) as f64,
    })
}

/// Boots a guest with `args`; with `ports` (the machine's network
/// card's forwards), runs the client against it meanwhile and returns its
/// figures (or why it failed).
pub fn boot(
    args: &[std::ffi::OsString],
    timeout: Duration,
    ports: Option<NetPorts>,
) -> Result<(crate::qemu::Captured, Option<Result<Wall>>)> {
    let mut client = None;
    let captured = crate::qemu::run_args_captured_watching(args, timeout, |lines| {
        if let Some(ports) = ports {
            client = Some(spawn_client(lines, ports));
        }
    })?;
    let wall = client.map(|handle| {
        handle
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the network client panicked")))
    });
    Ok((captured, wall))
}
