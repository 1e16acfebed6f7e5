//! Sockets for components: [`TcpListener`], [`TcpStream`] and
//! [`UdpSocket`], over the netstack's `zx.net/Provider` (`idl/net.idl`).
//!
//! The provider only sets sockets up; their bytes travel through kernel
//! socket objects that the netstack hands over, so reading and writing
//! are plain `socket_read`/`socket_write` calls. Each operation has a
//! blocking form and an `async` one for the SDK executor (`zx-async`).
//! A component that uses this crate needs `zx.net.Provider` in its
//! manifest's `use`.
#![no_std]

extern crate alloc;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use alloc::vec;
use alloc::vec::Vec;
pub use bindings::zx_net::{InterfaceInfo, SocketOption};
use bindings::zx_net::{
    ProviderClient, ProviderGetOptionRequest, ProviderLookupHostRequest, ProviderMarker,
    ProviderPingRequest, ProviderSetOptionRequest, ProviderTcpConnectRequest,
    ProviderTcpListenRequest, ProviderUdpBindRequest, SocketAddress,
};
use zx::{AsHandleRef, Channel, MessageBuf, Signals, Socket, Status, Time};
use zx_idl::ChannelTransport;

/// Bytes of address in front of an accept message and a UDP datagram.
const HEADER: usize = 6;

/// An IPv4 address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketAddr {
    /// The address, most significant byte first.
    pub ip: [u8; 4],
    /// The port.
    pub port: u16,
}

impl SocketAddr {
    fn from_header(bytes: &[u8]) -> SocketAddr {
        let mut ip = [0; 4];
        ip.copy_from_slice(&bytes[..4]);
        SocketAddr {
            ip,
            port: u16::from_be_bytes([bytes[4], bytes[5]]),
        }
    }

    fn header(&self) -> [u8; HEADER] {
        let port = self.port.to_be_bytes();
        let ip = self.ip;
        [ip[0], ip[1], ip[2], ip[3], port[0], port[1]]
    }
}

impl core::fmt::Display for SocketAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let [a, b, c, d] = self.ip;
        write!(f, "{a}.{b}.{c}.{d}:{}", self.port)
    }
}

/// A new connection to the netstack's provider.
fn provider() -> Result<ProviderClient<ChannelTransport>, Status> {
    let name = ProviderMarker::DISCOVERABLE_NAME.ok_or(Status::NOT_FOUND)?;
    let channel = zx_component::connect(name)?;
    Ok(ProviderClient::new(ChannelTransport::new(channel)))
}

/// A provider call's result as a status.
fn outcome<T, E>(result: Result<Result<T, i32>, E>) -> Result<T, Status> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(code)) => Err(Status(code)),
        // The netstack is not there (or went away mid-call).
        Err(_) => Err(Status::PEER_CLOSED),
    }
}

/// The interface's address, gateway and counters (the console's `net`).
pub fn interface() -> Result<InterfaceInfo, Status> {
    provider()?
        .get_interface()
        .map(|response| response.info)
        .map_err(|_| Status::PEER_CLOSED)
}

/// Sends one ICMP echo request of `payload_size` bytes to `address` and
/// waits for its reply: the round trip in nanoseconds of the guest's
/// monotonic clock. `TIMED_OUT` if no reply came within `timeout`
/// nanoseconds (1 ms to 10 s, else `OUT_OF_RANGE`).
pub fn ping(address: [u8; 4], payload_size: u16, timeout: i64) -> Result<i64, Status> {
    outcome(provider()?.ping(ProviderPingRequest {
        address,
        payload_size,
        timeout,
    }))
    .map(|response| response.rtt)
}

/// The IPv4 addresses of host `name`, from the DNS server DHCP gave (a
/// dotted address and `localhost` are answered at once). `NOT_FOUND` if
/// the server knows no such name, `TIMED_OUT` if it did not answer,
/// `INVALID_ARGS` for a name that is not a host name.
pub fn lookup_host(name: &str) -> Result<Vec<[u8; 4]>, Status> {
    outcome(provider()?.lookup_host(ProviderLookupHostRequest { name: name.into() }))
        .map(|response| response.addresses)
}

