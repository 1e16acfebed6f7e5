//! Kernel objects and handles.
//!
//! Every object kind lives in its own file and embeds an [`ObjectBase`]:
//! its koid, its signal state with the observers waiting on it, and its
//! handle count. Two-ended kinds (channel, event pair) share the peered
//! helpers in `peered.rs`.
//!
//! A [`Handle`] is an `Arc` to the object plus [`Rights`]. Handles count
//! themselves: creating one increments the object's handle count and
//! dropping one decrements it; when the count reaches zero the object's
//! [`KernelObject::on_zero_handles`] runs (a channel endpoint tells its peer
//! it is closed). A handle inside a channel message is still a handle, so an
//! endpoint in transit is not closed — the property hot-swap relies on.
//!
//! Teardown is iterative. `on_zero_handles` often drops more handles (a
//! channel's queued messages, a process's handle table), whose objects may
//! drop more, to a depth user space chooses. So a handle whose count
//! reaches zero does not run `on_zero_handles` itself: it pushes its object
//! on the *closing list*, a stack linked through the objects themselves
//! (no allocation, so it cannot fail), and the kernel runs the list until
//! it is empty before it returns to user mode ([`run_closers`]).
//!
//! Locking: the kernel runs with interrupts off on one CPU, so locks never
//! contend; they exist for soundness. Order: an object's state, then the
//! scheduler, then a thread's state. Handles and messages are dropped only
//! after the locks that guarded them are released.

pub mod account;
pub mod channel;
pub mod escrow;
pub mod event;
pub mod eventpair;
pub mod fastpath;
pub mod futex;
pub mod inflight;
pub mod interrupt;
pub mod job;
pub mod peered;
pub mod port;
pub mod process;
pub mod reaper;
pub mod resource;
pub mod room;
pub mod socket;
pub mod thread;
pub mod timer;
pub mod vmar;
pub mod vmo;

use crate::koid::Koid;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use spin::Mutex;
use thread::Thread;
use zx_abi::{ObjectType, Rights, Signals};

/// What every kernel object provides.
pub trait KernelObject: Any + Send + Sync {
    /// The shared part: koid, signals, handle count.
    fn base(&self) -> &ObjectBase;

    /// The object's type.
    fn object_type(&self) -> ObjectType;

    /// Signals `object_signal` may change besides the user signals.
    fn signalable(&self) -> Signals {
        Signals::USER_ALL
    }

    /// The other end of a two-ended object.
    fn peer(&self) -> Option<Arc<dyn KernelObject>> {
        None
    }

    /// Runs when the last handle to the object is dropped.
    fn on_zero_handles(&self) {}

    /// For downcasting a shared object to its concrete type.
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

/// Implements `into_any` for a concrete object type.
macro_rules! impl_into_any {
    () => {
        fn into_any(
            self: alloc::sync::Arc<Self>,
        ) -> alloc::sync::Arc<dyn core::any::Any + Send + Sync> {
            self
        }
    };
}
pub(crate) use impl_into_any;

/// Who is told when an object's signals change.
pub enum ObserverTarget {
    /// A thread blocked in `object_wait_one` / `object_wait_many`.
    Thread {
        /// The waiting thread.
        thread: Weak<Thread>,
        /// The wait it belongs to (stale wakes carry an old token and are
        /// ignored).
        token: u64,
        /// Which item of a multi-object wait this is.
        index: usize,
    },
    /// An `object_wait_async` registration: queue a packet on the port.
    Port {
        /// The room kept for the packet in the port (a closed port drops
        /// the registration).
        slot: port::PacketSlot,
        /// The key of the packet.
        key: u64,
    },
}

/// A one-shot interest in an object's signals.
pub struct Observer {
    /// Who to tell.
    pub target: ObserverTarget,
    /// Signals that satisfy it.
    pub trigger: Signals,
}

impl Observer {
    fn alive(&self) -> bool {
        match &self.target {
            ObserverTarget::Thread { thread, .. } => thread.strong_count() > 0,
            ObserverTarget::Port { slot, .. } => slot.port_alive(),
        }
    }

