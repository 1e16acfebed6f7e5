//! The netstack: a TCP/IP stack (`smoltcp`) over the network device that
//! the virtio-net driver serves at `/dev/net/0` (`idl/network.idl`), and
//! the socket provider (`idl/net.idl`) through which components open TCP
//! and UDP sockets. A socket's data path is a kernel socket object: the
//! client holds one end, the netstack the other, and moves bytes between
//! it and smoltcp. DHCPv4 configures the interface (QEMU's user network
//! gives 10.0.2.15, gateway 10.0.2.2, DNS 10.0.2.3); smoltcp answers ICMP
//! echo requests itself.
//!
//! One thread runs everything in a loop: serve provider requests, take
//! the frames the driver has, let smoltcp process them, move bytes
//! between smoltcp and the kernel sockets, and wait on a port for the next
//! thing to do ([`waiting`]: the driver's frame event, a client, a kernel
//! socket, or smoltcp's next timer). `docs/netstack.md` has the design and
//! its limits.
//!
//! Memory stays bounded whatever the traffic: at most [`MAX_TCP`] TCP
//! sockets (listening ones included) of fixed buffers, at most
//! [`MAX_UDP`] UDP sockets, and at most about [`KERNEL_BUFFERED`] bytes
//! waiting in each connection's kernel socket for a client that does not
//! read (the socket's write threshold tells when there is room again),
//! so a client that stops reading only closes its own TCP window.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}
mod card;
mod lookup;
mod loopback;
mod options;
mod ping;
mod replies;
mod waiting;

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use bindings::zx_device_network::NetworkClient;
use bindings::zx_net::{
    InterfaceInfo, ProviderGetInterfaceResponse, ProviderGetOptionRequest,
    ProviderGetOptionResponse, ProviderLookupHostRequest, ProviderLookupHostResponse,
    ProviderMarker, ProviderPingRequest, ProviderPingResponse, ProviderServer,
    ProviderSetOptionRequest, ProviderSetOptionResponse, ProviderTcpConnectRequest,
    ProviderTcpConnectResponse, ProviderTcpListenRequest, ProviderTcpListenResponse,
    ProviderUdpBindRequest, ProviderUdpBindResponse, TestHookMarker, TestHookServer,
};
use card::Card;
use loopback::LoopbackDevice;
use replies::{Client, Protocol};
use smoltcp::iface::{Config, Interface, PollIngressSingleResult, SocketHandle, SocketSet};
use smoltcp::socket::{dhcpv4, dns, tcp, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint, Ipv4Address,
};
use zx::{AsHandleRef, Channel, Signals, Socket, SocketKind, SocketThreshold, Status};
use zx_idl::ChannelTransport;
use zx_runtime::println;

zx_runtime::entry!(main);

/// Most TCP sockets at once (connections and listening sockets).
const MAX_TCP: usize = 128;
/// Most UDP sockets at once.
const MAX_UDP: usize = 16;
/// A TCP socket's receive and send buffers (smoltcp's).
const TCP_RX: usize = 32 * 1024;
const TCP_TX: usize = 16 * 1024;
/// A UDP socket's buffers: bytes and datagrams each way.
const UDP_BYTES: usize = 16 * 1024;
const UDP_DATAGRAMS: usize = 16;
/// How long datagrams may wait in a UDP socket's Ethernet send queue with
/// none leaving before they are all dropped (nanoseconds). smoltcp sends
/// a socket's datagrams in order and keeps the first until its next hop
/// answers ARP: without a bound, one datagram to a neighbour that never
/// answers would hold every later one for good.
const UDP_STUCK_NANOS: i64 = 5_000_000_000;
/// Bytes the netstack lets wait in a connection's kernel socket for its
/// client (past it, data stays in smoltcp and the TCP window closes).
const KERNEL_BUFFERED: usize = 64 * 1024;
/// Most half-open connections one listener keeps.
const MAX_BACKLOG: usize = 32;
/// How long a connection may go without hearing from its peer.
const TCP_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest the netstack waits with nothing to do (everything it
/// waits for is signalled; this only bounds the cost of a missed
/// signal).
const MAX_WAIT: Duration = Duration::from_secs(1);
/// Most listening sockets a listener keeps on the loopback interface.
const LOOPBACK_BACKLOG: usize = 4;
/// Most rounds of the loopback interface per poll (each round receives
/// what the one before sent).
const LOOPBACK_ROUNDS: usize = 16;
/// First port of the range `TcpConnect` and `UdpBind(0)` pick from.
const EPHEMERAL: u16 = 49152;
/// Address and port in front of an accepted connection's message and of
/// every UDP datagram (`idl/net.idl`).
const HEADER: usize = 6;

fn now() -> Instant {
    Instant::from_micros(zx::clock_get_monotonic().into_nanos() / 1000)
}

/// Which interface a smoltcp socket belongs to: each has its own socket
/// set, so a socket is only ever polled by the interface it talks on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Net {
    /// `/dev/net/0`, configured by DHCP.
    Ethernet,
    /// 127.0.0.0/8.
    Loopback,
}

