//! The scheduler: preemptive, priority-based round robin on one CPU.
//!
//! Runnable threads wait in one FIFO queue per priority; the highest
//! non-empty queue runs next. A running thread gets a time slice of
//! [`SLICE_TICKS`] timer ticks; when it ends and a thread of equal or higher
//! priority is runnable, the running one goes to the back of its queue.
//! When nothing is runnable the CPU runs the idle frame (`sti; hlt`).
//!
//! Mechanism: each thread has a frame slot. A syscall's `TrapFrame` is
//! built in the running thread's slot; any other trap's frame (on a stack)
//! is copied into it when the thread stops running. To switch, the
//! scheduler tells the trap's exit path to return into the next thread's
//! slot (`percpu::set_resume_frame`); the thread it leaves is kept until
//! the trap ends (`drop_retired`). A thread woken from a blocking syscall
//! has that syscall completed (`syscalls::complete_wait`) right before it
//! resumes, in its own address space.
//!
//! Deadlines (timeouts of waits, `nanosleep`) sit in an ordered map checked
//! on every timer tick, so their resolution is the tick (10 ms). A thread
//! that blocks with a deadline first puts it in a small unordered list
//! (room for one per thread is kept, so this never allocates); the tick
//! moves what is still there into the map. A wait that ends before the
//! next tick (a `channel_call` answered at once, the common case) removes
//! its entry from the end of that list and never touches the map.
//!
//! The running thread is also recorded in the per-CPU block
//! (`percpu::current_thread`), so finding it takes no lock.

use crate::arch::x86_64::trap::TrapFrame;
use crate::object::fastpath::{Bounced, Payload};
use crate::object::process::Process;
use crate::object::thread::{Thread, ThreadState, Wait, WaitKind, WakeReason};
use crate::object::timer::Timer;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;
use zx_abi::{Time, TIME_INFINITE};

/// Number of priority levels.
pub const PRIORITY_LEVELS: usize = 32;
// The ready mask has a bit per level.
const _: () = assert!(PRIORITY_LEVELS <= 32);
/// Timer ticks a thread runs before others of its priority get a turn.
pub const SLICE_TICKS: u32 = 1;

/// What happens when a deadline passes.
enum DeadlineTarget {
    /// A blocked thread's wait times out.
    Thread(Weak<Thread>),
    /// A timer fires.
    Timer(Weak<Timer>),
}

/// A removed deadline, dropped once the scheduler lock is released.
#[allow(dead_code)] // held only to be dropped
enum Disarmed {
    Armed((Time, u64, Weak<Thread>)),
    Map(DeadlineTarget),
}

struct Scheduler {
    current: Option<Arc<Thread>>,
    queues: [VecDeque<Arc<Thread>>; PRIORITY_LEVELS],
    /// Bit `level` is set while `queues[level]` is not empty.
    ready: u32,
    deadlines: BTreeMap<(Time, u64), DeadlineTarget>,
    /// Deadlines of blocked threads not yet moved into `deadlines` (by the
    /// next tick): (deadline, token, thread).
    armed: alloc::vec::Vec<(Time, u64, Weak<Thread>)>,
    slice_left: u32,
    /// Threads that exist: every run queue keeps room for all of them, so
    /// making a thread runnable (on any wake, in any teardown) never
    /// allocates.
    threads: usize,
}

/// A copy of `Scheduler::ready`, written under the lock, for the
/// fastpath's check ([`deliver_direct`]) without it.
static READY: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

static SCHED: Mutex<Scheduler> = Mutex::new(Scheduler {
    current: None,
    queues: [const { VecDeque::new() }; PRIORITY_LEVELS],
    ready: 0,
    deadlines: BTreeMap::new(),
    armed: alloc::vec::Vec::new(),
    slice_left: SLICE_TICKS,
    threads: 0,
});

/// Makes room in the run queues for one more thread (before it is made);
/// `NO_MEMORY` if there is none.
pub fn reserve_thread() -> Result<(), zx_abi::Status> {
    let mut sched = SCHED.lock();
    let needed = sched.threads + 1;
    for queue in sched.queues.iter_mut() {
        let additional = needed.saturating_sub(queue.len());
        queue
            .try_reserve(additional)
            .map_err(|_| zx_abi::Status::NO_MEMORY)?;
    }
    let additional = needed.saturating_sub(sched.armed.len());
    sched
        .armed
        .try_reserve(additional)
        .map_err(|_| zx_abi::Status::NO_MEMORY)?;
    sched.threads = needed;
    Ok(())
}

