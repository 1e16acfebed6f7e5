//! One host's session: the control channel (`zx.host/RemoteControl`) and
//! the channels it opened, each bound to a kernel channel in the guest.
//!
//! Every frame is checked before anything is done with it: its channel
//! must be open, its payload a message (at least a transactional header),
//! on channel 0 a `RemoteControl` request that decodes. A frame that
//! fails gets `OnFrameError` (and on a service channel, closes that
//! channel); nothing a host sends stops the bridge.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use bridge_frame::{Event, CONTROL_CHANNEL};
use idlc_runtime::{IncomingMessage, OutgoingMessage, HEADER_SIZE};
use zx::{AsHandleRef, Channel, MessageBuf, Signals, Status};
use zx_idl::ChannelTransport;
use zx_runtime::println;

use crate::bindings::zx_blob::{BlobfsClient, BlobfsCreateRequest, BlobfsMarker};
use crate::bindings::zx_component::{RealmClient, RealmMarker, RealmOpenExposedRequest};
use crate::bindings::zx_host::{
    dispatch_remote_control, remote_control_on_channel_closed_event,
    remote_control_on_frame_error_event, ComponentInfo, FrameError, RemoteControlCloseRequest,
    RemoteControlConnectRequest, RemoteControlConnectResponse, RemoteControlHelloRequest,
    RemoteControlHelloResponse, RemoteControlListComponentsResponse,
    RemoteControlOnChannelClosedRequest, RemoteControlOnFrameErrorRequest,
    RemoteControlReadLogRequest, RemoteControlReadLogResponse, RemoteControlServer,
    RemoteControlWriteBlobRequest, RemoteControlWriteBlobResponse, MAX_CHANNELS, MAX_FRAME_PAYLOAD,
    PROTOCOL_VERSION,
};
use crate::bindings::zx_logger::{LogReaderClient, LogReaderMarker, LogReaderReadRequest};

/// How long the bridge waits for the replies of what it just forwarded
/// before it reads the port again (a service that answers at once is
/// answered in the same turn).
const REPLY_WAIT_NANOS: i64 = 50_000_000;

/// Most bytes waiting to go to the host before the bridge stops taking
/// messages from its channels for this turn (the rest wait in their
/// kernel queues).
const MAX_OUTPUT: usize = 256 * 1024;

/// A channel the host opened.
struct Open {
    channel: Channel,
    /// What it reaches, for the bridge's own log.
    what: String,
}

/// The host's session.
pub struct Session {
    channels: BTreeMap<u32, Open>,
    /// Channels written to in this turn, whose replies are awaited.
    forwarded: Vec<u32>,
    /// Frames for the host.
    output: Vec<u8>,
    realm: Option<RealmClient<ChannelTransport>>,
    log: Option<LogReaderClient<ChannelTransport>>,
    blobfs: Option<BlobfsClient<ChannelTransport>>,
}

fn connect<T>(name: Option<&str>, client: fn(ChannelTransport) -> T) -> Option<T> {
    let channel = zx_component::connect(name?).ok()?;
    Some(client(ChannelTransport::new(channel)))
}

impl Session {
    pub fn new() -> Session {
        Session {
            channels: BTreeMap::new(),
            forwarded: Vec::new(),
            output: Vec::new(),
            realm: None,
            log: None,
            blobfs: None,
        }
    }

    /// Whether the host has channels open.
    pub fn has_channels(&self) -> bool {
        !self.channels.is_empty()
    }

