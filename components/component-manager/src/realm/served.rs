//! Counting the connections the manager serves a component itself, so
//! that no component can make it hold without bound.

use alloc::rc::Rc;
use core::cell::RefCell;
use zx_runtime::println;

use super::budget::{Connection, ConnectionCharge};
use super::State;

/// Most connections one component may hold open to what the manager
/// serves itself (`Realm`, the `boot` directory): a component cannot make
/// the manager hold without bound.
pub(super) const MAX_SERVED_PER_COMPONENT: u32 = 16;

/// One connection the manager serves a component itself, counted in its
/// `served` while it lives.
pub(super) struct Served {
    state: Rc<RefCell<State>>,
    index: usize,
    generation: u32,
    /// Its charge to the instance's subtree and to the manager.
    _charge: ConnectionCharge,
}

impl Served {
    /// Counts one more connection of `kind` to `index`, unless it has
    /// [`MAX_SERVED_PER_COMPONENT`] (said on the console once) or its
    /// subtree or the manager has no room for it (`budget`).
    pub(super) fn take(
        state: &Rc<RefCell<State>>,
        index: usize,
        kind: Connection,
    ) -> Option<Served> {
        if state.borrow().instances[index].served >= MAX_SERVED_PER_COMPONENT {
            Self::refuse(state, index);
            return None;
        }
        let charge = ConnectionCharge::take(state, index, kind).ok()?;
        let mut s = state.borrow_mut();
        let instance = &mut s.instances[index];
        instance.served += 1;
        Some(Served {
            state: Rc::clone(state),
            index,
            generation: instance.generation,
            _charge: charge,
        })
    }

    /// Says once that `index` holds all the connections it may.
    fn refuse(state: &Rc<RefCell<State>>, index: usize) {
        let mut s = state.borrow_mut();
        let instance = &mut s.instances[index];
        if !instance.refusal_reported {
            instance.refusal_reported = true;
            println!(
                "component_manager: {} holds {} connections to the manager; refusing more",
                instance.moniker, MAX_SERVED_PER_COMPONENT
            );
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let mut s = self.state.borrow_mut();
        if s.live(self.index, self.generation) {
            let instance = &mut s.instances[self.index];
            instance.served = instance.served.saturating_sub(1);
        }
    }
}
