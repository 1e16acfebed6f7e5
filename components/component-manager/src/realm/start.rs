//! Starting a component: its job and limits, its start-up handles, its
//! launch, and the tasks that serve and watch it.

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use zx::{processargs, Channel, Event, Job, Process, Rights};
use zx_async::Spawner;
use zx_idl::ChannelTransport;
use zx_runtime::println;

use super::decl::zx_component_decl::{CapabilityKind, ComponentDecl, Limits, StartupMode};
use super::decl::zx_process_lifecycle::LifecycleClient;
use super::resolve;
use super::routing::{open_route, Provider, LOG_SINK};
use super::svc_directory::serve_svc;
use super::watch::{report_crashes, watch};
use super::State;

/// Limits a component's job gets when its manifest leaves them at 0:
/// handles and threads per process for every component; mapped and
/// committed memory and processes only for components without children or
/// collections (a parent's job also bounds its children's, so a default
/// there would squeeze them).
const DEFAULT_HANDLES: u64 = 4096;
const DEFAULT_THREADS: u64 = 64;
const DEFAULT_MEMORY: u64 = 128 << 20;
const DEFAULT_PROCESSES: u64 = 16;

/// Starts instance `index` (and its eager children) unless it runs.
pub(super) fn start(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
    index: usize,
) -> Result<(), String> {
    // A component's job is made in its parent's: a parent that has not
    // started (a lazy one, whose child's capability is opened first) is
    // started first, and so up the chain. One being stopped is not.
    let parent = {
        let s = state.borrow();
        s.instances[index].parent.filter(|&p| {
            let parent = &s.instances[p];
            parent.job.is_none() && !parent.destroyed && !parent.stopping
        })
    };
    if let Some(parent) = parent {
        start(state, spawner, idle, parent).map_err(|why| format!("its parent: {why}"))?;
    }
    let (svc_server, process, eager_children, exceptions, moniker, connect, generation) = {
        let mut guard = state.borrow_mut();
        let s = &mut *guard;
        if s.instances[index].destroyed {
            return Err("it was destroyed".into());
        }
        if s.instances[index].process.is_some() {
            return Ok(());
        }
        // A manifest or program not in the bootfs comes from its package:
        // resolved first, launched by `resolve` once it has arrived.
        if !resolve::ready(s, index) {
            drop(guard);
            return resolve::begin(state, spawner, idle, index);
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
        // Launched in place: the package's mapped VMO, or the bootfs.
        let package = resolve::take_program(s, index);
        if package.is_none() {
            s.bootfs_bytes(&program.binary)?;
        }
        let (svc_client, svc_server) = Channel::create().map_err(|s| format!("channel: {s}"))?;
        let (out_client, out_server) = match resolve::take_outgoing(s, index) {
            Some(pair) => pair,
            None => Channel::create().map_err(|s| format!("channel: {s}"))?,
        };
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
        let elf: &[u8] = match &package {
            Some(program) => program,
            None => s.bootfs_bytes(&program.binary)?,
        };
        let launched = zx_launch::launch(
            &job,
            zx_launch::Program {
                name: &moniker,
                elf,
                args: &args,
                handles,
                names: &names,
            },
        )
        .map_err(|e| format!("launch {}: {e}", program.binary))?;
        // The process has its own copy of each segment: the package's
        // mapping (and VMO) goes now.
        drop(package);
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

/// The limits for a component's job: its manifest's, with the defaults
/// where it says 0 (see [`DEFAULT_HANDLES`]).
pub(super) fn effective_limits(decl: &ComponentDecl) -> (u64, u64, u64, u64) {
    let declared = decl.limits.clone().unwrap_or(Limits {
        memory_bytes: 0,
        handles: 0,
        threads: 0,
        processes: 0,
        components: 0,
        connections: 0,
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