/// Gives back what [`reserve_thread`] counted (a thread was dropped).
pub fn release_thread() {
    let mut sched = SCHED.lock();
    sched.threads = sched.threads.saturating_sub(1);
}

impl Scheduler {
    /// Replaces the running thread, keeping the per-CPU record in step.
    fn set_current(&mut self, thread: Option<Arc<Thread>>) -> Option<Arc<Thread>> {
        let pointer = thread.as_ref().map_or(core::ptr::null(), Arc::as_ptr);
        crate::arch::x86_64::percpu::set_current_thread(pointer);
        core::mem::replace(&mut self.current, thread)
    }

    /// Arms a blocked thread's deadline.
    fn arm(&mut self, deadline: Time, token: u64, thread: &Arc<Thread>) {
        let target = Arc::downgrade(thread);
        if self.armed.len() < self.armed.capacity() {
            self.armed.push((deadline, token, target));
        } else {
            // Cannot happen (room is kept for every thread); keep it
            // correct all the same.
            self.deadlines
                .insert((deadline, token), DeadlineTarget::Thread(target));
        }
    }

    /// Removes the deadline of wait `token` (it ended first); returns
    /// what it held, for the caller to drop outside the lock.
    fn disarm(&mut self, deadline: Time, token: u64) -> Option<Disarmed> {
        if deadline == TIME_INFINITE {
            return None;
        }
        // Most often the newest entry of the list.
        match self.armed.iter().rposition(|entry| entry.1 == token) {
            Some(index) => Some(Disarmed::Armed(self.armed.swap_remove(index))),
            None => self.deadlines.remove(&(deadline, token)).map(Disarmed::Map),
        }
    }

    fn enqueue(&mut self, thread: Arc<Thread>, priority: u8) {
        let level = (priority as usize).min(PRIORITY_LEVELS - 1);
        // Within the room `reserve_thread` kept: a thread is queued at
        // most once.
        self.queues[level].push_back(thread);
        self.ready |= 1 << level;
        READY.store(self.ready, Ordering::Relaxed);
    }

    /// The highest level with a runnable thread.
    fn highest_runnable(&self) -> Option<usize> {
        31u32
            .checked_sub(self.ready.leading_zeros())
            .map(|level| level as usize)
    }

    /// Takes the first thread of the highest non-empty level.
    fn dequeue(&mut self) -> Option<Arc<Thread>> {
        let level = self.highest_runnable()?;
        let thread = self.queues[level].pop_front();
        if self.queues[level].is_empty() {
            self.ready &= !(1 << level);
            READY.store(self.ready, Ordering::Relaxed);
        }
        thread
    }
}

/// Runs `f` on the running thread, if any (none while idle), without a
/// lock or a reference-count change.
#[inline]
pub fn with_current<R>(f: impl FnOnce(&Arc<Thread>) -> R) -> Option<R> {
    let pointer = crate::arch::x86_64::percpu::current_thread();
    if pointer.is_null() {
        return None;
    }
    // SAFETY: a non-null record is `Arc::as_ptr` of the reference held in
    // `SCHED.current` (`set_current` keeps the two in step); once the
    // scheduler lets go of it, it retires the thread until the trap ends,
    // so the count stays above zero while `f` runs. `ManuallyDrop` keeps
    // the borrowed reference from being released.
    let thread = core::mem::ManuallyDrop::new(unsafe { Arc::from_raw(pointer) });
    Some(f(&thread))
}

/// The running thread, if any (none while idle).
#[inline]
pub fn current() -> Option<Arc<Thread>> {
    with_current(Arc::clone)
}

/// The running thread's process. Only called from syscalls and user
/// faults, which always have one.
#[inline]
pub fn current_process() -> Arc<Process> {
    with_current(|thread| Arc::clone(&thread.process))
        .expect("a syscall always has a current thread")
}

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// A fresh wait token.
#[inline]
pub fn new_token() -> u64 {
    NEXT_TOKEN.fetch_add(1, Ordering::Relaxed) + 1
}

