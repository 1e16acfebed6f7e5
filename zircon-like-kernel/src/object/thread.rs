//! Threads: a register frame that runs in a process.
//!
//! A thread's saved frame is only meaningful while it is off the CPU; while
//! it runs, the live frame is the one on the kernel stack. A thread blocked
//! in a syscall records what it waits for ([`Wait`]); when woken, the
//! scheduler finishes that syscall (`syscalls::complete_wait`) in the
//! thread's address space just before resuming it, so results are written
//! where the thread expects them.

use super::process::Process;
use super::{impl_into_any, KernelObject, ObjectBase};
use crate::arch::x86_64::trap::TrapFrame;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use spin::Mutex;
use zx_abi::{ObjectType, Signals, Time};

/// Where a thread is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Created, not started.
    New,
    /// Waiting for a CPU.
    Runnable,
    /// On the CPU.
    Running,
    /// Waiting in a syscall.
    Blocked,
    /// Ended.
    Dead,
}

/// What a blocked thread waits for.
pub enum WaitKind {
    /// `object_wait_one`: the object and where to write the observed signals.
    One {
        /// The object waited on, and the handle it was named by.
        object: Arc<dyn KernelObject>,
        /// The handle it was named by.
        value: zx_abi::HandleValue,
        /// User address for the observed signals (0: none).
        observed: u64,
    },
    /// `object_wait_many`: the objects and the user array of wait items.
    Many {
        /// The objects, in item order.
        objects: Vec<Arc<dyn KernelObject>>,
        /// The handles they were named by.
        values: Vec<zx_abi::HandleValue>,
        /// User address of the `WaitItem` array.
        items: u64,
    },
    /// `nanosleep`.
    Sleep,
    /// `futex_wait`: the futex.
    Futex {
        /// Which futex.
        key: super::futex::FutexKey,
    },
    /// `channel_call`: waiting for the reply with the call's txid.
    Call {
        /// The caller's endpoint.
        channel: Arc<super::channel::Channel>,
        /// The handle it was named by.
        value: zx_abi::HandleValue,
        /// `CHANNEL_BIND_RECEIVED`: the reply's handles are bound as they
        /// arrive to the escrow `value` is bound to then (a flag, not the
        /// escrow: every call's wait record stays as small as it was).
        bind: bool,
        /// The reply, once the callee wrote it.
        reply: Option<super::fastpath::Payload>,
        /// Where the reply goes: (bytes, handles, byte capacity, handle
        /// capacity, actual bytes out, actual handles out).
        buffers: [u64; 6],
    },
    /// `channel_recv`: waiting for a message on an endpoint.
    Recv {
        /// The endpoint.
        channel: Arc<super::channel::Channel>,
        /// The handle it was named by.
        value: zx_abi::HandleValue,
        /// The message, once a writer handed it over.
        request: Option<super::fastpath::Payload>,
        /// Where it goes: (bytes, handles, byte capacity, handle capacity,
        /// actual bytes out, actual handles out).
        buffers: [u64; 6],
    },
    /// `port_wait`: the port and where to write the packet.
    Port {
        /// The port waited on.
        port: Arc<super::port::Port>,
        /// The handle it was named by.
        value: zx_abi::HandleValue,
        /// User address of the packet buffer.
        packet: u64,
    },
}

/// A pending wait.
pub struct Wait {
    /// Identifies this wait; wakes for older waits are ignored.
    pub token: u64,
    /// What is waited for.
    pub kind: WaitKind,
    /// When the wait times out.
    pub deadline: Time,
}

impl Wait {
    /// Whether the wait goes through handle `value`: removing it from the
    /// process's table (closing it, moving it into a message) cancels the
    /// wait with `CANCELED`.
    fn goes_through(&self, handle: zx_abi::HandleValue) -> bool {
        match &self.kind {
            WaitKind::One { value, .. }
            | WaitKind::Call { value, .. }
            | WaitKind::Recv { value, .. }
            | WaitKind::Port { value, .. } => *value == handle,
            WaitKind::Many { values, .. } => values.contains(&handle),
            WaitKind::Sleep | WaitKind::Futex { .. } => false,
        }
    }
}

/// Why a blocked thread was woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeReason {
    /// A port handed the thread this packet.
    Packet(zx_abi::PortPacket),
    /// An observed object's signals satisfied item `index`.
    Signaled {
        /// The item whose object signaled.
        index: usize,
        /// Its signals at that moment.
        observed: Signals,
    },
    /// The deadline passed.
    TimedOut,
    /// A handle the wait goes through was closed.
    Canceled,
}

/// The mutable part of a thread.
pub struct ThreadInner {
    /// Life-cycle state.
    pub state: ThreadState,
    /// Saved registers (valid while off the CPU).
    pub frame: Box<TrapFrame>,
    /// The wait it is blocked in, or was just woken from.
    pub wait: Option<Wait>,
    /// Why it was woken.
    pub wake: Option<WakeReason>,
    /// Scheduling priority (higher runs first).
    pub priority: u8,
}

