//! Port case: a thread blocked in `port_wait` woken by a user packet.
//!
//! A sample runs from just before `port_queue` to the first instruction
//! the sleeper runs after its wait returns; the sleeper sends its TSC back
//! in a packet on a second port. As in the Linux peer (an eventfd), the
//! queuer then blocks waiting for that answer, which is when the sleeper
//! runs: the sample includes the queuer's way into its own wait and the
//! switch.

use crate::stats::{self, Bench};
use crate::{thread, tsc};
use core::mem::ManuallyDrop;
use zx::{AsHandleRef, Handle, Port, PortPacket, Signals, Status};

/// How long the whole case may take (10 s of virtual time).
const PATIENCE_NANOS: i64 = 10_000_000_000;
/// The key of the benchmark's packets.
const KEY: u64 = 0x5eed;

/// Runs the wake-up case.
pub fn wakeup(bench: &mut Bench, name: &str, iterations: usize) {
    if let Err(status) = run_wakeup(bench, name, iterations) {
        stats::error(name, status);
    }
}

fn run_wakeup(bench: &mut Bench, name: &str, iterations: usize) -> Result<(), Status> {
    let to_sleeper = Port::create()?;
    let answers = Port::create()?;
    let ports = (to_sleeper.raw_handle() as u64) | (answers.raw_handle() as u64) << 32;
    let thread = thread::spawn("sleeper", sleeper, ports, iterations as u64)?;
    let deadline = zx::deadline_after(PATIENCE_NANOS);
    // Let the sleeper reach its first wait.
    let _ = zx::nanosleep(zx::deadline_after(1_000_000));
    let mut failure = None;
    let packet = PortPacket {
        key: KEY,
        ..PortPacket::default()
    };
    bench.run_timed(name, iterations, |_| {
        if failure.is_some() {
            return 0;
        }
        let start = tsc::read();
        let woke = to_sleeper
            .queue(&packet)
            .and_then(|()| answers.wait(deadline))
            .map(|answer| u64::from_le_bytes(answer.payload[..8].try_into().unwrap_or([0; 8])));
        match woke {
            Ok(woke) => woke.saturating_sub(start),
            Err(status) => {
                failure = Some(status);
                0
            }
        }
    });
    if let Some(status) = failure {
        return Err(status);
    }
    thread.wait_one(Signals::TASK_TERMINATED, deadline)?;
    Ok(())
}

/// The sleeper: waits on one port (low half of `ports`), reads the TSC as
/// soon as it wakes and sends it back on the other (high half), `rounds`
/// times.
extern "C" fn sleeper(ports: u64, rounds: u64) -> ! {
    // The main thread owns the handles: never closed here.
    let wait_on = ManuallyDrop::new(Port::from_handle(Handle::from_raw(ports as u32)));
    let answer_on = ManuallyDrop::new(Port::from_handle(Handle::from_raw((ports >> 32) as u32)));
    for _ in 0..rounds {
        let woken = wait_on.wait(zx::TIME_INFINITE);
        let woke = tsc::read();
        let mut answer = PortPacket {
            key: KEY,
            ..PortPacket::default()
        };
        answer.payload[..8].copy_from_slice(&woke.to_le_bytes());
        if woken.and_then(|_| answer_on.queue(&answer)).is_err() {
            break;
        }
    }
    zx::thread_exit()
}
