//! Starting components from packages (`docs/packages.md`, issue 12).
//!
//! A component whose manifest or program is not in the bootfs is loaded
//! from its package: `pkg://<manifest name>`, asked of the package
//! resolver (`zx.pkg.Resolver`, exposed by an instance of the tree), which
//! reads the package's meta blob and program through `/blob`, verified by
//! blobfs. The bootfs of a product with a system disk keeps only the
//! bootstrap set (`build-image`), so every other manifest (`manifests`)
//! and program comes from here; a product without a disk keeps everything
//! in its bootfs and never asks.
//!
//! The resolution is asynchronous (the resolver needs blobfs, which needs
//! the driver manager, which needs the manager's `Realm`): [`start`] of
//! such a component makes its outgoing directory at once, so what is
//! opened there meanwhile waits in the channel, and launches the process
//! once the program has arrived. A package that is missing, damaged or
//! whose manifest is not the one the instance was built from fails that
//! component alone, logged as
//! `component_manager: cannot start <moniker>: pkg://<name>: <why>`, and
//! its `on_terminate` applies as after a crash.
//!
//! A program comes as the resolver's VMO, which the manager maps
//! read-only ([`Program`]) and launches from in place: it never copies a
//! program into its own memory, and unmaps it (closing the VMO) once the
//! process is made. A program over [`MAX_PROGRAM`] bytes is refused by
//! the resolver (`OUT_OF_RANGE`), and by the manager if a resolver sent
//! one anyway: `pkg://<name>: its program is over the 16 MiB limit`.
//!
//! [`start`]: super::start::start

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use idlc_runtime::client::AsyncTransport;
use idlc_runtime::{HandleInfo, IncomingMessage, OutgoingMessage};
use zx::{AsHandleRef, Channel, Event, Handle, Signals, Status, Vmo};
use zx_async::{sleep, Spawner};
use zx_runtime::println;

use super::decl::zx_component_decl::{CapabilityKind, OnTerminate};
use super::decl::zx_pkg::{
    ResolverAsyncClient, ResolverMarker, ResolverResolveRequest, MAX_MANIFEST, MAX_PROGRAM,
};
use super::exposed::open_exposed;
use super::start::start;
use super::waits::until_signalled;
use super::State;

/// The resolver's protocol.
const RESOLVER: &str = "zx.pkg.Resolver";
/// How often a component whose package cannot be resolved is tried again
/// (if its manifest says `on_terminate: restart`).
const MAX_RESOLVE_ATTEMPTS: u32 = 5;

/// An instance's package state.
#[derive(Default)]
pub(super) struct Package {
    /// A resolution is under way.
    resolving: bool,
    /// The resolved program, taken by the next launch.
    pub program: Option<Program>,
    /// The server end of the outgoing directory made when the resolution
    /// began (its client end is the instance's `outgoing`).
    outgoing: Option<Channel>,
    /// The root of the package it was last started from (64 hex digits).
    pub root: Option<String>,
    /// Its manifest comes with its package, which has not been resolved
    /// yet: its declaration is empty (`manifests`).
    pub pending: bool,
    /// The boot's pass over the static tree tried its package.
    pub swept: bool,
    /// Asked to start while that pass ran: started at its end.
    pub start_wanted: bool,
    /// The compiled manifest its package brought (what `decl` holds).
    pub manifest: Option<Vec<u8>>,
}

impl Package {
    /// The package state of a new instance, `pending` if its manifest
    /// comes with its package.
    pub(super) fn pending(pending: bool) -> Package {
        Package {
            pending,
            ..Package::default()
        }
    }
}

/// Whether instance `index` can be launched now: its manifest is known
/// and its program is in the bootfs or has been resolved.
pub(super) fn ready(s: &State, index: usize) -> bool {
    let instance = &s.instances[index];
    if instance.package.pending {
        return false;
    }
    match &instance.decl.program {
        Some(program) => instance.package.program.is_some() || in_bootfs(s, &program.binary),
        None => true,
    }
}

fn in_bootfs(s: &State, binary: &str) -> bool {
    bootfs::Bootfs::parse(&s.bootfs).is_ok_and(|fs| fs.find(binary).is_some())
}

