//! The host end of the bridge (`docs/bridge.md`): a session over the
//! running system's bridge socket, channel 0 speaking
//! `zx.host/RemoteControl`, every other channel a connection to a service
//! in the guest. Each channel is an `idlc_runtime::Transport`, so the
//! generated synchronous clients (`RemoteControlClient`, `EchoClient`,
//! `BlobWriterClient`) call through it unchanged.
//!
//! One thread owns a session (`Rc`): frames for another channel that
//! arrive while a call waits are queued for that channel; the bridge's
//! own events on channel 0 (`OnChannelClosed`, `OnFrameError`) are taken
//! out and recorded, so a call on a channel that closes fails instead of
//! waiting.
//!
//! [`commands`] holds `build-image ls`, `log`, `push`; [`scenario`] the
//! system test.

pub mod bindings;
pub mod commands;
pub mod scenario;

use anyhow::{bail, Context, Result};
use bindings::zx_host::{
    FrameError, RemoteControlClient, RemoteControlConnectRequest, RemoteControlHelloRequest,
    RemoteControlMarker, RemoteControlOnChannelClosedRequest, RemoteControlOnFrameErrorRequest,
    PROTOCOL_VERSION,
};
use bridge_frame::{Event, FrameReader, CONTROL_CHANNEL};
use idlc_runtime::{IncomingMessage, OutgoingMessage, Transport};
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How long a call waits for its reply.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `Hello` waits before it is sent again (the bridge drops a
/// frame an earlier host left half-written after 1 s).
const HELLO_TIMEOUT: Duration = Duration::from_secs(3);

/// Where `build-image run --product <product>` puts the bridge socket.
pub fn socket_path(root: &Path, product: &str) -> PathBuf {
    root.join("target/machines")
        .join(product)
        .join("bridge.sock")
}

/// What went wrong on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeError {
    /// The socket failed (the system went away).
    Io(String),
    /// The channel was closed, by its service or by the bridge (status).
    Closed(i32),
    /// No reply within the timeout.
    TimedOut,
}

impl std::fmt::Display for BridgeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BridgeError::Io(why) => write!(f, "the bridge socket failed: {why}"),
            BridgeError::Closed(status) => {
                write!(f, "the channel was closed ({})", status_name(*status))
            }
            BridgeError::TimedOut => write!(f, "no reply within {CALL_TIMEOUT:?}"),
        }
    }
}

impl std::error::Error for BridgeError {}

/// A status's name (`zx.Status`, e.g. `NOT_FOUND`).
pub fn status_name(status: i32) -> &'static str {
    zx_abi::Status(status).name()
}

struct Inner {
    stream: UnixStream,
    reader: FrameReader,
    /// Messages received for each channel, not yet taken.
    queues: BTreeMap<u32, VecDeque<Vec<u8>>>,
    /// Channels the bridge reported closed, with the status.
    closed: BTreeMap<u32, i32>,
    /// `OnFrameError`s the bridge sent, in order.
    frame_errors: Vec<(FrameError, u32)>,
    next_channel: u32,
    timeout: Duration,
}

/// A session with a running system's bridge.
#[derive(Clone)]
pub struct Session {
    inner: Rc<RefCell<Inner>>,
}

impl Session {
    /// Connects to the bridge socket at `path` and starts a session
    /// (`Hello`, sent again if the bridge does not answer at once).
    pub fn connect(path: &Path) -> Result<Session> {
        let stream = UnixStream::connect(path).with_context(|| {
            format!(
                "no running system answers at {} (start one with `build-image run`)",
                path.display()
            )
        })?;
        let session = Session::over(stream);
        let control = session.control();
        let mut last = None;
        for _ in 0..4 {
            session.inner.borrow_mut().timeout = HELLO_TIMEOUT;
            let hello = control.hello(RemoteControlHelloRequest {
                version: PROTOCOL_VERSION,
            });
            session.inner.borrow_mut().timeout = CALL_TIMEOUT;
            match hello {
                Ok(reply) if reply.version == PROTOCOL_VERSION => return Ok(session),
                Ok(reply) => bail!(
                    "the bridge speaks version {}, this tool {PROTOCOL_VERSION}",
                    reply.version
                ),
                Err(error) => last = Some(format!("{error:?}")),
            }
            // A reply that comes late belongs to a Hello given up on.
            session.inner.borrow_mut().queues.clear();
        }
        bail!(
            "the bridge at {} does not answer: {}",
            path.display(),
            last.unwrap_or_default()
        )
    }

