//! What two-ended objects share: a weak link to the peer, set once at
//! creation, and a "closed" flag set when the last handle goes.

use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Once;

/// The link from one end of a pair to the other.
pub struct PeerLink<T> {
    peer: Once<Weak<T>>,
    closed: AtomicBool,
}

impl<T> PeerLink<T> {
    /// An unlinked end.
    pub const fn new() -> PeerLink<T> {
        PeerLink {
            peer: Once::new(),
            closed: AtomicBool::new(false),
        }
    }

    /// Links the two ends (once, at creation).
    pub fn link(&self, peer: &Arc<T>) {
        self.peer.call_once(|| Arc::downgrade(peer));
    }

    /// The peer, unless it is gone or closed.
    pub fn live_peer(&self, closed_of: impl Fn(&T) -> bool) -> Option<Arc<T>> {
        let peer = self.peer.get()?.upgrade()?;
        (!closed_of(&peer)).then_some(peer)
    }

    /// The peer object even if closed (for koids).
    pub fn any_peer(&self) -> Option<Arc<T>> {
        self.peer.get()?.upgrade()
    }

    /// Marks this end closed; returns false if it already was.
    pub fn close(&self) -> bool {
        !self.closed.swap(true, Ordering::AcqRel)
    }

    /// Whether this end is closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}
