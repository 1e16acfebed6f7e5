//! The boot program runner: starts the programs named by `userboot=` from
//! the bootfs, one after another, reports how each ended, and powers the
//! machine off after the last.
//!
//! Each program becomes a process with one thread; its argument registers
//! hold handles to its own process (`rdi`) and its root VMAR (`rsi`). This is the seed of
//! userboot: with VMO/VMAR/process syscalls, the kernel starts only
//! `bin/userboot` and userboot loads the rest itself.

use crate::arch::x86_64::power::power_off;
use crate::koid::Koid;
use crate::object::process::{Outcome, Process};
use crate::object::thread::Thread;
use crate::object::Handle;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use bootfs::Bootfs;
use spin::Mutex;
use zx_abi::{guest_exit, Rights};

struct Runner {
    bootfs: Bootfs<'static>,
    queue: Vec<String>,
    next: usize,
    running: Option<Koid>,
    last_ok: bool,
}

static RUNNER: Mutex<Option<Runner>> = Mutex::new(None);

/// Sets the program list.
pub fn init(bootfs: Bootfs<'static>, programs: &str) {
    let queue = programs
        .split(',')
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    *RUNNER.lock() = Some(Runner {
        bootfs,
        queue,
        next: 0,
        running: None,
        last_ok: true,
    });
}

/// Makes the next program that loads runnable; powers off when none is
/// left.
pub fn start_next() {
    loop {
        let (name, image) = {
            let mut guard = RUNNER.lock();
            let runner = guard.as_mut().expect("programs::init not called");
            let Some(name) = runner.queue.get(runner.next).cloned() else {
                let status = if runner.last_ok {
                    guest_exit::SUCCESS
                } else {
                    guest_exit::FAILURE
                };
                drop(guard);
                info!(
                    "all boot programs finished; powering off with status {}",
                    status
                );
                power_off(status);
            };
            runner.next += 1;
            let image = runner.bootfs.find(&name).map(|file| file.data);
            (name, image)
        };
        let Some(image) = image else {
            error!("boot program {name} is not in the bootfs");
            set_last_ok(false);
            continue;
        };
        match spawn(&name, image) {
            Ok((process, thread)) => {
                info!(
                    "starting {} (process koid {}, thread koid {}, {} bytes)",
                    name,
                    process.koid(),
                    thread.koid(),
                    image.len()
                );
                if let Some(runner) = RUNNER.lock().as_mut() {
                    runner.running = Some(process.koid());
                }
                crate::sched::make_runnable(&thread);
                return;
            }
            Err(error) => {
                error!("cannot start {name}: {error}");
                set_last_ok(false);
            }
        }
    }
}

fn set_last_ok(ok: bool) {
    if let Some(runner) = RUNNER.lock().as_mut() {
        runner.last_ok = ok;
    }
}

/// Why a program could not be started.
enum SpawnError {
    Load(crate::loader::LoadError),
    Status(zx_abi::Status),
}

impl core::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SpawnError::Load(error) => write!(f, "{error}"),
            SpawnError::Status(status) => write!(f, "{status}"),
        }
    }
}

fn spawn(name: &str, image: &[u8]) -> Result<(Arc<Process>, Arc<Thread>), SpawnError> {
    let process = Process::new(name).map_err(SpawnError::Status)?;
    let (entry, stack_top) = crate::loader::load(&process, image).map_err(SpawnError::Load)?;
    let self_handle = process
        .add_handle(Handle::new(process.clone(), Rights::DEFAULT_PROCESS))
        .map_err(SpawnError::Status)?;
    let vmar_handle = process
        .add_handle(Handle::new(
            process.root_vmar().clone(),
            Rights::DEFAULT_VMAR,
        ))
        .map_err(SpawnError::Status)?;
    let thread = Thread::new(&process, "main");
    process.add_thread(&thread).map_err(SpawnError::Status)?;
    let mut frame =
        crate::arch::x86_64::trap::TrapFrame::new_user(entry, stack_top, self_handle as u64);
    frame.rsi = vmar_handle as u64;
    *thread.inner.lock().frame = frame;
    Ok((process, thread))
}

/// Called when any process ends: a boot program's end starts the next.
pub fn process_ended(process: &Process, outcome: Outcome) {
    let ours = RUNNER
        .lock()
        .as_ref()
        .is_some_and(|runner| runner.running == Some(process.koid()));
    match outcome {
        Outcome::Exited(code) => info!(
            "process {} (koid {}) exited with status {}",
            process.name,
            process.koid(),
            code
        ),
        Outcome::Killed => warn!(
            "process {} (koid {}) killed by the kernel",
            process.name,
            process.koid()
        ),
    }
    if ours {
        set_last_ok(outcome == Outcome::Exited(0));
        start_next();
    }
}