/// Makes a new or woken thread runnable.
pub fn make_runnable(thread: &Arc<Thread>) {
    let priority = {
        let mut inner = thread.inner.lock();
        if inner.state == ThreadState::Dead {
            return;
        }
        inner.state = ThreadState::Runnable;
        inner.priority
    };
    SCHED.lock().enqueue(Arc::clone(thread), priority);
}

/// Wakes `thread` from wait `token`; false (and nothing done) if it no
/// longer waits there.
pub fn wake(thread: &Arc<Thread>, token: u64, reason: WakeReason) -> bool {
    {
        let mut inner = thread.inner.lock();
        let waiting = inner.state == ThreadState::Blocked
            && inner.wake.is_none()
            && inner.wait.as_ref().is_some_and(|w| w.token == token);
        if !waiting {
            return false;
        }
        inner.wake = Some(reason);
    }
    make_runnable(thread);
    true
}

/// Hands `message` to `thread`, blocked in `channel_call` with `token`,
/// and wakes it; gives the message back if the thread no longer waits
/// there.
///
/// With `run` false the thread is not made runnable: the caller switches
/// to it ([`block_current_and_switch`]) or calls [`make_runnable`].
pub fn deliver_reply(
    thread: &Arc<Thread>,
    token: u64,
    message: crate::object::channel::Message,
    run: bool,
) -> Result<(), crate::object::channel::Message> {
    deliver(thread, token, message, Payload::Queued, run, false)
}

/// Hands `message` to `thread`, blocked in `channel_recv` with `token`
/// (see [`deliver_reply`] for `run`); gives the message back if the thread
/// no longer waits there.
pub fn deliver_request(
    thread: &Arc<Thread>,
    token: u64,
    message: crate::object::channel::Message,
    run: bool,
) -> Result<(), crate::object::channel::Message> {
    deliver(thread, token, message, Payload::Queued, run, true)
}

/// Hands `payload` to `thread`, blocked in `channel_recv` (`request`) or
/// `channel_call` with `token`, as `wrap(payload)`; gives it back if the
/// thread no longer waits there (see [`deliver_reply`] for `run`).
#[inline]
pub fn deliver<P>(
    thread: &Arc<Thread>,
    token: u64,
    payload: P,
    wrap: impl FnOnce(P) -> Payload,
    run: bool,
    request: bool,
) -> Result<(), P> {
    {
        let mut inner = thread.inner.lock();
        let waiting = inner.state == ThreadState::Blocked && inner.wake.is_none();
        let wait = match inner.wait.as_mut() {
            Some(wait) if waiting && wait.token == token => wait,
            _ => return Err(payload),
        };
        let slot = match (&mut wait.kind, request) {
            (WaitKind::Call { reply, .. }, false) => reply,
            (WaitKind::Recv { request, .. }, true) => request,
            _ => return Err(payload),
        };
        *slot = Some(wrap(payload));
        inner.wake = Some(WakeReason::Signaled {
            index: 0,
            observed: zx_abi::Signals::CHANNEL_READABLE,
        });
    }
    if run {
        make_runnable(thread);
    }
    Ok(())
}

/// Hands `bounced` (bytes in the bounce buffer) to `thread` if it is
/// blocked in the `channel_recv` (`request` true) or `channel_call` with
/// `token`, not yet woken, with room for `len` bytes and no handles, and
/// would run directly if the running thread blocked now
/// ([`block_current_and_switch`]); gives it back if not. The copy-once
/// fastpath (`object/fastpath.rs`); the thread is not made runnable.
pub fn deliver_direct(
    thread: &Thread,
    token: u64,
    len: usize,
    request: bool,
    bounced: Bounced,
) -> Result<(), Bounced> {
    let mut inner = thread.inner.lock();
    if inner.state != ThreadState::Blocked || inner.wake.is_some() {
        return Err(bounced);
    }
    let priority = inner.priority as usize;
    if highest_ready().is_some_and(|level| level > priority) {
        return Err(bounced);
    }
    let Some(wait) = inner.wait.as_mut().filter(|w| w.token == token) else {
        return Err(bounced);
    };
    let slot = match (&mut wait.kind, request) {
        (WaitKind::Call { buffers, reply, .. }, false) if buffers[2] >= len as u64 => reply,
        (
            WaitKind::Recv {
                buffers, request, ..
            },
            true,
        ) if buffers[2] >= len as u64 => request,
        _ => return Err(bounced),
    };
    if slot.is_some() {
        return Err(bounced);
    }
    *slot = Some(Payload::Bounced(bounced));
    inner.wake = Some(WakeReason::Signaled {
        index: 0,
        observed: zx_abi::Signals::CHANNEL_READABLE,
    });
    Ok(())
}