    /// Tells the target that `signals` satisfied it.
    pub fn notify(self, signals: Signals) {
        match self.target {
            ObserverTarget::Thread {
                thread,
                token,
                index,
            } => {
                if let Some(thread) = thread.upgrade() {
                    crate::sched::wake(
                        &thread,
                        token,
                        thread::WakeReason::Signaled {
                            index,
                            observed: signals,
                        },
                    );
                }
            }
            ObserverTarget::Port { slot, key } => slot.fill(key, self.trigger, signals),
        }
    }
}

struct SignalState {
    signals: Signals,
    observers: Vec<Observer>,
}

/// Observer slots an object keeps when its waits end (`forget`,
/// `room::trim_keeping`): more than other tables, as the count of
/// observers an object has swings with every wait. The observers that
/// fire (`update_signals`) leave their room: trimming there cost 2 % of
/// the network rows (docs/performance.md, seventh round).
const KEPT_OBSERVERS: usize = 64;

/// Most observers one object keeps (waiting threads plus `wait_async`
/// registrations): past it, new ones are refused with `NO_RESOURCES`.
pub const MAX_OBSERVERS: usize = 4096;

/// Why an observer was not registered.
pub enum ObserveError {
    /// The signals already satisfy it (they are given).
    Satisfied(Signals),
    /// The object has [`MAX_OBSERVERS`] already.
    TooMany,
    /// The kernel heap cannot grow the observer list.
    NoMemory,
}

impl ObserveError {
    /// The status a syscall returns for it (`Satisfied` is no error).
    pub fn status(&self) -> zx_abi::Status {
        match self {
            ObserveError::Satisfied(_) => zx_abi::Status::OK,
            ObserveError::TooMany => zx_abi::Status::NO_RESOURCES,
            ObserveError::NoMemory => zx_abi::Status::NO_MEMORY,
        }
    }
}

/// The part every object shares.
pub struct ObjectBase {
    koid: Koid,
    handles: AtomicUsize,
    state: Mutex<SignalState>,
    /// Whether the object is on the closing list, and the next one there.
    closing: AtomicBool,
    next_closing: Mutex<Option<Arc<dyn KernelObject>>>,
    /// The kernel memory the object holds, charged to the job whose
    /// program made it (given back when the object is freed).
    charge: spin::Once<ObjectCharge>,
}

/// Kernel memory charged to a job's memory account (with its pages: the
/// job's memory limit bounds both), given back when dropped.
pub struct ObjectCharge {
    account: Arc<account::MemoryAccount>,
    bytes: u64,
}

/// What an `Arc` adds to the object it holds (its two counts).
const ARC_HEADER: usize = 2 * core::mem::size_of::<usize>();

impl ObjectCharge {
    /// Charges `bytes` to `account`, or refuses with `NO_MEMORY` past its
    /// limit (or an ancestor's).
    pub fn take(
        account: &Arc<account::MemoryAccount>,
        bytes: u64,
    ) -> Result<ObjectCharge, zx_abi::Status> {
        account.charge(bytes)?;
        Ok(ObjectCharge {
            account: Arc::clone(account),
            bytes,
        })
    }

