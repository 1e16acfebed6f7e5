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
use core::cell::{Cell, RefCell};
use zx::{processargs, AsHandleRef, Channel, Event, Job, Process, Rights, Signals, Status, Vmo};
use zx_async::{on_signals, sleep, Executor, Spawner};
use zx_component::bindings::zx_io::DirectoryOpenRequest;
use zx_idl::ChannelTransport;
use zx_runtime::println;

mod decl {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use decl::zx_component::{
    dispatch_realm, ComponentInfo, ComponentState, RealmListResponse, RealmServer,
    RealmStartRequest, RealmStartResponse, RealmStopRequest, RealmStopResponse,
};
use decl::zx_component_decl::{ComponentDecl, OnTerminate, Source, StartupMode};
use idlc_runtime::Transport;

/// Connections to the logger carry the requester's moniker.
const LOG_SINK: &str = "zx.logger.LogSink";

/// What the component manager serves itself (to the root, as its parent).
const REALM: &str = "zx.component.Realm";

/// Where a route ends.
enum Provider {
    /// A component's outgoing directory.
    Component(usize),
    /// The component manager's own `Realm`.
    Realm,
}

/// Deepest component tree accepted (guards against manifests that name
/// each other in a loop; build-image rejects those too).
const MAX_DEPTH: usize = 16;
/// How often a component is restarted before the manager gives up.
const MAX_RESTARTS: u32 = 5;

struct Instance {
    /// Path from the root, e.g. `root/echo_server`.
    moniker: String,
    /// Name among its siblings.
    name: String,
    decl: ComponentDecl,
    parent: Option<usize>,
    children: Vec<usize>,
    startup: StartupMode,
    on_terminate: OnTerminate,
    job: Option<Job>,
    process: Option<Process>,
    /// Client end of its outgoing directory, while it runs.
    outgoing: Option<Channel>,
    restarts: u32,
    /// Stopped through `Realm.Stop`: not restarted.
    stop_requested: bool,
}

struct State {
    instances: Vec<Instance>,
    root_job: Job,
    bootfs: zx_runtime::ReadOnlyMapping,
    /// Eager components running or about to be restarted.
    active_eager: Rc<Cell<usize>>,
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
        let state = State {
            instances: Vec::new(),
            root_job: Job::from_handle(job),
            bootfs,
            active_eager: Rc::new(Cell::new(0)),
        };
        let idle = Event::create().map_err(|s| format!("event: {s}"))?;
        Ok(Realm {
            state: Rc::new(RefCell::new(state)),
            idle: Rc::new(idle),
        })
    }

