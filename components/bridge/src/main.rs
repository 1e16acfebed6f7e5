//! The host bridge: how programs on the host see and call the running
//! system (`docs/bridge.md`).
//!
//! It holds the virtio-console port (`/dev/serial/0`, a Unix socket on the
//! host) and reads frames from it (`bridge-frame`): channel 0 carries
//! `zx.host/RemoteControl` (list the tree, read the log, open channels),
//! every other channel the messages of one connection the bridge opened
//! for the host, to a protocol some component exposes
//! (`zx.component/Realm.OpenExposed`) or to a blob being written. Messages
//! cross unchanged in both directions; handles do not cross (a service
//! message that carries one closes its channel).
//!
//! Design: one thread, no executor. The serial driver serves one request
//! at a time and a `Read` holds it until bytes arrive or its deadline
//! passes, so the bridge alternates: read the port (a short deadline
//! while channels are open, so replies are not held up), handle each
//! whole frame, wait briefly for the replies of what it forwarded, and
//! send every message the channels hold. Everything a host sends is
//! checked before it is acted on; a bad frame gets a typed
//! `OnFrameError` and the bridge goes on serving (`session`).
//!
//! Known gaps: the host waits while the port's `Read` deadline runs out
//! for messages a service sends on its own (events): up to
//! [`ACTIVE_POLL_NANOS`]; a host that stops reading stalls the port's
//! transmit (QEMU stops taking bytes) and so the bridge.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

mod port;
mod session;

use bridge_frame::FrameReader;
use port::Port;
use session::Session;
use zx_runtime::println;

zx_runtime::entry!(main);

/// How long a `Read` of the port waits while no channel is open.
const IDLE_POLL_NANOS: i64 = 200_000_000;
/// ... and while channels are open (their services may send at any time).
const ACTIVE_POLL_NANOS: i64 = 10_000_000;
/// A frame that has begun and gets no byte for this long is dropped (its
/// host went away mid-frame), so the next host starts clean.
const STALL_NANOS: i64 = 1_000_000_000;

fn main() -> i64 {
    let lifecycle = zx_component::Lifecycle::take();
    let port = match Port::open() {
        Ok(port) => port,
        Err(why) => {
            println!("bridge: {why}");
            return 1;
        }
    };
    let mut session = Session::new();
    let mut reader = FrameReader::new();
    let mut last_byte = zx::clock_get_monotonic().into_nanos();
    println!("bridge: serving zx.host.RemoteControl on /dev/serial/0");
    zx_component::log("serving zx.host.RemoteControl on /dev/serial/0");
    loop {
        if let Some(lifecycle) = &lifecycle {
            if lifecycle.try_stopped().is_some() {
                return 0;
            }
        }
        let wait = if session.has_channels() {
            ACTIVE_POLL_NANOS
        } else {
            IDLE_POLL_NANOS
        };
        let data = match port.read(zx::deadline_after(wait)) {
            Ok(data) => data,
            Err(why) => {
                println!("bridge: the port failed: {why}");
                return 1;
            }
        };
        let now = zx::clock_get_monotonic().into_nanos();
        if !data.is_empty() {
            last_byte = now;
            reader.push(&data);
            while let Some(event) = reader.next_event() {
                session.handle(event);
            }
        } else if reader.has_partial() && now - last_byte > STALL_NANOS {
            reader.drop_partial();
            session.frame_truncated();
        }
        session.await_replies();
        session.collect_from_channels();
        if let Err(why) = port.write(&session.take_output()) {
            println!("bridge: the port failed: {why}");
            return 1;
        }
    }
}
