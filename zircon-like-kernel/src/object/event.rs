//! Events: an object whose only state is its signals. `object_signal` may
//! raise `EVENT_SIGNALED` and the user signals.

use super::{impl_into_any, KernelObject, ObjectBase};
use alloc::sync::Arc;
use zx_abi::{ObjectType, Signals};

/// An event.
pub struct Event {
    base: ObjectBase,
}

impl Event {
    /// A new, unsignaled event.
    pub fn new() -> Arc<Event> {
        Arc::new(Event {
            base: ObjectBase::new(Signals::empty()),
        })
    }
}

impl KernelObject for Event {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> ObjectType {
        ObjectType::Event
    }

    fn signalable(&self) -> Signals {
        Signals::USER_ALL | Signals::EVENT_SIGNALED
    }

    impl_into_any!();
}