    /// The frames to send to the host, taken.
    pub fn take_output(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.output)
    }

    /// Acts on what the frame reader found.
    pub fn handle(&mut self, event: Event) {
        match event {
            Event::BadMagic { skipped } => {
                println!("bridge: skipped {skipped} bytes that were not frames");
                self.frame_error(FrameError::BadMagic, CONTROL_CHANNEL);
            }
            Event::TooLarge { channel, length } => {
                println!("bridge: refused a frame of {length} bytes on channel {channel}");
                self.frame_error(FrameError::TooLarge, channel);
            }
            Event::Frame { channel, payload } if channel == CONTROL_CHANNEL => {
                self.control(payload)
            }
            Event::Frame { channel, payload } => self.forward(channel, payload),
        }
    }

    /// A frame that stopped arriving half-way was dropped.
    pub fn frame_truncated(&mut self) {
        println!("bridge: dropped a frame the host did not finish");
        self.frame_error(FrameError::Truncated, CONTROL_CHANNEL);
    }

    fn send(&mut self, channel: u32, message: &[u8]) {
        // Every message fits: channel messages are at most the kernel's
        // 64 KiB, and replies the bridge encodes are smaller.
        if let Some(frame) = bridge_frame::encode(channel, message) {
            self.output.extend_from_slice(&frame);
        }
    }

    fn event(&mut self, message: Result<OutgoingMessage, idlc_runtime::EncodeError>) {
        if let Ok(message) = message {
            self.send(CONTROL_CHANNEL, &message.bytes);
        }
    }

    fn frame_error(&mut self, error: FrameError, channel: u32) {
        self.event(remote_control_on_frame_error_event(
            RemoteControlOnFrameErrorRequest { error, channel },
        ));
    }

    fn closed(&mut self, channel: u32, status: Status) {
        if let Some(open) = self.channels.remove(&channel) {
            println!("bridge: channel {channel} ({}) closed: {status}", open.what);
        }
        self.event(remote_control_on_channel_closed_event(
            RemoteControlOnChannelClosedRequest {
                channel,
                status: status.0,
            },
        ));
    }

    /// A request on channel 0.
    fn control(&mut self, payload: Vec<u8>) {
        let mut message = IncomingMessage {
            bytes: payload,
            handles: Vec::new(),
        };
        match dispatch_remote_control(self, &mut message) {
            Ok(Some(reply)) => self.send(CONTROL_CHANNEL, &reply.bytes),
            Ok(None) => {}
            Err(error) => {
                println!("bridge: bad RemoteControl request: {error:?}");
                self.frame_error(FrameError::Malformed, CONTROL_CHANNEL);
            }
        }
    }

    /// A message for a service channel.
    fn forward(&mut self, channel: u32, payload: Vec<u8>) {
        let Some(open) = self.channels.get(&channel) else {
            self.frame_error(FrameError::UnknownChannel, channel);
            return;
        };
        if payload.len() < HEADER_SIZE {
            // Not a message: what the service would make of it is
            // undefined, so the channel ends here.
            self.frame_error(FrameError::Malformed, channel);
            self.closed(channel, Status::INVALID_ARGS);
            return;
        }
        match open.channel.write(&payload, Vec::new()) {
            Ok(()) => {
                if !self.forwarded.contains(&channel) {
                    self.forwarded.push(channel);
                }
            }
            Err(Status::PEER_CLOSED) => self.closed(channel, Status::PEER_CLOSED),
            Err(_) => self.frame_error(FrameError::QueueFull, channel),
        }
    }

    /// Waits a little for the replies of what this turn forwarded.
    pub fn await_replies(&mut self) {
        let deadline = zx::deadline_after(REPLY_WAIT_NANOS);
        for channel in core::mem::take(&mut self.forwarded) {
            if let Some(open) = self.channels.get(&channel) {
                let _ = open
                    .channel
                    .wait_one(Signals::CHANNEL_READABLE | Signals::PEER_CLOSED, deadline);
            }
        }
    }

    /// Sends the host every message its channels hold; reports the ones
    /// that closed.
    pub fn collect_from_channels(&mut self) {
        let ids: Vec<u32> = self.channels.keys().copied().collect();
        let mut buffer = MessageBuf::default();
        for id in ids {
            loop {
                if self.output.len() > MAX_OUTPUT {
                    return; // the rest waits in the kernel for the next turn
                }
                let Some(open) = self.channels.get(&id) else {
                    break;
                };
                match open.channel.read(&mut buffer) {
                    Ok(()) if !buffer.handles.is_empty() => {
                        // Handles cannot cross to the host: they close
                        // (with the buffer), and so does the channel, since
                        // the host would see a message it cannot use.
                        buffer.handles.clear();
                        self.closed(id, Status::NOT_SUPPORTED);
                        break;
                    }
                    Ok(()) => {
                        let bytes = core::mem::take(&mut buffer.bytes);
                        self.send(id, &bytes);
                        buffer.bytes = bytes;
                    }
                    Err(Status::SHOULD_WAIT) => break,
                    Err(status) => {
                        self.closed(id, status);
                        break;
                    }
                }
            }
        }
    }

    /// Checks that `channel` can be opened now.
    fn check_new_channel(&self, channel: u32) -> Result<(), i32> {
        if channel == CONTROL_CHANNEL || channel > MAX_CHANNELS {
            return Err(Status::INVALID_ARGS.0);
        }
        if self.channels.contains_key(&channel) {
            return Err(Status::ALREADY_EXISTS.0);
        }
        if self.channels.len() >= MAX_CHANNELS as usize {
            return Err(Status::NO_RESOURCES.0);
        }
        Ok(())
    }

    fn realm(&mut self) -> Result<&RealmClient<ChannelTransport>, i32> {
        if self.realm.is_none() {
            self.realm = connect(RealmMarker::DISCOVERABLE_NAME, RealmClient::new);
        }
        self.realm.as_ref().ok_or(Status::PEER_CLOSED.0)
    }
}

/// Protocols the host reaches with an empty moniker: the bridge's own,
/// offered by the component manager (`docs/bridge.md`). Their messages
/// carry no handles.
const OWN_PROTOCOLS: &[&str] = &["zx.component.swap.SwapController"];

