//! One generation: a fresh process that fuzzes itself.
//!
//! The main thread builds the arena, fills the pool with handles to one or
//! more objects of every type (channels, events, event pairs, ports,
//! timers, VMOs, VMARs, threads, processes, jobs — its own process, root
//! VMAR and job among them), starts the worker threads, and then only
//! watches: every tick it publishes the number of calls made (in the
//! counter VMO the supervisor reads, so the count survives a killed
//! generation) and ends the process once the generation's calls are made,
//! or when no worker has made progress for a while (all blocked or gone),
//! or at the time limit. The workers share one budget of calls, so a
//! worker blocked for good does not stop the others.

use crate::arena::{Arena, MAX_THREADS};
use crate::calls;
use crate::pool::{Kind, POOL};
use crate::rng::Rng;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use zx::{
    processargs, Channel, Event, EventPair, Handle, Job, Port, Process, Rights, Status, Timer,
    Vmar, Vmo,
};
use zx_runtime::println;

/// What a generation is asked to do.
pub struct Settings {
    /// The campaign's seed.
    pub seed: u64,
    /// This generation's number.
    pub generation: u64,
    /// Calls to make.
    pub calls: u64,
    /// Worker threads (1 to `MAX_THREADS`).
    pub threads: usize,
    /// Print every call before and after it is made.
    pub trace: bool,
}

/// How long a generation may run before its main thread ends it.
pub const TIME_LIMIT_NS: i64 = 5_000_000_000;
/// How long without a single finished call means every worker is stuck.
const STALL_NS: i64 = 300_000_000;
const TICK_NS: i64 = 10_000_000;

static SEED: AtomicU64 = AtomicU64::new(0);
static GENERATION: AtomicU64 = AtomicU64::new(0);
static QUOTA: AtomicU64 = AtomicU64::new(0);
static TRACE: AtomicBool = AtomicBool::new(false);
/// Calls claimed by workers (may pass the quota by one per worker).
static CLAIMED: AtomicU64 = AtomicU64::new(0);
/// Calls that returned.
static DONE: AtomicU64 = AtomicU64::new(0);
/// Calls that returned `OK`.
static SUCCEEDED: AtomicU64 = AtomicU64::new(0);
/// Workers that ran out of calls and ended.
static FINISHED: AtomicU64 = AtomicU64::new(0);

const STACK_SIZE: usize = 64 * 1024;

#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);

/// The workers' stacks: statics, so that no pointer the fuzzer gives the
/// kernel covers them.
static mut STACKS: [Stack; MAX_THREADS] = [const { Stack([0; STACK_SIZE]) }; MAX_THREADS];

/// Top of worker `index`'s stack, as its entry's `rsp` (8 below a 16-byte
/// boundary, as if it had been called).
fn stack_top(index: usize) -> usize {
    // SAFETY: only the address is taken; each stack is used by one worker.
    let base = unsafe { core::ptr::addr_of!(STACKS[index]) } as usize;
    base + STACK_SIZE - 8
}

/// Runs the generation; returns the process's exit code (0 when it ended
/// itself normally).
pub fn run(settings: &Settings) -> i64 {
    let (Some(counter), Some(job)) = (
        zx_runtime::take_startup_handle(processargs::USER_BASE),
        zx_runtime::take_startup_handle(processargs::JOB_DEFAULT),
    ) else {
        println!("syscall-fuzz: a generation needs its counter VMO and its job");
        return 2;
    };
    let counter = Vmo::from_handle(counter);
    SEED.store(settings.seed, Ordering::Relaxed);
    GENERATION.store(settings.generation, Ordering::Relaxed);
    QUOTA.store(settings.calls, Ordering::Relaxed);
    TRACE.store(settings.trace, Ordering::Relaxed);
    let mut rng = Rng::derive(settings.seed, settings.generation, MAX_THREADS as u64);
    if let Err(status) = stock_pool(&mut rng, Job::from_handle(job)) {
        println!(
            "syscall-fuzz: cannot set up generation {}: {status}",
            settings.generation
        );
        return 3;
    }
    let process = own_process();
    let threads = settings.threads.clamp(1, MAX_THREADS);
    let mut started = 0;
    for index in 0..threads {
        let Ok(thread) = process.create_thread("fuzz-worker") else {
            continue;
        };
        if let Ok(copy) = thread.handle().duplicate(Rights::SAME_RIGHTS) {
            pool(&mut rng, copy, Kind::Thread);
        }
        if thread
            .start(
                worker as *const () as usize,
                stack_top(index),
                index as u64,
                0,
            )
            .is_ok()
        {
            started += 1;
        }
        // Dropping `thread` closes this handle only: the worker runs on.
    }
    watch(&counter, settings.calls, started);
    0
}

