//! The `zx.component.Realm` protocol the manager serves: list, start and
//! stop components, create and destroy children in collections, shut down.

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;
use core::future::Future;
use core::pin::Pin;
use idlc_runtime::Transport;
use zx::{processargs, AsHandleRef, Channel, Event, Rights, Status};
use zx_async::Spawner;
use zx_idl::ChannelTransport;
use zx_runtime::println;

use super::decl::zx_component::{
    dispatch_realm, CollectionInfo, ComponentInfo, ComponentState, RealmCreateChildRequest,
    RealmCreateChildResponse, RealmCreateChildWithHandlesRequest,
    RealmCreateChildWithHandlesResponse, RealmDestroyChildRequest, RealmDestroyChildResponse,
    RealmListCollectionsResponse, RealmListResponse, RealmOpenExposedRequest,
    RealmOpenExposedResponse, RealmServer, RealmShutdownRequest, RealmStartRequest,
    RealmStartResponse, RealmStopRequest, RealmStopResponse,
};
use super::exposed::open_exposed;
use super::served::Served;
use super::start::start;
use super::stop::stop_tree;
use super::State;

/// Most collections one `Realm.ListCollections` reply holds (the IDL's
/// bound).
const MAX_LISTED_COLLECTIONS: usize = 64;

/// Most components one `Realm.List` reply holds (the IDL's bound).
const MAX_LISTED: usize = 128;

