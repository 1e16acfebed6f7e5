//! Timers: raise `TIMER_SIGNALED` when a deadline passes. Setting a timer
//! again replaces its deadline; cancelling clears it and the signal. The
//! scheduler's deadline list fires them (tick resolution).

use super::{impl_into_any, KernelObject, ObjectBase};
use alloc::sync::Arc;
use spin::Mutex;
use zx_abi::{ObjectType, Signals, Time};

/// A timer.
pub struct Timer {
    base: ObjectBase,
    /// The armed deadline and its token.
    armed: Mutex<Option<(Time, u64)>>,
}

impl Timer {
    /// A new, disarmed timer.
    pub fn new() -> Arc<Timer> {
        Arc::new(Timer {
            base: ObjectBase::new(Signals::empty()),
            armed: Mutex::new(None),
        })
    }

    /// Arms the timer for `deadline` (replacing any earlier deadline).
    pub fn set(self: &Arc<Self>, deadline: Time) {
        self.cancel();
        if deadline <= crate::clock::monotonic_nanos() as Time {
            self.base
                .update_signals(Signals::empty(), Signals::TIMER_SIGNALED);
            return;
        }
        let token = crate::sched::new_token();
        *self.armed.lock() = Some((deadline, token));
        crate::sched::add_timer_deadline(deadline, token, Arc::downgrade(self));
    }

    /// Disarms the timer and clears its signal.
    pub fn cancel(&self) {
        if let Some((deadline, token)) = self.armed.lock().take() {
            crate::sched::cancel_deadline(deadline, token);
        }
        self.base
            .update_signals(Signals::TIMER_SIGNALED, Signals::empty());
    }

    /// The deadline with `token` passed.
    pub fn fire(&self, token: u64) {
        let mut armed = self.armed.lock();
        if armed.is_some_and(|(_, t)| t == token) {
            *armed = None;
            drop(armed);
            self.base
                .update_signals(Signals::empty(), Signals::TIMER_SIGNALED);
        }
    }
}

impl KernelObject for Timer {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> ObjectType {
        ObjectType::Timer
    }

    fn on_zero_handles(&self) {
        if let Some((deadline, token)) = self.armed.lock().take() {
            crate::sched::cancel_deadline(deadline, token);
        }
    }

    impl_into_any!();
}
