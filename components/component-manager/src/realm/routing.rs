//! Routing: which component provides a capability a component uses, per
//! the manifests' `use`, `offer` and `expose`, and connecting a request to it.

use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use core::cell::RefCell;
use zx::{processargs, AsHandleRef, Channel, Event};
use zx_async::Spawner;
use zx_runtime::println;

use super::boot_directory::BootTree;
use super::budget::Connection;
use super::decl::zx_component_decl::{CapabilityKind, Source};
use super::realm_service::serve_realm;
use super::served::Served;
use super::start::start;
use super::swap::open_to;
use super::swap_controller::serve_swap_controller;
use super::State;

/// Connections to the logger carry the requester's moniker.
pub(super) const LOG_SINK: &str = "zx.logger.LogSink";

/// What the component manager serves itself (to the root, as its parent):
/// the `Realm` protocol...
const REALM: &str = "zx.component.Realm";
/// The hot swap's protocol (`idl/swap.idl`), offered to the root.
const SWAP_CONTROLLER: &str = "zx.component.swap.SwapController";
/// ...and the bootfs, as a read-only directory.
const BOOT: &str = "boot";

/// Where a route ends.
pub(super) enum Provider {
    /// A component's outgoing directory.
    Component(usize),
    /// The component manager's own `Realm`: over the whole tree (`None`,
    /// the root's parent's), or scoped to one component (`use: [{ protocol:
    /// "zx.component.Realm", from: "framework" }]`).
    Realm(Option<usize>),
    /// The component manager's bootfs directory.
    Boot,
    /// The component manager's `SwapController`.
    SwapController,
    /// A kernel resource the component manager holds (its
    /// `processargs::RESOURCE` argument): handed over as a start-up handle.
    Resource(u16),
}

impl State {
    /// The component that provides capability `name` of `kind` to `user`,
    /// per the manifests.
    pub(super) fn route_use(
        &self,
        user: usize,
        kind: CapabilityKind,
        name: &str,
    ) -> Result<Provider, String> {
        let uses = self.instances[user]
            .decl
            .uses
            .as_deref()
            .unwrap_or_default();
        let Some(used) = uses.iter().find(|u| u.kind == kind && u.name == name) else {
            return Err("its manifest does not use it".into());
        };
        if used.source == Source::Framework {
            return match (kind, name) {
                (CapabilityKind::Protocol, REALM) => Ok(Provider::Realm(Some(user))),
                _ => Err("only zx.component.Realm comes from the framework".into()),
            };
        }
        self.route_from_parent(user, kind, name)
    }

    fn route_from_parent(
        &self,
        child: usize,
        kind: CapabilityKind,
        name: &str,
    ) -> Result<Provider, String> {
        // An offer to a collection reaches every child created in it.
        let target = self.instances[child]
            .collection
            .as_ref()
            .unwrap_or(&self.instances[child].name);
        let Some(parent) = self.instances[child].parent else {
            // The root's parent is the component manager.
            return match (kind, name) {
                (CapabilityKind::Protocol, REALM) => Ok(Provider::Realm(None)),
                (CapabilityKind::Protocol, SWAP_CONTROLLER) => Ok(Provider::SwapController),
                (CapabilityKind::Directory, BOOT) => Ok(Provider::Boot),
                (CapabilityKind::Resource, name) => processargs::resource_arg(name)
                    .map(Provider::Resource)
                    .ok_or_else(|| format!("there is no resource {name}")),
                _ => Err(
                    "the component manager provides only the protocols zx.component.Realm and zx.component.swap.SwapController, the directory boot and resources"
                        .into(),
                ),
            };
        };
        let offers = self.instances[parent]
            .decl
            .offers
            .as_deref()
            .unwrap_or_default();
        let offer = offers
            .iter()
            .find(|o| o.kind == kind && o.name == name && &o.target_child == target)
            .ok_or_else(|| {
                format!(
                    "{} does not offer it to {}",
                    self.instances[parent].moniker, target
                )
            })?;
        match offer.source {
            Source::Self_ => Ok(Provider::Component(parent)),
            Source::Parent => self.route_from_parent(parent, kind, name),
            Source::Child => {
                let source = self
                    .child(parent, &offer.source_child)
                    .ok_or_else(|| format!("no child {}", offer.source_child))?;
                self.route_expose(source, kind, name)
            }
            // build-image never writes it in an offer.
            Source::Framework => Err("an offer cannot come from the framework".into()),
        }
    }

