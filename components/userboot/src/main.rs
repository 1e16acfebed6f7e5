//! userboot: the first process, and the only one the kernel starts.
//!
//! Like Zircon's userboot, it receives the root job and the bootfs (as a
//! VMO) in its start-up message and starts everything else from user space
//! with `zx-launch`: process creation, ELF loading through VMOs and VMARs,
//! and a start-up message for each program.
//!
//! It runs the programs named by `userboot.next=a,b,...` (from the kernel
//! command line, passed as its arguments) one after another, each in its
//! own child job with a read-only bootfs VMO, and reports how each ended.
//! A program also gets the command-line options that start with its name
//! (`component_manager.root=...` for `bin/component_manager`).
//! With no `userboot.next`, it greets and exits. Its own exit status (0 if
//! the last program exited 0) becomes the machine's.
//!
//! It alone receives the root resource. It keeps it, and hands each
//! program it starts the narrower resources of
//! `processargs::RESOURCE_NAMES` (console input, the kernel log, power,
//! contiguous memory, and whole MMIO, IRQ and I/O-port ranges), which the
//! component manager passes on only to components whose manifests use
//! them.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;
use zx::{processargs, AsHandleRef, Job, Resource, Rights, Signals, Vmo};
use zx_launch::{launch, Program};
use zx_runtime::println;

zx_runtime::entry!(main);

fn main() -> i64 {
    let now = zx::clock_get_monotonic();
    println!("userboot: hello from ring 3");
    println!("userboot: monotonic clock reads {} ns", now.into_nanos());
    let next: Vec<&str> = zx_runtime::args()
        .iter()
        .filter_map(|arg| arg.strip_prefix("userboot.next="))
        .flat_map(|list| list.split(','))
        .filter(|name| !name.is_empty())
        .collect();
    if next.is_empty() {
        println!("userboot: nothing to start (no userboot.next=); exiting");
        return 0;
    }
    let (Some(job), Some(bootfs_vmo)) = (
        zx_runtime::take_startup_handle(processargs::JOB_DEFAULT),
        zx_runtime::take_startup_handle(processargs::BOOTFS_VMO),
    ) else {
        println!("userboot: missing the root job or the bootfs");
        return 1;
    };
    let job = Job::from_handle(job);
    let bootfs_vmo = Vmo::from_handle(bootfs_vmo);
    let Ok(size) = bootfs_vmo.size() else {
        println!("userboot: cannot read the bootfs size");
        return 1;
    };
    // Map the bootfs read-only and read it in place.
    let Ok(image) = zx_runtime::ReadOnlyMapping::new(&bootfs_vmo, size) else {
        println!("userboot: cannot map the bootfs");
        return 1;
    };
    let bootfs = match bootfs::Bootfs::parse(&image) {
        Ok(bootfs) => bootfs,
        Err(error) => {
            println!("userboot: bad bootfs: {}", error);
            return 1;
        }
    };
    let resources =
        match zx_runtime::take_startup_handle(processargs::resource(processargs::RESOURCE_ROOT)) {
            Some(root) => narrow(&Resource::from_handle(root)),
            None => {
                println!("userboot: no root resource; programs get no resources");
                Vec::new()
            }
        };
    let mut last = 0;
    for name in next {
        last = run(&job, &bootfs, &bootfs_vmo, &resources, name);
    }
    if last == 0 {
        0
    } else {
        1
    }
}

/// The resources boot programs get, made from the root resource: each
/// with its start-up handle kind.
fn narrow(root: &Resource) -> Vec<(u32, Resource)> {
    let mut resources = Vec::new();
    for (name, arg) in processargs::RESOURCE_NAMES {
        let made = if arg >= processargs::RESOURCE_WHOLE_KIND {
            let kind = u32::from(arg - processargs::RESOURCE_WHOLE_KIND);
            let size = match kind {
                zx::RSRC_KIND_MMIO => 1 << 52, // every physical address
                zx::RSRC_KIND_IRQ => 256,
                _ => 1 << 16, // I/O ports
            };
            root.create(kind, 0, size)
        } else {
            root.system(u64::from(arg))
        };
        match made {
            Ok(resource) => resources.push((processargs::resource(arg), resource)),
            Err(status) => println!("userboot: cannot make the {} resource: {}", name, status),
        }
    }
    resources
}

/// Starts `name` in a child job, waits for it, returns its exit code.
fn run(
    job: &Job,
    bootfs: &bootfs::Bootfs<'_>,
    bootfs_vmo: &Vmo,
    resources: &[(u32, Resource)],
    name: &str,
) -> i64 {
    let Some(file) = bootfs.find(name) else {
        println!("userboot: {} is not in the bootfs", name);
        return -1;
    };
    let child_job = match job.create_child() {
        Ok(child) => child,
        Err(status) => {
            println!("userboot: cannot create a job for {}: {}", name, status);
            return -1;
        }
    };
    let mut handles = Vec::new();
    if let Ok(read_only) = bootfs_vmo
        .handle()
        .duplicate(Rights::BASIC | Rights::READ | Rights::MAP | Rights::GET_PROPERTY)
    {
        handles.push((processargs::BOOTFS_VMO, read_only));
    }
    if let Ok(job_copy) = child_job.handle().duplicate(Rights::SAME_RIGHTS) {
        handles.push((processargs::JOB_DEFAULT, job_copy));
    }
    for (kind, resource) in resources {
        if let Ok(copy) = resource.handle().duplicate(Rights::SAME_RIGHTS) {
            handles.push((*kind, copy));
        }
    }
    // Kernel command-line options meant for this program
    // (`<basename>.key=value`) follow its name in its arguments.
    let basename = name.rsplit('/').next().unwrap_or(name);
    let mut args: Vec<&str> = alloc::vec![name];
    args.extend(
        zx_runtime::args()
            .iter()
            .map(|arg| arg.as_str())
            .filter(|arg| {
                arg.strip_prefix(basename)
                    .is_some_and(|rest| rest.starts_with('.'))
            }),
    );
    let program = Program {
        name,
        elf: file.data,
        args: &args,
        handles,
        names: &[],
    };
    let launched = match launch(&child_job, program) {
        Ok(launched) => launched,
        Err(error) => {
            println!("userboot: cannot start {}: {}", name, error);
            return -1;
        }
    };
    let _ = launched
        .process
        .wait_one(Signals::TASK_TERMINATED, zx::TIME_INFINITE);
    let code = launched
        .process
        .state()
        .map(|state| state.return_code)
        .unwrap_or(-1);
    println!("userboot: {} ended with {}", name, code);
    // Whatever the program left running in its job ends with it.
    let _ = zx::task_kill(&child_job);
    code
}
