//! The manager's own budget: how many component instances and served
//! connections it holds, manager-wide and per subtree, so that no
//! component tree can exhaust what the manager needs to keep serving
//! everyone else.
//!
//! The scarce resource is the executor's port: every task the manager
//! runs waits through it (`object_wait_async`), and the kernel gives a
//! port 4,096 slots ([`PORT_SLOTS`]), counting armed waits and queued
//! packets together. A wait that finds the port full fails at once. So
//! each thing that makes the manager wait is charged here, in slots,
//! before it exists:
//!
//! - an instance: [`SLOTS_PER_INSTANCE`] from its creation to its
//!   destruction (its `/svc`, its watch, its crash reports, and one for a
//!   restart's back-off or a stop's deadline), so a start or a restart
//!   never fails for want of slots;
//! - a `Realm` connection: [`SLOTS_PER_REALM`] (the connection, and the
//!   stop deadline and process wait of a `Stop` or `DestroyChild` it runs);
//! - a `boot` directory tree: one slot per connection the tree may serve
//!   (`zx_component::fs::MAX_CONNECTIONS_PER_TREE`).
//!
//! Besides the manager-wide total ([`MANAGER_SLOTS`], the port less a
//! reserve for the manager's own waits), each component bounds its
//! subtree: the instances below it (`limits.components`) and the
//! connections served to it and below it (`limits.connections`, a `boot`
//! tree counting as the connections it may serve). Where a manifest says
//! 0, a component that is not the root gets [`DEFAULT_SUBTREE_COMPONENTS`]
//! and [`DEFAULT_SUBTREE_CONNECTIONS`]; the root's subtree is the whole
//! tree, bounded by the manager-wide total. A charge counts against every
//! ancestor, so a hostile subtree gets `NO_RESOURCES` from
//! `Realm.CreateChild` (and its connections are closed) once it holds its
//! share, while the others keep starting, connecting and restarting.
//!
//! Static children are charged as well when the tree is built from the
//! manifests; the defaults leave room for every product in the tree.

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use zx::Status;
use zx_runtime::println;

use super::State;

/// Slots in the executor's port (the kernel's per-port bound).
pub(super) const PORT_SLOTS: u32 = 4096;
/// Slots kept for the manager's own waits (`Realm.Shutdown`, wake-ups,
/// and tasks that outlive the instance they served by a moment).
const RESERVED_SLOTS: u32 = 512;
/// What instances and connections may hold together.
pub(super) const MANAGER_SLOTS: u32 = PORT_SLOTS - RESERVED_SLOTS;
/// Slots an instance holds while it exists.
pub(super) const SLOTS_PER_INSTANCE: u32 = 4;
/// Slots a `Realm` connection holds.
pub(super) const SLOTS_PER_REALM: u32 = 3;
/// Instances below a component that is not the root, unless its manifest
/// says otherwise (a full collection fits).
pub(super) const DEFAULT_SUBTREE_COMPONENTS: u32 = 32;
/// Connections served to a component that is not the root and below it,
/// unless its manifest says otherwise (a `boot` tree and the per-component
/// maximum of `Realm` connections of four components fit).
pub(super) const DEFAULT_SUBTREE_CONNECTIONS: u32 = 128;

/// One kind of served connection and what it costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Connection {
    /// A `zx.component.Realm` connection.
    Realm,
    /// A `boot` directory tree, which serves up to
    /// `MAX_CONNECTIONS_PER_TREE` connections.
    BootTree,
}

impl Connection {
    /// Connections it counts as in its subtree's `limits.connections`.
    fn connections(self) -> u32 {
        match self {
            Connection::Realm => 1,
            Connection::BootTree => zx_component::fs::MAX_CONNECTIONS_PER_TREE as u32,
        }
    }

    /// Port slots it may hold.
    fn slots(self) -> u32 {
        match self {
            Connection::Realm => SLOTS_PER_REALM,
            Connection::BootTree => zx_component::fs::MAX_CONNECTIONS_PER_TREE as u32,
        }
    }
}