/// A thread.
pub struct Thread {
    base: ObjectBase,
    /// The process it runs in.
    pub process: Arc<Process>,
    /// Its name, for reports.
    pub name: String,
    /// Its mutable state.
    pub inner: Mutex<ThreadInner>,
}

/// The priority threads get unless told otherwise.
pub const DEFAULT_PRIORITY: u8 = 16;

impl Drop for Thread {
    fn drop(&mut self) {
        crate::sched::release_thread();
    }
}

impl Thread {
    /// A new, unstarted thread in `process`, once the scheduler has room
    /// for it.
    pub fn new(process: &Arc<Process>, name: &str) -> Result<Arc<Thread>, zx_abi::Status> {
        crate::sched::reserve_thread()?;
        Ok(Arc::new(Thread {
            base: ObjectBase::new(Signals::empty()),
            process: Arc::clone(process),
            name: name.into(),
            inner: Mutex::new(ThreadInner {
                state: ThreadState::New,
                frame: Box::new(TrapFrame::new_user(0, 0, 0)),
                wait: None,
                wake: None,
                priority: DEFAULT_PRIORITY,
            }),
        }))
    }

    /// Its koid.
    pub fn koid(&self) -> crate::koid::Koid {
        self.base.koid()
    }

    /// Cancels the thread's wait if it goes through handle `value` (which
    /// its process has just removed from its table).
    pub fn cancel_wait_through(self: &Arc<Self>, value: zx_abi::HandleValue) {
        let token = {
            let inner = self.inner.lock();
            match &inner.wait {
                Some(wait)
                    if inner.state == ThreadState::Blocked
                        && inner.wake.is_none()
                        && wait.goes_through(value) =>
                {
                    wait.token
                }
                _ => return,
            }
        };
        crate::sched::wake(self, token, WakeReason::Canceled);
    }

    /// Marks the thread dead and signals `TASK_TERMINATED`. Returns false if
    /// it already was.
    pub fn mark_dead(&self) -> bool {
        let abandoned = {
            let mut inner = self.inner.lock();
            if inner.state == ThreadState::Dead {
                return false;
            }
            inner.state = ThreadState::Dead;
            (inner.wait.take(), inner.wake.take())
        };
        let mut abandoned = abandoned;
        // Dropped after the lock: a wait may hold the last reference to an
        // object whose teardown notifies observers, which locks threads.
        if let (Some(wait), _) = &mut abandoned {
            forget_wait(wait);
        }
        drop(abandoned);
        self.base
            .update_signals(Signals::THREAD_RUNNING, Signals::TASK_TERMINATED);
        true
    }
}

/// Removes a dead thread's registrations (futex queue, port waiter) so
/// nothing stale accumulates; a message handed to it in `channel_recv`
/// goes back to its endpoint.
fn forget_wait(wait: &mut Wait) {
    match &mut wait.kind {
        WaitKind::Futex { key } => super::futex::remove(*key, wait.token),
        WaitKind::Port { port, .. } => port.remove_waiter(wait.token),
        WaitKind::Call {
            channel,
            reply,
            bind,
            ..
        } => {
            channel.remove_call(wait.token);
            // `CHANNEL_BIND_RECEIVED`: a reply handed over and not yet
            // taken goes back to the caller's endpoint, which is bound, so
            // it reaches the escrow with it rather than closing.
            if *bind {
                if let Some(super::fastpath::Payload::Queued(message)) = reply.take() {
                    channel.put_back(message);
                }
            }
        }
        WaitKind::Recv {
            channel, request, ..
        } => {
            channel.remove_receiver(wait.token);
            // A message handed over by the fastpath is still in its
            // caller's buffer (the bounce is only good within its trap).
            let message = match request.take() {
                Some(super::fastpath::Payload::Queued(message)) => Some(message),
                Some(super::fastpath::Payload::Bounced(bounced)) => bounced
                    .origin
                    .as_ref()
                    .and_then(|origin| origin.reread(channel)),
                None => None,
            };
            if let Some(message) = message {
                channel.give_back(message);
            }
        }
        WaitKind::One { object, .. } => object.base().forget(wait.token),
        WaitKind::Many { objects, .. } => objects.iter().for_each(|o| o.base().forget(wait.token)),
        WaitKind::Sleep => {}
    }
    crate::sched::cancel_deadline(wait.deadline, wait.token);
}

impl KernelObject for Thread {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> ObjectType {
        ObjectType::Thread
    }

    /// A thread that was never started and whose last handle closes can
    /// never run: it ends, so its process is not kept alive by it.
    fn on_zero_handles(&self) {
        if self.inner.lock().state == ThreadState::New && self.mark_dead() {
            self.process.thread_exited(self, false);
        }
    }

    impl_into_any!();
}