/// A program resolved from its package: the resolver's VMO, mapped
/// read-only in the manager, `size` bytes of it the ELF. The mapping (and
/// with it the VMO) goes when this is dropped.
///
/// The resolver made the VMO and may hold a handle to it: the manager
/// trusts it not to write the program while it is launched from (as it
/// trusts the program's bytes); it is one of the bootstrap set, in the
/// bootfs.
pub(super) struct Program {
    mapping: zx_runtime::ReadOnlyMapping,
    size: usize,
}

impl Program {
    /// Maps the first `size` bytes of `vmo` (the resolver's reply);
    /// refuses a size over [`MAX_PROGRAM`] or past the VMO's end.
    fn map(vmo: &Vmo, size: u64) -> Result<Program, String> {
        if size > u64::from(MAX_PROGRAM) {
            return Err(format!(
                "its program ({size} bytes) is over the {} MiB limit",
                MAX_PROGRAM >> 20
            ));
        }
        let vmo_size = vmo.size().map_err(|s| format!("the program's VMO: {s}"))?;
        if size > vmo_size {
            return Err(format!(
                "its program ({size} bytes) is larger than its VMO ({vmo_size} bytes)"
            ));
        }
        let mapped = size.max(1).next_multiple_of(4096);
        let mapping = zx_runtime::ReadOnlyMapping::new(vmo, mapped)
            .map_err(|s| format!("map the program: {s}"))?;
        Ok(Program {
            mapping,
            size: size as usize,
        })
    }
}

impl core::ops::Deref for Program {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.mapping[..self.size]
    }
}

/// A program to launch: a copy of a bootfs file, or a package's VMO
/// mapped in place ([`Program`]). The hot swap holds its new version's
/// program this way.
pub(super) enum Elf {
    Boot(Vec<u8>),
    Package(Program),
}

impl core::ops::Deref for Elf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Elf::Boot(bytes) => bytes,
            Elf::Package(program) => program,
        }
    }
}

/// The resolved program of instance `index`, taken out of it (so that it
/// goes once launched); `None`: its program is the bootfs file.
pub(super) fn take_program(s: &mut State, index: usize) -> Option<Program> {
    s.instances[index].package.program.take()
}

/// The outgoing directory made while the package was being resolved
/// (client end, server end), if any.
pub(super) fn take_outgoing(s: &mut State, index: usize) -> Option<(Channel, Channel)> {
    let instance = &mut s.instances[index];
    let server = instance.package.outgoing.take()?;
    // Without a client end (stopped meanwhile) a new pair is made.
    instance.outgoing.take().map(|client| (client, server))
}

/// Begins resolving instance `index`'s package, unless that is under
/// way: its outgoing directory exists from now on; the process is
/// launched by [`start`] once the program has arrived.
pub(super) fn begin(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
    index: usize,
) -> Result<(), String> {
    let generation = {
        let mut guard = state.borrow_mut();
        let boot_pass = !guard.static_resolved;
        let instance = &mut guard.instances[index];
        if instance.package.resolving {
            return Ok(());
        }
        if boot_pass && instance.package.pending && instance.collection.is_none() {
            // Started with the rest once every static manifest is known.
            instance.package.start_wanted = true;
            return Ok(());
        }
        let (client, server) = Channel::create().map_err(|s| format!("channel: {s}"))?;
        instance.package.resolving = true;
        instance.package.outgoing = Some(server);
        instance.outgoing = Some(client);
        instance.generation
    };
    spawner.spawn(resolve_and_start(
        Rc::clone(state),
        spawner.clone(),
        Rc::clone(idle),
        (index, generation),
    ));
    Ok(())
}

/// What follows a resolution.
enum Next {
    /// The program is there: launch it.
    Start(String),
    /// Try again after the back-off (`on_terminate: restart`).
    Retry,
    /// Nothing more to do.
    Done,
}

