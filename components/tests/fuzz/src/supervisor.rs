//! The supervisor: runs the campaign as a series of generations, each a
//! fresh process of this same program in a fresh child job with limits,
//! and tallies how each ended.
//!
//! A generation may end itself (`process_exit`, `task_kill` of its own
//! process or job, a thread started at a bad address, its own code
//! unmapped): that is recorded, and the next one starts. What counts as a
//! failure is what no generation can cause by design: a generation that
//! does not end (its main thread ends it within
//! [`generation::TIME_LIMIT_NS`]), or one that cannot be started any more
//! (the system has been degraded). A kernel panic or hang ends the whole
//! machine, which the host harness sees.

use crate::generation;
use crate::options::Options;
use alloc::string::String;
use alloc::vec::Vec;
use zx::{processargs, AsHandleRef, Job, Rights, Signals, Vmo};
use zx_launch::{launch, Launched, Program};
use zx_runtime::println;

const PROGRAM: &str = "bin/syscall-fuzz";
/// How long after its own time limit a generation counts as hung.
const GRACE_NS: i64 = 10_000_000_000;
/// Consecutive generations that cannot start, or make no call, before
/// the campaign gives up.
const GIVE_UP_AFTER: u32 = 20;

/// Limits of each generation's job: per process 1,024 handles, 64 MiB
/// and 16 threads; 4 processes in the job (the generation and 3 more).
const LIMITS: (u64, u64, u64, u64) = (1024, 64 << 20, 16, 4);

/// How generations ended.
#[derive(Default)]
struct Tally {
    calls: u64,
    /// Calls that returned `OK`.
    succeeded: u64,
    generations: u64,
    /// Ended themselves normally.
    completed: u64,
    /// Killed (`task_kill` of themselves or their job).
    killed: u64,
    /// Killed by the kernel for a fault.
    faulted: u64,
    /// Exited early with another status (a `process_exit` they fuzzed).
    exited: u64,
    /// Did not end in time (killed by the supervisor).
    hung: u64,
    /// Could not be started.
    not_started: u64,
}

impl Tally {
    fn ended_early(&self) -> u64 {
        self.killed + self.faulted + self.exited + self.hung
    }

    fn print(&self) {
        println!(
            "syscall-fuzz: {} calls ({} succeeded), {} generations, {} children killed ({} by task_kill, {} faulted, {} exited early, {} hung), {} not started",
            self.calls,
            self.succeeded,
            self.generations,
            self.ended_early(),
            self.killed,
            self.faulted,
            self.exited,
            self.hung,
            self.not_started
        );
    }
}

/// Runs the campaign; returns the exit code (0 unless a generation hung
/// or generations could not be started).
pub fn run(options: &Options) -> i64 {
    let (Some(job), Some(bootfs)) = (
        zx_runtime::take_startup_handle(processargs::JOB_DEFAULT),
        zx_runtime::take_startup_handle(processargs::BOOTFS_VMO),
    ) else {
        println!("syscall-fuzz: needs a job and the bootfs");
        return 2;
    };
    let job = Job::from_handle(job);
    let bootfs = Vmo::from_handle(bootfs);
    let Ok(mapping) = bootfs
        .size()
        .and_then(|size| zx_runtime::ReadOnlyMapping::new(&bootfs, size))
    else {
        println!("syscall-fuzz: cannot map the bootfs");
        return 2;
    };
    let Some(elf) = bootfs::Bootfs::parse(&mapping)
        .ok()
        .and_then(|fs| fs.find(PROGRAM).map(|file| file.data))
    else {
        println!("syscall-fuzz: {PROGRAM} is not in the bootfs");
        return 2;
    };
    println!(
        "syscall-fuzz: seed {}, {} calls, {} per generation, {} threads each, from generation {}",
        options.seed, options.calls, options.per_generation, options.threads, options.first
    );
    let progress_every = (options.calls / 100).max(10_000);
    let mut next_progress = progress_every;
    let mut tally = Tally::default();
    let mut generation = options.first;
    let mut fruitless = 0;
    while tally.calls < options.calls && fruitless < GIVE_UP_AFTER {
        let quota = options.per_generation.min(options.calls - tally.calls);
        let ending = run_generation(&job, elf, options, generation, quota);
        tally.generations += 1;
        tally.calls += ending.calls;
        tally.succeeded += ending.succeeded;
        match ending.how {
            How::Completed => tally.completed += 1,
            How::Killed => tally.killed += 1,
            How::Faulted => tally.faulted += 1,
            How::Exited(_) => tally.exited += 1,
            How::Hung => tally.hung += 1,
            How::NotStarted(_) => tally.not_started += 1,
        }
        if !matches!(ending.how, How::Completed) {
            println!(
                "syscall-fuzz: generation {generation} {} after {} counted calls",
                ending.how.describe(),
                ending.calls
            );
        }
        fruitless = if ending.calls == 0 { fruitless + 1 } else { 0 };
        if tally.calls >= next_progress {
            tally.print();
            next_progress = tally.calls + progress_every;
        }
        generation += 1;
    }
    tally.print();
    if fruitless >= GIVE_UP_AFTER {
        println!("syscall-fuzz: {GIVE_UP_AFTER} generations in a row made no call; giving up");
        return 1;
    }
    if let Err(why) = still_works(&job, elf, options) {
        println!("syscall-fuzz: after the campaign the system is degraded: {why}");
        return 1;
    }
    println!(
        "syscall-fuzz: {} calls in {} generations, seed {}, done",
        tally.calls, tally.generations, options.seed
    );
    if tally.hung > 0 || tally.not_started > 0 {
        1
    } else {
        0
    }
}

