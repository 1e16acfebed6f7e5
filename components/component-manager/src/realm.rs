//! The component tree, starting components, and routing.
//!
//! Instances live in one arena (`Vec<Instance>`, indices as ids) owned by
//! the realm; the executor's tasks (one per running component serving its
//! `/svc`, one watching its process) share it through `Rc<RefCell<..>>` and
//! never hold a borrow across an `await`.

use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use zx::{processargs, AsHandleRef, Channel, Event, Job, Process, Rights, Signals, Status, Vmo};
use zx_async::{on_signals, sleep, with_deadline, Executor, Spawner};
use zx_component::bindings::zx_io::{
    dispatch_directory, DirEntry, DirectoryOpenRequest, DirectoryReadDirResponse, DirectoryServer,
    EntryKind,
};
use zx_idl::ChannelTransport;
use zx_runtime::println;

mod decl {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use alloc::boxed::Box;
use core::future::Future;
use core::pin::Pin;
use decl::zx_component::{
    dispatch_realm, CollectionInfo, ComponentInfo, ComponentState, RealmCreateChildRequest,
    RealmCreateChildResponse, RealmCreateChildWithHandlesRequest,
    RealmCreateChildWithHandlesResponse, RealmDestroyChildRequest, RealmDestroyChildResponse,
    RealmListCollectionsResponse, RealmListResponse, RealmServer, RealmShutdownRequest,
    RealmStartRequest, RealmStartResponse, RealmStopRequest, RealmStopResponse,
};
use decl::zx_component_decl::{
    CapabilityKind, ComponentDecl, Limits, OnTerminate, Source, StartupMode,
};
use decl::zx_process_lifecycle::LifecycleClient;
use idlc_runtime::Transport;

/// Connections to the logger carry the requester's moniker.
const LOG_SINK: &str = "zx.logger.LogSink";

/// What the component manager serves itself (to the root, as its parent):
/// the `Realm` protocol...
const REALM: &str = "zx.component.Realm";
/// ...and the bootfs, as a read-only directory.
const BOOT: &str = "boot";

/// Where a route ends.
enum Provider {
    /// A component's outgoing directory.
    Component(usize),
    /// The component manager's own `Realm`: over the whole tree (`None`,
    /// the root's parent's), or scoped to one component (`use: [{ protocol:
    /// "zx.component.Realm", from: "framework" }]`).
    Realm(Option<usize>),
    /// The component manager's bootfs directory.
    Boot,
    /// A kernel resource the component manager holds (its
    /// `processargs::RESOURCE` argument): handed over as a start-up handle.
    Resource(u16),
}

/// Deepest component tree accepted (guards against manifests that name
/// each other in a loop; build-image rejects those too).
const MAX_DEPTH: usize = 16;
/// How often a component is restarted before the manager gives up.
const MAX_RESTARTS: u32 = 5;
/// How long a component asked to stop (`Lifecycle.Stop`) may take to exit
/// before its job is killed.
const STOP_DEADLINE_NANOS: i64 = 1_000_000_000;
/// Most children alive at once in one collection.
const MAX_COLLECTION_CHILDREN: usize = 32;
/// Most connections one component may hold open to what the manager
/// serves itself (`Realm`, the `boot` directory): a component cannot make
/// the manager hold without bound.
const MAX_SERVED_PER_COMPONENT: u32 = 16;

/// Limits a component's job gets when its manifest leaves them at 0:
/// handles and threads per process for every component; mapped and
/// committed memory and processes only for components without children or
/// collections (a parent's job also bounds its children's, so a default
/// there would squeeze them).
const DEFAULT_HANDLES: u64 = 4096;
const DEFAULT_THREADS: u64 = 64;
const DEFAULT_MEMORY: u64 = 128 << 20;
const DEFAULT_PROCESSES: u64 = 16;
/// Most collections one `Realm.ListCollections` reply holds (the IDL's
/// bound).
const MAX_LISTED_COLLECTIONS: usize = 64;

/// Most components one `Realm.List` reply holds (the IDL's bound).
const MAX_LISTED: usize = 128;
/// Longest moniker: `Realm` carries `string:256`, and the logger is opened
/// as `zx.logger.LogSink/<moniker>` within a `string:256` path.
const MAX_MONIKER: usize = 256 - LOG_SINK.len() - 1;

struct Instance {
    /// Path from the root, e.g. `root/echo_server`, or
    /// `root/dynamic:worker` for child `worker` of collection `dynamic`.
    moniker: String,
    /// Name among its siblings.
    name: String,
    /// The collection it was created in, if it was created at run time.
    collection: Option<String>,
    /// Destroyed through `Realm.DestroyChild`: no longer part of the tree;
    /// its slot is free for the next instance.
    destroyed: bool,
    /// Counts the instances that used this slot: a task that outlives its
    /// instance sees another generation and leaves the slot alone.
    generation: u32,
    decl: ComponentDecl,
    parent: Option<usize>,
    children: Vec<usize>,
    startup: StartupMode,
    on_terminate: OnTerminate,
    job: Option<Job>,
    process: Option<Process>,
    /// Client end of its outgoing directory, while it runs.
    outgoing: Option<Channel>,
    /// Client end of its lifecycle channel, while it runs.
    lifecycle: Option<LifecycleClient<ChannelTransport>>,
    restarts: u32,
    /// Being stopped, or stopped, through `Realm`: not restarted.
    stopping: bool,
    /// Ended, and waiting out its back-off before a restart.
    restart_pending: bool,
    /// Counted in `State::active_eager`.
    counted: bool,
    /// Connections the manager serves it now ([`MAX_SERVED_PER_COMPONENT`]).
    served: u32,
    /// The manager said once that it refused it a connection.
    refusal_reported: bool,
    /// Given (duplicated) at every start: `Realm.CreateChildWithHandles`.
    startup_handles: Vec<(u32, zx::Handle)>,
}

struct State {
    /// Every instance, by index; destroyed ones are free slots.
    instances: Vec<Instance>,
    /// Slots of destroyed instances, to reuse.
    free: Vec<usize>,
    root_job: Job,
    bootfs: zx_runtime::ReadOnlyMapping,
    /// Eager components running or about to be restarted.
    active_eager: usize,
    /// Signalled (`USER_0`) when `active_eager` drops to 0.
    idle: Rc<Event>,
    /// `Realm.Shutdown` is stopping everything: the manager powers the
    /// machine off itself once done, rather than exiting.
    shutting_down: bool,
    /// The kernel resources userboot handed over, by their
    /// `processargs::RESOURCE` argument: given to the components whose
    /// manifests use them (and `power` serves `Realm.Shutdown`).
    resources: Vec<(u16, zx::Resource)>,
}

/// The component manager's view of the system.
pub struct Realm {
    state: Rc<RefCell<State>>,
    idle: Rc<Event>,
}

impl Realm {
    /// Takes the root job and the bootfs from the start-up handles.
    pub fn new() -> Result<Realm, String> {
        let job =
            zx_runtime::take_startup_handle(processargs::JOB_DEFAULT).ok_or("no job handle")?;
        let vmo =
            zx_runtime::take_startup_handle(processargs::BOOTFS_VMO).ok_or("no bootfs handle")?;
        let vmo = Vmo::from_handle(vmo);
        let size = vmo.size().map_err(|s| format!("bootfs size: {s}"))?;
        let bootfs =
            zx_runtime::ReadOnlyMapping::new(&vmo, size).map_err(|s| format!("map bootfs: {s}"))?;
        let idle = Rc::new(Event::create().map_err(|s| format!("event: {s}"))?);
        let resources = processargs::RESOURCE_NAMES
            .iter()
            .filter_map(|&(_, arg)| {
                let handle = zx_runtime::take_startup_handle(processargs::resource(arg))?;
                Some((arg, zx::Resource::from_handle(handle)))
            })
            .collect();
        let state = State {
            instances: Vec::new(),
            free: Vec::new(),
            root_job: Job::from_handle(job),
            bootfs,
            active_eager: 0,
            idle: Rc::clone(&idle),
            shutting_down: false,
            resources,
        };
        Ok(Realm {
            state: Rc::new(RefCell::new(state)),
            idle,
        })
    }