impl Net {
    /// The interface that reaches `address`.
    fn toward(address: Ipv4Address) -> Net {
        if address.octets()[0] == 127 {
            Net::Loopback
        } else {
            Net::Ethernet
        }
    }
}

/// A connection: a smoltcp TCP socket and the netstack's end of the
/// kernel socket its client holds.
struct Conn {
    net: Net,
    handle: SocketHandle,
    local: Socket,
    /// Bytes received that may wait in the kernel socket for the client
    /// (`SO_RCVBUF`).
    receive_buffer: usize,
    /// Bytes taken from the client ahead of the peer's acknowledgements
    /// (`SO_SNDBUF`).
    send_buffer: usize,
    /// The client shut down writing (its FIN is passed on).
    client_eof: bool,
    /// The client closed its end.
    client_gone: bool,
    /// The peer's FIN was passed on to the client.
    fin_passed: bool,
}

/// A listening port: the channel accepted connections go to, and the
/// listening smoltcp sockets that wait for them.
struct Listener {
    port: u16,
    channel: Channel,
    backlog: usize,
    waiting: Vec<(Net, SocketHandle)>,
}

/// A bound UDP socket (one smoltcp socket on each interface) and the
/// netstack's end of its kernel socket.
struct Udp {
    ethernet: SocketHandle,
    loopback: SocketHandle,
    local: Socket,
    port: u16,
    /// The Ethernet send queue's progress ([`UDP_STUCK_NANOS`]).
    queue: SendProgress,
}

/// Whether a UDP socket's Ethernet send queue moves.
#[derive(Default)]
struct SendProgress {
    /// Bytes queued at the last check, and queued since.
    bytes: usize,
    added: usize,
    /// Datagrams queued since the queue was last empty.
    datagrams: u64,
    /// Since when nothing has left (None: the queue is empty or moved at
    /// the last check).
    stuck_since: Option<i64>,
}

impl SendProgress {
    /// Notes `len` bytes queued.
    fn queued(&mut self, len: usize) {
        self.added += len;
        self.datagrams += 1;
    }

    /// Checks the queue (`bytes` in it now) at `now`: the number of
    /// datagrams to drop, if it has not moved for [`UDP_STUCK_NANOS`].
    fn check(&mut self, bytes: usize, now: i64) -> Option<u64> {
        let moved = bytes < self.bytes + self.added;
        self.bytes = bytes;
        self.added = 0;
        if bytes == 0 {
            self.datagrams = 0;
            self.stuck_since = None;
            return None;
        }
        if moved || self.stuck_since.is_none() {
            self.stuck_since = Some(now);
            return None;
        }
        if now - self.stuck_since? < UDP_STUCK_NANOS {
            return None;
        }
        let dropped = self.datagrams.max(1);
        *self = SendProgress::default();
        Some(dropped)
    }
}

#[derive(Default)]
struct Counters {
    tcp_accepted: u64,
    tcp_connected: u64,
    udp_received: u64,
    udp_sent: u64,
    udp_unsent_dropped: u64,
}

struct Stack {
    iface: Interface,
    sockets: SocketSet<'static>,
    card: Card,
    lo: Interface,
    lo_sockets: SocketSet<'static>,
    lo_device: LoopbackDevice,
    mac: [u8; 6],
    dhcp: SocketHandle,
    /// The DNS client (on the Ethernet interface's set).
    resolver: SocketHandle,
    /// The ICMP echo socket of each interface ([`ping`]).
    icmp: [SocketHandle; 2],
    pings: Vec<ping::Ping>,
    next_ping: u16,
    lookups: Vec<lookup::Lookup>,
    gateway: Option<Ipv4Address>,
    dns: Option<Ipv4Address>,
    conns: Vec<Conn>,
    listeners: Vec<Listener>,
    udps: Vec<Udp>,
    next_port: u16,
    counters: Counters,
    /// The most bytes seen mapped in the netstack's address space.
    memory_peak: u64,
    /// Rounds of the main loop so far.
    rounds: u64,
}

/// Bytes mapped in the netstack's own address space.
fn memory_mapped() -> u64 {
    // The start-up handle, borrowed: never closed here.
    let process = core::mem::ManuallyDrop::new(zx::Process::from_handle(zx::Handle::from_raw(
        zx_runtime::process_self().0,
    )));
    process.resources().map_or(0, |r| r.mapped_bytes)
}

/// Whether `socket` has `signal` now.
fn has(socket: &impl AsHandleRef, signal: Signals) -> bool {
    socket
        .wait_one(signal, 0)
        .is_ok_and(|seen| seen.contains(signal))
}