/// What the manager holds, manager-wide and per instance slot.
#[derive(Default)]
pub(super) struct Budget {
    /// Port slots charged to instances and connections.
    slots: u32,
    /// The manager said once that its total is reached.
    manager_refusal_reported: bool,
    /// Per instance slot: what its subtree holds.
    subtrees: Vec<Subtree>,
}

/// What one instance's subtree holds.
#[derive(Clone, Copy, Default)]
struct Subtree {
    /// Instances below it.
    components: u32,
    /// Connections served to it and below it.
    connections: u32,
    /// The manager said once that it refused this subtree an instance...
    components_refusal_reported: bool,
    /// ...and a connection.
    connections_refusal_reported: bool,
}

/// How an error string says that the budget refused an instance.
pub(super) const REFUSED: &str = "the component manager's budget is full";

/// Why a charge was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The manager-wide total is reached.
    Manager,
    /// This ancestor's subtree holds its limit.
    Subtree(usize),
}

impl Refusal {
    /// The status the one who asked gets.
    pub(super) fn status(self) -> Status {
        Status::NO_RESOURCES
    }
}

impl State {
    fn subtree_mut(&mut self, index: usize) -> &mut Subtree {
        let subtrees = &mut self.budget.subtrees;
        if subtrees.len() <= index {
            subtrees.resize(index + 1, Subtree::default());
        }
        &mut subtrees[index]
    }

    fn subtree(&self, index: usize) -> Subtree {
        self.budget.subtrees.get(index).copied().unwrap_or_default()
    }

    /// `index`'s limit on instances below it.
    fn components_limit(&self, index: usize) -> u32 {
        let declared = self.instances[index]
            .decl
            .limits
            .as_ref()
            .map_or(0, |l| l.components);
        match (declared, self.instances[index].parent) {
            (0, None) => u32::MAX,
            (0, Some(_)) => DEFAULT_SUBTREE_COMPONENTS,
            (n, _) => n,
        }
    }

    /// `index`'s limit on connections served to its subtree.
    fn connections_limit(&self, index: usize) -> u32 {
        let declared = self.instances[index]
            .decl
            .limits
            .as_ref()
            .map_or(0, |l| l.connections);
        match (declared, self.instances[index].parent) {
            (0, None) => u32::MAX,
            (0, Some(_)) => DEFAULT_SUBTREE_CONNECTIONS,
            (n, _) => n,
        }
    }

    /// `index` and its ancestors, nearest first.
    fn with_ancestors(&self, index: usize) -> Vec<usize> {
        let mut chain = Vec::new();
        let mut at = Some(index);
        while let Some(i) = at {
            chain.push(i);
            at = self.instances[i].parent;
        }
        chain
    }

    /// Whether one more instance under `parent` fits (the root, with no
    /// parent, always does).
    pub(super) fn instance_fits(&self, parent: Option<usize>) -> Result<(), Refusal> {
        if self.budget.slots + SLOTS_PER_INSTANCE > MANAGER_SLOTS {
            return Err(Refusal::Manager);
        }
        let Some(parent) = parent else {
            return Ok(());
        };
        for ancestor in self.with_ancestors(parent) {
            if self.subtree(ancestor).components >= self.components_limit(ancestor) {
                return Err(Refusal::Subtree(ancestor));
            }
        }
        Ok(())
    }

    /// [`State::instance_fits`], said on the console (once per subtree)
    /// when it does not.
    pub(super) fn instance_fits_or_report(&mut self, parent: usize) -> Result<(), Refusal> {
        let fits = self.instance_fits(Some(parent));
        if let Err(refusal) = fits {
            self.report(refusal, "components");
        }
        fits
    }