/// Sets `option` of the connection `socket` is the client's end of.
fn set_option(socket: &Socket, option: SocketOption, value: u64) -> Result<(), Status> {
    let duplicate = socket.handle().duplicate(zx::Rights::SAME_RIGHTS)?;
    outcome(provider()?.set_option(ProviderSetOptionRequest {
        socket: idlc_runtime::Handle::from_raw(duplicate.into_raw()),
        option,
        value,
    }))
    .map(drop)
}

/// The value of `option` of the connection `socket` is the client's end
/// of.
fn get_option(socket: &Socket, option: SocketOption) -> Result<u64, Status> {
    let duplicate = socket.handle().duplicate(zx::Rights::SAME_RIGHTS)?;
    outcome(provider()?.get_option(ProviderGetOptionRequest {
        socket: idlc_runtime::Handle::from_raw(duplicate.into_raw()),
        option,
    }))
    .map(|response| response.value)
}

/// Waits for one of `signals` on `object` until `deadline`.
fn wait(object: &impl AsHandleRef, signals: Signals, deadline: Time) -> Result<Signals, Status> {
    object.wait_one(signals, deadline)
}

/// A listening TCP port; [`TcpListener::accept`] takes connections.
#[derive(Debug)]
pub struct TcpListener {
    channel: Channel,
    port: u16,
}

impl TcpListener {
    /// Listens on `port` with room for `backlog` connections not yet
    /// established (1 to 16).
    pub fn bind(port: u16, backlog: u16) -> Result<TcpListener, Status> {
        let response = outcome(provider()?.tcp_listen(ProviderTcpListenRequest { port, backlog }))?;
        let channel = Channel::from_handle(zx::Handle::from_raw(response.listener.into_raw()));
        Ok(TcpListener { channel, port })
    }

    /// The port listened on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next connection if one is waiting (`SHOULD_WAIT` if not).
    pub fn try_accept(&self) -> Result<(TcpStream, SocketAddr), Status> {
        let mut message = MessageBuf::default();
        self.channel.read(&mut message)?;
        let handle = message.handles.pop().ok_or(Status::INTERNAL)?;
        if message.bytes.len() < HEADER {
            return Err(Status::INTERNAL);
        }
        Ok((
            TcpStream {
                socket: Socket::from_handle(handle),
            },
            SocketAddr::from_header(&message.bytes),
        ))
    }

    /// Waits for the next connection (`PEER_CLOSED` if the netstack went
    /// away).
    pub fn accept(&self) -> Result<(TcpStream, SocketAddr), Status> {
        loop {
            match self.try_accept() {
                Err(Status::SHOULD_WAIT) => {
                    wait(
                        &self.channel,
                        Signals::CHANNEL_READABLE | Signals::PEER_CLOSED,
                        zx::TIME_INFINITE,
                    )?;
                }
                result => return result,
            }
        }
    }

    /// As [`TcpListener::accept`], on the executor.
    pub async fn accept_async(&self) -> Result<(TcpStream, SocketAddr), Status> {
        loop {
            match self.try_accept() {
                Err(Status::SHOULD_WAIT) => {
                    zx_async::on_signals(
                        &self.channel,
                        Signals::CHANNEL_READABLE | Signals::PEER_CLOSED,
                    )
                    .await?;
                }
                result => return result,
            }
        }
    }
}

/// A TCP connection.
#[derive(Debug)]
pub struct TcpStream {
    socket: Socket,
}

/// A read's result when nothing more will come: the peer closed its side
/// (`BAD_STATE`, the netstack shut writing down) or the connection is
/// gone (`PEER_CLOSED`); both read as end of stream (0 bytes).
fn end_of_stream(status: Status) -> bool {
    status == Status::BAD_STATE || status == Status::PEER_CLOSED
}

