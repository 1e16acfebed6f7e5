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
use alloc::format;
use alloc::vec::Vec;
use core::mem::ManuallyDrop;
use core::sync::atomic::{AtomicU64, Ordering};
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

/// Where a 0-byte round trip spends its instructions: the same exchange
/// as [`roundtrip`], with the TSC read at every step on both threads (the
/// echo thread publishes its readings), printed as one case per step:
///
/// | case | from | to |
/// |---|---|---|
/// | `<prefix>_write` | main: before `channel_write` | after it |
/// | `<prefix>_to_echo` | main: after the write | echo: its `object_wait_one` returned |
/// | `<prefix>_echo_read` | echo: before `channel_read` | after it |
/// | `<prefix>_echo_write` | echo: before `channel_write` | after it |
/// | `<prefix>_to_main` | echo: after its write | main: its `object_wait_one` returned |
/// | `<prefix>_read` | main: before `channel_read` | after it |
///
/// `_to_echo` and `_to_main` hold a wait that blocks, the switch to the
/// other thread and the end of that thread's wait.
pub fn roundtrip_phases(bench: &mut Bench, prefix: &str, iterations: usize) {
    if let Err(status) = run_roundtrip_phases(bench, prefix, iterations) {
        stats::error(prefix, status);
    }
}

/// The echo thread's readings of the current round (written by the echo,
/// read by the main thread once the round is over).
static ECHO_WOKE: AtomicU64 = AtomicU64::new(0);
static ECHO_READ: AtomicU64 = AtomicU64::new(0);
static ECHO_WROTE: AtomicU64 = AtomicU64::new(0);

const PHASES: [&str; 6] = [
    "write",
    "to_echo",
    "echo_read",
    "echo_write",
    "to_main",
    "read",
];

fn run_roundtrip_phases(bench: &mut Bench, prefix: &str, iterations: usize) -> Result<(), Status> {
    let (ours, theirs) = Channel::create()?;
    let thread = thread::spawn(
        "echo-timed",
        echo_timed,
        theirs.raw_handle() as u64,
        iterations as u64,
    )?;
    let deadline = zx::deadline_after(PATIENCE_NANOS);
    let mut phases: [Vec<u64>; 6] = Default::default();
    for phase in phases.iter_mut() {
        phase.reserve_exact(iterations);
    }
    let mut reply = [0u8; ROUNDTRIP_MAX_BYTES];
    for _ in 0..iterations {
        let mut needed = (0, 0);
        let before_write = tsc::read();
        ours.write(&[], Vec::new())?;
        let wrote = tsc::read();
        ours.wait_one(Signals::CHANNEL_READABLE, deadline)?;
        let woke = tsc::read();
        ours.read_raw(&mut reply, &mut [], &mut needed)?;
        let read = tsc::read();
        let echo_woke = ECHO_WOKE.load(Ordering::Acquire);
        let echo_read = ECHO_READ.load(Ordering::Acquire);
        let echo_wrote = ECHO_WROTE.load(Ordering::Acquire);
        let steps = [
            wrote - before_write,
            echo_woke.wrapping_sub(wrote),
            echo_read.wrapping_sub(echo_woke),
            echo_wrote.wrapping_sub(echo_read),
            woke.wrapping_sub(echo_wrote),
            read - woke,
        ];
        for (phase, step) in phases.iter_mut().zip(steps) {
            phase.push(step);
        }
    }
    for (name, samples) in PHASES.iter().zip(phases.iter_mut()) {
        bench.report(&format!("{prefix}_{name}"), samples);
    }
    thread.wait_one(Signals::TASK_TERMINATED, deadline)?;
    drop(theirs);
    Ok(())
}

/// [`echo`] with the TSC read around each step (`ECHO_*`).
extern "C" fn echo_timed(channel: u64, rounds: u64) -> ! {
    // The main thread owns the handle: never closed here.
    let channel = ManuallyDrop::new(Channel::from_handle(Handle::from_raw(channel as u32)));
    let mut buffer = [0u8; ROUNDTRIP_MAX_BYTES];
    for _ in 0..rounds {
        let mut needed = (0, 0);
        if channel
            .wait_one(Signals::CHANNEL_READABLE, zx::TIME_INFINITE)
            .is_err()
        {
            break;
        }
        ECHO_WOKE.store(tsc::read(), Ordering::Release);
        let read = channel.read_raw(&mut buffer, &mut [], &mut needed);
        let before_write = tsc::read();
        ECHO_READ.store(before_write, Ordering::Release);
        let written = read.and_then(|(bytes, _)| {
            // Published after the write returns: the kernel runs the
            // woken main thread only once this one blocks in its next
            // wait. (If it switched inside the write, `to_main` would come
            // out absurdly large and show it.)
            let wrote = channel.write(&buffer[..bytes], Vec::new());
            ECHO_WROTE.store(tsc::read(), Ordering::Release);
            wrote
        });
        if written.is_err() {
            break;
        }
    }
    zx::thread_exit()
}
