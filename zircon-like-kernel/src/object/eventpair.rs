//! Event pairs: two linked events. Each end can signal itself or its peer,
//! and an end learns `PEER_CLOSED` when the other's last handle goes.

use super::peered::PeerLink;
use super::{impl_into_any, KernelObject, ObjectBase};
use alloc::sync::Arc;
use zx_abi::{ObjectType, Signals};

/// One end of an event pair.
pub struct EventPair {
    base: ObjectBase,
    link: PeerLink<EventPair>,
}

impl EventPair {
    /// A new linked pair.
    pub fn create() -> (Arc<EventPair>, Arc<EventPair>) {
        let a = Arc::new(EventPair {
            base: ObjectBase::new(Signals::empty()),
            link: PeerLink::new(),
        });
        let b = Arc::new(EventPair {
            base: ObjectBase::new(Signals::empty()),
            link: PeerLink::new(),
        });
        a.link.link(&b);
        b.link.link(&a);
        (a, b)
    }
}

impl KernelObject for EventPair {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> ObjectType {
        ObjectType::EventPair
    }

    fn signalable(&self) -> Signals {
        Signals::USER_ALL | Signals::EVENT_SIGNALED
    }

    fn peer(&self) -> Option<Arc<dyn KernelObject>> {
        self.link
            .any_peer()
            .map(|peer| peer as Arc<dyn KernelObject>)
    }

    fn on_zero_handles(&self) {
        if self.link.close() {
            if let Some(peer) = self.link.live_peer(|p| p.link.is_closed()) {
                peer.base
                    .update_signals(Signals::empty(), Signals::PEER_CLOSED);
            }
        }
    }

    impl_into_any!();
}