    /// Builds the tree under manifest `root`, starts it, and serves until
    /// every eager component has ended.
    pub fn run(&mut self, root: &str) -> Result<(), String> {
        {
            let mut state = self.state.borrow_mut();
            state.add(
                root,
                "root",
                None,
                None,
                StartupMode::Eager,
                OnTerminate::None,
                0,
            )?;
        }
        let mut executor = Executor::new().map_err(|s| format!("executor: {s}"))?;
        let spawner = executor.spawner();
        let state = Rc::clone(&self.state);
        let idle = Rc::clone(&self.idle);
        executor.run(async move {
            if let Err(why) = start(&state, &spawner, &idle, 0) {
                println!("component_manager: cannot start the root: {}", why);
                return;
            }
            // Done once no eager component runs.
            if state.borrow().active_eager > 0 {
                let _ = on_signals(&*idle, Signals::USER_0).await;
            }
            if state.borrow().shutting_down {
                // `Realm.Shutdown` powers the machine off when it is done.
                core::future::pending::<()>().await;
            }
        });
        println!("component_manager: every eager component has ended");
        Ok(())
    }
}

impl State {
    fn bootfs_file(&self, path: &str) -> Result<Vec<u8>, String> {
        let fs = bootfs::Bootfs::parse(&self.bootfs).map_err(|e| format!("bootfs: {e}"))?;
        let file = fs
            .find(path)
            .ok_or_else(|| format!("{path} is not in the bootfs"))?;
        Ok(file.data.to_vec())
    }