    /// Charges a new kernel object of type `T` (the object, its `Arc`, and
    /// `extra` bytes it allocates besides, e.g. its name) to the calling
    /// program's job, before the object is made.
    pub fn for_new<T>(extra: usize) -> Result<ObjectCharge, zx_abi::Status> {
        let bytes = core::mem::size_of::<T>() + ARC_HEADER + extra;
        ObjectCharge::take(&crate::sched::current_process().job.memory, bytes as u64)
    }
}

impl Drop for ObjectCharge {
    fn drop(&mut self) {
        self.account.uncharge(self.bytes);
    }
}

/// The top of the closing list (see the module docs).
static CLOSING: Mutex<Option<Arc<dyn KernelObject>>> = Mutex::new(None);

/// Work the kernel does before it returns to user mode, as bits, so that
/// the common exit tests one word: objects on the closing list, a due
/// collection of channel cycles (`inflight.rs`), ended processes to reap,
/// a retired thread to drop.
static DEFERRED: AtomicU8 = AtomicU8::new(0);
const DEFER_CLOSE: u8 = 1;
/// A collection of unreachable channel cycles is due.
pub const DEFER_COLLECT: u8 = 2;
/// Ended processes wait on the reap list (`reaper.rs`).
const DEFER_REAP: u8 = 4;
/// A thread that stopped running waits in the scheduler's retired slots
/// (`sched::drop_retired`, which the trap's exit calls after this work:
/// the bit only makes the exit look, the slots themselves say what is
/// there). Rare: a thread still held elsewhere is not retired.
pub const DEFER_RETIRED: u8 = 8;

/// Asks for deferred work `bits` before the next return to user mode.
pub fn defer(bits: u8) {
    DEFERRED.fetch_or(bits, Ordering::AcqRel);
}

/// Whether [`run_deferred`] has work to do.
#[inline]
pub fn deferred_pending() -> bool {
    DEFERRED.load(Ordering::Acquire) != 0
}

/// Does the deferred work: runs the closing list, tears down ended
/// processes (for a bounded time: the rest waits for the next exit),
/// collects channel cycles when due, until nothing is left. Called on
/// every kernel exit, outside every lock.
#[inline]
pub fn run_deferred() {
    if DEFERRED.load(Ordering::Acquire) != 0 {
        run_deferred_slow();
    }
}

#[cold]
fn run_deferred_slow() {
    // Whether the reaper spent its budget with processes left: they wait
    // for the next kernel exit.
    let mut reap_later = false;
    loop {
        let bits = DEFERRED.swap(0, Ordering::AcqRel);
        if bits == 0 {
            break;
        }
        if bits & DEFER_CLOSE != 0 {
            run_closers();
        }
        if bits & DEFER_REAP != 0 && !reap_later {
            reap_later = reaper::run();
        }
        if bits & DEFER_COLLECT != 0 {
            inflight::collect();
        }
    }
    if reap_later {
        DEFERRED.fetch_or(DEFER_REAP, Ordering::AcqRel);
    }
}

/// One bounded step of the deferred work, from the idle loop (interrupts
/// off, no thread current): while ended processes wait on the reap list
/// and no thread is runnable, tears some down (for at most
/// [`reaper::BUDGET_NANOS`], as a kernel exit does). Returns whether to
/// call again: some are left and the CPU is still idle.
pub fn idle_step() -> bool {
    if DEFERRED.load(Ordering::Acquire) & DEFER_REAP == 0 || crate::sched::runnable() {
        return false;
    }
    run_deferred_slow();
    DEFERRED.load(Ordering::Acquire) & DEFER_REAP != 0 && !crate::sched::runnable()
}

/// Puts an object whose last handle went on the closing list, once.
fn push_closing(object: &Arc<dyn KernelObject>) {
    if object.base().closing.swap(true, Ordering::AcqRel) {
        return;
    }
    let mut top = CLOSING.lock();
    *object.base().next_closing.lock() = top.take();
    *top = Some(Arc::clone(object));
    defer(DEFER_CLOSE);
}

/// Runs `on_zero_handles` of every object on the closing list, newest
/// first, until it is empty (each may push more).
fn run_closers() {
    loop {
        let next = {
            let mut top = CLOSING.lock();
            let next = top.take();
            if let Some(object) = &next {
                *top = object.base().next_closing.lock().take();
            }
            next
        };
        let Some(object) = next else { return };
        object.base().closing.store(false, Ordering::Release);
        // A handle made since (the kernel handing the object out again)
        // keeps it open; its own last drop will push it again.
        if object.base().handle_count() == 0 {
            object.on_zero_handles();
        }
        drop(object);
    }
}

impl ObjectBase {
    /// A base with a fresh koid and initial `signals`.
    pub fn new(signals: Signals) -> ObjectBase {
        ObjectBase {
            koid: Koid::next(),
            handles: AtomicUsize::new(0),
            state: Mutex::new(SignalState {
                signals,
                observers: Vec::new(),
            }),
            closing: AtomicBool::new(false),
            next_closing: Mutex::new(None),
            charge: spin::Once::new(),
        }
    }

    /// Makes the object hold `charge` until it is freed (once; a second
    /// charge is given back at once).
    pub fn hold(&self, charge: ObjectCharge) {
        // (If one is held already, the closure is dropped unrun, and the
        // charge with it.)
        self.charge.call_once(move || charge);
    }