/// Waits for the workers, publishing the count; returns when the
/// generation should end.
fn watch(counter: &Vmo, quota: u64, workers: u64) {
    let start = zx::clock_get_monotonic().into_nanos();
    let (mut last_done, mut last_progress) = (0, start);
    loop {
        let _ = zx::nanosleep(zx::deadline_after(TICK_NS));
        let now = zx::clock_get_monotonic().into_nanos();
        let done = DONE.load(Ordering::Relaxed);
        publish(counter, done);
        if done >= quota || FINISHED.load(Ordering::Relaxed) >= workers {
            return;
        }
        if done != last_done {
            (last_done, last_progress) = (done, now);
        } else if now - last_progress > STALL_NS || now - start > TIME_LIMIT_NS {
            return;
        }
    }
}

/// The generation's own process, borrowed from the runtime.
fn own_process() -> core::mem::ManuallyDrop<Process> {
    core::mem::ManuallyDrop::new(Process::from_handle(Handle::from_raw(
        zx_runtime::process_self().0,
    )))
}

/// Writes the counts where the supervisor reads them: calls made, then
/// calls that succeeded (two little-endian `u64`s).
fn publish(counter: &Vmo, done: u64) {
    let mut record = [0u8; 16];
    record[..8].copy_from_slice(&done.to_le_bytes());
    record[8..].copy_from_slice(&SUCCEEDED.load(Ordering::Relaxed).to_le_bytes());
    let _ = counter.write(&record, 0);
}

fn pool(rng: &mut Rng, handle: Handle, kind: Kind) {
    // The pool owns the handle from now on (it may close it, or a worker
    // may); a displaced handle stays open (leaked into the generation).
    let _ = POOL.insert(rng, handle.into_raw(), kind);
}