fn octets(address: Option<Ipv4Address>) -> [u8; 4] {
    address.map(|a| a.octets()).unwrap_or([0; 4])
}

/// A new pair of kernel sockets; the netstack's end gets its write
/// threshold (so it can tell when its client has read enough).
fn socket_pair(kind: SocketKind) -> Result<(Socket, Socket), i32> {
    let (local, remote) = Socket::create(kind).map_err(|s| s.0)?;
    if kind == SocketKind::Stream {
        local
            .set_threshold(
                SocketThreshold::Write,
                zx::SOCKET_MAX_BUFFER - KERNEL_BUFFERED,
            )
            .map_err(|s| s.0)?;
    }
    Ok((local, remote))
}

impl Stack {
    /// The socket set of `net`.
    fn set(&mut self, net: Net) -> &mut SocketSet<'static> {
        match net {
            Net::Ethernet => &mut self.sockets,
            Net::Loopback => &mut self.lo_sockets,
        }
    }

    fn tcp_sockets(&self) -> usize {
        self.conns.len()
            + self
                .listeners
                .iter()
                .map(|l| l.waiting.len())
                .sum::<usize>()
    }

    fn new_tcp(&mut self) -> Option<tcp::Socket<'static>> {
        if self.tcp_sockets() >= MAX_TCP {
            return None;
        }
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; TCP_RX]),
            tcp::SocketBuffer::new(vec![0; TCP_TX]),
        );
        socket.set_timeout(Some(TCP_TIMEOUT));
        socket.set_nagle_enabled(false);
        Some(socket)
    }

    fn port_in_use(&self, port: u16) -> bool {
        self.listeners.iter().any(|l| l.port == port) || self.udps.iter().any(|u| u.port == port)
    }

    fn ephemeral_port(&mut self) -> u16 {
        loop {
            let port = self.next_port;
            self.next_port = if port == u16::MAX {
                EPHEMERAL
            } else {
                port + 1
            };
            if !self.port_in_use(port) {
                return port;
            }
        }
    }

    /// Takes a DHCP event, if one came, into the interface.
    fn dhcp(&mut self) {
        // The DNS client's new server, once the event is handled.
        let mut servers: Option<Option<IpAddress>> = None;
        let event = self.sockets.get_mut::<dhcpv4::Socket>(self.dhcp).poll();
        match event {
            Some(dhcpv4::Event::Configured(config)) => {
                self.iface.update_ip_addrs(|addresses| {
                    addresses.clear();
                    let _ = addresses.push(IpCidr::Ipv4(config.address));
                });
                self.gateway = config.router;
                match config.router {
                    Some(router) => {
                        let _ = self.iface.routes_mut().add_default_ipv4_route(router);
                    }
                    None => {
                        self.iface.routes_mut().remove_default_ipv4_route();
                    }
                }
                self.dns = config.dns_servers.first().copied();
                servers = Some(self.dns.map(IpAddress::Ipv4));
                let message = alloc::format!(
                    "netstack: address {} gateway {} dns {}",
                    config.address,
                    octets_text(octets(self.gateway)),
                    octets_text(octets(self.dns)),
                );
                println!("{message}");
                zx_component::log(&message);
            }
            Some(dhcpv4::Event::Deconfigured) => {
                if self.iface.ipv4_addr().is_none() {
                    return; // smoltcp's first event: nothing was configured
                }
                self.iface.update_ip_addrs(|addresses| addresses.clear());
                self.iface.routes_mut().remove_default_ipv4_route();
                self.gateway = None;
                self.dns = None;
                servers = Some(None);
                zx_component::log("netstack: DHCP lease lost");
            }
            None => {}
        }
        if let Some(server) = servers {
            let servers: Vec<IpAddress> = server.into_iter().collect();
            self.sockets
                .get_mut::<dns::Socket>(self.resolver)
                .update_servers(&servers);
        }
    }

    /// Hands established connections to their listeners' clients and
    /// keeps each listener's backlog full; drops listeners whose client
    /// closed the channel.
    fn serve_listeners(&mut self) {
        let mut index = 0;
        while index < self.listeners.len() {
            if has(&self.listeners[index].channel, Signals::PEER_CLOSED) {
                let listener = self.listeners.remove(index);
                for (net, handle) in listener.waiting {
                    self.set(net).remove(handle);
                }
                continue;
            }
            let waiting = core::mem::take(&mut self.listeners[index].waiting);
            let mut still = Vec::with_capacity(waiting.len());
            for (net, handle) in waiting {
                let socket = self.set(net).get_mut::<tcp::Socket>(handle);
                match socket.state() {
                    tcp::State::Listen | tcp::State::SynReceived => still.push((net, handle)),
                    tcp::State::Closed | tcp::State::TimeWait => {
                        self.set(net).remove(handle);
                    }
                    _ => {
                        let remote = socket.remote_endpoint();
                        if !self.hand_off(index, net, handle, remote) {
                            // No client to take it (the peer's next
                            // segment meets no socket and gets a reset).
                            self.set(net).remove(handle);
                        }
                    }
                }
            }
            self.listeners[index].waiting = still;
            index += 1;
        }
        self.refill_listeners();
    }

    /// Tops up each listener's listening sockets to its backlog on the
    /// Ethernet interface and to [`LOOPBACK_BACKLOG`] on the loopback
    /// one. Run after every incoming frame, so a burst of SYNs finds
    /// sockets waiting.
    fn refill_listeners(&mut self) {
        for index in 0..self.listeners.len() {
            let port = self.listeners[index].port;
            for net in [Net::Ethernet, Net::Loopback] {
                let want = match net {
                    Net::Ethernet => self.listeners[index].backlog,
                    Net::Loopback => self.listeners[index].backlog.min(LOOPBACK_BACKLOG),
                };
                while self.listeners[index]
                    .waiting
                    .iter()
                    .filter(|(n, _)| *n == net)
                    .count()
                    < want
                {
                    let Some(mut socket) = self.new_tcp() else {
                        return;
                    };
                    if net == Net::Loopback {
                        socket.set_ack_delay(None);
                    }
                    if socket.listen(IpListenEndpoint::from(port)).is_err() {
                        break;
                    }
                    let handle = self.set(net).add(socket);
                    self.listeners[index].waiting.push((net, handle));
                }
            }
        }
    }

    /// Lets smoltcp take the frames received, one at a time, keeping the
    /// listeners' sockets topped up in between, then send what is due;
    /// then the same on the loopback interface, until what it sent
    /// itself has been received (a bounded number of rounds).
    fn poll(&mut self, time: Instant) {
        loop {
            let result = self
                .iface
                .poll_ingress_single(time, &mut self.card, &mut self.sockets);
            if result == PollIngressSingleResult::None {
                break;
            }
            self.refill_listeners();
        }
        self.iface.poll(time, &mut self.card, &mut self.sockets);
        for _ in 0..LOOPBACK_ROUNDS {
            self.lo
                .poll(time, &mut self.lo_device, &mut self.lo_sockets);
            self.refill_listeners();
            if !self.lo_device.pending() {
                break;
            }
        }
    }

    /// Gives an established connection to listener `index`'s client.
    fn hand_off(
        &mut self,
        index: usize,
        net: Net,
        handle: SocketHandle,
        remote: Option<IpEndpoint>,
    ) -> bool {
        let Ok((local, client)) = socket_pair(SocketKind::Stream) else {
            return false;
        };
        let mut message = [0u8; HEADER];
        if let Some(IpEndpoint {
            addr: IpAddress::Ipv4(address),
            port,
        }) = remote
        {
            message[..4].copy_from_slice(&address.octets());
            message[4..].copy_from_slice(&port.to_be_bytes());
        }
        let listener = &self.listeners[index];
        if listener
            .channel
            .write(&message, vec![client.into_handle()])
            .is_err()
        {
            return false;
        }
        self.counters.tcp_accepted += 1;
        self.conns.push(Conn {
            net,
            handle,
            local,
            receive_buffer: KERNEL_BUFFERED,
            send_buffer: TCP_TX,
            client_eof: false,
            client_gone: false,
            fin_passed: false,
        });
        true
    }

    /// Moves bytes between each connection's smoltcp socket and its
    /// kernel socket, passes FINs and closes both ways, and drops
    /// connections that ended.
    fn pump_connections(&mut self) {
        let mut index = 0;
        while index < self.conns.len() {
            let conn = &mut self.conns[index];
            let set = match conn.net {
                Net::Ethernet => &mut self.sockets,
                Net::Loopback => &mut self.lo_sockets,
            };
            let socket = set.get_mut::<tcp::Socket>(conn.handle);
            if !conn.client_gone {
                pump_connection(conn, socket);
            }
            if conn.client_gone {
                // Nobody reads any more: drop what arrives.
                let _ = socket.recv(|bytes| (bytes.len(), ()));
                if socket.is_open() && socket.state() != tcp::State::Closed {
                    socket.close();
                }
            }
            let ended = matches!(socket.state(), tcp::State::Closed | tcp::State::TimeWait)
                && (conn.client_gone || !socket.can_recv());
            if ended {
                let conn = self.conns.swap_remove(index);
                self.set(conn.net).remove(conn.handle);
                // Dropping `conn.local` closes the kernel socket: the
                // client reads what is buffered, then PEER_CLOSED.
                continue;
            }
            index += 1;
        }
    }

    /// Moves datagrams between each UDP socket and its kernel socket.
    fn pump_udp(&mut self) {
        let mut index = 0;
        let mut datagram = vec![0u8; HEADER + UDP_BYTES];
        // Sizes of the datagrams queued on Ethernet this round.
        let mut queued_now: Vec<usize> = Vec::new();
        while index < self.udps.len() {
            let udp = &self.udps[index];
            let mut gone = false;
            queued_now.clear();
            // Client → peers, through the socket of the interface that
            // reaches each destination (while both have room).
            loop {
                let room = self.sockets.get::<udp::Socket>(udp.ethernet).can_send()
                    && self.lo_sockets.get::<udp::Socket>(udp.loopback).can_send();
                if !room {
                    break;
                }
                match udp.local.read(&mut datagram) {
                    Ok(len) if len > HEADER => {
                        let address =
                            Ipv4Address::new(datagram[0], datagram[1], datagram[2], datagram[3]);
                        let port = u16::from_be_bytes([datagram[4], datagram[5]]);
                        let to = IpEndpoint::new(IpAddress::Ipv4(address), port);
                        let socket = match Net::toward(address) {
                            Net::Ethernet => self.sockets.get_mut::<udp::Socket>(udp.ethernet),
                            Net::Loopback => self.lo_sockets.get_mut::<udp::Socket>(udp.loopback),
                        };
                        if socket.send_slice(&datagram[HEADER..len], to).is_ok() {
                            self.counters.udp_sent += 1;
                            if Net::toward(address) == Net::Ethernet {
                                queued_now.push(len - HEADER);
                            }
                        }
                    }
                    Ok(_) => {} // too short to say where to: dropped
                    Err(Status::SHOULD_WAIT) => break,
                    Err(_) => {
                        gone = true;
                        break;
                    }
                }
            }
            // Peers → client, from both interfaces.
            for socket in [
                self.sockets.get_mut::<udp::Socket>(udp.ethernet),
                self.lo_sockets.get_mut::<udp::Socket>(udp.loopback),
            ] {
                while socket.can_recv() {
                    let Ok((payload, meta)) = socket.recv() else {
                        break;
                    };
                    let len = HEADER + payload.len();
                    // IPv4 is the only protocol built in.
                    let IpAddress::Ipv4(address) = meta.endpoint.addr;
                    datagram[..4].copy_from_slice(&address.octets());
                    datagram[4..HEADER].copy_from_slice(&meta.endpoint.port.to_be_bytes());
                    datagram[HEADER..len].copy_from_slice(payload);
                    match udp.local.write(&datagram[..len]) {
                        Ok(_) => self.counters.udp_received += 1,
                        Err(Status::SHOULD_WAIT) => {} // the client is behind: dropped
                        Err(_) => gone = true,
                    }
                }
            }
            let udp = &mut self.udps[index];
            for len in queued_now.iter() {
                udp.queue.queued(*len);
            }
            let queued = self.sockets.get::<udp::Socket>(udp.ethernet).send_queue();
            let now = zx::clock_get_monotonic().into_nanos();
            if let Some(dropped) = udp.queue.check(queued, now) {
                // smoltcp cannot drop one queued datagram: a fresh socket
                // on the same port takes the stuck one's place (what it
                // had received is already with the client).
                self.counters.udp_unsent_dropped += dropped;
                self.sockets.remove(udp.ethernet);
                let mut fresh = udp::Socket::new(udp_buffer(), udp_buffer());
                if fresh.bind(udp.port).is_ok() {
                    udp.ethernet = self.sockets.add(fresh);
                } else {
                    gone = true;
                }
            }
            let udp = &self.udps[index];
            if gone || has(&udp.local, Signals::PEER_CLOSED) {
                let udp = self.udps.swap_remove(index);
                self.sockets.remove(udp.ethernet);
                self.lo_sockets.remove(udp.loopback);
                continue;
            }
            index += 1;
        }
    }

    fn tcp_listen(&mut self, port: u16, backlog: u16) -> Result<Channel, i32> {
        if port == 0 {
            return Err(Status::INVALID_ARGS.0);
        }
        if self.port_in_use(port) {
            return Err(Status::ALREADY_EXISTS.0);
        }
        let (local, client) = Channel::create().map_err(|s| s.0)?;
        self.listeners.push(Listener {
            port,
            channel: local,
            backlog: usize::from(backlog).clamp(1, MAX_BACKLOG),
            waiting: Vec::new(),
        });
        Ok(client)
    }

    fn tcp_connect(&mut self, address: [u8; 4], port: u16) -> Result<Socket, i32> {
        if port == 0 {
            return Err(Status::INVALID_ARGS.0);
        }
        let address = Ipv4Address::from(address);
        let net = Net::toward(address);
        if net == Net::Ethernet && self.iface.ipv4_addr().is_none() {
            return Err(Status::BAD_STATE.0);
        }
        let mut socket = self.new_tcp().ok_or(Status::NO_RESOURCES.0)?;
        if net == Net::Loopback {
            // Nothing to save by delaying ACKs on the loopback interface,
            // and a connection with a small send buffer would wait for
            // each one.
            socket.set_ack_delay(None);
        }
        let remote = IpEndpoint::new(IpAddress::Ipv4(address), port);
        let local_port = self.ephemeral_port();
        let context = match net {
            Net::Ethernet => self.iface.context(),
            Net::Loopback => self.lo.context(),
        };
        socket
            .connect(context, remote, local_port)
            .map_err(|_| Status::INVALID_ARGS.0)?;
        let (local, client) = socket_pair(SocketKind::Stream)?;
        let handle = self.set(net).add(socket);
        self.counters.tcp_connected += 1;
        self.conns.push(Conn {
            net,
            handle,
            local,
            receive_buffer: KERNEL_BUFFERED,
            send_buffer: TCP_TX,
            client_eof: false,
            client_gone: false,
            fin_passed: false,
        });
        Ok(client)
    }

    fn udp_bind(&mut self, port: u16) -> Result<(Socket, u16), i32> {
        if self.udps.len() >= MAX_UDP {
            return Err(Status::NO_RESOURCES.0);
        }
        let port = if port == 0 {
            self.ephemeral_port()
        } else if self.port_in_use(port) {
            return Err(Status::ALREADY_EXISTS.0);
        } else {
            port
        };
        let buffer = udp_buffer;
        let mut ethernet = udp::Socket::new(buffer(), buffer());
        ethernet.bind(port).map_err(|_| Status::INVALID_ARGS.0)?;
        let mut loopback = udp::Socket::new(buffer(), buffer());
        loopback.bind(port).map_err(|_| Status::INVALID_ARGS.0)?;
        let (local, client) = socket_pair(SocketKind::Datagram)?;
        let ethernet = self.sockets.add(ethernet);
        let loopback = self.lo_sockets.add(loopback);
        self.udps.push(Udp {
            ethernet,
            loopback,
            local,
            port,
            queue: SendProgress::default(),
        });
        Ok((client, port))
    }

    /// Samples the memory mapped now into the peak.
    fn sample_memory(&mut self) -> u64 {
        let mapped = memory_mapped();
        self.memory_peak = self.memory_peak.max(mapped);
        mapped
    }

    fn interface(&mut self) -> InterfaceInfo {
        let memory_mapped = self.sample_memory();
        let cidr = self.iface.ip_addrs().iter().find_map(|cidr| match cidr {
            IpCidr::Ipv4(cidr) => Some(*cidr),
            #[allow(unreachable_patterns)]
            _ => None,
        });
        InterfaceInfo {
            address: octets(cidr.map(|c| c.address())),
            prefix_len: cidr.map(|c| c.prefix_len()).unwrap_or(0),
            gateway: octets(self.gateway),
            dns: octets(self.dns),
            mac: self.mac,
            frames_received: self.card.frames_received,
            frames_sent: self.card.frames_sent,
            tcp_accepted: self.counters.tcp_accepted,
            tcp_connected: self.counters.tcp_connected,
            tcp_open: self.conns.len() as u32,
            udp_received: self.counters.udp_received,
            udp_sent: self.counters.udp_sent,
            udp_unsent_dropped: self.counters.udp_unsent_dropped,
            memory_mapped,
            memory_peak: self.memory_peak,
            rounds: self.rounds,
        }
    }
}