/// The highest level with a runnable thread, without the scheduler lock
/// (its mirror, [`READY`]).
#[inline]
fn highest_ready() -> Option<usize> {
    31u32
        .checked_sub(READY.load(Ordering::Relaxed).leading_zeros())
        .map(|level| level as usize)
}

/// Fires `timer` at `deadline` unless cancelled.
pub fn add_timer_deadline(deadline: Time, token: u64, timer: Weak<Timer>) {
    SCHED
        .lock()
        .deadlines
        .insert((deadline, token), DeadlineTarget::Timer(timer));
}

/// Threads that stopped running during the current trap, dropped at its
/// end (`drop_retired`): the trap's frame may be in such a thread's frame
/// slot, and the last reference to a thread frees it.
static RETIRED: RetiredSlots = RetiredSlots(core::cell::UnsafeCell::new([None, None]));

/// This CPU's retired threads. No lock: only this CPU touches them, with
/// interrupts off, and never from a nested trap (a nested exception
/// neither switches threads nor drops retired ones).
struct RetiredSlots(core::cell::UnsafeCell<[Option<Arc<Thread>>; 2]>);

// SAFETY: one CPU, interrupts off, no nesting (see `RetiredSlots`): no two
// references to the slots ever exist at once.
unsafe impl Sync for RetiredSlots {}

/// Keeps `thread` (the previous current thread) until the trap ends.
fn retire(thread: Option<Arc<Thread>>) {
    let Some(thread) = thread else {
        return;
    };
    // The usual case: the thread is still held elsewhere (blocked in a
    // wait, or in the run queue). One CPU with interrupts off: no other
    // reference can go away before this one, so dropping it now only
    // decrements the count, never runs the thread's teardown.
    if Arc::strong_count(&thread) > 1 {
        drop(thread);
        return;
    }
    // SAFETY: see `RetiredSlots`; the reference ends before anything that
    // could retire again runs.
    let retired = unsafe { &mut *RETIRED.0.get() };
    match retired.iter_mut().find(|slot| slot.is_none()) {
        Some(slot) => {
            *slot = Some(thread);
            // The trap's exit sees deferred work and drops it.
            crate::object::defer(crate::object::DEFER_RETIRED);
        }
        None => {
            // Cannot happen (one switch per trap). Never free a thread
            // whose slot the trap may be using: keep it (a leak, which
            // would be a kernel bug) rather than risk that.
            warn!("more threads retired in one trap than expected; keeping one");
            core::mem::forget(thread);
        }
    }
}

/// Drops the threads retired during this trap (outside every lock: the
/// last reference to a thread can end a process, whose teardown may wake
/// threads). Called once the trap no longer uses its frame.
/// Returns whether it dropped any.
#[inline]
pub fn drop_retired() -> bool {
    // Only this CPU retires and drops, with interrupts off.
    // SAFETY: see `RetiredSlots`; the slots are emptied before the
    // threads are dropped, so a teardown that retires finds them free.
    let retired = core::mem::take(unsafe { &mut *RETIRED.0.get() });
    if retired.iter().all(Option::is_none) {
        return false;
    }
    drop(retired);
    true
}

/// Whether `frame` is `thread`'s own frame slot (where `syscall_entry`
/// builds its frames); compares addresses only.
fn in_slot(frame: &TrapFrame, slot: &alloc::boxed::Box<TrapFrame>) -> bool {
    core::ptr::eq(frame, core::ptr::addr_of!(**slot))
}

/// Puts `wait` into a blocking thread's wait slot, which is empty: the
/// wait of its last block was taken when it resumed (`resume_current`),
/// or it never blocked. Unlike `*slot = Some(wait)`, this calls no drop
/// of the old value (an out-of-line call for a `None`, twice per call
/// round trip). Returns a wait the slot still held, not expected, for
/// the caller to drop once it has let go of the thread's lock (a wait
/// may hold the last reference to an object whose teardown takes locks).
#[inline]
fn put_wait(slot: &mut Option<Wait>, wait: Wait) -> Option<Wait> {
    if slot.is_some() {
        return put_wait_over_stale(slot, wait);
    }
    // The slot is `None`: there is nothing to drop, so forgetting the old
    // value loses nothing.
    core::mem::forget(slot.replace(wait));
    None
}