    /// Builds the tree under manifest `root`, starts it, and serves until
    /// every eager component has ended.
    pub fn run(&mut self, root: &str) -> Result<(), String> {
        {
            let mut state = self.state.borrow_mut();
            state.add(root, "root", None, StartupMode::Eager, OnTerminate::None, 0)?;
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
            if state.borrow().active_eager.get() > 0 {
                let _ = on_signals(&*idle, Signals::USER_0).await;
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
    fn add(
        &mut self,
        manifest: &str,
        name: &str,
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
        let moniker = match parent {
            Some(p) => format!("{}/{}", self.instances[p].moniker, name),
            None => name.to_string(),
        };
        let index = self.instances.len();
        let children: Vec<_> = decl.children.clone().unwrap_or_default();
        self.instances.push(Instance {
            moniker,
            name: name.to_string(),
            decl,
            parent,
            children: Vec::new(),
            startup,
            on_terminate,
            job: None,
            process: None,
            outgoing: None,
            restarts: 0,
            stop_requested: false,
        });
        for child in children {
            let id = self.add(
                &child.manifest,
                &child.name,
                Some(index),
                child.startup,
                child.on_terminate,
                depth + 1,
            )?;
            self.instances[index].children.push(id);
        }
        Ok(index)
    }

    fn child(&self, parent: usize, name: &str) -> Option<usize> {
        self.instances[parent]
            .children
            .iter()
            .copied()
            .find(|&c| self.instances[c].name == name)
    }

    /// The component that provides `protocol` to `user`, per the manifests.
    fn route_use(&self, user: usize, protocol: &str) -> Result<Provider, String> {
        let uses = self.instances[user]
            .decl
            .uses
            .as_deref()
            .unwrap_or_default();
        if !uses.iter().any(|u| u.protocol == protocol) {
            return Err("its manifest does not use it".into());
        }
        self.route_from_parent(user, protocol)
    }

    fn route_from_parent(&self, child: usize, protocol: &str) -> Result<Provider, String> {
        let name = &self.instances[child].name;
        let Some(parent) = self.instances[child].parent else {
            // The root's parent is the component manager.
            return if protocol == REALM {
                Ok(Provider::Realm)
            } else {
                Err("the component manager provides only zx.component.Realm".into())
            };
        };
        let offers = self.instances[parent]
            .decl
            .offers
            .as_deref()
            .unwrap_or_default();
        let offer = offers
            .iter()
            .find(|o| o.protocol == protocol && &o.target_child == name)
            .ok_or_else(|| {
                format!(
                    "{} does not offer it to {}",
                    self.instances[parent].moniker, name
                )
            })?;
        match offer.source {
            Source::Self_ => Ok(Provider::Component(parent)),
            Source::Parent => self.route_from_parent(parent, protocol),
            Source::Child => {
                let source = self
                    .child(parent, &offer.source_child)
                    .ok_or_else(|| format!("no child {}", offer.source_child))?;
                self.route_expose(source, protocol)
            }
        }
    }

    fn route_expose(&self, component: usize, protocol: &str) -> Result<Provider, String> {
        let exposes = self.instances[component]
            .decl
            .exposes
            .as_deref()
            .unwrap_or_default();
        let expose = exposes
            .iter()
            .find(|e| e.protocol == protocol)
            .ok_or_else(|| format!("{} does not expose it", self.instances[component].moniker))?;
        match expose.source {
            Source::Child => {
                let source = self
                    .child(component, &expose.source_child)
                    .ok_or_else(|| format!("no child {}", expose.source_child))?;
                self.route_expose(source, protocol)
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
    let (svc_server, process, eager_children, exceptions, moniker) = {
        let mut guard = state.borrow_mut();
        let s = &mut *guard;
        if s.instances[index].process.is_some() {
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
        if let Some(limits) = &s.instances[index].decl.limits {
            job.set_limits(
                limits.handles as u64,
                limits.memory_bytes,
                limits.threads as u64,
            )
            .map_err(|s| format!("limits: {s}"))?;
        }
        let eager: Vec<usize> = s.instances[index]
            .children
            .iter()
            .copied()
            .filter(|&c| s.instances[c].startup == StartupMode::Eager)
            .collect();
        let Some(program) = s.instances[index].decl.program.clone() else {
            // A component without a program only groups its children.
            s.instances[index].job = Some(job);
            drop(guard);
            for child in eager {
                start(state, spawner, idle, child)?;
            }
            return Ok(());
        };
        let elf = s.bootfs_file(&program.binary)?;
        let (svc_client, svc_server) = Channel::create().map_err(|s| format!("channel: {s}"))?;
        let (out_client, out_server) = Channel::create().map_err(|s| format!("channel: {s}"))?;
        let mut args: Vec<&str> = vec![program.binary.as_str()];
        args.extend(program.args.iter().map(String::as_str));
        let moniker = s.instances[index].moniker.clone();
        let launched = zx_launch::launch(
            &job,
            zx_launch::Program {
                name: &moniker,
                elf: &elf,
                args: &args,
                handles: vec![
                    (processargs::SVC_DIRECTORY, svc_client.into_handle()),
                    (processargs::OUTGOING_DIRECTORY, out_server.into_handle()),
                ],
            },
        )
        .map_err(|e| format!("launch {}: {e}", program.binary))?;
        println!(
            "component_manager: started {} ({})",
            moniker, program.binary
        );
        let watch = launched
            .process
            .handle()
            .duplicate(Rights::SAME_RIGHTS)
            .map_err(|s| format!("{s}"))?;
        let instance = &mut s.instances[index];
        instance.job = Some(job);
        instance.process = Some(launched.process);
        instance.outgoing = Some(out_client);
        if instance.startup == StartupMode::Eager && instance.restarts == 0 {
            s.active_eager.set(s.active_eager.get() + 1);
        }
        (
            svc_server,
            Process::from_handle(watch),
            eager,
            exceptions,
            instance.moniker.clone(),
        )
    };
    spawner.spawn(serve_svc(
        Rc::clone(state),
        spawner.clone(),
        Rc::clone(idle),
        index,
        svc_server,
    ));
    spawner.spawn(watch(
        Rc::clone(state),
        spawner.clone(),
        Rc::clone(idle),
        index,
        process,
    ));
    spawner.spawn(report_crashes(moniker, exceptions));
    for child in eager_children {
        start(state, spawner, idle, child)?;
    }
    Ok(())
}

/// Serves instance `index`'s `/svc`: routes each `Open` to its provider.
async fn serve_svc(
    state: Rc<RefCell<State>>,
    spawner: Spawner,
    idle: Rc<Event>,
    index: usize,
    svc: Channel,
) {
    let transport = ChannelTransport::new(svc);
    loop {
        let mut message = match transport.try_receive() {
            Ok(message) => message,
            Err(Status::SHOULD_WAIT) => {
                let readable = Signals::CHANNEL_READABLE | Signals::PEER_CLOSED;
                if on_signals(transport.channel(), readable).await.is_err() {
                    return;
                }
                continue;
            }
            Err(_) => return, // the component's end is closed
        };
        let Ok(request) = message.decode_body::<DirectoryOpenRequest>() else {
            continue;
        };
        let object = Channel::from_handle(zx::Handle::from_raw(request.object.into_raw()));
        let route = state.borrow().route_use(index, &request.path);
        let provider = match route {
            Ok(Provider::Component(provider)) => provider,
            Ok(Provider::Realm) => {
                spawner.spawn(serve_realm(
                    Rc::clone(&state),
                    spawner.clone(),
                    Rc::clone(&idle),
                    object,
                ));
                continue;
            }
            Err(why) => {
                let moniker = state.borrow().instances[index].moniker.clone();
                println!(
                    "component_manager: {} cannot reach {}: {}",
                    moniker, request.path, why
                );
                continue; // `object` closes: the client sees PEER_CLOSED
            }
        };
        if let Err(why) = start(&state, &spawner, &idle, provider) {
            println!(
                "component_manager: cannot start the provider of {}: {}",
                request.path, why
            );
            continue;
        }
        let outgoing = state.borrow().instances[provider]
            .outgoing
            .as_ref()
            .map(|c| c.raw_handle());
        // Log lines are attributed by the manager, not by the writer: the
        // logger is told who connects.
        let path = if request.path == LOG_SINK {
            format!(
                "{}/{}",
                request.path,
                state.borrow().instances[index].moniker
            )
        } else {
            request.path
        };
        if let Some(outgoing) = outgoing {
            let _ = zx_component::open(outgoing, &path, object);
        }
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
    index: usize,
    process: Process,
) {
    let _ = on_signals(&process, Signals::TASK_TERMINATED).await;
    let code = process.state().map(|s| s.return_code).unwrap_or(-1);
    let (moniker, restart, eager, attempt) = {
        let mut guard = state.borrow_mut();
        let instance = &mut guard.instances[index];
        instance.process = None;
        instance.outgoing = None;
        if let Some(job) = instance.job.take() {
            let _ = zx::task_kill(&job);
        }
        let restart =
            instance.on_terminate == OnTerminate::Restart && instance.restarts < MAX_RESTARTS;
        if restart {
            instance.restarts += 1;
        }
        (
            instance.moniker.clone(),
            restart,
            instance.startup == StartupMode::Eager,
            instance.restarts,
        )
    };
    println!("component_manager: {} exited with {}", moniker, code);
    if restart {
        let delay = 50_000_000i64 << attempt.min(5);
        println!(
            "component_manager: restarting {} in {} ms (attempt {})",
            moniker,
            delay / 1_000_000,
            attempt
        );
        let _ = sleep(zx::deadline_after(delay)).await;
        if let Err(why) = start(&state, &spawner, &idle, index) {
            println!("component_manager: cannot restart {}: {}", moniker, why);
        } else {
            return;
        }
    }
    if eager {
        let guard = state.borrow();
        let active = guard.active_eager.get().saturating_sub(1);
        guard.active_eager.set(active);
        if active == 0 {
            let _ = idle.signal(Signals::empty(), Signals::USER_0);
        }
    }
}

/// Serves `zx.component/Realm` on one connection.
async fn serve_realm(
    state: Rc<RefCell<State>>,
    spawner: Spawner,
    idle: Rc<Event>,
    channel: Channel,
) {
    let transport = ChannelTransport::new(channel);
    let mut realm = RealmService {
        state,
        spawner,
        idle,
    };
    loop {
        let mut message = match transport.try_receive() {
            Ok(message) => message,
            Err(Status::SHOULD_WAIT) => {
                let readable = Signals::CHANNEL_READABLE | Signals::PEER_CLOSED;
                if on_signals(transport.channel(), readable).await.is_err() {
                    return;
                }
                continue;
            }
            Err(_) => return,
        };
        match dispatch_realm(&mut realm, &mut message) {
            Ok(Some(reply)) => {
                if transport.send(reply).is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(error) => println!("component_manager: bad Realm request: {:?}", error),
        }
    }
}

struct RealmService {
    state: Rc<RefCell<State>>,
    spawner: Spawner,
    idle: Rc<Event>,
}

impl RealmService {
    fn find(&self, moniker: &str) -> Result<usize, i32> {
        let state = self.state.borrow();
        state
            .instances
            .iter()
            .position(|i| i.moniker == moniker)
            .ok_or(Status::NOT_FOUND.0)
    }
}

impl RealmServer for RealmService {
    fn list(&mut self) -> RealmListResponse {
        let state = self.state.borrow();
        let components = state
            .instances
            .iter()
            .map(|instance| ComponentInfo {
                moniker: instance.moniker.clone(),
                state: if instance.process.is_some() {
                    ComponentState::Running
                } else {
                    ComponentState::Stopped
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

    fn start(&mut self, request: RealmStartRequest) -> Result<RealmStartResponse, i32> {
        let index = self.find(&request.moniker)?;
        start(&self.state, &self.spawner, &self.idle, index).map_err(|why| {
            println!(
                "component_manager: cannot start {}: {}",
                request.moniker, why
            );
            Status::INTERNAL.0
        })?;
        Ok(RealmStartResponse {})
    }

    fn stop(&mut self, request: RealmStopRequest) -> Result<RealmStopResponse, i32> {
        let index = self.find(&request.moniker)?;
        let mut state = self.state.borrow_mut();
        let instance = &mut state.instances[index];
        let Some(job) = instance.job.as_ref() else {
            return Err(Status::BAD_STATE.0);
        };
        if instance.process.is_none() {
            return Err(Status::BAD_STATE.0);
        }
        instance.stop_requested = true;
        zx::task_kill(job).map_err(|status| status.0)?;
        println!("component_manager: stopping {}", request.moniker);
        Ok(RealmStopResponse {})
    }
}
