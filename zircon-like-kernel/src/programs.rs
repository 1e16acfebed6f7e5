//! The boot program runner: starts the programs named by `userboot=` from
//! the bootfs, one after another, reports how each ended, and powers the
//! machine off after the last.
//!
//! This is the seed of userboot. With the kernel-objects work, the kernel
//! starts only `bin/userboot` and userboot itself loads the rest through
//! syscalls; the kernel's part then shrinks to handing it the bootfs.

use crate::arch::x86_64::power::power_off;
use crate::arch::x86_64::trap::TrapFrame;
use crate::mem::address_space::AddressSpace;
use crate::process::{Koid, Outcome, Process, Thread};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use bootfs::Bootfs;
use spin::Mutex;
use zx_abi::guest_exit;

struct Runner {
    bootfs: Bootfs<'static>,
    queue: Vec<String>,
    next: usize,
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
        last_ok: true,
    });
}

/// Starts the next program that loads; powers off when none is left.
pub fn start_next(frame: &mut TrapFrame) {
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
            (
                name.clone(),
                runner.bootfs.find(&name).map(|file| file.data),
            )
        };
        let Some(image) = image else {
            error!("boot program {name} is not in the bootfs");
            set_last_ok(false);
            continue;
        };
        match spawn(&name, image) {
            Ok(thread) => {
                info!(
                    "starting {} (process koid {}, thread koid {}, {} bytes)",
                    name,
                    thread.process.koid,
                    thread.koid,
                    image.len()
                );
                crate::sched::run(frame, thread);
                return;
            }
            Err(error) => {
                error!("cannot load {name}: {error}");
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

fn spawn(name: &str, image: &[u8]) -> Result<Box<Thread>, crate::loader::LoadError> {
    let mut address_space =
        AddressSpace::new().ok_or(crate::loader::LoadError::Map(paging::MapError::OutOfTables))?;
    let (entry, stack_top) = crate::loader::load(&mut address_space, image)?;
    let process = Process {
        koid: Koid::next(),
        name: name.into(),
        address_space,
    };
    Ok(Box::new(Thread {
        koid: Koid::next(),
        process,
        frame: Box::new(TrapFrame::new_user(entry, stack_top, 0)),
    }))
}

/// Called when a process ends: report, then start the next program.
pub fn on_process_end(frame: &mut TrapFrame, name: &str, koid: Koid, outcome: Outcome) {
    match outcome {
        Outcome::Exited(code) => info!(
            "process {} (koid {}) exited with status {}",
            name, koid, code
        ),
        Outcome::Killed => warn!("process {} (koid {}) killed by the kernel", name, koid),
    }
    set_last_ok(outcome == Outcome::Exited(0));
    start_next(frame);
}