/// [`put_wait`] when the slot was not empty.
#[cold]
#[inline(never)]
fn put_wait_over_stale(slot: &mut Option<Wait>, wait: Wait) -> Option<Wait> {
    warn!("a blocking thread still held a wait; dropping it");
    slot.replace(wait)
}

/// Blocks the running thread in `wait` and switches away. The thread's
/// frame (with the syscall's arguments) is saved for `complete_wait`.
pub fn block_current(frame: &mut TrapFrame, wait: Wait) {
    {
        let mut sched = SCHED.lock();
        let thread = sched
            .set_current(None)
            .expect("blocking without a current thread");
        if wait.deadline != TIME_INFINITE {
            sched.arm(wait.deadline, wait.token, &thread);
        }
        drop(sched);
        let mut inner = thread.inner.lock();
        // A syscall's frame is built in the thread's slot: already saved.
        if !in_slot(frame, &inner.frame) {
            *inner.frame = frame.clone();
        }
        inner.state = ThreadState::Blocked;
        let stale = put_wait(&mut inner.wait, wait);
        inner.wake = None;
        drop(inner);
        if let Some(stale) = stale {
            drop(stale);
        }
        retire(Some(thread));
    }
    schedule();
}

/// Blocks the running thread in `wait` and runs `next` (woken, not yet
/// runnable: see [`deliver_reply`]) in its place: directly, without the
/// run queue, when `next`'s priority is at least that of every runnable
/// thread, and then `next` runs on the rest of the blocked thread's time
/// slice (donation: a call and its reply share one slice, so a busy
/// thread of the same priority still gets its turn). Otherwise `next` is
/// queued and the scheduler picks.
///
/// One scheduler-lock round trip: arming the blocked thread's deadline,
/// the priority check, disarming `next`'s deadline and the change of the
/// running thread happen under the same lock.
pub fn block_current_and_switch(frame: &mut TrapFrame, wait: Wait, next: Arc<Thread>) {
    // `next` is still blocked (its wake recorded) unless it died in
    // between: then there is nothing to run.
    let next_wait = {
        let mut inner = next.inner.lock();
        (inner.state == ThreadState::Blocked).then(|| {
            let wait = inner.wait.as_ref().map(|w| (w.deadline, w.token));
            // Its frame slot (boxed: it stays put).
            let saved: *mut TrapFrame = &mut *inner.frame;
            (inner.priority as usize, wait, saved)
        })
    };
    let mut sched = SCHED.lock();
    let blocked = sched
        .set_current(None)
        .expect("blocking without a current thread");
    if wait.deadline != TIME_INFINITE {
        sched.arm(wait.deadline, wait.token, &blocked);
    }
    let highest = sched.highest_runnable();
    let direct =
        next_wait.filter(|(priority, _, _)| highest.is_none_or(|level| level <= *priority));
    // Either `next` becomes the running thread (its frame slot to return
    // into), or it is given back to be queued.
    let (disarmed, switch) = match direct {
        Some((_, next_deadline, saved)) => {
            let disarmed =
                next_deadline.and_then(|(deadline, token)| sched.disarm(deadline, token));
            sched.set_current(Some(next));
            (disarmed, Ok(saved))
        }
        None => (None, Err(next)),
    };
    drop(sched);
    drop(disarmed);
    let stale = {
        let mut inner = blocked.inner.lock();
        if !in_slot(frame, &inner.frame) {
            *inner.frame = frame.clone();
        }
        inner.state = ThreadState::Blocked;
        let stale = put_wait(&mut inner.wait, wait);
        inner.wake = None;
        stale
    };
    if let Some(stale) = stale {
        drop(stale);
    }
    match switch {
        Ok(saved) => {
            retire(Some(blocked));
            resume_current(saved);
        }
        Err(next) => {
            if next_wait.is_some() {
                // Bytes in the bounce buffer would not survive this trap.
                crate::object::fastpath::settle(&next, Some(&blocked.process.job.account));
                make_runnable(&next);
            }
            retire(Some(blocked));
            drop(next);
            schedule();
        }
    }
}

