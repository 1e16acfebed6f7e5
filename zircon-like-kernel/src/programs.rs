//! Starting user space: the kernel loads one program, `bin/userboot`, from
//! the bootfs, as Zircon does, and hands it what it needs to start
//! everything else — in the first message on its bootstrap channel (the
//! `processargs` protocol of `zx_abi`):
//!
//! - handles: its own process, its root VMAR, the root job, a VMO
//!   holding the bootfs image, and the root resource (the only one: every
//!   privileged right in the system is narrowed from it);
//! - arguments: `bin/userboot` followed by the kernel command line's
//!   options, so userboot reads `userboot.next=` and the like itself.
//!
//! When userboot's process ends, the machine powers off with its status:
//! userboot is the root of user space.

use crate::arch::x86_64::power::power_off;
use crate::koid::Koid;
use crate::object::channel::{Channel, Message};
use crate::object::job::Job;
use crate::object::process::{Outcome, Process};
use crate::object::resource::Resource;
use crate::object::thread::Thread;
use crate::object::vmo::Vmo;
use crate::object::Handle;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use bootfs::Bootfs;
use spin::Mutex;
use zx_abi::{guest_exit, processargs, Rights, Status};

/// The program the kernel starts.
pub const USERBOOT: &str = "bin/userboot";

static ROOT_PROCESS: Mutex<Option<Koid>> = Mutex::new(None);

/// Why userboot could not be started.
enum StartError {
    NotInBootfs,
    Load(crate::loader::LoadError),
    Status(Status),
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::NotInBootfs => write!(f, "{USERBOOT} is not in the bootfs"),
            StartError::Load(error) => write!(f, "{error}"),
            StartError::Status(status) => write!(f, "{status}"),
        }
    }
}

impl From<Status> for StartError {
    fn from(status: Status) -> Self {
        StartError::Status(status)
    }
}

/// Loads userboot and makes its thread runnable; a failure is fatal.
pub fn start_userboot(bootfs: Bootfs<'static>, image: &'static [u8], cmdline: &str) {
    if let Err(error) = try_start(bootfs, image, cmdline) {
        panic!("cannot start {USERBOOT}: {error}");
    }
}

fn try_start(
    bootfs: Bootfs<'static>,
    image: &'static [u8],
    cmdline: &str,
) -> Result<(), StartError> {
    let elf = bootfs.find(USERBOOT).ok_or(StartError::NotInBootfs)?.data;
    let root_job = Job::new_root();
    let process = Process::new(USERBOOT, &root_job)?;
    let (entry, stack_top) = crate::loader::load(&process, elf).map_err(StartError::Load)?;

    let bootfs_vmo = Vmo::new_paged(image.len() as u64, false)?;
    bootfs_vmo.write_bytes(0, image)?;

    let kinds = [
        processargs::PROCESS_SELF,
        processargs::VMAR_ROOT,
        processargs::JOB_DEFAULT,
        processargs::BOOTFS_VMO,
        processargs::resource(processargs::RESOURCE_ROOT),
    ];
    let handles = vec![
        Handle::new(process.clone(), Rights::DEFAULT_PROCESS),
        Handle::new(process.root_vmar().clone(), Rights::DEFAULT_VMAR),
        Handle::new(root_job, Rights::DEFAULT_JOB),
        Handle::new(bootfs_vmo, Rights::DEFAULT_VMO),
        Handle::new(Resource::new_root(), Rights::DEFAULT_RESOURCE),
    ];
    let mut args: Vec<&str> = vec![USERBOOT];
    args.extend(cmdline.split_ascii_whitespace());
    let mut bytes = vec![0u8; processargs::encoded_len(&kinds, &args, &[])];
    processargs::encode(&kinds, &args, &[], &mut bytes);

    let (ours, theirs) = Channel::create();
    let ours = Handle::new(ours, Rights::DEFAULT_CHANNEL);
    let theirs = Handle::new(theirs, Rights::DEFAULT_CHANNEL);
    let channel = ours.downcast::<Channel>().ok_or(Status::INTERNAL)?;
    channel
        .write(Message::new(bytes, handles, None).map_err(|(status, _)| status)?)
        .map_err(|(status, _)| status)?;
    drop(ours); // the message stays queued on userboot's end
    let bootstrap = process.add_handle(theirs)?;

    let thread = Thread::new(&process, "main")?;
    process.add_thread(&thread)?;
    process.mark_started();
    *thread.inner.lock().frame =
        crate::arch::x86_64::trap::TrapFrame::new_user(entry, stack_top, bootstrap as u64);
    *ROOT_PROCESS.lock() = Some(process.koid());
    info!(
        "starting {} (process koid {}, thread koid {}, {} bytes)",
        USERBOOT,
        process.koid(),
        thread.koid(),
        elf.len()
    );
    crate::sched::make_runnable(&thread);
    Ok(())
}

/// Called when any process ends: reports it; the end of userboot ends the
/// machine.
pub fn process_ended(process: &Arc<Process>, outcome: Outcome) {
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
    if *ROOT_PROCESS.lock() == Some(process.koid()) {
        let status = if outcome == Outcome::Exited(0) {
            guest_exit::SUCCESS
        } else {
            guest_exit::FAILURE
        };
        info!("{} ended; powering off with status {}", USERBOOT, status);
        power_off(status);
    }
}
