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
//! Locking: the kernel runs with interrupts off on one CPU, so locks never
//! contend; they exist for soundness. Order: an object's state, then the
//! scheduler, then a thread's state. Handles and messages are dropped only
//! after the locks that guarded them are released.

pub mod channel;
pub mod event;
pub mod eventpair;
pub mod futex;
pub mod interrupt;
pub mod job;
pub mod peered;
pub mod port;
pub mod process;
pub mod resource;
pub mod thread;
pub mod timer;
pub mod vmar;
pub mod vmo;

use crate::koid::Koid;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicUsize, Ordering};
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
        /// The port (a closed port drops the registration).
        port: Weak<port::Port>,
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
            ObserverTarget::Port { port, .. } => port.strong_count() > 0,
        }
    }

    /// Tells the target that `signals` satisfied it.
    fn notify(self, signals: Signals) {
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
            ObserverTarget::Port { port, key } => {
                if let Some(port) = port.upgrade() {
                    port.queue_signal(key, self.trigger, signals);
                }
            }
        }
    }
}

struct SignalState {
    signals: Signals,
    observers: Vec<Observer>,
}

/// Most observers one object keeps (waiting threads plus `wait_async`
/// registrations): past it, new ones are refused with `NO_RESOURCES`.
pub const MAX_OBSERVERS: usize = 4096;

/// Why an observer was not registered.
pub enum ObserveError {
    /// The signals already satisfy it (they are given).
    Satisfied(Signals),
    /// The object has [`MAX_OBSERVERS`] already.
    TooMany,
}

/// The part every object shares.
pub struct ObjectBase {
    koid: Koid,
    handles: AtomicUsize,
    state: Mutex<SignalState>,
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
        }
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
    pub fn update_signals(&self, clear: Signals, set: Signals) {
        let (woken, signals) = {
            let mut state = self.state.lock();
            let signals = (state.signals - clear) | set;
            if signals == state.signals {
                return;
            }
            state.signals = signals;
            // The common case, nobody waiting, allocates nothing; otherwise
            // the satisfied observers are moved out in place.
            let mut woken = Vec::new();
            let mut index = 0;
            while index < state.observers.len() {
                let observer = &state.observers[index];
                if observer.trigger.intersects(signals) {
                    woken.push(state.observers.swap_remove(index));
                } else if !observer.alive() {
                    state.observers.swap_remove(index);
                } else {
                    index += 1;
                }
            }
            (woken, signals)
        };
        for observer in woken {
            observer.notify(signals);
        }
    }

    /// Registers `observer` unless the signals already satisfy it, in which
    /// case the current signals are returned and nothing is registered.
    pub fn observe(&self, observer: Observer) -> Result<(), ObserveError> {
        let mut state = self.state.lock();
        if observer.trigger.intersects(state.signals) {
            return Err(ObserveError::Satisfied(state.signals));
        }
        if state.observers.len() >= MAX_OBSERVERS {
            // Drop the dead ones before refusing.
            state.observers.retain(Observer::alive);
            if state.observers.len() >= MAX_OBSERVERS {
                return Err(ObserveError::TooMany);
            }
        }
        state.observers.push(observer);
        Ok(())
    }

    /// Removes the observers of thread wait `token`.
    pub fn forget(&self, token: u64) {
        self.state.lock().observers.retain(|observer| {
            !matches!(observer.target, ObserverTarget::Thread { token: t, .. } if t == token)
        });
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
    pub fn downcast<T: KernelObject>(&self) -> Option<Arc<T>> {
        Arc::clone(&self.object).into_any().downcast::<T>().ok()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.object.base().handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.object.on_zero_handles();
        }
    }
}
