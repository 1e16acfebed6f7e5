//! A TCP echo server on port 7 (RFC 862): every byte a client sends comes
//! back, until the client ends its side. Connections are served at once,
//! each as a task on the SDK executor, through `zx-net` sockets.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::rc::Rc;
use alloc::vec;
use core::cell::Cell;
use zx_net::{TcpListener, TcpStream};

zx_runtime::entry!(main);

/// The echo port.
const PORT: u16 = 7;
/// Most connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 16;
/// A connection that sends nothing for this many idle periods in a row
/// is closed (30 s when the machine keeps up).
const IDLE_PERIODS: u32 = 30;
/// One idle period.
const PERIOD_NANOS: i64 = 1_000_000_000;

/// Echoes one connection until its end of stream, a failure or idleness.
///
/// Idleness is counted in periods that each end with a wake-up finding
/// nothing to read, not in elapsed time: when the host stalls the whole
/// machine (QEMU descheduled under load), the guest's clock jumps ahead
/// while the client's bytes wait in QEMU, and a 30 s deadline would
/// close a busy connection the moment the guest runs again (seen once:
/// a 1 MiB echo ended after 920,064 bytes). A stall of any length now
/// counts as one period.
async fn echo(stream: TcpStream) {
    let mut buffer = vec![0u8; 16 * 1024];
    let mut idle = 0;
    loop {
        let deadline = zx::deadline_after(PERIOD_NANOS);
        let read = zx_async::with_deadline(deadline, stream.read_async(&mut buffer)).await;
        let n = match read {
            Ok(Ok(n)) if n > 0 => n,
            Err(zx::Status::TIMED_OUT) if idle + 1 < IDLE_PERIODS => {
                idle += 1;
                continue;
            }
            _ => break,
        };
        idle = 0;
        if stream.write_all_async(&buffer[..n]).await.is_err() {
            return;
        }
    }
    // End of stream: end ours too, after everything was sent.
    let _ = stream.shutdown_write();
}

/// Listens on the port, retrying while the netstack is not there (it
/// may be starting, or restarting after a crash).
async fn listen() -> TcpListener {
    loop {
        if let Ok(listener) = TcpListener::bind(PORT, 8) {
            return listener;
        }
        let _ = zx_async::sleep(zx::deadline_after(200_000_000)).await;
    }
}

fn main() -> i64 {
    let Ok(mut executor) = zx_async::Executor::new() else {
        return 1;
    };
    let spawner = executor.spawner();
    let open = Rc::new(Cell::new(0usize));
    let lifecycle = zx_component::Lifecycle::take();
    let serving = async move {
        loop {
            let listener = listen().await;
            zx_component::log("tcp-echo: listening on port 7");
            loop {
                let Ok((stream, _)) = listener.accept_async().await else {
                    break; // the netstack went away: listen again
                };
                if open.get() >= MAX_CONNECTIONS {
                    continue; // dropped: the peer sees the connection end
                }
                open.set(open.get() + 1);
                let open = Rc::clone(&open);
                spawner.spawn(async move {
                    echo(stream).await;
                    open.set(open.get() - 1);
                });
            }
        }
    };
    match lifecycle {
        // Serve until the component manager asks us to stop.
        Some(lifecycle) => {
            executor.spawner().spawn(serving);
            executor.run(async move { lifecycle.stopped().await });
            0
        }
        None => {
            executor.run(serving);
            0
        }
    }
}