    /// The object's koid.
    pub fn koid(&self) -> Koid {
        self.koid
    }

    /// The current signals.
    pub fn signals(&self) -> Signals {
        self.state.lock().signals
    }

    /// Number of handles to the object.
    pub fn handle_count(&self) -> usize {
        self.handles.load(Ordering::Relaxed)
    }

    /// Clears then sets signals and wakes the observers the new state
    /// satisfies.
    ///
    /// The observers are told under the object's lock, which the lock
    /// order allows (an object's state, then a port's queue, the scheduler
    /// and a thread's state; nothing told ever locks this object again), so
    /// telling them allocates nothing and cannot fail.
    pub fn update_signals(&self, clear: Signals, set: Signals) {
        let mut state = self.state.lock();
        let signals = (state.signals - clear) | set;
        if signals == state.signals {
            return;
        }
        state.signals = signals;
        let mut index = 0;
        while index < state.observers.len() {
            let observer = &state.observers[index];
            if observer.trigger.intersects(signals) {
                state.observers.swap_remove(index).notify(signals);
            } else if !observer.alive() {
                state.observers.swap_remove(index);
            } else {
                index += 1;
            }
        }
    }

    /// Registers `observer` unless the signals already satisfy it, in which
    /// case the current signals are returned and nothing is registered. On
    /// error the observer comes back unregistered.
    pub fn observe(&self, observer: Observer) -> Result<(), (ObserveError, Observer)> {
        let mut state = self.state.lock();
        if observer.trigger.intersects(state.signals) {
            return Err((ObserveError::Satisfied(state.signals), observer));
        }
        if state.observers.len() >= MAX_OBSERVERS {
            // Drop the dead ones before refusing.
            state.observers.retain(Observer::alive);
            if state.observers.len() >= MAX_OBSERVERS {
                return Err((ObserveError::TooMany, observer));
            }
        }
        if state.observers.try_reserve(1).is_err() {
            return Err((ObserveError::NoMemory, observer));
        }
        state.observers.push(observer);
        Ok(())
    }

    /// Removes the observers of thread wait `token`.
    pub fn forget(&self, token: u64) {
        let mut state = self.state.lock();
        state.observers.retain(|observer| {
            !matches!(observer.target, ObserverTarget::Thread { token: t, .. } if t == token)
        });
        room::trim_keeping(&mut state.observers, KEPT_OBSERVERS);
    }
}

/// A handle: a reference to an object with rights. Dropping it closes it.
pub struct Handle {
    object: Arc<dyn KernelObject>,
    rights: Rights,
}

impl Handle {
    /// A new handle to `object`.
    pub fn new(object: Arc<dyn KernelObject>, rights: Rights) -> Handle {
        object.base().handles.fetch_add(1, Ordering::Relaxed);
        Handle { object, rights }
    }

    /// The object.
    pub fn object(&self) -> &Arc<dyn KernelObject> {
        &self.object
    }

    /// The rights.
    pub fn rights(&self) -> Rights {
        self.rights
    }

    /// A second handle to the same object with `rights` (already checked to
    /// be a subset).
    pub fn duplicate(&self, rights: Rights) -> Handle {
        Handle::new(Arc::clone(&self.object), rights)
    }

    /// The object as its concrete type, if it is one.
    #[inline]
    pub fn downcast<T: KernelObject>(&self) -> Option<Arc<T>> {
        // `Any::type_id` through the object's own vtable: one call, where
        // going through `into_any` and `Arc<dyn Any>::downcast` takes two
        // (this is on every syscall that names a handle).
        let object: &dyn KernelObject = &*self.object;
        if Any::type_id(object) != core::any::TypeId::of::<T>() {
            return None;
        }
        let raw = Arc::into_raw(Arc::clone(&self.object)) as *const T;
        // SAFETY: the object is a `T` (its type id says so), so the data
        // pointer of the `Arc<dyn KernelObject>` points at a `T` inside an
        // `Arc` allocation; `from_raw` takes over the reference count the
        // clone added.
        Some(unsafe { Arc::from_raw(raw) })
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.object.base().handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            push_closing(&self.object);
        }
    }
}
