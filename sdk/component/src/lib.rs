//! The component side of the component framework.
//!
//! A component started by the component manager finds two directories
//! among its start-up handles (`zx_abi::processargs`):
//!
//! - `/svc` (`SVC_DIRECTORY`): the protocols its manifest `use`s, opened by
//!   name with [`connect`]. The component manager serves it and routes each
//!   request to the component that provides the protocol (starting it if it
//!   is lazy); anything the manifest does not `use` cannot be reached.
//! - its outgoing directory (`OUTGOING_DIRECTORY`): where clients' requests
//!   for the protocols it exposes arrive; [`Outgoing::next`] yields them.
//!
//! Both speak `zx.io/Directory` (`idl/io.idl`) through idlc-generated
//! bindings. Two more start-up handles complete the set:
//!
//! - its lifecycle channel (`LIFECYCLE`, `idl/lifecycle.idl`): the manager
//!   asks through it that the component stop; [`Lifecycle`] waits for that;
//! - its log sink (`LOG_SINK`): a connection to the logger that the manager
//!   opened in the component's name, which [`log`] writes to.
//!
//! Directories its manifest `use`s (`{ directory: "boot", path: "/boot" }`)
//! make up its [`namespace`]; [`fs`] reads them, and serves directories.
#![no_std]

extern crate alloc;

pub mod fs;
pub mod serve;

use alloc::string::String;
use zx::{processargs, Channel, Handle, Status};
use zx_idl::ChannelTransport;

/// Bindings generated from `idl/io.idl`.
pub mod bindings {
    #![allow(clippy::all, dead_code, unused_imports, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use bindings::zx_io::{DirectoryClient, DirectoryOpenRequest};

static SVC: spin_free::Slot = spin_free::Slot::new();

/// A lazily-taken start-up handle.
mod spin_free {
    use core::sync::atomic::{AtomicU32, Ordering};

    /// Holds a raw handle value taken once from the start-up handles.
    pub struct Slot(AtomicU32);

    impl Slot {
        pub const fn new() -> Slot {
            Slot(AtomicU32::new(0))
        }

        pub fn get(&self) -> Option<u32> {
            let value = self.0.load(Ordering::Acquire);
            (value != 0).then_some(value)
        }

        pub fn set(&self, value: u32) {
            self.0.store(value, Ordering::Release);
        }