impl TcpStream {
    /// Opens a connection to `remote` (the netstack completes it in the
    /// background; a failed one reads as end of stream and writes fail
    /// with `PEER_CLOSED`).
    pub fn connect(remote: SocketAddr) -> Result<TcpStream, Status> {
        let response = outcome(provider()?.tcp_connect(ProviderTcpConnectRequest {
            remote: SocketAddress {
                address: remote.ip,
                port: remote.port,
            },
        }))?;
        Ok(TcpStream {
            socket: Socket::from_handle(zx::Handle::from_raw(response.socket.into_raw())),
        })
    }

    /// A stream over `socket`, the client's end of a connection the
    /// netstack made (received over a channel, say).
    pub fn from_socket(socket: Socket) -> TcpStream {
        TcpStream { socket }
    }

    /// The kernel socket behind the stream.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Reads what has arrived, waiting until something has or `deadline`
    /// passes (`TIMED_OUT`); 0 at the end of the stream.
    pub fn read_until(&self, buffer: &mut [u8], deadline: Time) -> Result<usize, Status> {
        loop {
            match self.socket.read(buffer) {
                Ok(n) => return Ok(n),
                Err(Status::SHOULD_WAIT) => {
                    wait(
                        &self.socket,
                        Signals::SOCKET_READABLE
                            | Signals::PEER_CLOSED
                            | Signals::SOCKET_PEER_WRITE_DISABLED,
                        deadline,
                    )?;
                }
                Err(status) if end_of_stream(status) => return Ok(0),
                Err(status) => return Err(status),
            }
        }
    }

    /// Reads what has arrived, waiting for it; 0 at the end of the stream.
    pub fn read(&self, buffer: &mut [u8]) -> Result<usize, Status> {
        self.read_until(buffer, zx::TIME_INFINITE)
    }

    /// As [`TcpStream::read`], on the executor.
    pub async fn read_async(&self, buffer: &mut [u8]) -> Result<usize, Status> {
        loop {
            match self.socket.read(buffer) {
                Ok(n) => return Ok(n),
                Err(Status::SHOULD_WAIT) => {
                    zx_async::on_signals(
                        &self.socket,
                        Signals::SOCKET_READABLE
                            | Signals::PEER_CLOSED
                            | Signals::SOCKET_PEER_WRITE_DISABLED,
                    )
                    .await?;
                }
                Err(status) if end_of_stream(status) => return Ok(0),
                Err(status) => return Err(status),
            }
        }
    }

    /// Writes all of `bytes`, waiting for room (`PEER_CLOSED` once the
    /// connection is gone).
    pub fn write_all(&self, bytes: &[u8]) -> Result<(), Status> {
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.socket.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(Status::SHOULD_WAIT) => {
                    wait(
                        &self.socket,
                        Signals::SOCKET_WRITABLE | Signals::PEER_CLOSED,
                        zx::TIME_INFINITE,
                    )?;
                }
                Err(status) => return Err(status),
            }
        }
        Ok(())
    }

    /// As [`TcpStream::write_all`], on the executor.
    pub async fn write_all_async(&self, bytes: &[u8]) -> Result<(), Status> {
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.socket.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(Status::SHOULD_WAIT) => {
                    zx_async::on_signals(
                        &self.socket,
                        Signals::SOCKET_WRITABLE | Signals::PEER_CLOSED,
                    )
                    .await?;
                }
                Err(status) => return Err(status),
            }
        }
        Ok(())
    }

    /// Ends the sending side (the peer reads end of stream); reading goes
    /// on.
    pub fn shutdown_write(&self) -> Result<(), Status> {
        self.socket.shutdown(true, false)
    }

    /// Sets a socket option (`idl/net.idl` gives each one's bounds):
    /// `OUT_OF_RANGE` or `INVALID_ARGS` for a value outside them,
    /// `NOT_FOUND` once the netstack no longer knows the connection.
    pub fn set_option(&self, option: SocketOption, value: u64) -> Result<(), Status> {
        set_option(&self.socket, option, value)
    }

    /// A socket option's value.
    pub fn option(&self, option: SocketOption) -> Result<u64, Status> {
        get_option(&self.socket, option)
    }

    /// Turns Nagle's algorithm off (`true`, the default) or on.
    pub fn set_nodelay(&self, no_delay: bool) -> Result<(), Status> {
        self.set_option(SocketOption::TcpNodelay, u64::from(no_delay))
    }

    /// Keep-alive probes every `interval_ms` milliseconds (`None`: off).
    pub fn set_keepalive(&self, interval_ms: Option<u64>) -> Result<(), Status> {
        self.set_option(SocketOption::SoKeepalive, interval_ms.unwrap_or(0))
    }
}