/// A UDP socket's buffer, one direction.
fn udp_buffer() -> udp::PacketBuffer<'static> {
    udp::PacketBuffer::new(
        vec![udp::PacketMetadata::EMPTY; UDP_DATAGRAMS],
        vec![0; UDP_BYTES],
    )
}

/// One connection's bytes both ways.
fn pump_connection(conn: &mut Conn, socket: &mut tcp::Socket) {
    // Client → peer.
    if !conn.client_eof {
        while socket.can_send() {
            let room = conn.send_buffer.saturating_sub(socket.send_queue());
            if room == 0 {
                break;
            }
            let read = socket.send(|space| {
                let len = room.min(space.len());
                let space = &mut space[..len];
                match conn.local.read(space) {
                    Ok(n) => (n, Ok(n)),
                    Err(status) => (0, Err(status)),
                }
            });
            match read {
                Ok(Ok(n)) if n > 0 => continue,
                Ok(Ok(_)) | Ok(Err(Status::SHOULD_WAIT)) | Err(_) => break,
                Ok(Err(Status::BAD_STATE)) => {
                    // The client shut down writing: FIN.
                    conn.client_eof = true;
                    socket.close();
                    break;
                }
                Ok(Err(_)) => {
                    conn.client_gone = true;
                    return;
                }
            }
        }
        // A closed client's last bytes are still sent (its reads above
        // end with PEER_CLOSED once they are all taken), unless the
        // connection can no longer send at all.
        if !socket.may_send() && has(&conn.local, Signals::PEER_CLOSED) {
            conn.client_gone = true;
            return;
        }
    } else if has(&conn.local, Signals::PEER_CLOSED) {
        conn.client_gone = true;
        return;
    }
    // Peer → client, while the client keeps up.
    while socket.can_recv() && has(&conn.local, Signals::SOCKET_WRITE_THRESHOLD) {
        let written = socket.recv(|bytes| match conn.local.write(bytes) {
            Ok(n) => (n, Ok(n)),
            Err(status) => (0, Err(status)),
        });
        match written {
            Ok(Ok(n)) if n > 0 => continue,
            Ok(Ok(_)) | Ok(Err(Status::SHOULD_WAIT)) | Ok(Err(Status::NO_MEMORY)) | Err(_) => break,
            Ok(Err(_)) => {
                conn.client_gone = true;
                return;
            }
        }
    }
    // The peer's FIN, once everything before it reached the client.
    if !conn.fin_passed
        && !socket.may_recv()
        && !socket.can_recv()
        && !matches!(
            socket.state(),
            tcp::State::Listen | tcp::State::SynSent | tcp::State::SynReceived
        )
    {
        conn.fin_passed = true;
        let _ = conn.local.shutdown(true, false);
    }
}