/// Makes `thread` (blocked, with its wake recorded) the running thread:
/// finishes its syscall and returns into its frame. `fresh_slice` gives
/// it a new time slice; otherwise it runs on what is left of the current
/// one.
fn run_now(thread: Arc<Thread>, fresh_slice: bool) {
    let (deadline, saved) = {
        let mut inner = thread.inner.lock();
        let saved: *mut TrapFrame = &mut *inner.frame;
        (inner.wait.as_ref().map(|w| (w.deadline, w.token)), saved)
    };
    let (old, disarmed) = {
        let mut sched = SCHED.lock();
        if fresh_slice {
            sched.slice_left = SLICE_TICKS;
        }
        let disarmed = deadline.and_then(|(deadline, token)| sched.disarm(deadline, token));
        (sched.set_current(Some(thread)), disarmed)
    };
    drop(disarmed);
    retire(old);
    resume_current(saved);
}

/// Finishes the switch to the thread just made current (its deadline
/// already disarmed): marks it running, activates its address space,
/// completes the syscall it was blocked in, and makes the exit path
/// return into `saved`, its frame slot.
fn resume_current(saved: *mut TrapFrame) {
    use crate::arch::x86_64::percpu;
    let finished = with_current(|thread| {
        // The wait is moved out of the thread once, and completed where it
        // lands (by reference: it is large, each move a copy).
        let mut wait;
        let wake;
        {
            let mut inner = thread.inner.lock();
            inner.state = ThreadState::Running;
            wait = inner.wait.take();
            wake = inner.wake.take();
        }
        thread.process.activate();
        if let Some(wait) = wait.as_mut() {
            let reason = wake.unwrap_or(WakeReason::TimedOut);
            // SAFETY: `saved` is the boxed frame of the thread now current
            // (the scheduler holds it), so it is neither freed nor written
            // by anyone else until that thread stops running; no other
            // reference to it exists while this one lives.
            crate::syscalls::complete_wait(wait, reason, unsafe { &mut *saved });
        }
        // What is left of the wait is dropped here, in place (`drop(wait)`
        // would move it first).
    });
    debug_assert!(finished.is_some());
    percpu::set_resume_frame(saved);
    percpu::set_syscall_frame(Some(saved));
}

/// Forgets a deadline (the wait ended before it).
pub fn cancel_deadline(deadline: Time, token: u64) {
    if deadline == TIME_INFINITE {
        return;
    }
    let entry = SCHED.lock().disarm(deadline, token);
    drop(entry);
}

/// The running thread can no longer run (it exited or its process ended):
/// pick another without saving anything.
pub fn abandon_current() {
    // A process that ends itself is torn down (from the reap list) before
    // the next thread is chosen: whoever waits for its end is runnable by
    // then, and runs at once rather than at the next tick.
    crate::object::run_deferred();
    let old = SCHED.lock().set_current(None);
    retire(old);
    schedule();
}

/// Picks the next runnable thread (or the idle loop) and makes the exit
/// path return into its saved frame (`percpu::set_resume_frame`).
pub fn schedule() {
    use crate::arch::x86_64::percpu;
    loop {
        let next = SCHED.lock().dequeue();
        let Some(thread) = next else {
            let old = SCHED.lock().set_current(None);
            retire(old);
            let slot = percpu::idle_frame_slot();
            // SAFETY: the idle slot is this CPU's alone, and no trap
            // returns into it while it is rewritten (this one returns
            // into it afterwards).
            unsafe { slot.write(crate::arch::x86_64::idle::idle_frame()) };
            percpu::set_resume_frame(slot);
            percpu::set_syscall_frame(None);
            crate::idle_time::enter();
            return;
        };
        if thread.inner.lock().state != ThreadState::Runnable {
            continue; // died while queued
        }
        // An idle period this trap started (an earlier pick) ends.
        crate::idle_time::leave();
        // The exit path returns straight from the saved frame.
        run_now(thread, true);
        return;
    }
}