/// A bound UDP socket.
#[derive(Debug)]
pub struct UdpSocket {
    socket: Socket,
    port: u16,
}

impl UdpSocket {
    /// Binds `port` (0: any free port).
    pub fn bind(port: u16) -> Result<UdpSocket, Status> {
        let response = outcome(provider()?.udp_bind(ProviderUdpBindRequest { port }))?;
        Ok(UdpSocket {
            socket: Socket::from_handle(zx::Handle::from_raw(response.socket.into_raw())),
            port: response.port,
        })
    }

    /// The port bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sets a socket option; the options there are are TCP's, so this
    /// fails with `NOT_SUPPORTED` (it is here so that callers can tell).
    pub fn set_option(&self, option: SocketOption, value: u64) -> Result<(), Status> {
        set_option(&self.socket, option, value)
    }

    fn datagram(payload: &[u8], to: SocketAddr) -> alloc::vec::Vec<u8> {
        let mut datagram = vec![0u8; HEADER + payload.len()];
        datagram[..HEADER].copy_from_slice(&to.header());
        datagram[HEADER..].copy_from_slice(payload);
        datagram
    }

    /// Sends one datagram to `to` (`SHOULD_WAIT` if the netstack is
    /// behind).
    pub fn send_to(&self, payload: &[u8], to: SocketAddr) -> Result<(), Status> {
        self.socket.write(&Self::datagram(payload, to)).map(drop)
    }

    fn try_recv_from(&self, buffer: &mut [u8]) -> Result<(usize, SocketAddr), Status> {
        let mut datagram = vec![0u8; HEADER + buffer.len()];
        let n = self.socket.read(&mut datagram)?;
        if n < HEADER {
            return Err(Status::INTERNAL);
        }
        let len = n - HEADER;
        buffer[..len].copy_from_slice(&datagram[HEADER..n]);
        Ok((len, SocketAddr::from_header(&datagram)))
    }

    /// Receives one datagram (truncated to `buffer`), waiting until
    /// `deadline`; its length and sender.
    pub fn recv_from_until(
        &self,
        buffer: &mut [u8],
        deadline: Time,
    ) -> Result<(usize, SocketAddr), Status> {
        loop {
            match self.try_recv_from(buffer) {
                Err(Status::SHOULD_WAIT) => {
                    wait(
                        &self.socket,
                        Signals::SOCKET_READABLE | Signals::PEER_CLOSED,
                        deadline,
                    )?;
                }
                result => return result,
            }
        }
    }

    /// As [`UdpSocket::recv_from_until`], on the executor, without a
    /// deadline.
    pub async fn recv_from_async(&self, buffer: &mut [u8]) -> Result<(usize, SocketAddr), Status> {
        loop {
            match self.try_recv_from(buffer) {
                Err(Status::SHOULD_WAIT) => {
                    zx_async::on_signals(
                        &self.socket,
                        Signals::SOCKET_READABLE | Signals::PEER_CLOSED,
                    )
                    .await?;
                }
                result => return result,
            }
        }
    }
}