        pub fn get_or_take(&self, kind: u32) -> Option<u32> {
            let value = self.0.load(Ordering::Acquire);
            if value != 0 {
                return Some(value);
            }
            let handle = zx_runtime::take_startup_handle(kind)?.into_raw();
            self.0.store(handle, Ordering::Release);
            Some(handle)
        }
    }
}

/// Opens `name` (a protocol's discoverable name) in this component's
/// `/svc` and returns the client end of the new connection.
pub fn connect(name: &str) -> Result<Channel, Status> {
    let svc = SVC
        .get_or_take(processargs::SVC_DIRECTORY)
        .ok_or(Status::NOT_FOUND)?;
    let (client, server) = Channel::create()?;
    open(svc, name, server)?;
    Ok(client)
}

/// The next message on `transport`, waiting for one on the executor;
/// `None` once the peer is gone (or the channel cannot be waited on). The
/// receive loop of every server. It reads through `channel_recv`
/// ([`ChannelTransport::try_recv`]): a request this process dies before
/// answering goes back to the queue rather than vanishing.
pub async fn next_message(transport: &ChannelTransport) -> Option<idlc_runtime::IncomingMessage> {
    loop {
        match transport.try_recv() {
            Ok(message) => return Some(message),
            Err(Status::SHOULD_WAIT) => {
                let readable = zx::Signals::CHANNEL_READABLE | zx::Signals::PEER_CLOSED;
                zx_async::on_signals(transport.channel(), readable)
                    .await
                    .ok()?;
            }
            Err(_) => return None,
        }
    }
}

/// Sends `Directory.Open(name, object)` on the directory channel `directory`
/// (borrowed).
pub fn open(directory: u32, name: &str, object: Channel) -> Result<(), Status> {
    let transport = ChannelTransport::new(Channel::from_handle(Handle::from_raw(directory)));
    let directory = DirectoryClient::new(transport);
    let request = DirectoryOpenRequest {
        path: String::from(name),
        object: idlc_runtime::Handle::from_raw(object.into_handle().into_raw()),
    };
    // The kernel's refusal (NO_RESOURCES, NO_MEMORY, PEER_CLOSED...) is
    // passed on; anything else means the directory is unusable.
    let result = directory.open(request).map_err(|error| match error {
        idlc_runtime::client::ClientError::Transport(status) => status,
        _ => Status::PEER_CLOSED,
    });
    // The transport wraps a borrowed value: do not close it.
    core::mem::forget(directory);
    result
}

static LOG_SINK: spin_free::Slot = spin_free::Slot::new();
static LOG_SINK_TRIED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Writes a line to the logger; the logger records it with this
/// component's name and the time. The connection is the `LOG_SINK`
/// start-up handle, which the component manager passes when the manifest
/// `use`s `zx.logger.LogSink` and it is routed (failing that, the protocol
/// is opened in `/svc`). Without a route to a logger the line is dropped.
pub fn log(message: &str) {
    use core::sync::atomic::Ordering;
    if !LOG_SINK_TRIED.swap(true, Ordering::AcqRel) {
        let sink = zx_runtime::take_startup_handle(processargs::LOG_SINK)
            .map(|handle| handle.into_raw())
            .or_else(|| {
                connect("zx.logger.LogSink")
                    .ok()
                    .map(|channel| channel.into_handle().into_raw())
            });
        if let Some(sink) = sink {
            LOG_SINK.set(sink);
        }
    }
    let Some(sink) = LOG_SINK.get() else { return };
    let transport = ChannelTransport::new(Channel::from_handle(Handle::from_raw(sink)));
    let client = bindings::zx_logger::LogSinkClient::new(transport);
    let _ = client.write(bindings::zx_logger::LogSinkWriteRequest {
        message: String::from(message),
    });
    // The client wraps the kept channel: do not close it.
    core::mem::forget(client);
}

/// Takes the kernel resource the manifest `use`s as `name` (`debug`,
/// `debuglog`, `power`, `dma`, `mmio`, `irq`, `ioport`) from the start-up
/// handles; `None` if it was not given (or was taken already).
pub fn resource(name: &str) -> Option<zx::Resource> {
    let arg = processargs::resource_arg(name)?;
    zx_runtime::take_startup_handle(processargs::resource(arg)).map(zx::Resource::from_handle)
}

/// The server end of this component's outgoing directory.
pub struct Outgoing {
    transport: ChannelTransport,
}

impl Outgoing {
    /// Takes the outgoing directory from the start-up handles.
    pub fn take() -> Option<Outgoing> {
        let handle = zx_runtime::take_startup_handle(processargs::OUTGOING_DIRECTORY)?;
        Some(Outgoing {
            transport: ChannelTransport::new(Channel::from_handle(handle)),
        })
    }

    /// Serves `channel` (the server end of a `zx.io/Directory`) the same
    /// way: a driver's device connector, which the driver manager opens.
    pub fn from_channel(channel: Channel) -> Outgoing {
        Outgoing {
            transport: ChannelTransport::new(channel),
        }
    }

    /// The directory's channel (to wait on it with an executor).
    pub fn channel(&self) -> &Channel {
        self.transport.channel()
    }

    /// Gives the directory's channel back (to hand it to the next version
    /// in a hot swap).
    pub fn into_channel(self) -> Channel {
        self.transport.into_channel()
    }

    /// The next request: the capability's name (and the path below it,
    /// for a directory: `logs/all`) and the channel to serve it on. Waits
    /// for one; `None` once the component manager is gone. A request that
    /// cannot be read (malformed, or this process's handle table is full)
    /// is skipped.
    pub async fn next(&self) -> Option<(String, Channel)> {
        loop {
            match self.try_next() {
                Ok(request) => return Some(request),
                Err(Status::SHOULD_WAIT) => {
                    let readable = zx::Signals::CHANNEL_READABLE | zx::Signals::PEER_CLOSED;
                    zx_async::on_signals(self.channel(), readable).await.ok()?;
                }
                Err(Status::PEER_CLOSED) => return None,
                Err(_) => continue,
            }
        }
    }

    /// The next request already queued, if any: the protocol's name and
    /// the channel to serve it on. `SHOULD_WAIT` when none is queued,
    /// `PEER_CLOSED` when the component manager is gone.
    pub fn try_next(&self) -> Result<(String, Channel), Status> {
        self.try_next_etc(0)
    }

    /// [`Outgoing::try_next`], the channel arriving already bound to the
    /// escrow the outgoing directory is bound to (`CHANNEL_BIND_RECEIVED`:
    /// this process never holds it unbound, docs/hot-swap.md); `BAD_STATE`
    /// (the request stays queued) if the directory is bound to none.
    pub fn try_next_bound(&self) -> Result<(String, Channel), Status> {
        self.try_next_etc(zx::CHANNEL_BIND_RECEIVED)
    }