impl Session {
    /// `Connect("", protocol)`: one of [`OWN_PROTOCOLS`], from the bridge's
    /// own `/svc`.
    fn connect_own(
        &mut self,
        request: RemoteControlConnectRequest,
    ) -> Result<RemoteControlConnectResponse, i32> {
        if !OWN_PROTOCOLS.contains(&request.protocol.as_str()) {
            return Err(Status::NOT_FOUND.0);
        }
        let channel = zx_component::connect(&request.protocol).map_err(|_| Status::NOT_FOUND.0)?;
        let what = alloc::format!("{} of the component manager", request.protocol);
        println!("bridge: channel {} is {}", request.channel, what);
        self.channels
            .insert(request.channel, Open { channel, what });
        Ok(RemoteControlConnectResponse {})
    }
}

/// A call's transport failed (the service closed): forget the client so
/// the next request connects again.
fn flatten<T>(
    result: Result<Result<T, i32>, idlc_runtime::client::ClientError<Status>>,
) -> Result<T, i32> {
    match result {
        Ok(result) => result,
        Err(_) => Err(Status::PEER_CLOSED.0),
    }
}

impl RemoteControlServer for Session {
    fn hello(&mut self, request: RemoteControlHelloRequest) -> RemoteControlHelloResponse {
        // A new host: whatever an earlier one left open closes.
        let earlier = core::mem::take(&mut self.channels);
        if !earlier.is_empty() {
            println!(
                "bridge: a new session (version {}) closes {} channels",
                request.version,
                earlier.len()
            );
        }
        self.forwarded.clear();
        RemoteControlHelloResponse {
            version: PROTOCOL_VERSION,
            max_frame_payload: MAX_FRAME_PAYLOAD,
            max_channels: MAX_CHANNELS,
        }
    }

    fn list_components(&mut self) -> RemoteControlListComponentsResponse {
        let listed = match self.realm() {
            Ok(realm) => realm.list().ok(),
            Err(_) => None,
        };
        if listed.is_none() {
            self.realm = None;
        }
        let components = listed
            .map(|list| list.components)
            .unwrap_or_default()
            .into_iter()
            .map(|c| ComponentInfo {
                moniker: c.moniker,
                binary: c.binary,
                state: c.state,
                version: String::new(),
                restarts: c.restarts,
            })
            .collect();
        RemoteControlListComponentsResponse { components }
    }

    fn read_log(&mut self, request: RemoteControlReadLogRequest) -> RemoteControlReadLogResponse {
        if self.log.is_none() {
            self.log = connect(LogReaderMarker::DISCOVERABLE_NAME, LogReaderClient::new);
        }
        let read = self.log.as_ref().and_then(|log| {
            log.read(LogReaderReadRequest {
                after: request.after,
            })
            .ok()
        });
        match read {
            Some(response) => RemoteControlReadLogResponse {
                records: response.records,
                next: response.next,
            },
            None => {
                self.log = None;
                RemoteControlReadLogResponse {
                    records: Vec::new(),
                    next: request.after,
                }
            }
        }
    }

    fn connect(
        &mut self,
        request: RemoteControlConnectRequest,
    ) -> Result<RemoteControlConnectResponse, i32> {
        self.check_new_channel(request.channel)?;
        if request.moniker.is_empty() {
            return self.connect_own(request);
        }
        let (client, server) = Channel::create().map_err(|s| s.0)?;
        let opened = flatten(self.realm()?.open_exposed(RealmOpenExposedRequest {
            moniker: request.moniker.clone(),
            protocol: request.protocol.clone(),
            server: idlc_runtime::Handle::from_raw(server.into_handle().into_raw()),
        }));
        if opened == Err(Status::PEER_CLOSED.0) {
            self.realm = None;
        }
        opened?;
        let what = alloc::format!("{} from {}", request.protocol, request.moniker);
        println!("bridge: channel {} is {}", request.channel, what);
        self.channels.insert(
            request.channel,
            Open {
                channel: client,
                what,
            },
        );
        Ok(RemoteControlConnectResponse {})
    }

    fn write_blob(
        &mut self,
        request: RemoteControlWriteBlobRequest,
    ) -> Result<RemoteControlWriteBlobResponse, i32> {
        self.check_new_channel(request.channel)?;
        if self.blobfs.is_none() {
            self.blobfs = connect(BlobfsMarker::DISCOVERABLE_NAME, BlobfsClient::new);
        }
        let blobfs = self.blobfs.as_ref().ok_or(Status::PEER_CLOSED.0)?;
        let (client, server) = Channel::create().map_err(|s| s.0)?;
        let created = flatten(blobfs.create(BlobfsCreateRequest {
            root: request.root,
            size: request.size,
            writer: idlc_runtime::Handle::from_raw(server.into_handle().into_raw()),
        }));
        if created == Err(Status::PEER_CLOSED.0) {
            self.blobfs = None;
        }
        created?;
        self.channels.insert(
            request.channel,
            Open {
                channel: client,
                what: "a blob writer".to_string(),
            },
        );
        Ok(RemoteControlWriteBlobResponse {})
    }

    fn close(&mut self, request: RemoteControlCloseRequest) {
        if self.channels.remove(&request.channel).is_none() {
            self.frame_error(FrameError::UnknownChannel, request.channel);
        }
    }
}