/// Checks that what the generations did left nothing permanently broken:
/// a fresh process still starts and ends normally, and a 64 KiB message
/// still goes through a fresh channel.
fn still_works(job: &Job, elf: &[u8], options: &Options) -> Result<(), String> {
    let ending = run_generation(job, elf, options, u64::MAX, 0);
    if !matches!(ending.how, How::Completed) {
        return Err(alloc::format!(
            "a generation of no calls {}",
            ending.how.describe()
        ));
    }
    let (a, b) = zx::Channel::create().map_err(|s| alloc::format!("channel_create: {s}"))?;
    let bytes = alloc::vec![0x5a_u8; zx::CHANNEL_MAX_MSG_BYTES];
    a.write(&bytes, Vec::new())
        .map_err(|s| alloc::format!("channel_write: {s}"))?;
    let mut message = zx::MessageBuf::default();
    b.read(&mut message)
        .map_err(|s| alloc::format!("channel_read: {s}"))?;
    if message.bytes != bytes {
        return Err("a message came back different".into());
    }
    Ok(())
}

enum How {
    Completed,
    Killed,
    Faulted,
    Exited(i64),
    Hung,
    NotStarted(String),
}

impl How {
    fn describe(&self) -> String {
        match self {
            How::Completed => "completed".into(),
            How::Killed => "was killed".into(),
            How::Faulted => "faulted".into(),
            How::Exited(code) => alloc::format!("exited with {code}"),
            How::Hung => "did not end in time (killed; a kernel hang?)".into(),
            How::NotStarted(why) => alloc::format!("could not start: {why}"),
        }
    }
}

struct Ending {
    how: How,
    calls: u64,
    succeeded: u64,
}

/// A generation's job, its counter VMO, and the start-up handles that
/// give the generation both.
struct Prepared {
    job: Job,
    counter: Vmo,
    handles: Vec<(u32, zx::Handle)>,
}

impl Prepared {
    fn new(parent: &Job) -> Result<Prepared, zx::Status> {
        let job = parent.create_child()?;
        let (handles, memory, threads, processes) = LIMITS;
        job.set_limits(handles, memory, threads, processes)?;
        let counter = Vmo::create(4096, 0)?;
        let handles = Vec::from([
            (
                processargs::USER_BASE,
                counter.handle().duplicate(Rights::SAME_RIGHTS)?,
            ),
            (
                processargs::JOB_DEFAULT,
                job.handle().duplicate(Rights::SAME_RIGHTS)?,
            ),
        ]);
        Ok(Prepared {
            job,
            counter,
            handles,
        })
    }
}

fn run_generation(job: &Job, elf: &[u8], options: &Options, generation: u64, quota: u64) -> Ending {
    let not_started = |why: String| Ending {
        how: How::NotStarted(why),
        calls: 0,
        succeeded: 0,
    };
    let Prepared {
        job: child,
        counter,
        handles,
    } = match Prepared::new(job) {
        Ok(prepared) => prepared,
        Err(status) => return not_started(alloc::format!("{status}")),
    };
    let args = options.generation_args(generation, quota);
    let mut argv: Vec<&str> = Vec::from([PROGRAM]);
    argv.extend(args.iter().map(String::as_str));
    let launched: Launched = match launch(
        &child,
        Program {
            name: PROGRAM,
            elf,
            args: &argv,
            handles,
            names: &[],
        },
    ) {
        Ok(launched) => launched,
        Err(error) => return not_started(alloc::format!("{error}")),
    };
    let deadline = zx::deadline_after(generation::TIME_LIMIT_NS + GRACE_NS);
    let ended = launched
        .process
        .wait_one(Signals::TASK_TERMINATED, deadline)
        .is_ok();
    // Whatever the generation left running (processes it started) ends
    // with its job.
    let _ = zx::task_kill(&child);
    let mut counts = [0u8; 16];
    let _ = counter.read(&mut counts, 0);
    let count = |at: usize| u64::from_le_bytes(counts[at..at + 8].try_into().unwrap_or_default());
    let calls = count(0).min(quota);
    let how = if !ended {
        How::Hung
    } else {
        match launched.process.state().map(|state| state.return_code) {
            Ok(0) => How::Completed,
            Ok(zx::RETCODE_SYSCALL_KILL) => How::Killed,
            Ok(zx::RETCODE_EXCEPTION_KILL) => How::Faulted,
            Ok(code) => How::Exited(code),
            Err(status) => How::NotStarted(alloc::format!("no state: {status}")),
        }
    };
    Ending {
        how,
        calls,
        succeeded: count(8).min(calls),
    }
}