    pub(super) fn route_expose(
        &self,
        component: usize,
        kind: CapabilityKind,
        name: &str,
    ) -> Result<Provider, String> {
        let exposes = self.instances[component]
            .decl
            .exposes
            .as_deref()
            .unwrap_or_default();
        let expose = exposes
            .iter()
            .find(|e| e.kind == kind && e.name == name)
            .ok_or_else(|| format!("{} does not expose it", self.instances[component].moniker))?;
        match expose.source {
            Source::Child => {
                let source = self
                    .child(component, &expose.source_child)
                    .ok_or_else(|| format!("no child {}", expose.source_child))?;
                self.route_expose(source, kind, name)
            }
            _ => Ok(Provider::Component(component)),
        }
    }
}

/// Connects `object` to `path` on behalf of instance `user`: routes it per
/// the manifests, starts the provider if needed, and forwards the request
/// to the provider's outgoing directory. Unrouted requests are refused by
/// closing `object`.
pub(super) fn open_route(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
    user: usize,
    kind: CapabilityKind,
    path: &str,
    object: Channel,
) {
    let route = state.borrow().route_use(user, kind, path);
    let provider = match route {
        Ok(Provider::Component(provider)) => provider,
        Ok(Provider::Boot) => {
            let Some(served) = Served::take(state, user, Connection::BootTree) else {
                return; // `object` closes
            };
            let tree: Rc<dyn zx_component::fs::Tree> = Rc::new(BootTree {
                state: Rc::clone(state),
                _served: served,
            });
            zx_component::fs::serve(tree, String::new(), object, spawner);
            return;
        }
        Ok(Provider::Resource(_)) => return, // not something to open
        Ok(Provider::SwapController) => {
            let Some(served) = Served::take(state, user, Connection::SwapController) else {
                return; // `object` closes
            };
            spawner.spawn(serve_swap_controller(
                Rc::clone(state),
                spawner.clone(),
                Rc::clone(idle),
                object,
                served,
            ));
            return;
        }
        Ok(Provider::Realm(scope)) => {
            let Some(served) = Served::take(state, user, Connection::Realm) else {
                return; // `object` closes
            };
            let scope = scope.map(|scope| (scope, state.borrow().instances[scope].generation));
            spawner.spawn(serve_realm(
                Rc::clone(state),
                spawner.clone(),
                Rc::clone(idle),
                scope,
                object,
                served,
            ));
            return;
        }
        Err(why) => {
            let moniker = state.borrow().instances[user].moniker.clone();
            // The name comes from the component: escaped, so it cannot
            // put control characters on the console.
            println!(
                "component_manager: {} cannot reach {}: {}",
                moniker,
                path.escape_debug(),
                why
            );
            return; // `object` closes: the client sees PEER_CLOSED
        }
    };
    if state.borrow().ancestor_stopping(provider) {
        // Its parent is being stopped (or was): do not bring it back.
        return;
    }
    if let Err(why) = start(state, spawner, idle, provider) {
        println!(
            "component_manager: cannot start the provider of {}: {}",
            path, why
        );
        return;
    }
    let outgoing = state.borrow().instances[provider]
        .outgoing
        .as_ref()
        .map(|c| c.raw_handle());
    // Log lines are attributed by the manager, not by the writer: the
    // logger is told who connects.
    let path = if path == LOG_SINK {
        format!("{}/{}", path, state.borrow().instances[user].moniker)
    } else {
        path.to_string()
    };
    if let Some(outgoing) = outgoing {
        let _ = open_to(state, provider, outgoing, &path, object);
    }
}
