//! The hot swap (docs/hot-swap.md, DESIGN §7): replacing a running
//! component with another version while its clients keep calling.
//!
//! 1. **Check** before anything stops: both manifests declare a `state`,
//!    and the new one serves every protocol of the old one compatibly
//!    ([`compat`]). A refusal changes nothing.
//! 2. **Start** the new version without an outgoing directory
//!    ([`launch`]) and `Prepare` it: it binds its lifecycle channel to a
//!    fresh escrow ([`escrow`]) and answers. A version that ends or does
//!    not answer is killed; the old one never stopped.
//! 3. **Escrow** the old version: it answers every request it read, then
//!    hands over its outgoing directory, every connection and its state.
//!    Clients' requests wait in the kernel queues meanwhile.
//! 4. **Hand over** them in answer to the new version's `Takeover.Take`
//!    (it asked after `Prepare`; the old version is escrowed only once it
//!    has asked); it binds each to the escrow.
//! 5. **Grace period** (`swap_grace_nanos` of the new manifest): if the new
//!    version ends in it, the kernel has moved its endpoints (and its
//!    lifecycle channel, with a `Resume` it had not read) to the escrow,
//!    each with what was queued, requests it had read but not answered
//!    back in front: those the old version handed over (by koid), and the
//!    connections the manager forwarded to the instance during the swap
//!    (`open_to`), go back to it, waiting, with the state it handed
//!    over — or, if it ended meanwhile, to the old version started
//!    again. Otherwise the old version is told to `Stop` and the new one
//!    is the instance.
//!
//! The old version's endpoints are never closed, so clients never see
//! `PEER_CLOSED`. The measured gap is from the `Escrow` request to the
//! message that hands the endpoints on (to the new version, or back to
//! the old one on a rollback).

mod compat;
mod escrow;
mod launch;
pub(super) mod pins;

use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;
use idlc_runtime::Handle as WireHandle;
use zx::{AsHandleRef, Channel, Event, Handle, Process, Rights, Signals};
use zx_async::Spawner;
use zx_idl::ChannelTransport;
use zx_runtime::println;

use super::decl::zx_component_decl::ComponentDecl;
use super::decl::zx_component_swap::{Outcome, SwapReport};
use super::decl::zx_process_lifecycle::LifecycleMarker as Ordinals;
use super::decl::zx_process_lifecycle::{
    Handover, LifecycleClient, LifecycleEscrowResponse, LifecyclePrepareRequest,
    LifecycleResumeRequest, TakeoverMarker, TakeoverTakeResponse,
};
use super::resolve::{package_url, resolve, Elf};
use super::routing::open_route;
use super::svc_directory::serve_svc;
use super::watch::{report_crashes, watch};
use super::State;
use escrow::{ended_by, incoming, message, request, send, Escrow};
use launch::{koid, launch, Launched};

/// How long the old version may take to hand over (`Escrow`), and a new
/// one to answer `Prepare`, before the swap is given up.
const ANSWER_DEADLINE_NANOS: i64 = 2_000_000_000;
/// How long a replaced version may take to exit after `Stop`.
const RETIRE_DEADLINE_NANOS: i64 = 1_000_000_000;

/// An instance's versions: what it runs and what became of its last swap.
pub(super) struct Record {
    /// The manifest it runs (`meta/<manifest>.cm`).
    pub manifest: String,
    /// The manifest it ran before its last successful swap.
    pub previous: Option<String>,
    /// What became of the last swap, for `ls`; empty if none.
    pub last: String,
    /// A swap of it is under way: a second one is refused.
    pub busy: bool,
    /// While a swap of it is under way (from the `Escrow` request to the
    /// end of the grace period or the rollback): the koids of the objects
    /// the manager forwarded to its outgoing directory (`open_to`), at
    /// most [`MAX_OPENED`]. A rollback gives these back to the old version
    /// with what it handed over.
    pub opened: Option<Vec<u64>>,
}

impl Record {
    /// An instance started from `manifest`, never swapped.
    pub fn new(manifest: &str) -> Record {
        Record {
            manifest: manifest.to_string(),
            previous: None,
            last: String::new(),
            busy: false,
            opened: None,
        }
    }
}