    /// A session over a connected stream, without `Hello`.
    pub fn over(stream: UnixStream) -> Session {
        Session {
            inner: Rc::new(RefCell::new(Inner {
                stream,
                reader: FrameReader::new(),
                queues: BTreeMap::new(),
                closed: BTreeMap::new(),
                frame_errors: Vec::new(),
                next_channel: 1,
                timeout: CALL_TIMEOUT,
            })),
        }
    }

    /// The channel with `id`.
    pub fn channel(&self, id: u32) -> BridgeChannel {
        BridgeChannel {
            session: self.clone(),
            id,
        }
    }

    /// `zx.host/RemoteControl`, on channel 0.
    pub fn control(&self) -> RemoteControlClient<BridgeChannel> {
        RemoteControlClient::new(self.channel(CONTROL_CHANNEL))
    }

    /// A channel id not used yet in this session.
    pub fn new_channel_id(&self) -> u32 {
        let mut inner = self.inner.borrow_mut();
        let id = inner.next_channel;
        inner.next_channel = if id >= bindings::zx_host::MAX_CHANNELS {
            1
        } else {
            id + 1
        };
        inner.closed.remove(&id);
        inner.queues.remove(&id);
        id
    }

    /// Opens `protocol` as the component at `moniker` exposes it.
    pub fn connect_to(&self, moniker: &str, protocol: &str) -> Result<BridgeChannel> {
        let id = self.new_channel_id();
        let connected = self
            .control()
            .connect(RemoteControlConnectRequest {
                moniker: moniker.into(),
                protocol: protocol.into(),
                channel: id,
            })
            .map_err(|e| anyhow::anyhow!("Connect: {e:?}"))?;
        if let Err(status) = connected {
            bail!(
                "cannot connect to {protocol} of {moniker}: {}",
                status_name(status)
            );
        }
        Ok(self.channel(id))
    }

    /// Writes raw bytes into the socket (the hostile-input tests).
    pub fn write_raw(&self, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.borrow_mut().stream.write_all(bytes)
    }

    /// The `OnFrameError`s received so far.
    pub fn frame_errors(&self) -> Vec<(FrameError, u32)> {
        self.inner.borrow().frame_errors.clone()
    }

    /// The status a channel was closed with, if the bridge said so.
    pub fn closed_status(&self, id: u32) -> Option<i32> {
        self.inner.borrow().closed.get(&id).copied()
    }

    /// Reads from the socket for up to `wait`, sorting what arrives.
    pub fn pump(&self, wait: Duration) -> Result<(), BridgeError> {
        let mut inner = self.inner.borrow_mut();
        inner.pump(wait)
    }
}

impl Inner {
    fn pump(&mut self, wait: Duration) -> Result<(), BridgeError> {
        let wait = wait.max(Duration::from_millis(1));
        let _ = self.stream.set_read_timeout(Some(wait));
        let mut buffer = [0u8; 16384];
        match self.stream.read(&mut buffer) {
            Ok(0) => return Err(BridgeError::Io("the system closed the socket".into())),
            Ok(n) => self.reader.push(&buffer[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return Ok(())
            }
            Err(e) => return Err(BridgeError::Io(e.to_string())),
        }
        while let Some(event) = self.reader.next_event() {
            match event {
                Event::Frame { channel, payload } => self.sort(channel, payload),
                // The bridge sends only whole frames: anything else is a
                // broken stream, and the session is over.
                other => {
                    return Err(BridgeError::Io(format!(
                        "bad frame from the bridge: {other:?}"
                    )))
                }
            }
        }
        Ok(())
    }

    fn sort(&mut self, channel: u32, payload: Vec<u8>) {
        if channel == CONTROL_CHANNEL {
            let mut message = IncomingMessage {
                bytes: payload,
                handles: Vec::new(),
            };
            if let Ok(header) = message.header() {
                if header.txid == 0
                    && header.ordinal == RemoteControlMarker::ON_CHANNEL_CLOSED_ORDINAL
                {
                    if let Ok(event) = message.decode_body::<RemoteControlOnChannelClosedRequest>()
                    {
                        self.closed.insert(event.channel, event.status);
                    }
                    return;
                }
                if header.txid == 0 && header.ordinal == RemoteControlMarker::ON_FRAME_ERROR_ORDINAL
                {
                    if let Ok(event) = message.decode_body::<RemoteControlOnFrameErrorRequest>() {
                        self.frame_errors.push((event.error, event.channel));
                    }
                    return;
                }
            }
            self.queues
                .entry(channel)
                .or_default()
                .push_back(message.bytes);
            return;
        }
        self.queues.entry(channel).or_default().push_back(payload);
    }
}

/// One channel of a session: a transport for generated clients.
#[derive(Clone)]
pub struct BridgeChannel {
    session: Session,
    id: u32,
}

impl BridgeChannel {
    /// Its id in the session.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The session it belongs to.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Asks the bridge to close it.
    pub fn close(self) -> Result<()> {
        self.session
            .control()
            .close(bindings::zx_host::RemoteControlCloseRequest { channel: self.id })
            .map_err(|e| anyhow::anyhow!("Close: {e:?}"))
    }
}

impl Transport for BridgeChannel {
    type Error = BridgeError;