    fn try_next_etc(&self, options: u32) -> Result<(String, Channel), Status> {
        loop {
            let mut message = self.transport.try_receive_etc(options)?;
            let header = message.header().map_err(|_| Status::INVALID_ARGS)?;
            if header.ordinal != bindings::zx_io::DirectoryMarker::OPEN_ORDINAL {
                // Only the component manager writes here, and it only opens.
                continue;
            }
            let request: DirectoryOpenRequest =
                message.decode_body().map_err(|_| Status::INVALID_ARGS)?;
            let channel = Channel::from_handle(Handle::from_raw(request.object.into_raw()));
            return Ok((request.path, channel));
        }
    }
}

/// This component's namespace: the directories its manifest `use`s, each
/// at its path (`/boot`), passed by the component manager as start-up
/// handles.
pub mod namespace {
    use alloc::string::String;
    use alloc::vec::Vec;
    use zx::{Channel, Status};

    static ENTRIES: spin::Once<Vec<(String, Channel)>> = spin::Once::new();

    fn entries() -> &'static [(String, Channel)] {
        ENTRIES.call_once(|| {
            zx_runtime::take_namespace()
                .into_iter()
                .map(|(path, handle)| (path, Channel::from_handle(handle)))
                .collect()
        })
    }

    /// The paths of the namespace's directories.
    pub fn paths() -> Vec<&'static str> {
        entries().iter().map(|(path, _)| path.as_str()).collect()
    }

    /// Opens absolute `path` (`/boot/bin`, or `/boot` itself) through the
    /// namespace directory it lies in; returns the client end (speak
    /// `Directory` or `File` on it, as `path` is). `NOT_FOUND` outside
    /// the namespace.
    pub fn open(path: &str) -> Result<Channel, Status> {
        let path = path.trim_end_matches('/');
        for (root, directory) in entries() {
            let rest = match path.strip_prefix(root.as_str()) {
                Some("") => ".",
                Some(rest) => match rest.strip_prefix('/') {
                    Some(rest) => rest,
                    None => continue, // `/bootx` is not in `/boot`
                },
                None => continue,
            };
            return crate::fs::open_at(directory, rest);
        }
        Err(Status::NOT_FOUND)
    }
}

/// The server end of this component's lifecycle channel: how the component
/// manager asks it to stop.
///
/// A component that serves on an executor waits for [`Lifecycle::stopped`]
/// in its main future and returns from `main` when it resolves: the
/// executor polls one task at a time, so no request is cut in half. A
/// component that never looks is killed after the manager's deadline.
pub struct Lifecycle {
    transport: ChannelTransport,
}

/// Why [`Lifecycle::stopped`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The component manager sent `Lifecycle.Stop`.
    Requested,
    /// The component manager closed the channel (it is gone).
    ManagerGone,
}

impl Lifecycle {
    /// Takes the lifecycle channel from the start-up handles.
    pub fn take() -> Option<Lifecycle> {
        let handle = zx_runtime::take_startup_handle(processargs::LIFECYCLE)?;
        Some(Lifecycle {
            transport: ChannelTransport::new(Channel::from_handle(handle)),
        })
    }

    /// The lifecycle channel, to wait on with other objects (readable:
    /// `try_stopped` may have news).
    pub fn channel(&self) -> &Channel {
        self.transport.channel()
    }

    /// Whether the component manager has asked this component to stop,
    /// without waiting (for components that poll rather than await).
    pub fn try_stopped(&self) -> Option<StopReason> {
        loop {
            match self.transport.try_receive() {
                Ok(message) => {
                    // Anything but `Stop` is ignored: the swap's requests
                    // are for servers run by [`serve::Server`].
                    let stop = bindings::zx_process_lifecycle::LifecycleMarker::STOP_ORDINAL;
                    if message.header().is_ok_and(|h| h.ordinal == stop) {
                        return Some(StopReason::Requested);
                    }
                }
                Err(Status::SHOULD_WAIT) => return None,
                Err(_) => return Some(StopReason::ManagerGone),
            }
        }
    }

    /// Waits until the component manager asks this component to stop.
    pub async fn stopped(&self) -> StopReason {
        loop {
            if let Some(reason) = self.try_stopped() {
                return reason;
            }
            let readable = zx::Signals::CHANNEL_READABLE | zx::Signals::PEER_CLOSED;
            if zx_async::on_signals(self.transport.channel(), readable)
                .await
                .is_err()
            {
                return StopReason::ManagerGone;
            }
        }
    }
}
