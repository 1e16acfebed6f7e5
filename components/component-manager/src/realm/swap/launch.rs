//! Launching a version of a component for a swap: the same start-up
//! handles as [`super::super::start`] gives (its `/svc`, lifecycle, log
//! sink, namespace, resources, its creator's handles), in a job of its own
//! beside the running version's, but without an outgoing directory: the
//! SDK's serving helper then waits to be handed the running version's
//! (`Lifecycle.Prepare`, `Resume`).

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use zx::{processargs, Channel, Job, Process, Rights};

use super::super::decl::zx_component_decl::{CapabilityKind, ComponentDecl};
use super::super::routing::{Provider, LOG_SINK};
use super::super::start::effective_limits;
use super::super::State;

/// A version launched for a swap, not yet serving.
pub(in super::super) struct Launched {
    pub job: Job,
    pub process: Process,
    /// The manager's end of its lifecycle channel.
    pub lifecycle: Channel,
    /// Koid of the version's end of it (to recognise it in the escrow).
    pub lifecycle_koid: u64,
    /// The server end of its `/svc`, to serve.
    pub svc_server: Channel,
    /// Its job's exception channel, for crash reports.
    pub exceptions: Channel,
    /// What to open for it once it runs (as `start` does).
    pub connect: Vec<(CapabilityKind, String, Channel)>,
}

/// Launches `decl`'s program (`elf`: from the bootfs or its package) as
/// instance `index`'s next version. Routes
/// are resolved with the running version's manifest: the swap checked that
/// the new one serves what the old one served; what it uses is the old
/// one's until the swap is final.
pub(in super::super) fn launch(
    s: &State,
    index: usize,
    decl: &ComponentDecl,
    elf: &[u8],
) -> Result<Launched, String> {
    let instance = &s.instances[index];
    let program = decl
        .program
        .clone()
        .ok_or("the new manifest has no program")?;
    let parent_job = match instance.parent {
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
    // The new manifest's limits, as `start` applies them.
    let (handles, memory, threads, processes) = effective_limits(decl);
    job.set_limits(handles, memory, threads, processes)
        .map_err(|s| format!("limits: {s}"))?;
    let (svc_client, svc_server) = Channel::create().map_err(|s| format!("channel: {s}"))?;
    let (lifecycle_client, lifecycle_server) =
        Channel::create().map_err(|s| format!("channel: {s}"))?;
    let lifecycle_koid = koid(&lifecycle_server);
    let mut handles = vec![
        (processargs::SVC_DIRECTORY, svc_client.into_handle()),
        (processargs::LIFECYCLE, lifecycle_server.into_handle()),
    ];
    let mut connect: Vec<(CapabilityKind, String, Channel)> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let uses = instance.decl.uses.clone().unwrap_or_default();
    for used in uses.iter().filter(|u| u.kind == CapabilityKind::Directory) {
        let (client, server) = Channel::create().map_err(|s| format!("channel: {s}"))?;
        let slot = u16::try_from(names.len()).map_err(|_| "too many directories")?;
        handles.push((processargs::namespace_directory(slot), client.into_handle()));
        names.push(used.path.clone());
        connect.push((CapabilityKind::Directory, used.name.clone(), server));
    }
    for used in uses.iter().filter(|u| u.kind == CapabilityKind::Resource) {
        let Ok(Provider::Resource(arg)) = s.route_use(index, CapabilityKind::Resource, &used.name)
        else {
            return Err(format!("resource {} is not routed", used.name));
        };
        let resource = s
            .resources
            .iter()
            .find(|(a, _)| *a == arg)
            .ok_or_else(|| format!("the component manager has no {} resource", used.name))?;
        let copy = resource
            .1
            .handle()
            .duplicate(Rights::SAME_RIGHTS)
            .map_err(|s| format!("duplicate resource: {s}"))?;
        handles.push((processargs::resource(arg), copy));
    }
    for (kind, handle) in &instance.startup_handles {
        let copy = handle
            .duplicate(Rights::SAME_RIGHTS)
            .map_err(|s| format!("duplicate start-up handle: {s}"))?;
        handles.push((*kind, copy));
    }
    if let Ok(Provider::Component(_)) = s.route_use(index, CapabilityKind::Protocol, LOG_SINK) {
        let (client, server) = Channel::create().map_err(|s| format!("channel: {s}"))?;
        handles.push((processargs::LOG_SINK, client.into_handle()));
        connect.push((CapabilityKind::Protocol, LOG_SINK.into(), server));
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut args: Vec<&str> = vec![program.binary.as_str()];
    args.extend(program.args.iter().map(String::as_str));
    let launched = zx_launch::launch(
        &job,
        zx_launch::Program {
            name: &instance.moniker,
            elf,
            args: &args,
            handles,
            names: &names,
        },
    )
    .map_err(|e| format!("launch {}: {e}", program.binary))?;
    Ok(Launched {
        job,
        process: launched.process,
        lifecycle: lifecycle_client,
        lifecycle_koid,
        svc_server,
        exceptions,
        connect,
    })
}

/// The koid of the object behind `handle` (0 if it cannot be read).
pub(in super::super) fn koid(handle: &impl zx::AsHandleRef) -> u64 {
    handle.basic_info().map(|info| info.koid).unwrap_or(0)
}
