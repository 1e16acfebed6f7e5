//! Counting the connections the manager serves a component itself, so
//! that no component can make it hold without bound.

use alloc::rc::Rc;
use core::cell::RefCell;
use zx_runtime::println;

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
}

impl Served {
    /// Counts one more connection of `index`, unless it has
    /// [`MAX_SERVED_PER_COMPONENT`] (said on the console once).
    pub(super) fn take(state: &Rc<RefCell<State>>, index: usize) -> Option<Served> {
        let mut s = state.borrow_mut();
        let instance = &mut s.instances[index];
        if instance.served >= MAX_SERVED_PER_COMPONENT {
            if !instance.refusal_reported {
                instance.refusal_reported = true;
                println!(
                    "component_manager: {} holds {} connections to the manager; refusing more",
                    instance.moniker, MAX_SERVED_PER_COMPONENT
                );
            }
            return None;
        }
        instance.served += 1;
        Some(Served {
            state: Rc::clone(state),
            index,
            generation: instance.generation,
        })
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