/// Serves `zx.component/Realm` on one connection.
pub(super) async fn serve_realm(
    state: Rc<RefCell<State>>,
    spawner: Spawner,
    idle: Rc<Event>,
    scope: Option<(usize, u32)>,
    channel: Channel,
    _served: Served,
) {
    let transport = ChannelTransport::new(channel);
    let mut realm = RealmService {
        state,
        spawner,
        idle,
        scope,
        pending: None,
    };
    while let Some(mut message) = zx_component::next_message(&transport).await {
        let result = dispatch_realm(&mut realm, &mut message);
        // `Stop` and `DestroyChild` reply once the components have ended.
        if let Some(work) = realm.pending.take() {
            work.await;
        }
        match result {
            Ok(Some(reply)) => {
                if transport.send(reply).is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(error) => {
                // A request that does not decode, or a reply that does not
                // encode: the client would wait forever, so hang up.
                println!("component_manager: bad Realm request: {:?}", error);
                return;
            }
        }
    }
}

struct RealmService {
    state: Rc<RefCell<State>>,
    spawner: Spawner,
    idle: Rc<Event>,
    /// The component (and its generation) a framework `Realm` is scoped
    /// to; `None` for the whole tree (the root's, from the manager).
    scope: Option<(usize, u32)>,
    /// Work to finish before the reply is sent.
    pending: Option<Pin<Box<dyn Future<Output = ()>>>>,
}

impl RealmService {
    /// The scope's moniker and a `/`, which every moniker a scoped
    /// connection names starts with; `""` for the whole tree.
    fn prefix(&self) -> Result<String, i32> {
        let Some((scope, generation)) = self.scope else {
            return Ok(String::new());
        };
        let state = self.state.borrow();
        if !state.live(scope, generation) {
            return Err(Status::BAD_STATE.0); // the scope itself is gone
        }
        Ok(format!("{}/", state.instances[scope].moniker))
    }

    /// `CreateChild`: the new instance's index.
    fn create(&mut self, mut request: RealmCreateChildRequest) -> Result<usize, i32> {
        request.parent = self.absolute(&request.parent)?;
        let index = self
            .state
            .borrow_mut()
            .create_child(&request)
            .map_err(|status| status.0)?;
        println!(
            "component_manager: created {} ({})",
            self.state.borrow().instances[index].moniker,
            request.manifest
        );
        Ok(index)
    }

    /// The absolute moniker of `moniker` as this connection names it: on a
    /// scoped connection, relative to the scope (`""`: the scope itself).
    fn absolute(&self, moniker: &str) -> Result<String, i32> {
        let prefix = self.prefix()?;
        if self.scope.is_some() && moniker.is_empty() {
            return Ok(prefix.trim_end_matches('/').to_string());
        }
        Ok(format!("{prefix}{moniker}"))
    }

    /// The instance `moniker` names. A scoped connection can name only
    /// what lies below its scope (nothing can climb out: monikers are
    /// matched whole, so `..` names nothing).
    fn find(&self, moniker: &str) -> Result<usize, i32> {
        if self.scope.is_some() && moniker.is_empty() {
            return Err(Status::ACCESS_DENIED.0); // not itself
        }
        let moniker = self.absolute(moniker)?;
        self.state
            .borrow()
            .find(&moniker)
            .ok_or(Status::NOT_FOUND.0)
    }
}

impl RealmServer for RealmService {
    fn list(&mut self) -> RealmListResponse {
        // A scope that is gone lists nothing.
        let prefix = self.prefix().unwrap_or_else(|_| String::from("\0"));
        let state = self.state.borrow();
        let components = state
            .instances
            .iter()
            .filter(|instance| !instance.destroyed)
            .filter_map(|instance| {
                let relative = instance.moniker.strip_prefix(prefix.as_str())?;
                Some((instance, relative))
            })
            // The reply holds at most 128 (`vector<ComponentInfo>:128`).
            .take(MAX_LISTED)
            .map(|(instance, relative)| ComponentInfo {
                moniker: relative.to_string(),
                state: match (&instance.process, instance.stopping) {
                    (Some(_), false) => ComponentState::Running,
                    (Some(_), true) => ComponentState::Stopping,
                    (None, _) => ComponentState::Stopped,
                },
                binary: instance
                    .decl
                    .program
                    .as_ref()
                    .map(|p| p.binary.clone())
                    .unwrap_or_default(),
                restarts: instance.restarts,
            })
            .collect();
        RealmListResponse { components }
    }

    fn list_collections(&mut self) -> RealmListCollectionsResponse {
        // A scope that is gone lists nothing; the scope itself is `""`.
        let prefix = self.prefix().unwrap_or_else(|_| String::from("\0"));
        let state = self.state.borrow();
        let mut collections = Vec::new();
        for instance in state.instances.iter().filter(|i| !i.destroyed) {
            let parent = if prefix.strip_suffix('/') == Some(instance.moniker.as_str()) {
                ""
            } else {
                match instance.moniker.strip_prefix(prefix.as_str()) {
                    Some(relative) => relative,
                    None => continue,
                }
            };
            for declared in instance.decl.collections.as_deref().unwrap_or_default() {
                let children = instance
                    .children
                    .iter()
                    .filter(|&&c| {
                        let child = &state.instances[c];
                        !child.destroyed && child.collection.as_deref() == Some(&declared.name)
                    })
                    .count();
                collections.push(CollectionInfo {
                    parent: parent.to_string(),
                    name: declared.name.clone(),
                    children: children as u32,
                });
            }
        }
        // The reply holds at most 64 (`vector<CollectionInfo>:64`).
        collections.truncate(MAX_LISTED_COLLECTIONS);
        RealmListCollectionsResponse { collections }
    }

    fn start(&mut self, request: RealmStartRequest) -> Result<RealmStartResponse, i32> {
        let index = self.find(&request.moniker)?;
        start(&self.state, &self.spawner, &self.idle, index).map_err(|why| {
            let moniker = self.state.borrow().instances[index].moniker.clone();
            println!("component_manager: cannot start {}: {}", moniker, why);
            Status::INTERNAL.0
        })?;
        Ok(RealmStartResponse {})
    }

    fn stop(&mut self, request: RealmStopRequest) -> Result<RealmStopResponse, i32> {
        let index = self.find(&request.moniker)?;
        if !self.state.borrow().subtree_runs(index) {
            return Err(Status::BAD_STATE.0);
        }
        let moniker = self.state.borrow().instances[index].moniker.clone();
        println!("component_manager: stopping {}", moniker);
        self.pending = Some(Box::pin(stop_tree(Rc::clone(&self.state), index)));
        Ok(RealmStopResponse {})
    }

    fn create_child(
        &mut self,
        request: RealmCreateChildRequest,
    ) -> Result<RealmCreateChildResponse, i32> {
        self.create(request)?;
        Ok(RealmCreateChildResponse {})
    }

    fn create_child_with_handles(
        &mut self,
        request: RealmCreateChildWithHandlesRequest,
    ) -> Result<RealmCreateChildWithHandlesResponse, i32> {
        let mut handles = Vec::with_capacity(request.handles.len());
        for given in request.handles {
            let handle = zx::Handle::from_raw(given.handle.into_raw());
            if given.kind < processargs::USER_BASE {
                return Err(Status::INVALID_ARGS.0);
            }
            let rights = handle.basic_info().map(|info| info.rights).unwrap_or(0);
            if rights & Rights::DUPLICATE.bits() == 0 {
                return Err(Status::ACCESS_DENIED.0);
            }
            handles.push((given.kind, handle));
        }
        let index = self.create(RealmCreateChildRequest {
            parent: request.parent,
            collection: request.collection,
            name: request.name,
            manifest: request.manifest,
        })?;
        self.state.borrow_mut().instances[index].startup_handles = handles;
        Ok(RealmCreateChildWithHandlesResponse {})
    }

    fn shutdown(&mut self, request: RealmShutdownRequest) {
        if let Some((scope, _)) = self.scope {
            let moniker = self.state.borrow().instances[scope].moniker.clone();
            println!(
                "component_manager: {} may not shut the system down (its Realm is scoped to it)",
                moniker
            );
            return;
        }
        let state = Rc::clone(&self.state);
        let status = u64::from(request.status.min(99));
        state.borrow_mut().shutting_down = true;
        println!("component_manager: shutting down (status {})", status);
        self.pending = Some(Box::pin(async move {
            // The root is slot 0; stopping it stops everything, children
            // first, each through its lifecycle channel.
            stop_tree(Rc::clone(&state), 0).await;
            println!("component_manager: every component has stopped; powering off");
            let power = state
                .borrow()
                .resources
                .iter()
                .find(|(arg, _)| u64::from(*arg) == zx::RSRC_SYSTEM_POWER)
                .and_then(|(_, r)| r.handle().duplicate(Rights::SAME_RIGHTS).ok());
            let why = match power {
                Some(power) => {
                    zx::system_shutdown(&zx::Resource::from_handle(power), status as u32)
                }
                None => Status::ACCESS_DENIED,
            };
            println!("component_manager: cannot power off: {}", why);
        }));
    }

    fn destroy_child(
        &mut self,
        request: RealmDestroyChildRequest,
    ) -> Result<RealmDestroyChildResponse, i32> {
        let index = self.find(&request.moniker)?;
        if self.state.borrow().instances[index].collection.is_none() {
            return Err(Status::ACCESS_DENIED.0);
        }
        let state = Rc::clone(&self.state);
        let moniker = state.borrow().instances[index].moniker.clone();
        let generation = state.borrow().instances[index].generation;
        self.pending = Some(Box::pin(async move {
            stop_tree(Rc::clone(&state), index).await;
            // Another connection may have destroyed it meanwhile.
            if state.borrow().live(index, generation) {
                state.borrow_mut().destroy(index);
                println!("component_manager: destroyed {}", moniker);
            }
        }));
        Ok(RealmDestroyChildResponse {})
    }

    fn open_exposed(
        &mut self,
        request: RealmOpenExposedRequest,
    ) -> Result<RealmOpenExposedResponse, i32> {
        let server = Channel::from_handle(zx::Handle::from_raw(request.server.into_raw()));
        let index = self.find(&request.moniker)?;
        open_exposed(
            &self.state,
            &self.spawner,
            &self.idle,
            index,
            &request.protocol,
            server,
        )
        .map_err(|status| status.0)?;
        Ok(RealmOpenExposedResponse {})
    }
}