/// Resolves the package and starts the instance; applies its
/// `on_terminate` if the package cannot be had.
async fn resolve_and_start(
    state: Rc<RefCell<State>>,
    spawner: Spawner,
    idle: Rc<Event>,
    (index, generation): (usize, u32),
) {
    let mut attempt = 0u32;
    loop {
        let (name, moniker) = {
            let s = state.borrow();
            let instance = &s.instances[index];
            (instance.swap.manifest.clone(), instance.moniker.clone())
        };
        let resolved = resolve(&state, &spawner, &idle, &package_url(&name)).await;
        let next = settle(
            &mut state.borrow_mut(),
            (index, generation),
            &name,
            resolved,
        );
        match next {
            Next::Start(root) => {
                println!(
                    "component_manager: {} from {} ({})",
                    moniker,
                    package_url(&name),
                    root
                );
                if let Err(why) = start(&state, &spawner, &idle, index) {
                    println!("component_manager: cannot start {}: {}", moniker, why);
                }
                return;
            }
            Next::Done => return,
            Next::Retry if attempt >= MAX_RESOLVE_ATTEMPTS => return,
            Next::Retry => {}
        }
        attempt += 1;
        let delay = 50_000_000i64 << attempt.min(5);
        println!(
            "component_manager: restarting {} in {} ms (attempt {})",
            moniker,
            delay / 1_000_000,
            attempt
        );
        let _ = sleep(zx::deadline_after(delay)).await;
        let s = &mut *state.borrow_mut();
        if !s.live(index, generation) || s.instances[index].stopping {
            return;
        }
        let instance = &mut s.instances[index];
        if instance.process.is_some() || instance.package.resolving {
            return; // started meanwhile (a connection to it)
        }
        let Ok((client, server)) = Channel::create() else {
            return;
        };
        instance.package.resolving = true;
        instance.package.outgoing = Some(server);
        instance.outgoing = Some(client);
    }
}

/// Records what the resolver said of instance `index`'s package `name`.
fn settle(
    s: &mut State,
    (index, generation): (usize, u32),
    name: &str,
    resolved: Result<Resolved, String>,
) -> Next {
    if !s.live(index, generation) {
        return Next::Done; // destroyed meanwhile
    }
    // A pending instance takes the package's manifest; one that runs a
    // manifest already must find the same one in the package. A version
    // swapped in from a package is named by its meta blob's root
    // (`pkg://<name>?hash=<root>`), which names its manifest's every
    // byte: the swap checked that manifest.
    let accepted = match (&resolved, pinned_root(name)) {
        (Ok(resolved), _) if s.instances[index].package.pending => {
            s.install(index, &resolved.manifest)
        }
        (Ok(resolved), Some(root)) => {
            if resolved.root.eq_ignore_ascii_case(root) {
                Ok(())
            } else {
                Err(format!("its meta blob is not {root}"))
            }
        }
        (Ok(resolved), None) => {
            let current = match &s.instances[index].package.manifest {
                Some(bytes) => Ok(bytes.clone()),
                None => s.bootfs_file(&format!("meta/{name}.cm")),
            };
            if current.is_ok_and(|bytes| bytes == resolved.manifest) {
                Ok(())
            } else {
                Err(String::from(
                    "its manifest is not the one the instance was built from",
                ))
            }
        }
        (Err(_), _) => Ok(()),
    };
    let instance = &mut s.instances[index];
    instance.package.resolving = false;
    let why = match (resolved, accepted) {
        (Ok(resolved), Ok(())) => {
            instance.package.program = Some(resolved.program);
            instance.package.root = Some(resolved.root.clone());
            if instance.stopping {
                return Next::Done;
            }
            return Next::Start(resolved.root);
        }
        (Ok(_), Err(why)) | (Err(why), _) => format!("{}: {why}", package_url(name)),
    };
    println!(
        "component_manager: cannot start {}: {}",
        instance.moniker, why
    );
    // Nothing was launched: what waits in its outgoing directory is
    // closed, as for a component that ended.
    instance.outgoing = None;
    instance.package.outgoing = None;
    if instance.on_terminate == OnTerminate::Restart && !instance.stopping {
        Next::Retry
    } else {
        Next::Done
    }
}

/// A resolved package.
pub(super) struct Resolved {
    /// The meta blob's root, in hex.
    pub root: String,
    /// The compiled manifest.
    pub manifest: Vec<u8>,
    /// The program's ELF, mapped from the resolver's VMO.
    pub program: Program,
}

