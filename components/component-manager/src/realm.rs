//! The component manager's model: the component tree and what acts on it.
//!
//! Instances live in one arena (`Vec<Instance>`, indices as ids) owned by
//! the realm; the executor's tasks (one per running component serving its
//! `/svc`, one watching its process) share it through `Rc<RefCell<..>>` and
//! never hold a borrow across an `await`.
//!
//! This file holds the instance and the shared state; each concept that
//! acts on them has a file of its own:
//!
//! - `tree`: adding instances from manifests, finding them, counting the
//!   active eager ones;
//! - `collections`: children created and destroyed at run time;
//! - `routing`: `use` / `offer` / `expose` resolution, and connecting a
//!   request to its provider;
//! - `start`: a component's job, start-up handles and launch;
//! - `watch`: crash reports, and `on_terminate` (restarts with back-off);
//! - `stop`: stopping a subtree through the lifecycle protocol;
//! - `exposed`: connecting to what a component exposes
//!   (`Realm.OpenExposed`, for the host bridge);
//! - `svc_directory`, `boot_directory`, `realm_service`: what the manager
//!   serves itself (each component's `/svc`, the `boot` directory, the
//!   `zx.component.Realm` protocol), with `served` bounding how many of
//!   those connections one component holds, and `budget` how many
//!   instances and connections the manager holds, in all and per subtree;
//! - `swap` (with its escrow provider, the compatibility check and the
//!   launch of a new version) and `swap_controller`: the hot swap, and the
//!   `zx.component.swap.SwapController` protocol that asks for it;
//! - `resolve`: starting components from packages (`zx.pkg.Resolver`),
//!   and `manifests`: their manifests, which come with them;
//! - `waits`: waiting for signals through a port that may be full.

mod boot_directory;
mod budget;
mod collections;
mod exposed;
mod manifests;
mod realm_service;
mod resolve;
mod routing;
mod served;
mod start;
mod stop;
mod svc_directory;
mod swap;
mod swap_controller;
mod tree;
mod waits;
mod watch;

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use zx::{processargs, Channel, Event, Job, Process, Signals, Vmo};
use zx_async::{on_signals, Executor};
use zx_idl::ChannelTransport;
use zx_runtime::println;

mod decl {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use decl::zx_component_decl::{ComponentDecl, OnTerminate, StartupMode};
use decl::zx_process_lifecycle::LifecycleClient;
use start::start;

/// One component instance: its place in the tree, its manifest, and,
/// while it runs, its job, process and channels.
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
    /// The manifest it runs and its last hot swap.
    swap: swap::Record,
    /// Its package, for a program not in the bootfs (`resolve`).
    package: resolve::Package,
}

/// Everything the manager's tasks share.
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
    /// What instances and served connections hold (`budget`).
    budget: budget::Budget,
    /// Every static instance's package manifest was tried (`manifests`).
    static_resolved: bool,
    /// Which version swapped instances run, kept in `/data` (`swap::pins`).
    pins: swap::pins::Pins,
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
            budget: budget::Budget::default(),
            static_resolved: false,
            pins: Default::default(),
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
            // The manifests that come with packages, while the bootstrap
            // set runs; then the eager components among them.
            spawner.spawn(manifests::resolve_static(
                Rc::clone(&state),
                spawner.clone(),
                Rc::clone(&idle),
            ));
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