/// Starts running: loads the first runnable thread and leaves boot code.
pub fn enter() -> ! {
    schedule();
    let frame = match crate::arch::x86_64::percpu::take_resume_frame() {
        // SAFETY: the current thread's saved frame, or the idle frame (see
        // `schedule`); read before anything else can run.
        Some(saved) => unsafe { (*saved).clone() },
        None => crate::arch::x86_64::idle::idle_frame(),
    };
    crate::arch::x86_64::trap::enter_first_frame(frame)
}

/// A user-mode exception: report it in full (on the console, and to the
/// nearest exception channel), kill the process, carry on.
pub fn kill_current_for_fault(frame: &mut TrapFrame, cr2: u64) {
    let thread = current().expect("a user fault always has a current thread");
    let process = Arc::clone(&thread.process);
    let report = crate::arch::x86_64::trap::ExceptionReport { frame, cr2 };
    error!(
        "process {} (koid {}) thread {} (koid {}) faulted: {}",
        process.name,
        process.koid(),
        thread.name,
        thread.koid(),
        report
    );
    if let Some(channel) = process.exception_channel() {
        let record = zx_abi::ExceptionReport {
            process_koid: process.koid().0,
            thread_koid: thread.koid().0,
            vector: frame.vector,
            error_code: frame.error_code,
            address: cr2,
            rip: frame.rip,
        };
        // Reported without risking a panic: a report that cannot be
        // allocated is dropped (the process is killed all the same).
        let record = zerocopy::IntoBytes::as_bytes(&record);
        let mut bytes = alloc::vec::Vec::new();
        let message = bytes
            .try_reserve_exact(record.len())
            .map_err(|_| ())
            .and_then(|()| {
                bytes.extend_from_slice(record);
                crate::object::channel::Message::new(bytes, alloc::vec::Vec::new(), None)
                    .map_err(|_| ())
            });
        if message
            .and_then(|m| channel.write(m).map_err(|_| ()))
            .is_err()
        {
            warn!(
                "exception channel of process {} is closed or full",
                process.koid()
            );
        }
    }
    drop(thread);
    process.end(crate::object::process::Outcome::Killed);
    abandon_current();
}

/// Whether a thread waits to run (the idle loop stops its deferred work).
pub fn runnable() -> bool {
    SCHED.lock().highest_runnable().is_some()
}

/// After a device interrupt: if the CPU was idle and the interrupt woke a
/// thread, run it now rather than at the next tick.
pub fn after_interrupt() {
    let run = {
        let sched = SCHED.lock();
        sched.current.is_none() && sched.highest_runnable().is_some()
    };
    if run {
        schedule();
    }
}

/// A timer tick: wake threads whose deadline passed, and preempt the
/// running thread when its slice is used up and another may run.
pub fn on_timer_tick(frame: &mut TrapFrame) {
    let now = crate::clock::monotonic_nanos() as Time;
    let expired = {
        let mut sched = SCHED.lock();
        let sched = &mut *sched;
        for (deadline, token, thread) in sched.armed.drain(..) {
            sched
                .deadlines
                .insert((deadline, token), DeadlineTarget::Thread(thread));
        }
        let later = sched.deadlines.split_off(&(now + 1, 0));
        core::mem::replace(&mut sched.deadlines, later)
    };
    for ((_, token), target) in expired {
        match target {
            DeadlineTarget::Thread(thread) => {
                if let Some(thread) = thread.upgrade() {
                    wake(&thread, token, WakeReason::TimedOut);
                }
            }
            DeadlineTarget::Timer(timer) => {
                if let Some(timer) = timer.upgrade() {
                    timer.fire(token);
                }
            }
        }
    }
    let switch = {
        let mut sched = SCHED.lock();
        let waiting = sched.highest_runnable();
        match sched.current.clone() {
            None => waiting.is_some(),
            Some(current) => {
                sched.slice_left = sched.slice_left.saturating_sub(1);
                let priority = current.inner.lock().priority as usize;
                if sched.slice_left == 0 && waiting.is_some_and(|level| level >= priority) {
                    sched.set_current(None);
                    drop(sched);
                    {
                        let mut inner = current.inner.lock();
                        if !in_slot(frame, &inner.frame) {
                            *inner.frame = frame.clone();
                        }
                    }
                    make_runnable(&current);
                    retire(Some(current));
                    true
                } else {
                    if sched.slice_left == 0 {
                        sched.slice_left = SLICE_TICKS;
                    }
                    false
                }
            }
        }
    };
    if switch {
        schedule();
    }
}