fn octets_text(o: [u8; 4]) -> alloc::string::String {
    alloc::format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])
}

/// Provider requests on one connection, against the stack.
struct Requests<'a>(&'a mut Stack);

impl ProviderServer for Requests<'_> {
    fn tcp_listen(
        &mut self,
        request: ProviderTcpListenRequest,
    ) -> Result<ProviderTcpListenResponse, i32> {
        let channel = self.0.tcp_listen(request.port, request.backlog)?;
        Ok(ProviderTcpListenResponse {
            listener: idlc_runtime::Handle::from_raw(channel.into_handle().into_raw()),
        })
    }

    fn tcp_connect(
        &mut self,
        request: ProviderTcpConnectRequest,
    ) -> Result<ProviderTcpConnectResponse, i32> {
        let socket = self
            .0
            .tcp_connect(request.remote.address, request.remote.port)?;
        Ok(ProviderTcpConnectResponse {
            socket: idlc_runtime::Handle::from_raw(socket.into_handle().into_raw()),
        })
    }

    fn udp_bind(
        &mut self,
        request: ProviderUdpBindRequest,
    ) -> Result<ProviderUdpBindResponse, i32> {
        let (socket, port) = self.0.udp_bind(request.port)?;
        Ok(ProviderUdpBindResponse {
            socket: idlc_runtime::Handle::from_raw(socket.into_handle().into_raw()),
            port,
        })
    }

    fn get_interface(&mut self) -> ProviderGetInterfaceResponse {
        ProviderGetInterfaceResponse {
            info: self.0.interface(),
        }
    }

    fn ping(&mut self, _: ProviderPingRequest) -> Result<ProviderPingResponse, i32> {
        // Taken off before dispatch and answered later (`replies`).
        Err(Status::INTERNAL.0)
    }

    fn lookup_host(
        &mut self,
        _: ProviderLookupHostRequest,
    ) -> Result<ProviderLookupHostResponse, i32> {
        // Taken off before dispatch and answered later (`replies`).
        Err(Status::INTERNAL.0)
    }

    fn set_option(
        &mut self,
        request: ProviderSetOptionRequest,
    ) -> Result<ProviderSetOptionResponse, i32> {
        let socket = zx::Handle::from_raw(request.socket.into_raw());
        self.0.set_option(&socket, request.option, request.value)?;
        Ok(ProviderSetOptionResponse {})
    }

    fn get_option(
        &mut self,
        request: ProviderGetOptionRequest,
    ) -> Result<ProviderGetOptionResponse, i32> {
        let socket = zx::Handle::from_raw(request.socket.into_raw());
        let value = self.0.get_option(&socket, request.option)?;
        Ok(ProviderGetOptionResponse { value })
    }
}