/// Fills the pool with the generation's own process, root VMAR and job,
/// its arena, and fresh objects of every type. Those of kinds the calls
/// cannot easily make again are kept in the pool's reserve.
fn stock_pool(rng: &mut Rng, job: Job) -> Result<(), Status> {
    // The runtime owns these two: borrow them without closing them.
    let process = own_process();
    let vmar_self = zx_runtime::vmar_root_self();
    let root_vmar = core::mem::ManuallyDrop::new(Vmar::from_handle(Handle::from_raw(vmar_self.0)));
    let copy = |handle: &Handle| handle.duplicate(Rights::SAME_RIGHTS);
    POOL.reserve(rng, copy(process.handle())?, Kind::Process);
    POOL.reserve(rng, copy(root_vmar.handle())?, Kind::Vmar);
    let arena = Arena::build(&root_vmar)?;
    POOL.reserve(rng, arena.vmar.into_handle(), Kind::Vmar);
    POOL.reserve(rng, arena.read_only.into_handle(), Kind::Vmo);
    let scratch = core::mem::ManuallyDrop::new(Handle::from_raw(Arena::get().scratch_vmo));
    pool(rng, copy(&scratch)?, Kind::Vmo);
    for _ in 0..2 {
        let (a, b) = Channel::create()?;
        pool(rng, a.into_handle(), Kind::Channel);
        pool(rng, b.into_handle(), Kind::Channel);
        let (a, b) = EventPair::create()?;
        pool(rng, a.into_handle(), Kind::EventPair);
        pool(rng, b.into_handle(), Kind::EventPair);
        pool(rng, Event::create()?.into_handle(), Kind::Event);
        pool(rng, Vmo::create(64 * 1024, 0)?.into_handle(), Kind::Vmo);
        pool(
            rng,
            Vmo::create(4096, zx::VMO_RESIZABLE)?.into_handle(),
            Kind::Vmo,
        );
    }
    // A big VMO (committed only as it is written) to fill memory with.
    POOL.reserve(
        rng,
        Vmo::create(calls::BIG_VMO, 0)?.into_handle(),
        Kind::Vmo,
    );
    POOL.reserve(rng, Port::create()?.into_handle(), Kind::Port);
    POOL.reserve(rng, Timer::create()?.into_handle(), Kind::Timer);
    let (victim, victim_vmar) = job.create_process("fuzz-victim")?;
    POOL.reserve(
        rng,
        victim.create_thread("victim")?.into_handle(),
        Kind::Thread,
    );
    POOL.reserve(rng, victim.into_handle(), Kind::Process);
    POOL.reserve(rng, victim_vmar.into_handle(), Kind::Vmar);
    POOL.reserve(
        rng,
        process.create_thread("fuzz-spare")?.into_handle(),
        Kind::Thread,
    );
    POOL.reserve(rng, job.create_child()?.into_handle(), Kind::Job);
    POOL.reserve(rng, job.into_handle(), Kind::Job);
    Ok(())
}

/// A worker: makes calls until the generation's budget is spent.
extern "C" fn worker(index: u64, _unused: u64) -> ! {
    let thread = index as usize;
    let arena = Arena::get();
    let generation = GENERATION.load(Ordering::Relaxed);
    let mut rng = Rng::derive(SEED.load(Ordering::Relaxed), generation, index);
    let quota = QUOTA.load(Ordering::Relaxed);
    let trace = TRACE.load(Ordering::Relaxed);
    // Now and then a burst: the same syscall many times in a row, to run
    // into limits (queue lengths, handle tables, memory) and exhaustion
    // paths that scattered calls rarely reach.
    let mut burst: Option<(u64, u32)> = None;
    loop {
        let sequence = CLAIMED.fetch_add(1, Ordering::Relaxed);
        if sequence >= quota {
            break;
        }
        burst = match burst {
            Some((number, left)) if left > 0 => Some((number, left - 1)),
            _ if rng.below(1000) < 3 => {
                let number = calls::plan(&mut rng, &arena, thread, None).number;
                Some((number, 20 + rng.below(2000) as u32))
            }
            _ => None,
        };
        let call = calls::plan(&mut rng, &arena, thread, burst.map(|(number, _)| number));
        if trace {
            let a = &call.args;
            println!(
                "syscall-fuzz: g{generation} t{thread} #{sequence}: {} {:#x} ({:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x})",
                zx::numbers::name(call.number),
                call.number,
                a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]
            );
        }
        // SAFETY: the pointers among the arguments name the arena (the
        // scratch area is the only memory the fuzzer lets the kernel
        // write, and no Rust reference covers it), memory the process
        // does not have, or random addresses; handles name the pool's
        // objects, which no Rust owner holds. The worst the call can do
        // to this process is end it (or unmap its memory, which ends it
        // with a fault): both are outcomes the supervisor records.
        let result = unsafe { zx::syscall_raw(call.number, call.args) };
        if trace {
            println!(
                "syscall-fuzz: g{generation} t{thread} #{sequence}: -> {} ({:#x})",
                Status::from_raw(result).name(),
                result
            );
        }
        calls::harvest(&mut rng, &arena, &call, result);
        if result == 0 {
            SUCCEEDED.fetch_add(1, Ordering::Relaxed);
        }
        DONE.fetch_add(1, Ordering::Relaxed);
    }
    FINISHED.fetch_add(1, Ordering::Relaxed);
    zx::thread_exit()
}
