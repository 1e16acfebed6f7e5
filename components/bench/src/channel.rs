//! Channel cases: write + read in one process, and round trips between
//! two threads.
//!
//! The round trip runs between two threads of this process because
//! user space cannot create processes yet; under instruction counting the
//! address-space switch a second process adds is a handful of
//! instructions. The two-process case (`call_roundtrip_*`) comes with
//! process creation.

use crate::stats::{self, Bench};
use crate::{thread, tsc};
use alloc::vec::Vec;
use core::mem::ManuallyDrop;
use zx::{AsHandleRef, Channel, Handle, Signals, Status};

/// Largest round-trip message.
const ROUNDTRIP_MAX_BYTES: usize = 64;
/// How long a whole round-trip case may take (10 s of virtual time, i.e.
/// 10^10 instructions: only a broken kernel needs it). One deadline for
/// the case, so no sample pays for reading the clock.
const PATIENCE_NANOS: i64 = 10_000_000_000;

/// Writes `message` into one endpoint and reads it from the other into
/// `reply`, `iterations` times.
pub fn write_read(
    bench: &mut Bench,
    name: &str,
    iterations: usize,
    message: &[u8],
    reply: &mut [u8],
) {
    let (writer, reader) = match Channel::create() {
        Ok(pair) => pair,
        Err(status) => return stats::error(name, status),
    };
    let mut failure = None;
    bench.run(name, iterations, || {
        let mut needed = (0, 0);
        let result = writer
            .write(message, Vec::new())
            .and_then(|()| reader.read_raw(reply, &mut [], &mut needed));
        if let Err(status) = result {
            failure.get_or_insert(status);
        }
    });
    if let Some(status) = failure {
        stats::error(name, status);
    }
}

/// Round trips of a `size`-byte message to a second thread that echoes
/// it: write, wait until readable, read.
pub fn roundtrip(bench: &mut Bench, name: &str, iterations: usize, size: usize) {
    if let Err(status) = run_roundtrip(bench, name, iterations, size) {
        stats::error(name, status);
    }
}

fn run_roundtrip(
    bench: &mut Bench,
    name: &str,
    iterations: usize,
    size: usize,
) -> Result<(), Status> {
    let (ours, theirs) = Channel::create()?;
    let thread = thread::spawn("echo", echo, theirs.raw_handle() as u64, iterations as u64)?;

    let message = [0xa5u8; ROUNDTRIP_MAX_BYTES];
    let mut reply = [0u8; ROUNDTRIP_MAX_BYTES];
    let deadline = zx::deadline_after(PATIENCE_NANOS);
    let mut failure = None;
    bench.run_timed(name, iterations, |_| {
        if failure.is_some() {
            return 0;
        }
        let mut needed = (0, 0);
        let start = tsc::read();
        let result = ours
            .write(&message[..size], Vec::new())
            .and_then(|()| ours.wait_one(Signals::CHANNEL_READABLE, deadline))
            .and_then(|_| ours.read_raw(&mut reply, &mut [], &mut needed));
        let end = tsc::read();
        match result {
            Ok((bytes, _)) if bytes == size => {}
            Ok(_) => {
                failure = Some(Status::INTERNAL);
            }
            Err(status) => {
                failure = Some(status);
            }
        }
        end - start
    });
    if let Some(status) = failure {
        return Err(status);
    }
    thread.wait_one(Signals::TASK_TERMINATED, deadline)?;
    // `theirs` stays open until the echo thread has ended.
    drop(theirs);
    Ok(())
}

/// The echo thread: reads a message and writes it back, `rounds` times,
/// then exits.
extern "C" fn echo(channel: u64, rounds: u64) -> ! {
    // The main thread owns the handle: never closed here.
    let channel = ManuallyDrop::new(Channel::from_handle(Handle::from_raw(channel as u32)));
    let mut buffer = [0u8; ROUNDTRIP_MAX_BYTES];
    for _ in 0..rounds {
        let mut needed = (0, 0);
        let echoed = channel
            .wait_one(Signals::CHANNEL_READABLE, zx::TIME_INFINITE)
            .and_then(|_| channel.read_raw(&mut buffer, &mut [], &mut needed))
            .and_then(|(bytes, _)| channel.write(&buffer[..bytes], Vec::new()));
        if echoed.is_err() {
            break;
        }
    }
    zx::thread_exit()
}