    fn send(&self, message: OutgoingMessage) -> Result<(), BridgeError> {
        if !message.handles.is_empty() {
            // Handles do not cross the bridge.
            return Err(BridgeError::Closed(zx_abi::Status::NOT_SUPPORTED.0));
        }
        let mut inner = self.session.inner.borrow_mut();
        if let Some(status) = inner.closed.get(&self.id) {
            return Err(BridgeError::Closed(*status));
        }
        let frame = bridge_frame::encode(self.id, &message.bytes)
            .ok_or(BridgeError::Closed(zx_abi::Status::OUT_OF_RANGE.0))?;
        inner
            .stream
            .write_all(&frame)
            .map_err(|e| BridgeError::Io(e.to_string()))
    }

    fn receive(&self) -> Result<IncomingMessage, BridgeError> {
        let mut inner = self.session.inner.borrow_mut();
        let start = Instant::now();
        loop {
            if let Some(bytes) = inner.queues.get_mut(&self.id).and_then(VecDeque::pop_front) {
                return Ok(IncomingMessage {
                    bytes,
                    handles: Vec::new(),
                });
            }
            if let Some(status) = inner.closed.get(&self.id) {
                return Err(BridgeError::Closed(*status));
            }
            let left = inner.timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(BridgeError::TimedOut);
            }
            inner.pump(left.min(Duration::from_millis(200)))?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindings::zx_host::{RemoteControlHelloResponse, RemoteControlMarker};
    use idlc_runtime::TransactionHeader;

    /// A fake bridge end: answers one `Hello` and reports a channel closed.
    #[test]
    fn calls_match_replies_and_events_are_sorted_out() {
        let (host, mut guest) = UnixStream::pair().unwrap();
        let peer = std::thread::spawn(move || {
            let mut reader = FrameReader::new();
            let mut buffer = [0u8; 1024];
            loop {
                let n = guest.read(&mut buffer).unwrap();
                reader.push(&buffer[..n]);
                if let Some(Event::Frame { channel, payload }) = reader.next_event() {
                    assert_eq!(channel, 0);
                    let header = TransactionHeader::parse(&payload).unwrap().0;
                    assert_eq!(header.ordinal, RemoteControlMarker::HELLO_ORDINAL);
                    let closed = bindings::zx_host::remote_control_on_channel_closed_event(
                        RemoteControlOnChannelClosedRequest {
                            channel: 3,
                            status: -24,
                        },
                    )
                    .unwrap();
                    guest
                        .write_all(&bridge_frame::encode(0, &closed.bytes).unwrap())
                        .unwrap();
                    let reply = OutgoingMessage::encode(
                        TransactionHeader::new(header.txid, header.ordinal, false),
                        &mut RemoteControlHelloResponse {
                            version: PROTOCOL_VERSION,
                            max_frame_payload: 65536,
                            max_channels: 16,
                        },
                    )
                    .unwrap();
                    guest
                        .write_all(&bridge_frame::encode(0, &reply.bytes).unwrap())
                        .unwrap();
                    return;
                }
            }
        });
        let session = Session::over(host);
        let reply = session
            .control()
            .hello(RemoteControlHelloRequest {
                version: PROTOCOL_VERSION,
            })
            .unwrap();
        assert_eq!(reply.max_channels, 16);
        assert_eq!(session.closed_status(3), Some(-24));
        assert_eq!(session.channel(3).receive(), Err(BridgeError::Closed(-24)));
        peer.join().unwrap();
    }
}