/// Most connections a handover carries (`Handover.connections`,
/// `idl/lifecycle.idl`), so most koids a swap records of the connections
/// opened meanwhile (`Record::opened`): beyond it, connections opened
/// during the swap are not recorded, and a rollback closes them.
pub(super) const MAX_OPENED: usize = 63;

/// Forwards `object` to `path` in the outgoing directory `outgoing` of
/// instance `provider` (`zx_component::open`), and, if a swap of it is
/// under way, records its koid (`Record::opened`): a connection opened
/// while the new version serves goes back to the old one on a rollback.
/// Every route into a component's outgoing directory goes through here.
pub(super) fn open_to(
    state: &Rc<RefCell<State>>,
    provider: usize,
    outgoing: u32,
    path: &str,
    object: Channel,
) -> Result<(), zx::Status> {
    if let Some(opened) = state.borrow_mut().instances[provider].swap.opened.as_mut() {
        let object = koid(&object);
        if opened.len() < MAX_OPENED && object != 0 {
            opened.push(object);
        }
    }
    zx_component::open(outgoing, path, object)
}

/// Recording the connections opened to an instance during its swap
/// (`Record::opened`): from `start` until `take` or the end of the swap.
struct Recording<'a> {
    state: &'a Rc<RefCell<State>>,
    at: (usize, u32),
}

impl<'a> Recording<'a> {
    fn start(state: &'a Rc<RefCell<State>>, (index, generation): (usize, u32)) -> Self {
        let mut guard = state.borrow_mut();
        if guard.live(index, generation) {
            guard.instances[index].swap.opened = Some(Vec::new());
        }
        Recording {
            state,
            at: (index, generation),
        }
    }

    /// Stops recording; what was recorded.
    fn take(&self) -> Vec<u64> {
        let (index, generation) = self.at;
        let mut guard = self.state.borrow_mut();
        if !guard.live(index, generation) {
            return Vec::new();
        }
        guard.instances[index]
            .swap
            .opened
            .take()
            .unwrap_or_default()
    }
}

impl Drop for Recording<'_> {
    fn drop(&mut self) {
        let _ = self.take();
    }
}

/// Most bytes of a reason (`SwapReport.reason`, `Version.last_swap`).
pub(super) const MAX_REASON: usize = 1024;

