//! Cases between processes: a channel round trip to an echo process, an
//! IDL call through the generated bindings, and creating, starting and
//! reaping a process.
//!
//! The other process is `bin/child-echo` (or `bin/echo-server`) from the
//! bootfs, started with `zx-launch` in a child job — the same path
//! userboot and the tests use.

use crate::stats::{self, Bench};
use crate::tsc;
use alloc::vec;
use alloc::vec::Vec;
use zx::{processargs, AsHandleRef, Channel, Job, Signals, Status, Vmo};
use zx_launch::{launch, Program};

const CHILD: &str = "bin/child-echo";
const ECHO_SERVER: &str = "bin/echo-server";
const PATIENCE_NANOS: i64 = 20_000_000_000;

/// The job and bootfs userboot gave this program.
pub struct Launcher {
    job: Job,
    bootfs: zx_runtime::ReadOnlyMapping,
}

impl Launcher {
    /// Takes the start-up handles; `None` if they are missing.
    pub fn new() -> Option<Launcher> {
        let job = Job::from_handle(zx_runtime::take_startup_handle(processargs::JOB_DEFAULT)?);
        let vmo = Vmo::from_handle(zx_runtime::take_startup_handle(processargs::BOOTFS_VMO)?);
        let size = vmo.size().ok()?;
        let bootfs = zx_runtime::ReadOnlyMapping::new(&vmo, size).ok()?;
        Some(Launcher { job, bootfs })
    }

    fn start(
        &self,
        args: &[&str],
        handles: Vec<(u32, zx::Handle)>,
    ) -> Result<zx_launch::Launched, Status> {
        self.start_program(CHILD, args, handles)
    }

    fn start_program(
        &self,
        name: &str,
        args: &[&str],
        handles: Vec<(u32, zx::Handle)>,
    ) -> Result<zx_launch::Launched, Status> {
        let fs = bootfs::Bootfs::parse(&self.bootfs).map_err(|_| Status::INTERNAL)?;
        let file = fs.find(name).ok_or(Status::NOT_FOUND)?;
        let program = Program {
            name,
            elf: file.data,
            args,
            handles,
            names: &[],
        };
        launch(&self.job, program).map_err(|error| match error {
            zx_launch::LaunchError::Syscall(status) => status,
            _ => Status::INTERNAL,
        })
    }
}

/// `channel_call` round trips of a `size`-byte message (at least the
/// 4-byte transaction id) to an echo process.
pub fn roundtrip(
    launcher: &Launcher,
    bench: &mut Bench,
    name: &str,
    iterations: usize,
    size: usize,
) {
    if let Err(status) = run_roundtrip(launcher, bench, name, iterations, size) {
        stats::error(name, status);
    }
}

fn run_roundtrip(
    launcher: &Launcher,
    bench: &mut Bench,
    name: &str,
    iterations: usize,
    size: usize,
) -> Result<(), Status> {
    let (ours, theirs) = Channel::create()?;
    let child = launcher.start(
        &[CHILD, "mirror"],
        vec![(processargs::USER_BASE, theirs.into_handle())],
    )?;
    // The payload follows the 4-byte transaction id the kernel fills in.
    let message = [0xa5u8; 4 + 64];
    let size = 4 + size;
    let mut reply = zx::MessageBuf::default();
    let deadline = zx::deadline_after(PATIENCE_NANOS);
    let mut failure = None;
    bench.run_timed(name, iterations, |_| {
        if failure.is_some() {
            return 0;
        }
        let start = tsc::read();
        let result = ours.call(&message[..size], Vec::new(), deadline, &mut reply);
        let end = tsc::read();
        match result {
            Ok(()) if reply.bytes.len() == size => {}
            Ok(()) => failure = Some(Status::INTERNAL),
            Err(status) => failure = Some(status),
        }
        end - start
    });
    drop(ours);
    child.process.wait_one(Signals::TASK_TERMINATED, deadline)?;
    failure.map_or(Ok(()), Err)
}

/// Round trips of `Echo.EchoString("")` through the generated bindings
/// (`EchoClient` over `zx_idl::ChannelTransport`: a `channel_call`) to
/// `bin/echo-server` serving a bare channel (its `channel_recv` loop): the
/// figure a service call costs.
pub fn idl_echo(launcher: &Launcher, bench: &mut Bench, name: &str, iterations: usize) {
    if let Err(status) = run_idl_echo(launcher, bench, name, iterations) {
        stats::error(name, status);
    }
}

fn run_idl_echo(
    launcher: &Launcher,
    bench: &mut Bench,
    name: &str,
    iterations: usize,
) -> Result<(), Status> {
    use crate::bindings::examples_echo::{EchoClient, EchoEchoStringRequest};
    let (ours, theirs) = Channel::create()?;
    let server = launcher.start_program(
        ECHO_SERVER,
        &[ECHO_SERVER],
        vec![(processargs::USER_BASE, theirs.into_handle())],
    )?;
    let echo = EchoClient::new(zx_idl::ChannelTransport::new(ours));
    let mut failure = None;
    bench.run_timed(name, iterations, |_| {
        if failure.is_some() {
            return 0;
        }
        let request = EchoEchoStringRequest {
            value: alloc::string::String::new(),
        };
        let start = tsc::read();
        let result = echo.echo_string(request);
        let end = tsc::read();
        match result {
            Ok(reply) if reply.response.is_empty() => {}
            Ok(_) => failure = Some(Status::INTERNAL),
            Err(_) => failure = Some(Status::INTERNAL),
        }
        end - start
    });
    drop(echo);
    let deadline = zx::deadline_after(PATIENCE_NANOS);
    server
        .process
        .wait_one(Signals::TASK_TERMINATED, deadline)?;
    failure.map_or(Ok(()), Err)
}

/// Creates, starts and waits for the end of a process that exits at once.
pub fn create(launcher: &Launcher, bench: &mut Bench, name: &str, iterations: usize) {
    let deadline = zx::deadline_after(PATIENCE_NANOS);
    let mut failure = None;
    bench.run_timed(name, iterations, |_| {
        if failure.is_some() {
            return 0;
        }
        let start = tsc::read();
        let result = launcher
            .start(&[CHILD, "exit"], Vec::new())
            .and_then(|child| child.process.wait_one(Signals::TASK_TERMINATED, deadline));
        let end = tsc::read();
        if let Err(status) = result {
            failure = Some(status);
        }
        end - start
    });
    if let Some(status) = failure {
        stats::error(name, status);
    }
}
