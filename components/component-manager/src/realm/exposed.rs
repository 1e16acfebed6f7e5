//! `Realm.OpenExposed`: a connection to what a component exposes, for
//! clients outside the tree's routes (the host bridge). The route starts
//! at the component's own `expose` declarations rather than at a user's
//! `use`; the rest is as for any route: start the provider if needed,
//! then forward the request into its outgoing directory.

use alloc::rc::Rc;
use core::cell::RefCell;
use zx::{AsHandleRef, Channel, Event, Status};
use zx_async::Spawner;
use zx_runtime::println;

use super::decl::zx_component_decl::CapabilityKind;
use super::routing::{Provider, LOG_SINK};
use super::start::start;
use super::swap::open_to;
use super::State;

/// Connects `server` to `protocol` as instance `index` exposes it.
pub(super) fn open_exposed(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
    index: usize,
    protocol: &str,
    server: Channel,
) -> Result<(), Status> {
    open_exposed_as(
        state,
        spawner,
        idle,
        index,
        CapabilityKind::Protocol,
        protocol,
        server,
    )
}

/// Connects `server` to the capability `protocol` of kind `kind` (a
/// protocol, or a directory such as datafs's `data`) as instance `index`
/// exposes it.
pub(super) fn open_exposed_as(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
    index: usize,
    kind: CapabilityKind,
    protocol: &str,
    server: Channel,
) -> Result<(), Status> {
    if protocol == LOG_SINK {
        // Log lines are attributed by the route that carries them; a
        // connection from outside the tree has no name to give.
        return Err(Status::ACCESS_DENIED);
    }
    let route = state.borrow().route_expose(index, kind, protocol);
    let provider = match route {
        Ok(Provider::Component(provider)) => provider,
        _ => return Err(Status::NOT_FOUND),
    };
    if state.borrow().ancestor_stopping(provider) {
        return Err(Status::BAD_STATE);
    }
    if let Err(why) = start(state, spawner, idle, provider) {
        println!(
            "component_manager: cannot start the provider of {}: {}",
            protocol.escape_debug(),
            why
        );
        return Err(Status::INTERNAL);
    }
    let outgoing = state.borrow().instances[provider]
        .outgoing
        .as_ref()
        .map(|c| c.raw_handle())
        .ok_or(Status::BAD_STATE)?;
    open_to(state, provider, outgoing, protocol, server)
}