    /// Loads manifest `manifest` and adds an instance for it and, below it,
    /// for all its children.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        manifest: &str,
        name: &str,
        collection: Option<&str>,
        parent: Option<usize>,
        startup: StartupMode,
        on_terminate: OnTerminate,
        depth: usize,
    ) -> Result<usize, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "component tree deeper than {MAX_DEPTH} at {manifest}"
            ));
        }
        let bytes = self.bootfs_file(&format!("meta/{manifest}.cm"))?;
        let decl: ComponentDecl = idlc_runtime::decode(&bytes, &mut [])
            .map_err(|e| format!("meta/{manifest}.cm: {e:?}"))?;
        let moniker = match (parent, collection) {
            (Some(p), Some(c)) => format!("{}/{}:{}", self.instances[p].moniker, c, name),
            (Some(p), None) => format!("{}/{}", self.instances[p].moniker, name),
            (None, _) => name.to_string(),
        };
        if moniker.len() > MAX_MONIKER {
            return Err(format!(
                "moniker {moniker} is longer than {MAX_MONIKER} bytes"
            ));
        }
        let children: Vec<_> = decl.children.clone().unwrap_or_default();
        let index = self.alloc(Instance {
            moniker,
            name: name.to_string(),
            collection: collection.map(str::to_string),
            destroyed: false,
            generation: 0,
            decl,
            parent,
            children: Vec::new(),
            startup,
            on_terminate,
            job: None,
            process: None,
            outgoing: None,
            lifecycle: None,
            restarts: 0,
            stopping: false,
            restart_pending: false,
            counted: false,
            served: 0,
            refusal_reported: false,
            startup_handles: Vec::new(),
        });
        for child in children {
            let added = self.add(
                &child.manifest,
                &child.name,
                None,
                Some(index),
                child.startup,
                child.on_terminate,
                depth + 1,
            );
            match added {
                Ok(id) => self.instances[index].children.push(id),
                Err(why) => {
                    // Leave nothing half-built behind.
                    self.destroy(index);
                    return Err(why);
                }
            }
        }
        Ok(index)
    }

    /// Puts `instance` in a free slot (keeping that slot's generation) or
    /// a new one.
    fn alloc(&mut self, mut instance: Instance) -> usize {
        match self.free.pop() {
            Some(index) => {
                instance.generation = self.instances[index].generation;
                self.instances[index] = instance;
                index
            }
            None => {
                self.instances.push(instance);
                self.instances.len() - 1
            }
        }
    }

    /// Counts eager instance `index` as active (once).
    fn count(&mut self, index: usize) {
        let instance = &mut self.instances[index];
        if instance.startup == StartupMode::Eager
            && instance.collection.is_none()
            && !instance.counted
        {
            instance.counted = true;
            self.active_eager += 1;
        }
    }

    /// Stops counting instance `index`; once no eager instance is active,
    /// the manager's work is done.
    fn uncount(&mut self, index: usize) {
        if core::mem::take(&mut self.instances[index].counted) {
            self.active_eager -= 1;
            if self.active_eager == 0 {
                let _ = self.idle.signal(Signals::empty(), Signals::USER_0);
            }
        }
    }

    /// Whether slot `index` still holds the instance of `generation`.
    fn live(&self, index: usize, generation: u32) -> bool {
        let instance = &self.instances[index];
        !instance.destroyed && instance.generation == generation
    }

    /// The static child `name` of `parent` (children in collections are
    /// never the source of a route).
    fn child(&self, parent: usize, name: &str) -> Option<usize> {
        self.instances[parent]
            .children
            .iter()
            .copied()
            .find(|&c| self.instances[c].name == name && self.instances[c].collection.is_none())
    }

    /// The live instance at `moniker`.
    fn find(&self, moniker: &str) -> Option<usize> {
        self.instances
            .iter()
            .position(|i| !i.destroyed && i.moniker == moniker)
    }

    /// Whether `index` or anything under it runs (or is about to be
    /// restarted).
    fn subtree_runs(&self, index: usize) -> bool {
        self.instances[index].process.is_some()
            || self.instances[index].restart_pending
            || self.instances[index]
                .children
                .iter()
                .any(|&c| self.subtree_runs(c))
    }

    /// Whether a strict ancestor of `index` was stopped through `Realm`
    /// (and not started since).
    fn ancestor_stopping(&self, index: usize) -> bool {
        let mut at = self.instances[index].parent;
        while let Some(parent) = at {
            if self.instances[parent].stopping {
                return true;
            }
            at = self.instances[parent].parent;
        }
        false
    }

    /// How deep `index` is in the tree (the root is 0).
    fn depth(&self, index: usize) -> usize {
        let mut depth = 0;
        let mut at = index;
        while let Some(parent) = self.instances[at].parent {
            depth += 1;
            at = parent;
        }
        depth
    }

    /// Adds a child to a collection (see `Realm.CreateChild`).
    fn create_child(&mut self, request: &RealmCreateChildRequest) -> Result<usize, Status> {
        let parent = self.find(&request.parent).ok_or(Status::NOT_FOUND)?;
        if !valid_name(&request.name) || !valid_name(&request.manifest) {
            return Err(Status::INVALID_ARGS);
        }
        let declared = self.instances[parent]
            .decl
            .collections
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|c| c.name == request.collection);
        if !declared {
            return Err(Status::NOT_FOUND);
        }
        let members: Vec<usize> = self.instances[parent]
            .children
            .iter()
            .copied()
            .filter(|&c| self.instances[c].collection.as_deref() == Some(&request.collection))
            .collect();
        if members
            .iter()
            .any(|&c| self.instances[c].name == request.name)
        {
            return Err(Status::ALREADY_EXISTS);
        }
        if members.len() >= MAX_COLLECTION_CHILDREN {
            return Err(Status::NO_RESOURCES);
        }
        if self
            .bootfs_file(&format!("meta/{}.cm", request.manifest))
            .is_err()
        {
            return Err(Status::NOT_FOUND);
        }
        let depth = self.depth(parent) + 1;
        match self.add(
            &request.manifest,
            &request.name,
            Some(&request.collection),
            Some(parent),
            StartupMode::Lazy,
            OnTerminate::None,
            depth,
        ) {
            Ok(index) => {
                self.instances[parent].children.push(index);
                Ok(index)
            }
            Err(why) => {
                println!(
                    "component_manager: cannot create {}/{}:{}: {}",
                    request.parent, request.collection, request.name, why
                );
                Err(Status::INVALID_ARGS)
            }
        }
    }

    /// Removes `index` and everything under it from the tree, killing
    /// what still runs, and frees their slots.
    fn destroy(&mut self, index: usize) {
        if let Some(parent) = self.instances[index].parent {
            self.instances[parent].children.retain(|&c| c != index);
        }
        let mut pending = vec![index];
        while let Some(at) = pending.pop() {
            let instance = &mut self.instances[at];
            if let Some(job) = instance.job.take() {
                let _ = zx::task_kill(&job);
            }
            instance.process = None;
            instance.outgoing = None;
            instance.lifecycle = None;
            // The handles its creator gave it go with it.
            instance.startup_handles.clear();
            instance.destroyed = true;
            instance.generation = instance.generation.wrapping_add(1);
            pending.extend(core::mem::take(&mut instance.children));
            // Its manifest is not needed any more.
            instance.decl = ComponentDecl::default();
            self.uncount(at);
            self.free.push(at);
        }
    }

    /// The component that provides capability `name` of `kind` to `user`,
    /// per the manifests.
    fn route_use(&self, user: usize, kind: CapabilityKind, name: &str) -> Result<Provider, String> {
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
                (CapabilityKind::Directory, BOOT) => Ok(Provider::Boot),
                (CapabilityKind::Resource, name) => processargs::resource_arg(name)
                    .map(Provider::Resource)
                    .ok_or_else(|| format!("there is no resource {name}")),
                _ => Err(
                    "the component manager provides only the protocol zx.component.Realm, the directory boot and resources"
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

    fn route_expose(
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

/// Starts instance `index` (and its eager children) unless it runs.
fn start(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
    index: usize,
) -> Result<(), String> {
    let (svc_server, process, eager_children, exceptions, moniker, connect, generation) = {
        let mut guard = state.borrow_mut();
        let s = &mut *guard;
        if s.instances[index].destroyed {
            return Err("it was destroyed".into());
        }
        if s.instances[index].process.is_some() {
            return Ok(());
        }
        s.instances[index].stopping = false;
        let eager: Vec<usize> = s.instances[index]
            .children
            .iter()
            .copied()
            .filter(|&c| s.instances[c].startup == StartupMode::Eager)
            .collect();
        if s.instances[index].decl.program.is_none() && s.instances[index].job.is_some() {
            // A grouping component whose job exists: (re)start its children.
            drop(guard);
            start_children(state, spawner, idle, &eager);
            return Ok(());
        }
        let parent_job = match s.instances[index].parent {
            Some(parent) => s.instances[parent]
                .job
                .as_ref()
                .map(|j| j.handle().duplicate(Rights::SAME_RIGHTS)),
            None => Some(s.root_job.handle().duplicate(Rights::SAME_RIGHTS)),
        };
        let parent_job = Job::from_handle(
            parent_job
                .ok_or("its parent has no job")?
                .map_err(|s| format!("duplicate job: {s}"))?,
        );
        let job = parent_job.create_child().map_err(|s| format!("job: {s}"))?;
        let exceptions =
            zx::create_exception_channel(&job).map_err(|s| format!("exception channel: {s}"))?;
        let (handles, memory, threads, processes) = effective_limits(&s.instances[index].decl);
        job.set_limits(handles, memory, threads, processes)
            .map_err(|s| format!("limits: {s}"))?;
        let Some(program) = s.instances[index].decl.program.clone() else {
            // A component without a program only groups its children.
            s.instances[index].job = Some(job);
            drop(guard);
            start_children(state, spawner, idle, &eager);
            return Ok(());
        };
        let elf = s.bootfs_file(&program.binary)?;
        let (svc_client, svc_server) = Channel::create().map_err(|s| format!("channel: {s}"))?;
        let (out_client, out_server) = Channel::create().map_err(|s| format!("channel: {s}"))?;
        let (lifecycle_client, lifecycle_server) =
            Channel::create().map_err(|s| format!("channel: {s}"))?;
        let mut handles = vec![
            (processargs::SVC_DIRECTORY, svc_client.into_handle()),
            (processargs::OUTGOING_DIRECTORY, out_server.into_handle()),
            (processargs::LIFECYCLE, lifecycle_server.into_handle()),
        ];
        // What is opened for the component once it is launched: each
        // directory it uses (its namespace) and its log sink.
        let mut connect: Vec<(CapabilityKind, String, Channel)> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let uses = s.instances[index].decl.uses.clone().unwrap_or_default();
        for used in uses.iter().filter(|u| u.kind == CapabilityKind::Directory) {
            let (client, server) = Channel::create().map_err(|s| format!("channel: {s}"))?;
            let slot = u16::try_from(names.len()).map_err(|_| "too many directories")?;
            handles.push((processargs::namespace_directory(slot), client.into_handle()));
            names.push(used.path.clone());
            connect.push((CapabilityKind::Directory, used.name.clone(), server));
        }
        // Resources are start-up handles, duplicated from the manager's own.
        for used in uses.iter().filter(|u| u.kind == CapabilityKind::Resource) {
            let arg = match s.route_use(index, CapabilityKind::Resource, &used.name) {
                Ok(Provider::Resource(arg)) => arg,
                Ok(_) => return Err(format!("resource {} is not a resource", used.name)),
                Err(why) => return Err(format!("resource {}: {why}", used.name)),
            };
            let resource =
                s.resources.iter().find(|(a, _)| *a == arg).ok_or_else(|| {
                    format!("the component manager has no {} resource", used.name)
                })?;
            let copy = resource
                .1
                .handle()
                .duplicate(Rights::SAME_RIGHTS)
                .map_err(|s| format!("duplicate resource: {s}"))?;
            handles.push((processargs::resource(arg), copy));
        }
        // Handles its creator gave it (`CreateChildWithHandles`), again at
        // every start.
        for (kind, handle) in &s.instances[index].startup_handles {
            let copy = handle
                .duplicate(Rights::SAME_RIGHTS)
                .map_err(|s| format!("duplicate start-up handle: {s}"))?;
            handles.push((*kind, copy));
        }
        // A component that uses the log sink gets a connection to it ready
        // made; the request travels to the logger once it runs.
        if let Ok(Provider::Component(_)) = s.route_use(index, CapabilityKind::Protocol, LOG_SINK) {
            let (client, server) = Channel::create().map_err(|s| format!("channel: {s}"))?;
            handles.push((processargs::LOG_SINK, client.into_handle()));
            connect.push((CapabilityKind::Protocol, LOG_SINK.into(), server));
        }
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut args: Vec<&str> = vec![program.binary.as_str()];
        args.extend(program.args.iter().map(String::as_str));
        let moniker = s.instances[index].moniker.clone();
        let launched = zx_launch::launch(
            &job,
            zx_launch::Program {
                name: &moniker,
                elf: &elf,
                args: &args,
                handles,
                names: &names,
            },
        )
        .map_err(|e| format!("launch {}: {e}", program.binary))?;
        println!(
            "component_manager: started {} ({})",
            moniker, program.binary
        );
        let watch = match launched.process.handle().duplicate(Rights::SAME_RIGHTS) {
            Ok(watch) => watch,
            Err(status) => {
                // Nothing would watch it: do not leave it running.
                let _ = zx::task_kill(&job);
                return Err(format!("duplicate process: {status}"));
            }
        };
        let instance = &mut s.instances[index];
        instance.job = Some(job);
        instance.process = Some(launched.process);
        instance.outgoing = Some(out_client);
        instance.lifecycle = Some(LifecycleClient::new(ChannelTransport::new(
            lifecycle_client,
        )));
        s.count(index);
        let instance = &s.instances[index];
        (
            svc_server,
            Process::from_handle(watch),
            eager,
            exceptions,
            instance.moniker.clone(),
            connect,
            instance.generation,
        )
    };
    for (kind, name, server) in connect {
        open_route(state, spawner, idle, index, kind, &name, server);
    }
    spawner.spawn(serve_svc(
        Rc::clone(state),
        spawner.clone(),
        Rc::clone(idle),
        (index, generation),
        svc_server,
    ));
    spawner.spawn(watch(
        Rc::clone(state),
        spawner.clone(),
        Rc::clone(idle),
        (index, generation),
        process,
    ));
    spawner.spawn(report_crashes(moniker, exceptions));
    start_children(state, spawner, idle, &eager_children);
    Ok(())
}

/// Starts each of `children`; one that cannot start is reported and the
/// others start regardless (their parent runs either way).
fn start_children(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
    children: &[usize],
) {
    for &child in children {
        if let Err(why) = start(state, spawner, idle, child) {
            let moniker = state.borrow().instances[child].moniker.clone();
            println!("component_manager: cannot start {}: {}", moniker, why);
        }
    }
}

/// Serves instance `index`'s `/svc`: routes each `Open` to its provider.
async fn serve_svc(
    state: Rc<RefCell<State>>,
    spawner: Spawner,
    idle: Rc<Event>,
    (index, generation): (usize, u32),
    svc: Channel,
) {
    let transport = ChannelTransport::new(svc);
    let mut directory = SvcDirectory { opened: None };
    // Until the component's end is closed.
    while let Some(mut message) = zx_component::next_message(&transport).await {
        let reply = match dispatch_directory(&mut directory, &mut message) {
            Ok(reply) => reply,
            Err(_) => return, // a malformed request: drop the connection
        };
        if !state.borrow().live(index, generation) {
            return; // the instance was destroyed (and its slot reused)
        }
        if let Some(request) = directory.opened.take() {
            let object = Channel::from_handle(zx::Handle::from_raw(request.object.into_raw()));
            open_route(
                &state,
                &spawner,
                &idle,
                index,
                CapabilityKind::Protocol,
                &request.path,
                object,
            );
        }
        if let Some(reply) = reply {
            if transport.send(reply).is_err() {
                return;
            }
        }
    }
}

/// A component's `/svc`, as a `zx.io/Directory`: it opens, but does not
/// list (what a component may use is in its manifest).
struct SvcDirectory {
    opened: Option<DirectoryOpenRequest>,
}

impl DirectoryServer for SvcDirectory {
    fn open(&mut self, request: DirectoryOpenRequest) {
        self.opened = Some(request);
    }

    fn read_dir(&mut self) -> Result<DirectoryReadDirResponse, i32> {
        Err(Status::NOT_SUPPORTED.0)
    }
}

/// The bootfs as a read-only directory tree (the builtin `boot`
/// directory): its file names are paths such as `bin/console`.
struct BootTree {
    state: Rc<RefCell<State>>,
    /// Counts this connection against its component's limit.
    _served: Served,
}

/// One connection the manager serves a component itself, counted in its
/// `served` while it lives.
struct Served {
    state: Rc<RefCell<State>>,
    index: usize,
    generation: u32,
}

impl Served {
    /// Counts one more connection of `index`, unless it has
    /// [`MAX_SERVED_PER_COMPONENT`] (said on the console once).
    fn take(state: &Rc<RefCell<State>>, index: usize) -> Option<Served> {
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

/// The limits for a component's job: its manifest's, with the defaults
/// where it says 0 (see [`DEFAULT_HANDLES`]).
fn effective_limits(decl: &ComponentDecl) -> (u64, u64, u64, u64) {
    let declared = decl.limits.clone().unwrap_or(Limits {
        memory_bytes: 0,
        handles: 0,
        threads: 0,
        processes: 0,
    });
    let leaf = decl.children.as_ref().is_none_or(|c| c.is_empty())
        && decl.collections.as_ref().is_none_or(|c| c.is_empty());
    let or = |value: u64, default: u64| if value == 0 { default } else { value };
    (
        or(declared.handles.into(), DEFAULT_HANDLES),
        or(declared.memory_bytes, if leaf { DEFAULT_MEMORY } else { 0 }),
        or(declared.threads.into(), DEFAULT_THREADS),
        or(
            declared.processes.into(),
            if leaf { DEFAULT_PROCESSES } else { 0 },
        ),
    )
}

impl BootTree {
    /// Calls `each` with every file's name and data.
    fn files(&self, mut each: impl FnMut(&str, &[u8])) {
        let state = self.state.borrow();
        if let Ok(fs) = bootfs::Bootfs::parse(&state.bootfs) {
            for file in fs.files() {
                each(file.name, file.data);
            }
        }
    }
}

impl zx_component::fs::Tree for BootTree {
    fn lookup(&self, path: &str) -> Option<zx_component::fs::Node> {
        use zx_component::fs::Node;
        if path.is_empty() {
            return Some(Node::Directory);
        }
        let mut found = None;
        self.files(|name, data| {
            if name == path {
                found = Some(Node::File(data.len() as u64));
            } else if found.is_none()
                && name
                    .strip_prefix(path)
                    .is_some_and(|rest| rest.starts_with('/'))
            {
                found = Some(Node::Directory);
            }
        });
        found
    }

    fn list(&self, path: &str) -> Vec<DirEntry> {
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let mut entries: Vec<DirEntry> = Vec::new();
        self.files(|name, data| {
            let Some(rest) = name.strip_prefix(prefix.as_str()) else {
                return;
            };
            let (entry, kind, size) = match rest.split_once('/') {
                Some((directory, _)) => (directory, EntryKind::Directory, 0),
                None => (rest, EntryKind::File, data.len() as u64),
            };
            if !entries.iter().any(|e| e.name == entry) {
                entries.push(DirEntry {
                    name: entry.to_string(),
                    kind,
                    size,
                });
            }
        });
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries
    }

    fn read(&self, path: &str, offset: u64, count: usize) -> Option<Vec<u8>> {
        let mut out = None;
        self.files(|name, data| {
            if name == path {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let end = start.saturating_add(count).min(data.len());
                out = Some(data[start..end].to_vec());
            }
        });
        out
    }
}

/// Connects `object` to `path` on behalf of instance `user`: routes it per
/// the manifests, starts the provider if needed, and forwards the request
/// to the provider's outgoing directory. Unrouted requests are refused by
/// closing `object`.
fn open_route(
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
            let Some(served) = Served::take(state, user) else {
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
        Ok(Provider::Realm(scope)) => {
            let Some(served) = Served::take(state, user) else {
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
        let _ = zx_component::open(outgoing, &path, object);
    }
}

/// Prints the crash report of each fault in a component's job (the kernel
/// kills the faulting process; `watch` then applies `on_terminate`).
async fn report_crashes(moniker: String, exceptions: Channel) {
    loop {
        let mut message = zx::MessageBuf::default();
        match exceptions.read(&mut message) {
            Ok(()) => {
                let word = |i: usize| {
                    message
                        .bytes
                        .get(i * 8..i * 8 + 8)
                        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                };
                let what = match word(2) {
                    0 => "divide error",
                    6 => "invalid opcode",
                    13 => "general protection fault",
                    14 => "page fault",
                    _ => "exception",
                };
                println!(
                    "component_manager: {} crashed: {} (vector {}) at address {:#x}, rip {:#x}",
                    moniker,
                    what,
                    word(2),
                    word(4),
                    word(5)
                );
            }
            Err(Status::SHOULD_WAIT) => {
                let readable = Signals::CHANNEL_READABLE | Signals::PEER_CLOSED;
                if on_signals(&exceptions, readable).await.is_err() {
                    return;
                }
            }
            Err(_) => return, // the job is gone
        }
    }
}

/// Waits for instance `index`'s process to end; reports it and applies its
/// `on_terminate`.
async fn watch(
    state: Rc<RefCell<State>>,
    spawner: Spawner,
    idle: Rc<Event>,
    (index, generation): (usize, u32),
    process: Process,
) {
    let _ = on_signals(&process, Signals::TASK_TERMINATED).await;
    let code = process.state().map(|s| s.return_code).unwrap_or(-1);
    if !state.borrow().live(index, generation) {
        return; // destroyed meanwhile: nothing to report or restart
    }
    let (moniker, restart, attempt) = {
        let mut guard = state.borrow_mut();
        let instance = &mut guard.instances[index];
        instance.process = None;
        instance.outgoing = None;
        instance.lifecycle = None;
        if let Some(job) = instance.job.take() {
            let _ = zx::task_kill(&job);
        }
        let restart = instance.on_terminate == OnTerminate::Restart
            && instance.restarts < MAX_RESTARTS
            && !instance.stopping;
        if restart {
            instance.restarts += 1;
            instance.restart_pending = true;
        }
        (instance.moniker.clone(), restart, instance.restarts)
    };
    println!("component_manager: {} exited with {}", moniker, code);
    let (mut restart, mut attempt) = (restart, attempt);
    while restart {
        let delay = 50_000_000i64 << attempt.min(5);
        println!(
            "component_manager: restarting {} in {} ms (attempt {})",
            moniker,
            delay / 1_000_000,
            attempt
        );
        let _ = sleep(zx::deadline_after(delay)).await;
        let cancelled = {
            let mut guard = state.borrow_mut();
            if !guard.live(index, generation) {
                return; // destroyed meanwhile (which uncounted it)
            }
            guard.instances[index].restart_pending = false;
            guard.instances[index].stopping
        };
        if cancelled {
            println!("component_manager: restart of {} cancelled", moniker);
            break;
        }
        let Err(why) = start(&state, &spawner, &idle, index) else {
            return;
        };
        println!("component_manager: cannot restart {}: {}", moniker, why);
        // A start that failed (memory short for a moment, say) counts as
        // an attempt: try again later, as after a crash.
        let mut guard = state.borrow_mut();
        if !guard.live(index, generation) {
            return;
        }
        let instance = &mut guard.instances[index];
        restart = instance.restarts < MAX_RESTARTS && !instance.stopping;
        if restart {
            instance.restarts += 1;
            instance.restart_pending = true;
            attempt = instance.restarts;
        }
    }
    state.borrow_mut().uncount(index);
}

/// Serves `zx.component/Realm` on one connection.
async fn serve_realm(
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

    /// The absolute moniker of `moniker` as this connection names it: on a
    /// scoped connection, relative to the scope (`""`: the scope itself).
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
}

/// Stops instance `index` and everything under it: children first (the
/// latest declared first), then the instance itself. Each instance is
/// followed by its generation: one destroyed (and its slot reused) while
/// this waits is left alone.
fn stop_tree(state: Rc<RefCell<State>>, index: usize) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        let (generation, children) = {
            let guard = state.borrow();
            let instance = &guard.instances[index];
            let children: Vec<(usize, u32)> = instance
                .children
                .iter()
                .map(|&c| (c, guard.instances[c].generation))
                .collect();
            (instance.generation, children)
        };
        for &(child, child_generation) in children.iter().rev() {
            if state.borrow().live(child, child_generation) {
                stop_tree(Rc::clone(&state), child).await;
            }
        }
        if state.borrow().live(index, generation) {
            stop_one(&state, index).await;
        }
    })
}

/// Asks instance `index` to stop through its lifecycle channel, and kills
/// its job if it has not exited by the deadline.
async fn stop_one(state: &Rc<RefCell<State>>, index: usize) {
    let (process, asked, moniker, generation) = {
        let mut guard = state.borrow_mut();
        let instance = &mut guard.instances[index];
        if instance.destroyed {
            return;
        }
        // Also cancels a restart waiting out its back-off.
        instance.stopping = true;
        let Some(process) = instance.process.as_ref() else {
            return;
        };
        let Ok(process) = process.handle().duplicate(Rights::SAME_RIGHTS) else {
            return;
        };
        let asked = instance
            .lifecycle
            .as_ref()
            .is_some_and(|lifecycle| lifecycle.stop().is_ok());
        (
            Process::from_handle(process),
            asked,
            instance.moniker.clone(),
            instance.generation,
        )
    };
    if asked {
        let ended = with_deadline(
            zx::deadline_after(STOP_DEADLINE_NANOS),
            on_signals(&process, Signals::TASK_TERMINATED),
        )
        .await;
        if matches!(ended, Ok(Ok(_))) {
            return;
        }
        println!(
            "component_manager: {} did not stop within {} ms; killing it",
            moniker,
            STOP_DEADLINE_NANOS / 1_000_000
        );
    }
    if !state.borrow().live(index, generation) {
        return; // destroyed meanwhile, which killed it
    }
    let job = state.borrow().instances[index]
        .job
        .as_ref()
        .and_then(|job| job.handle().duplicate(Rights::SAME_RIGHTS).ok());
    if let Some(job) = job {
        let _ = zx::task_kill(&Job::from_handle(job));
    }
    let _ = on_signals(&process, Signals::TASK_TERMINATED).await;
}

/// Whether `name` may name a child or a manifest: 1 to 100 of
/// `[a-z0-9_-]`, starting with a letter or digit (as build-image checks).
fn valid_name(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}