/// The package URL of what an instance runs (`Record::manifest`): a
/// manifest name `<name>` is `pkg://<name>`; a package URL (a version
/// swapped in from a package) is itself.
pub(super) fn package_url(manifest: &str) -> String {
    if manifest.starts_with("pkg://") {
        manifest.into()
    } else {
        format!("pkg://{manifest}")
    }
}

/// The meta root a `pkg://<name>?hash=<root>` URL pins, in hex.
pub(super) fn pinned_root(url: &str) -> Option<&str> {
    let (_, hash) = url.strip_prefix("pkg://")?.split_once("?hash=")?;
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
}

/// Asks the tree's package resolver for the package `url` names
/// (`pkg://<name>`, or `pkg://<name>?hash=<root>`; a bare `<name>` is
/// `pkg://<name>`); the hot swap calls it
/// for a `source` that is a package.
pub(super) async fn resolve(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
    url: &str,
) -> Result<Resolved, String> {
    let resolver = state
        .borrow()
        .resolver()
        .ok_or("no component exposes zx.pkg.Resolver")?;
    let (client, server) = Channel::create().map_err(|s| format!("channel: {s}"))?;
    let protocol = ResolverMarker::DISCOVERABLE_NAME.unwrap_or(RESOLVER);
    open_exposed(state, spawner, idle, resolver, protocol, server)
        .map_err(|s| format!("the resolver: {s}"))?;
    let client = ResolverAsyncClient::new(AsyncChannel(client));
    let url = state.borrow().image_url(&package_url(url));
    let reply = client
        .resolve(ResolverResolveRequest { url })
        .await
        .map_err(|e| format!("the resolver does not answer: {e:?}"))?
        .map_err(|status| match Status(status) {
            Status::OUT_OF_RANGE => format!(
                "OUT_OF_RANGE: its program is over the {} MiB limit or its manifest over {} bytes",
                MAX_PROGRAM >> 20,
                MAX_MANIFEST
            ),
            status => format!("{status}"),
        })?;
    let vmo = Vmo::from_handle(Handle::from_raw(reply.program.into_raw()));
    let program = Program::map(&vmo, reply.program_size)?;
    let root = reply.root.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Resolved {
        root,
        manifest: reply.manifest,
        program,
    })
}

impl State {
    /// The first live instance with a program that exposes the resolver.
    fn resolver(&self) -> Option<usize> {
        self.instances.iter().position(|instance| {
            !instance.destroyed
                && instance.decl.program.is_some()
                && instance.decl.exposes.as_ref().is_some_and(|exposes| {
                    exposes
                        .iter()
                        .any(|e| e.kind == CapabilityKind::Protocol && e.name == RESOLVER)
                })
        })
    }
}

/// A channel as an asynchronous IDL transport, waiting through the
/// manager's executor (never blocking it).
pub(super) struct AsyncChannel(pub Channel);

impl AsyncTransport for AsyncChannel {
    type Error = Status;

    async fn send(&self, mut message: OutgoingMessage) -> Result<(), Status> {
        let handles = core::mem::take(&mut message.handles)
            .into_iter()
            .map(|d| Handle::from_raw(d.handle.into_raw()))
            .collect();
        self.0.write(&message.bytes, handles)
    }

    async fn receive(&self) -> Result<IncomingMessage, Status> {
        loop {
            let mut buffer = zx::MessageBuf::default();
            match self.0.read(&mut buffer) {
                Ok(()) => {
                    let handles = buffer
                        .handles
                        .into_iter()
                        .map(|handle| {
                            let info = handle.basic_info().unwrap_or_default();
                            HandleInfo {
                                handle: idlc_runtime::Handle::from_raw(handle.into_raw()),
                                object_type: info.object_type,
                                rights: info.rights,
                            }
                        })
                        .collect();
                    return Ok(IncomingMessage {
                        bytes: buffer.bytes,
                        handles,
                    });
                }
                Err(Status::SHOULD_WAIT) => {
                    let signals = Signals::CHANNEL_READABLE | Signals::PEER_CLOSED;
                    until_signalled(&self.0, signals, "the package resolver's reply").await?;
                }
                Err(status) => return Err(status),
            }
        }
    }
}