/// The test hook: crashing on request.
struct Hook;

impl TestHookServer for Hook {
    fn crash(&mut self) {
        panic!("netstack: asked to crash (zx.net.TestHook)");
    }
}

/// Opens `/dev/net/0`, waiting up to 10 s for the driver to publish it.
fn open_card() -> Option<Channel> {
    let deadline = zx::deadline_after(10_000_000_000);
    loop {
        let listed = zx_component::namespace::open("/dev/net")
            .and_then(zx_component::fs::read_dir)
            .map(|entries| entries.iter().any(|e| e.name == "0"))
            .unwrap_or(false);
        if listed {
            return zx_component::namespace::open("/dev/net/0").ok();
        }
        if zx::clock_get_monotonic().into_nanos() > deadline {
            return None;
        }
        let _ = zx::nanosleep(zx::deadline_after(50_000_000));
    }
}

fn main() -> i64 {
    let Some(outgoing) = zx_component::Outgoing::take() else {
        println!("netstack: no outgoing directory (start it as a component)");
        return 1;
    };
    let lifecycle = zx_component::Lifecycle::take();
    let Some(channel) = open_card() else {
        println!("netstack: /dev/net/0 did not appear");
        return 1;
    };
    let client = NetworkClient::new(ChannelTransport::new(channel));
    let mac = match client.get_info() {
        Ok(info) => info.mac,
        Err(error) => {
            println!("netstack: the network device does not answer: {error:?}");
            return 1;
        }
    };
    let frames = match client.get_frame_signal() {
        Ok(Ok(response)) => zx::Event::from_handle(zx::Handle::from_raw(response.event.into_raw())),
        other => {
            println!("netstack: the network device gives no frame event: {other:?}");
            return 1;
        }
    };
    let mut card = Card {
        client,
        received: VecDeque::new(),
        frames_received: 0,
        frames_sent: 0,
        frames,
    };
    let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
    config.random_seed = zx::clock_get_monotonic().into_nanos() as u64 ^ u64::from(mac[5]);
    let iface = Interface::new(config, &mut card, now());
    let mut sockets = SocketSet::new(Vec::new());
    let dhcp = sockets.add(dhcpv4::Socket::new());
    let resolver = sockets.add(lookup::socket());
    let ethernet_icmp = sockets.add(ping::socket());
    let mut lo_device = LoopbackDevice::default();
    let mut lo = Interface::new(Config::new(HardwareAddress::Ip), &mut lo_device, now());
    lo.update_ip_addrs(|addresses| {
        let _ = addresses.push(IpCidr::new(IpAddress::v4(127, 0, 0, 1), 8));
    });
    let mut lo_sockets = SocketSet::new(Vec::new());
    let loopback_icmp = lo_sockets.add(ping::socket());
    let mut stack = Stack {
        iface,
        sockets,
        card,
        lo,
        lo_sockets,
        lo_device,
        mac,
        dhcp,
        resolver,
        icmp: [ethernet_icmp, loopback_icmp],
        pings: Vec::new(),
        next_ping: 0,
        lookups: Vec::new(),
        gateway: None,
        dns: None,
        conns: Vec::new(),
        listeners: Vec::new(),
        udps: Vec::new(),
        next_port: EPHEMERAL,
        counters: Counters::default(),
        memory_peak: 0,
        rounds: 0,
    };
    println!(
        "netstack: up on /dev/net/0 (MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}), asking DHCP",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    );
    let mut clients: Vec<Client> = Vec::new();
    let mut next_client = 0u64;
    loop {
        stack.rounds += 1;
        if stack.rounds.is_multiple_of(64) {
            stack.sample_memory();
        }
        // New connections through the outgoing directory.
        loop {
            match outgoing.try_next() {
                Ok((name, channel)) => {
                    let protocol = if Some(name.as_str()) == ProviderMarker::DISCOVERABLE_NAME {
                        Protocol::Provider
                    } else if Some(name.as_str()) == TestHookMarker::DISCOVERABLE_NAME {
                        Protocol::Hook
                    } else {
                        continue;
                    };
                    next_client += 1;
                    clients.push(Client {
                        id: next_client,
                        protocol,
                        transport: ChannelTransport::new(channel),
                    });
                }
                Err(Status::PEER_CLOSED) => return 0,
                Err(_) => break,
            }
        }
        if let Some(lifecycle) = &lifecycle {
            if let Some(reason) = lifecycle.try_stopped() {
                println!("netstack: stopping ({reason:?})");
                return 0;
            }
        }
        replies::serve_clients(&mut stack, &mut clients);
        let more_frames = stack.card.take_frames();
        let time = now();
        stack.poll(time);
        stack.dhcp();
        stack.serve_listeners();
        stack.pump_connections();
        stack.pump_udp();
        stack.poll(time);
        replies::send_results(&mut stack, &clients);
        let time = now();
        let delay = if more_frames || stack.lo_device.pending() {
            Duration::ZERO
        } else {
            let ethernet = stack.iface.poll_delay(time, &stack.sockets);
            let loopback = stack.lo.poll_delay(time, &stack.lo_sockets);
            [ethernet, loopback]
                .into_iter()
                .flatten()
                .fold(MAX_WAIT, Duration::min)
        };
        let mut deadline =
            zx::clock_get_monotonic().into_nanos() + delay.total_micros() as i64 * 1000;
        if let Some(ping) = stack.next_ping_deadline() {
            deadline = deadline.min(ping);
        }
        waiting::wait(
            &stack,
            &clients,
            outgoing.channel(),
            lifecycle.as_ref().map(|l| l.channel()),
            deadline,
        );
    }
}