/// `text` cut to at most `max` bytes, on a character boundary.
pub(super) fn truncated(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn report(outcome: Outcome, reason: String, gap_nanos: u64) -> SwapReport {
    SwapReport {
        outcome,
        reason: truncated(reason, MAX_REASON),
        gap_nanos,
    }
}

fn refused(reason: String) -> SwapReport {
    report(Outcome::Refused, reason, 0)
}

/// Swaps instance `moniker` to `source`: a manifest name or a package URL
/// (`load`).
pub(super) async fn swap(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
    moniker: &str,
    source: &str,
) -> SwapReport {
    let refuse = |reason: String| {
        let mut guard = state.borrow_mut();
        if let Some(index) = guard.find(moniker) {
            let record = &mut guard.instances[index].swap;
            record.busy = false;
            record.last = truncated(format!("refused {source}: {reason}"), MAX_REASON);
        }
        refused(reason)
    };
    let instance = {
        let guard = state.borrow();
        check_instance(&guard, moniker)
    };
    let (index, generation) = match instance {
        Ok(found) => found,
        Err(reason) => return refuse(reason),
    };
    state.borrow_mut().instances[index].swap.busy = true;
    // The new version's manifest and program (the resolver may be asked:
    // other requests are served meanwhile, so the instance is checked
    // again after).
    let loaded = load(state, spawner, idle, source).await;
    let checked = loaded.and_then(|new| {
        let guard = state.borrow();
        if !guard.live(index, generation) {
            return Err(format!("{moniker} was destroyed meanwhile"));
        }
        check(&guard, index, source, &new.decl)?;
        Ok(new)
    });
    let new = match checked {
        Ok(new) => new,
        Err(reason) => {
            if !state.borrow().live(index, generation) {
                return refused(reason);
            }
            return refuse(reason);
        }
    };
    let result = run(state, spawner, idle, (index, generation), source, new).await;
    if let Outcome::Swapped = result.outcome {
        // Kept across reboots before it is reported (`pins`).
        pins::swapped(state, spawner, idle, (index, generation)).await;
    }
    let mut guard = state.borrow_mut();
    if guard.live(index, generation) {
        let record = &mut guard.instances[index].swap;
        record.busy = false;
        record.last = match result.outcome {
            Outcome::Swapped => {
                format!("swapped from {}", record.previous.as_deref().unwrap_or("?"))
            }
            Outcome::Refused => format!("refused {source}: {}", result.reason),
            Outcome::RolledBack => format!("rolled back from {source}: {}", result.reason),
        };
    }
    println!(
        "component_manager: swap of {} to {}: {} {}(gap {} us)",
        moniker,
        source,
        match result.outcome {
            Outcome::Swapped => "swapped",
            Outcome::Refused => "refused",
            Outcome::RolledBack => "rolled back",
        },
        if result.reason.is_empty() {
            String::new()
        } else {
            format!("({}) ", result.reason)
        },
        result.gap_nanos / 1000
    );
    result
}

/// A version to swap in: its manifest, its program and what the instance
/// records it runs (`Record::manifest`).
struct NewVersion {
    decl: ComponentDecl,
    elf: Elf,
    /// A manifest name, or `pkg://<name>?hash=<meta root>`: what a restart
    /// of the instance loads again.
    manifest: String,
    /// The package's meta root, if it came from one.
    root: Option<String>,
}

/// Loads `source`: a package URL (`pkg://<name>`, `pkg://<name>?hash=<meta
/// root>`) from the package resolver; a manifest name from the bootfs
/// (`meta/<source>.cm`), its program from the bootfs or, if the bootfs does
/// not hold it, from the package of that name (which must hold the same
/// manifest) — and a name the bootfs has no manifest of as `pkg://<name>`.
async fn load(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
    source: &str,
) -> Result<NewVersion, String> {
    let bootfs_manifest = if source.starts_with("pkg://") {
        None
    } else {
        state
            .borrow()
            .bootfs_file(&format!("meta/{source}.cm"))
            .ok()
    };
    let decode = |bytes: &[u8], what: &str| -> Result<ComponentDecl, String> {
        idlc_runtime::decode(bytes, &mut []).map_err(|e| format!("{what}: {e:?}"))
    };
    if let Some(bytes) = bootfs_manifest {
        let decl = decode(&bytes, &format!("meta/{source}.cm"))?;
        let binary = decl
            .program
            .as_ref()
            .map(|p| p.binary.clone())
            .ok_or_else(|| format!("{source} has no program"))?;
        let in_bootfs = state.borrow().bootfs_file(&binary);
        let elf = match in_bootfs {
            Ok(elf) => Elf::Boot(elf),
            Err(_) => {
                let url = package_url(source);
                let resolved = resolve(state, spawner, idle, &url).await?;
                if resolved.manifest != bytes {
                    return Err(format!(
                        "{url}: its manifest is not meta/{source}.cm of the bootfs"
                    ));
                }
                Elf::Package(resolved.program)
            }
        };
        return Ok(NewVersion {
            decl,
            elf,
            manifest: source.into(),
            root: None,
        });
    }
    let url = package_url(source);
    let resolved = resolve(state, spawner, idle, &url)
        .await
        .map_err(|why| format!("no manifest {source:?} in the bootfs, and {url}: {why}"))?;
    let decl = decode(&resolved.manifest, &url)?;
    let name = url
        .strip_prefix("pkg://")
        .and_then(|rest| rest.split('?').next())
        .unwrap_or_default();
    Ok(NewVersion {
        decl,
        elf: Elf::Package(resolved.program),
        manifest: format!("pkg://{name}?hash={}", resolved.root),
        root: Some(resolved.root),
    })
}

/// Swaps `moniker` back to the manifest it ran before its last swap (a
/// swap like any other: checked, and rolled back if that version fails).
pub(super) async fn rollback(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
    moniker: &str,
) -> SwapReport {
    let previous = {
        let guard = state.borrow();
        guard
            .find(moniker)
            .map(|index| guard.instances[index].swap.previous.clone())
    };
    match previous {
        None => refused(format!("there is no component {moniker}")),
        Some(None) => refused(format!("{moniker} was never swapped")),
        Some(Some(previous)) => swap(state, spawner, idle, moniker, &previous).await,
    }
}

/// The instance named `moniker` and its generation, if it can be swapped
/// now.
fn check_instance(s: &State, moniker: &str) -> Result<(usize, u32), String> {
    let index = s
        .find(moniker)
        .ok_or_else(|| format!("there is no component {moniker}"))?;
    let instance = &s.instances[index];
    if instance.swap.busy {
        return Err(format!("{moniker} is being swapped already"));
    }
    if instance.process.is_none() || instance.lifecycle.is_none() {
        return Err(format!("{moniker} is not running"));
    }
    if instance.stopping {
        return Err(format!("{moniker} is stopping"));
    }
    Ok((index, instance.generation))
}

/// Step 1: whether instance `index` may become `new_decl` (`source`).
fn check(s: &State, index: usize, source: &str, new_decl: &ComponentDecl) -> Result<(), String> {
    let instance = &s.instances[index];
    let moniker = &instance.moniker;
    if instance.process.is_none() || instance.stopping {
        return Err(format!("{moniker} is not running"));
    }
    if instance.decl.state_type.is_none() {
        return Err(format!(
            "{moniker} declares no state in its manifest, so it cannot be swapped"
        ));
    }
    if new_decl.state_type.is_none() {
        return Err(format!(
            "{source} declares no state in its manifest, so it cannot take over"
        ));
    }
    compat::check(&instance.decl, new_decl)
}

/// What the old version handed over, with the koids that identify its
/// endpoints when the kernel moves them back.
struct Handed {
    outgoing_koid: u64,
    /// Koids of the connections it handed over: a rollback gives back
    /// these, and those opened during the swap (`Record::opened`), and
    /// nothing else the new version held.
    connection_koids: Vec<u64>,
    state: Vec<u8>,
}

/// Steps 2 to 5.
async fn run(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
    (index, generation): (usize, u32),
    source: &str,
    new: NewVersion,
) -> SwapReport {
    let NewVersion {
        decl: new_decl,
        elf,
        manifest,
        root,
    } = new;
    // 2. Start the new version and prepare it.
    let launched = {
        let guard = state.borrow();
        launch(&guard, index, &new_decl, &elf)
    };
    drop(elf);
    let launched = match launched {
        Ok(launched) => launched,
        Err(why) => {
            return report(
                Outcome::RolledBack,
                format!("cannot start {source}: {why}"),
                0,
            )
        }
    };
    let moniker = state.borrow().instances[index].moniker.clone();
    println!(
        "component_manager: started {} ({}) to take over",
        moniker, source
    );
    let Launched {
        job,
        process,
        lifecycle,
        lifecycle_koid,
        svc_server,
        exceptions,
        connect,
    } = launched;
    let new = ChannelTransport::new(lifecycle);
    spawner.spawn(report_crashes(moniker.clone(), exceptions));
    spawner.spawn(serve_svc(
        Rc::clone(state),
        spawner.clone(),
        Rc::clone(idle),
        (index, generation),
        svc_server,
    ));
    for (kind, name, server) in connect {
        open_route(state, spawner, idle, index, kind, &name, server);
    }
    let kill_new = || {
        let _ = zx::task_kill(&job);
    };
    let (escrow, escrow_writer) = match Escrow::create() {
        Ok(escrow) => escrow,
        Err(status) => {
            kill_new();
            return report(Outcome::RolledBack, format!("escrow channel: {status}"), 0);
        }
    };
    let prepared = prepare(&new, &process, escrow_writer).await;
    if let Err(why) = prepared {
        kill_new();
        return report(
            Outcome::RolledBack,
            format!("{source} failed to start: {why}"),
            0,
        );
    }
    // It asks for the handover (`Takeover.Take`). Nothing is escrowed
    // before it has: a version that never asks, or ends first, takes
    // nothing of the old one's down with it.
    let take = incoming(
        &new,
        &process,
        TakeoverMarker::TAKE_ORDINAL,
        zx::deadline_after(ANSWER_DEADLINE_NANOS),
    )
    .await;
    let take_txid = match take {
        Ok(txid) => txid,
        Err(why) => {
            kill_new();
            return report(
                Outcome::RolledBack,
                format!("{source} did not ask for the handover: {why}"),
                0,
            );
        }
    };

    // 3. Escrow the old version. Its lifecycle client is borrowed from
    // the instance for the swap.
    let Some((old_client, old_process)) = take_old(state, (index, generation)) else {
        kill_new();
        return report(
            Outcome::RolledBack,
            format!("{moniker} stopped or was destroyed meanwhile"),
            0,
        );
    };
    let old = old_client.client().transport();
    // From here the outgoing directory may be read by the new version:
    // what the manager forwards to it is recorded, so that a rollback
    // gives those connections back too.
    let recording = Recording::start(state, (index, generation));
    let started = zx::clock_get_monotonic().0;
    let answer = match message::<LifecycleEscrowResponse>(Ordinals::ESCROW_ORDINAL, None) {
        Ok(message) => {
            request(
                old,
                &old_process,
                message,
                zx::deadline_after(ANSWER_DEADLINE_NANOS),
            )
            .await
        }
        Err(status) => Err(escrow::NoAnswer::Transport(status)),
    };
    let handover = match answer.map(|mut reply| reply.decode_body::<LifecycleEscrowResponse>()) {
        Ok(Ok(response)) => response.handover,
        Ok(Err(error)) => {
            kill_new();
            give_back_old(state, (index, generation), old_client);
            return report(
                Outcome::RolledBack,
                format!("{moniker} handed over a malformed escrow: {error:?}"),
                0,
            );
        }
        Err(why) => {
            kill_new();
            give_back_old(state, (index, generation), old_client);
            return report(
                Outcome::RolledBack,
                format!("{moniker} did not hand over ({why}); it is not served by the SDK's serving helper?"),
                0,
            );
        }
    };
    let handed = Handed {
        outgoing_koid: koid(&handle_ref(&handover.outgoing)),
        connection_koids: handover
            .connections
            .iter()
            .map(|h| koid(&handle_ref(h)))
            .collect(),
        state: handover.state.clone(),
    };

    // 4. Hand over to the new version: the answer to its `Take`.
    let mut taken = TakeoverTakeResponse { handover };
    let sent = escrow::answer(take_txid, TakeoverMarker::TAKE_ORDINAL, &mut taken)
        .and_then(|m| send(&new, m));
    let gap = (zx::clock_get_monotonic().0 - started).max(0) as u64;

    // 5. The grace period.
    let grace = new_decl
        .swap_grace_nanos
        .unwrap_or(2_000_000_000)
        .min(i64::MAX as u64) as i64;
    let ended = match sent {
        Ok(()) => ended_by(&process, zx::deadline_after(grace)).await,
        Err(status) => {
            println!(
                "component_manager: cannot hand over to {}: {}",
                source, status
            );
            kill_new();
            ended_by(&process, zx::deadline_after(RETIRE_DEADLINE_NANOS)).await
        }
    };
    if let Some(code) = ended {
        kill_new();
        let restarted = zx::clock_get_monotonic().0;
        let opened = recording.take();
        let (back, closed, reopened) = take_back(&escrow, lifecycle_koid, &handed, &opened);
        println!(
            "component_manager: rollback of {}: gave back {} and {} connections; closed {} handles not handed over{}",
            moniker,
            if back.outgoing.raw() == 0 {
                "no outgoing directory"
            } else {
                "the outgoing directory"
            },
            back.connections.len(),
            closed,
            if reopened == 0 {
                String::new()
            } else {
                format!(" ({reopened} of the connections opened during the swap)")
            }
        );
        let reason = if code == zx_component::serve::EXIT_STATE_REJECTED {
            format!("{source} rejected the state (exit code {code})")
        } else {
            format!("{source} ended within its grace period (exit code {code})")
        };
        // The old version is still running, waiting for `Resume` or
        // `Stop`, unless it ended meanwhile: then it is started again from
        // its manifest and handed the endpoints and the state.
        if old_process.wait_one(Signals::TASK_TERMINATED, 0).is_ok() {
            drop(old_client);
            let restarted_old =
                restart_old(state, spawner, idle, (index, generation), &moniker, back).await;
            let gap = gap + (zx::clock_get_monotonic().0 - restarted).max(0) as u64;
            return match restarted_old {
                Ok(()) => report(
                    Outcome::RolledBack,
                    format!("{reason}; the old version had ended meanwhile and was started again with the handover"),
                    gap,
                ),
                Err(why) => report(
                    Outcome::RolledBack,
                    format!("{reason}; the old version had ended meanwhile and could not be started again: {why}"),
                    gap,
                ),
            };
        }
        let resumed = message(
            Ordinals::RESUME_ORDINAL,
            Some(&mut LifecycleResumeRequest { handover: back }),
        )
        .and_then(|m| send(old, m));
        let gap = gap + (zx::clock_get_monotonic().0 - restarted).max(0) as u64;
        give_back_old(state, (index, generation), old_client);
        if let Err(status) = resumed {
            return report(
                Outcome::RolledBack,
                format!("{reason}; the old version could not be resumed: {status}"),
                gap,
            );
        }
        return report(Outcome::RolledBack, reason, gap);
    }

    // Final: the new version is the instance; the old one stops.
    drop(recording);
    let _ = send(
        old,
        match message::<LifecycleEscrowResponse>(Ordinals::STOP_ORDINAL, None) {
            Ok(message) => message,
            Err(_) => return report(Outcome::Swapped, String::new(), gap),
        },
    );
    drop(escrow);
    let watched = process.handle().duplicate(Rights::SAME_RIGHTS);
    let old_job = {
        let mut guard = state.borrow_mut();
        if !guard.live(index, generation) || guard.instances[index].stopping {
            // Stopped or destroyed during the swap: the new version goes
            // with it.
            let _ = zx::task_kill(&job);
            return report(
                Outcome::RolledBack,
                format!("{moniker} was stopped or destroyed during the swap"),
                gap,
            );
        }
        let instance = &mut guard.instances[index];
        let old_job = instance.job.replace(job);
        instance.process = Some(process);
        instance.lifecycle = Some(LifecycleClient::new(new));
        instance.decl = new_decl;
        let previous = core::mem::replace(&mut instance.swap.manifest, manifest);
        instance.swap.previous = Some(previous);
        instance.package.root = root;
        old_job
    };
    if let Ok(watched) = watched {
        spawner.spawn(watch(
            Rc::clone(state),
            spawner.clone(),
            Rc::clone(idle),
            (index, generation),
            Process::from_handle(watched),
        ));
    }
    spawner.spawn(retire(old_process, old_job));
    report(Outcome::Swapped, String::new(), gap)
}

/// Whether `process` is a version of `instance` that a swap replaced (so
/// its end is not the instance's).
pub(super) fn replaced(instance: &super::Instance, process: &Process) -> bool {
    instance
        .process
        .as_ref()
        .is_some_and(|current| koid(current) != koid(process))
}

/// The running version's lifecycle client (taken from the instance for
/// the swap) and a handle to its process; `None` if the instance was
/// destroyed meanwhile (its slot may hold another component by now).
fn take_old(
    state: &Rc<RefCell<State>>,
    (index, generation): (usize, u32),
) -> Option<(LifecycleClient<ChannelTransport>, Process)> {
    let mut guard = state.borrow_mut();
    if !guard.live(index, generation) {
        return None;
    }
    let instance = &mut guard.instances[index];
    let process = instance
        .process
        .as_ref()?
        .handle()
        .duplicate(Rights::SAME_RIGHTS)
        .ok()?;
    let lifecycle = instance.lifecycle.take()?;
    Some((lifecycle, Process::from_handle(process)))
}

/// Puts the old version's lifecycle client back.
fn give_back_old(
    state: &Rc<RefCell<State>>,
    (index, generation): (usize, u32),
    old: LifecycleClient<ChannelTransport>,
) {
    let mut guard = state.borrow_mut();
    if guard.live(index, generation) && guard.instances[index].process.is_some() {
        guard.instances[index].lifecycle = Some(old);
    }
}

/// Waits for a replaced version to exit after `Stop`, and kills its job
/// (if it has not exited by then, it is killed anyway).
async fn retire(process: Process, job: Option<zx::Job>) {
    let _ = ended_by(&process, zx::deadline_after(RETIRE_DEADLINE_NANOS)).await;
    if let Some(job) = job {
        let _ = zx::task_kill(&job);
    }
}

/// Sends a starting version `Prepare(escrow)` on its lifecycle channel
/// and waits (up to `ANSWER_DEADLINE_NANOS`) for its answer.
async fn prepare(
    lifecycle: &ChannelTransport,
    process: &Process,
    escrow_writer: Channel,
) -> Result<(), escrow::NoAnswer> {
    let mut prepare = LifecyclePrepareRequest {
        escrow: WireHandle::from_raw(escrow_writer.into_handle().into_raw()),
    };
    let message = message(Ordinals::PREPARE_ORDINAL, Some(&mut prepare))
        .map_err(escrow::NoAnswer::Transport)?;
    request(
        lifecycle,
        process,
        message,
        zx::deadline_after(ANSWER_DEADLINE_NANOS),
    )
    .await
    .map(drop)
}

/// What a failed new version held, back from the escrow: its lifecycle
/// channel (with the `Resume` in it if it never read it), or the outgoing
/// directory and the connections it had bound. Only what the old version
/// handed over is kept (recognised by koid), and the connections the
/// manager forwarded to the instance during the swap (`opened`, up to the
/// most a handover carries, after those handed over); anything else the
/// new version bound — a channel of its own — is closed. Rebuilt as a
/// handover with the state the old version handed over. Also says how
/// many handles were closed and how many connections came from `opened`.
fn take_back(
    escrow: &Escrow,
    lifecycle_koid: u64,
    handed: &Handed,
    opened: &[u64],
) -> (Handover, usize, usize) {
    let mut outgoing: Option<Handle> = None;
    let mut connections: Vec<Handle> = Vec::new();
    // Connections opened during the swap: kept after those handed over,
    // while the handover has room.
    let mut reopened: Vec<Handle> = Vec::new();
    let mut closed = 0;
    let mut keep = |handle: Handle, outgoing: &mut Option<Handle>| {
        let object = koid(&handle);
        let known = |c: &Handle| koid(c) == object;
        if object == handed.outgoing_koid && outgoing.is_none() {
            *outgoing = Some(handle);
        } else if object != 0 && (connections.iter().any(known) || reopened.iter().any(known)) {
            closed += 1;
        } else if object != 0 && handed.connection_koids.contains(&object) {
            connections.push(handle);
        } else if object != 0 && opened.contains(&object) {
            reopened.push(handle);
        } else {
            // Anything else is dropped: closed.
            closed += 1;
        }
    };
    for handle in escrow.drain() {
        if koid(&handle) == lifecycle_koid {
            // Its lifecycle channel: a handover it had not read is in it.
            let transport = ChannelTransport::new(Channel::from_handle(handle));
            while let Ok(mut unread) = transport.try_receive() {
                let handover = match unread.header().map(|h| h.ordinal) {
                    Ok(TakeoverMarker::TAKE_ORDINAL) => unread
                        .decode_body::<TakeoverTakeResponse>()
                        .ok()
                        .map(|answer| answer.handover),
                    Ok(Ordinals::RESUME_ORDINAL) => unread
                        .decode_body::<LifecycleResumeRequest>()
                        .ok()
                        .map(|request| request.handover),
                    _ => None,
                };
                if let Some(handover) = handover {
                    keep(
                        Handle::from_raw(handover.outgoing.into_raw()),
                        &mut outgoing,
                    );
                    for connection in handover.connections {
                        keep(Handle::from_raw(connection.into_raw()), &mut outgoing);
                    }
                }
            }
        } else {
            keep(handle, &mut outgoing);
        }
    }
    let room = MAX_OPENED.saturating_sub(connections.len());
    if reopened.len() > room {
        // Beyond what a handover carries: closed.
        closed += reopened.len() - room;
        reopened.truncate(room);
    }
    let reopened_count = reopened.len();
    connections.extend(reopened);
    let wire = |h: Handle| WireHandle::from_raw(h.into_raw());
    let handover = Handover {
        outgoing: outgoing.map_or(WireHandle::from_raw(0), wire),
        connections: connections.into_iter().map(wire).collect(),
        state: handed.state.clone(),
    };
    (handover, closed, reopened_count)
}

/// The old version ended during the grace period of a new one that then
/// failed: starts it again from its manifest (the instance's, unchanged by
/// the swap) as a new version is started, and hands it `handover` (the
/// endpoints back from the escrow and the old state). It becomes the
/// instance's process.
async fn restart_old(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
    (index, generation): (usize, u32),
    moniker: &str,
    handover: Handover,
) -> Result<(), String> {
    let source = state.borrow().instances[index].swap.manifest.clone();
    let loaded = load(state, spawner, idle, &source).await?;
    let launched = {
        let guard = state.borrow();
        if !guard.live(index, generation) {
            return Err(format!("{moniker} was destroyed meanwhile"));
        }
        launch(&guard, index, &guard.instances[index].decl, &loaded.elf)?
    };
    drop(loaded);
    println!(
        "component_manager: started {} ({}) again to take back the handover",
        moniker, source
    );
    let Launched {
        job,
        process,
        lifecycle,
        lifecycle_koid: _,
        svc_server,
        exceptions,
        connect,
    } = launched;
    let transport = ChannelTransport::new(lifecycle);
    spawner.spawn(report_crashes(moniker.into(), exceptions));
    spawner.spawn(serve_svc(
        Rc::clone(state),
        spawner.clone(),
        Rc::clone(idle),
        (index, generation),
        svc_server,
    ));
    for (kind, name, server) in connect {
        open_route(state, spawner, idle, index, kind, &name, server);
    }
    // It binds what it takes to this escrow; the escrow is closed once it
    // serves, so its endpoints close with it like any component's.
    let (escrow, escrow_writer) = Escrow::create().map_err(|s| {
        let _ = zx::task_kill(&job);
        format!("escrow channel: {s}")
    })?;
    let prepared = prepare(&transport, &process, escrow_writer).await;
    if let Err(why) = prepared {
        let _ = zx::task_kill(&job);
        return Err(format!("it did not start: {why}"));
    }
    let take = incoming(
        &transport,
        &process,
        TakeoverMarker::TAKE_ORDINAL,
        zx::deadline_after(ANSWER_DEADLINE_NANOS),
    )
    .await;
    let take_txid = match take {
        Ok(txid) => txid,
        Err(why) => {
            let _ = zx::task_kill(&job);
            return Err(format!("it did not ask for the handover: {why}"));
        }
    };
    let sent = escrow::answer(
        take_txid,
        TakeoverMarker::TAKE_ORDINAL,
        &mut TakeoverTakeResponse { handover },
    )
    .and_then(|m| send(&transport, m));
    if let Err(status) = sent {
        let _ = zx::task_kill(&job);
        return Err(format!("cannot hand over: {status}"));
    }
    drop(escrow);
    let watched = process.handle().duplicate(Rights::SAME_RIGHTS);
    {
        let mut guard = state.borrow_mut();
        if !guard.live(index, generation) || guard.instances[index].stopping {
            let _ = zx::task_kill(&job);
            return Err(format!("{moniker} was stopped or destroyed meanwhile"));
        }
        let instance = &mut guard.instances[index];
        if let Some(old_job) = instance.job.replace(job) {
            let _ = zx::task_kill(&old_job);
        }
        instance.process = Some(process);
        instance.lifecycle = Some(LifecycleClient::new(transport));
    }
    if let Ok(watched) = watched {
        spawner.spawn(watch(
            Rc::clone(state),
            spawner.clone(),
            Rc::clone(idle),
            (index, generation),
            Process::from_handle(watched),
        ));
    }
    Ok(())
}

/// A borrowed view of a wire handle, to read its koid.
fn handle_ref(handle: &WireHandle) -> zx::HandleRef {
    zx::HandleRef(handle.raw())
}