    /// Charges one more instance under `parent` to the manager and every
    /// ancestor, or says why it does not fit (on the console, once per
    /// subtree).
    pub(super) fn charge_instance(&mut self, parent: Option<usize>) -> Result<(), Refusal> {
        if let Err(refusal) = self.instance_fits(parent) {
            self.report(refusal, "components");
            return Err(refusal);
        }
        self.budget.slots += SLOTS_PER_INSTANCE;
        if let Some(parent) = parent {
            for ancestor in self.with_ancestors(parent) {
                self.subtree_mut(ancestor).components += 1;
            }
        }
        Ok(())
    }

    /// Gives back what instance `index` was charged (on its destruction;
    /// its parent link must still be in place).
    pub(super) fn release_instance(&mut self, index: usize) {
        self.budget.slots = self.budget.slots.saturating_sub(SLOTS_PER_INSTANCE);
        if let Some(parent) = self.instances[index].parent {
            for ancestor in self.with_ancestors(parent) {
                let subtree = self.subtree_mut(ancestor);
                subtree.components = subtree.components.saturating_sub(1);
            }
        }
        // The slot starts afresh for the next instance.
        *self.subtree_mut(index) = Subtree::default();
    }

    /// Says on the console, once per subtree, that something was refused.
    fn report(&mut self, refusal: Refusal, what: &str) {
        match refusal {
            Refusal::Manager => {
                if !core::mem::replace(&mut self.budget.manager_refusal_reported, true) {
                    println!(
                        "component_manager: the manager holds {} of its {} slots; refusing more {}",
                        self.budget.slots, MANAGER_SLOTS, what
                    );
                }
            }
            Refusal::Subtree(ancestor) => {
                let components = what == "components";
                let subtree = self.subtree_mut(ancestor);
                let reported = if components {
                    &mut subtree.components_refusal_reported
                } else {
                    &mut subtree.connections_refusal_reported
                };
                if !core::mem::replace(reported, true) {
                    let limit = if components {
                        self.components_limit(ancestor)
                    } else {
                        self.connections_limit(ancestor)
                    };
                    println!(
                        "component_manager: the subtree of {} holds its {} {}; refusing more",
                        self.instances[ancestor].moniker, limit, what
                    );
                }
            }
        }
    }
}

/// A connection charged to an instance's subtree and to the manager while
/// it is served: given back when dropped (when its task ends), even if
/// the instance is gone by then, since the connection held the slots
/// until that moment.
pub(super) struct ConnectionCharge {
    state: Rc<RefCell<State>>,
    kind: Connection,
    /// The instance and its ancestors, each with its generation then.
    chain: Vec<(usize, u32)>,
}

impl ConnectionCharge {
    /// Charges a connection of `kind` served to `index`, or refuses it
    /// (said on the console once per subtree).
    pub(super) fn take(
        state: &Rc<RefCell<State>>,
        index: usize,
        kind: Connection,
    ) -> Result<ConnectionCharge, Refusal> {
        let mut s = state.borrow_mut();
        let chain = s.with_ancestors(index);
        let refusal = if s.budget.slots + kind.slots() > MANAGER_SLOTS {
            Some(Refusal::Manager)
        } else {
            chain
                .iter()
                .copied()
                .find(|&a| s.subtree(a).connections + kind.connections() > s.connections_limit(a))
                .map(Refusal::Subtree)
        };
        if let Some(refusal) = refusal {
            s.report(refusal, "connections");
            return Err(refusal);
        }
        s.budget.slots += kind.slots();
        for &ancestor in &chain {
            s.subtree_mut(ancestor).connections += kind.connections();
        }
        let chain = chain
            .into_iter()
            .map(|a| (a, s.instances[a].generation))
            .collect();
        Ok(ConnectionCharge {
            state: Rc::clone(state),
            kind,
            chain,
        })
    }
}

impl Drop for ConnectionCharge {
    fn drop(&mut self) {
        let mut s = self.state.borrow_mut();
        s.budget.slots = s.budget.slots.saturating_sub(self.kind.slots());
        for &(ancestor, generation) in &self.chain {
            if s.live(ancestor, generation) {
                let subtree = s.subtree_mut(ancestor);
                subtree.connections = subtree.connections.saturating_sub(self.kind.connections());
            }
        }
    }
}
