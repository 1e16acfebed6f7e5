//! In-guest checks of the netstack, for what the host cannot reach
//! through QEMU's user network: the loopback interface (TCP and UDP to
//! 127.0.0.1, and the TCP echo server through it), socket options with
//! their bounds and typed errors, ICMP echo (loopback, the user
//! network's gateway, an address nobody answers) and name lookup.
//!
//! Each check prints `net-check: ok <what>` or `net-check: FAILED <what>:
//! <why>`; the last line is `net-check: <n> passed, <m> failed`, and the
//! exit code is the number failed. The system test
//! `net.http_echo_hostile_restart` starts it (a lazy child of the
//! default tree). `lookup <name>` is printed as it came
//! (`net-check: lookup example.com -> 93.184.215.14` or `-> NOT_FOUND`):
//! whether a name resolves depends on the host's resolver, which the
//! test compares with.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use zx::{Socket, SocketKind, Status};
use zx_net::{SocketAddr, SocketOption, TcpListener, TcpStream, UdpSocket};
use zx_runtime::println;

zx_runtime::entry!(main);

const LOOPBACK: [u8; 4] = [127, 0, 0, 1];
/// A port nothing else in the default tree listens on.
const PORT: u16 = 4000;
/// How long any one step may take.
const STEP_NANOS: i64 = 20_000_000_000;

type Check = Result<(), String>;

fn expect<T: core::fmt::Debug>(what: &str, result: Result<T, Status>, want: Status) -> Check {
    match result {
        Err(status) if status == want => Ok(()),
        other => Err(format!("{what}: expected {want}, got {other:?}")),
    }
}

fn ok<T>(what: &str, result: Result<T, Status>) -> Result<T, String> {
    result.map_err(|status| format!("{what}: {status}"))
}

/// Waits for a connection on `listener`, at most [`STEP_NANOS`].
fn accept(listener: &TcpListener) -> Result<(TcpStream, SocketAddr), String> {
    let deadline = zx::deadline_after(STEP_NANOS);
    loop {
        match listener.try_accept() {
            Err(Status::SHOULD_WAIT) if zx::clock_get_monotonic().into_nanos() < deadline => {
                let _ = zx::nanosleep(zx::deadline_after(1_000_000));
            }
            result => return ok("accept", result),
        }
    }
}

/// Reads until end of stream (or the step's deadline).
fn read_to_end(stream: &TcpStream) -> Result<Vec<u8>, String> {
    let deadline = zx::deadline_after(STEP_NANOS);
    let mut all = Vec::new();
    let mut buffer = vec![0u8; 8192];
    loop {
        let n = ok("read", stream.read_until(&mut buffer, deadline))?;
        if n == 0 {
            return Ok(all);
        }
        all.extend_from_slice(&buffer[..n]);
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// A connection over the loopback interface: bytes both ways, ends of
/// stream both ways, the peer's address.
fn loopback_tcp(listener: &TcpListener) -> Check {
    let client = ok(
        "connect",
        TcpStream::connect(SocketAddr {
            ip: LOOPBACK,
            port: PORT,
        }),
    )?;
    let (server, peer) = accept(listener)?;
    if peer.ip != LOOPBACK {
        return Err(format!("the peer is {peer}, not 127.0.0.1"));
    }
    let sent = pattern(100 * 1024);
    ok("write", client.write_all(&sent))?;
    ok("shutdown", client.shutdown_write())?;
    let received = read_to_end(&server)?;
    if received != sent {
        return Err(format!(
            "the server got {} bytes, not the {} sent",
            received.len(),
            sent.len()
        ));
    }
    ok("write back", server.write_all(b"thanks"))?;
    ok("shutdown back", server.shutdown_write())?;
    let back = read_to_end(&client)?;
    if back != b"thanks" {
        return Err(format!("the client got {back:?}"));
    }
    Ok(())
}

/// The TCP echo server (port 7), reached through 127.0.0.1.
fn loopback_echo() -> Check {
    let stream = ok(
        "connect to 127.0.0.1:7",
        TcpStream::connect(SocketAddr {
            ip: LOOPBACK,
            port: 7,
        }),
    )?;
    ok("write", stream.write_all(b"echo through loopback"))?;
    ok("shutdown", stream.shutdown_write())?;
    let back = read_to_end(&stream)?;
    if back != b"echo through loopback" {
        return Err(format!("echoed {back:?}"));
    }
    Ok(())
}

/// Datagrams between two UDP sockets over 127.0.0.1, both ways.
fn loopback_udp() -> Check {
    let a = ok("bind a", UdpSocket::bind(0))?;
    let b = ok("bind b", UdpSocket::bind(0))?;
    let to_b = SocketAddr {
        ip: LOOPBACK,
        port: b.port(),
    };
    ok("send", a.send_to(b"over loopback", to_b))?;
    let mut buffer = [0u8; 64];
    let (n, from) = ok(
        "receive",
        b.recv_from_until(&mut buffer, zx::deadline_after(STEP_NANOS)),
    )?;
    if &buffer[..n] != b"over loopback" || from.ip != LOOPBACK || from.port != a.port() {
        return Err(format!("got {:?} from {from}", &buffer[..n]));
    }
    ok("send back", b.send_to(b"and back", from))?;
    let (n, from) = ok(
        "receive back",
        a.recv_from_until(&mut buffer, zx::deadline_after(STEP_NANOS)),
    )?;
    if &buffer[..n] != b"and back" || from.port != b.port() {
        return Err(format!("got {:?} from {from}", &buffer[..n]));
    }
    // Options are TCP's.
    expect(
        "an option on a UDP socket",
        a.set_option(SocketOption::TcpNodelay, 1),
        Status::NOT_SUPPORTED,
    )
}

/// Every option: its default, a value set and read back, the values
/// out of bounds; then a transfer with the smallest receive and send
/// buffers still arrives whole.
fn options(listener: &TcpListener) -> Check {
    let client = ok(
        "connect",
        TcpStream::connect(SocketAddr {
            ip: LOOPBACK,
            port: PORT,
        }),
    )?;
    let (server, _) = accept(listener)?;
    let get = |option| ok("get", client.option(option));
    if get(SocketOption::TcpNodelay)? != 1 || get(SocketOption::SoKeepalive)? != 0 {
        return Err("defaults: TCP_NODELAY 1 and SO_KEEPALIVE 0 expected".into());
    }
    if get(SocketOption::SoRcvbuf)? != 64 * 1024 || get(SocketOption::SoSndbuf)? != 16 * 1024 {
        return Err("defaults: SO_RCVBUF 64 KiB and SO_SNDBUF 16 KiB expected".into());
    }
    ok("nodelay off", client.set_nodelay(false))?;
    ok("keepalive", client.set_keepalive(Some(5_000)))?;
    ok("rcvbuf", client.set_option(SocketOption::SoRcvbuf, 4096))?;
    ok("sndbuf", server.set_option(SocketOption::SoSndbuf, 1024))?;
    let values = [
        get(SocketOption::TcpNodelay)?,
        get(SocketOption::SoKeepalive)?,
        get(SocketOption::SoRcvbuf)?,
        ok("get", server.option(SocketOption::SoSndbuf))?,
    ];
    if values != [0, 5_000, 4096, 1024] {
        return Err(format!("read back {values:?}, not [0, 5000, 4096, 1024]"));
    }
    let out_of_range = [
        (SocketOption::SoKeepalive, 999),
        (SocketOption::SoKeepalive, 7_200_001),
        (SocketOption::SoRcvbuf, 4095),
        (SocketOption::SoRcvbuf, 1 << 40),
        (SocketOption::SoSndbuf, 1023),
        (SocketOption::SoSndbuf, 16 * 1024 + 1),
    ];
    for (option, value) in out_of_range {
        expect(
            &format!("{option:?} = {value}"),
            client.set_option(option, value),
            Status::OUT_OF_RANGE,
        )?;
    }
    expect(
        "TCP_NODELAY = 2",
        client.set_option(SocketOption::TcpNodelay, 2),
        Status::INVALID_ARGS,
    )?;
    // The values did not change on a failed set.
    if get(SocketOption::SoRcvbuf)? != 4096 {
        return Err("a refused SO_RCVBUF changed the value".into());
    }
    // 64 KiB through the smallest buffers, server to client (with 1 KiB
    // in flight, each segment waits for smoltcp's delayed ACK: slow).
    let sent = pattern(64 * 1024);
    let start = zx::clock_get_monotonic().into_nanos();
    ok("write", server.write_all(&sent))?;
    ok("shutdown", server.shutdown_write())?;
    let received = read_to_end(&client)?;
    if received != sent {
        return Err(format!(
            "{} of {} bytes arrived",
            received.len(),
            sent.len()
        ));
    }
    println!(
        "net-check: 64 KiB through a 1 KiB send and 4 KiB receive buffer in {} ms",
        (zx::clock_get_monotonic().into_nanos() - start) / 1_000_000
    );
    // A socket the netstack never made.
    let (stranger, _peer) = ok("socket_create", Socket::create(SocketKind::Stream))?;
    let stranger = TcpStreamProbe(stranger);
    expect("an unknown socket", stranger.probe(), Status::NOT_FOUND)
}

/// A kernel socket passed off as a connection, to see the netstack
/// refuse it.
struct TcpStreamProbe(Socket);

impl TcpStreamProbe {
    fn probe(self) -> Result<(), Status> {
        let stream = TcpStream::from_socket(self.0);
        stream.set_nodelay(true)
    }
}

/// ICMP echo: loopback, the gateway, a timeout, bounds.
fn ping() -> Check {
    let rtt = ok("ping 127.0.0.1", zx_net::ping(LOOPBACK, 56, 1_000_000_000))?;
    let gateway = ok(
        "ping 10.0.2.2",
        zx_net::ping([10, 0, 2, 2], 56, 2_000_000_000),
    )?;
    if rtt <= 0 || gateway <= 0 {
        return Err(format!("round trips {rtt} and {gateway} ns"));
    }
    println!("net-check: ping 127.0.0.1 {rtt} ns, 10.0.2.2 {gateway} ns");
    // On the user network's subnet, but nobody's: QEMU answers ARP only
    // for its own addresses, so the request never leaves.
    expect(
        "ping 10.0.2.99",
        zx_net::ping([10, 0, 2, 99], 8, 300_000_000),
        Status::TIMED_OUT,
    )?;
    expect(
        "a 0 ns timeout",
        zx_net::ping(LOOPBACK, 8, 0),
        Status::OUT_OF_RANGE,
    )?;
    expect(
        "a 2,000-byte payload",
        zx_net::ping(LOOPBACK, 2000, 1_000_000_000),
        Status::OUT_OF_RANGE,
    )
}

/// UDP to a neighbour that never answers ARP: smoltcp keeps a socket's
/// first datagram until its next hop answers, and every later one waits
/// behind it; the netstack drops them after 5 s without progress
/// (counted in `udp_unsent_dropped`), and the socket sends again.
fn udp_unreachable() -> Check {
    let dropped = || ok("interface", zx_net::interface()).map(|i| i.udp_unsent_dropped);
    let before = dropped()?;
    let socket = ok("bind", UdpSocket::bind(0))?;
    let nobody = SocketAddr {
        ip: [10, 0, 2, 99],
        port: 9,
    };
    ok("send to 10.0.2.99", socket.send_to(b"nobody", nobody))?;
    ok(
        "send to 10.0.2.99 again",
        socket.send_to(b"nobody 2", nobody),
    )?;
    let started = zx::clock_get_monotonic().into_nanos();
    let mut after = before;
    while after < before + 2 && zx::clock_get_monotonic().into_nanos() - started < 15_000_000_000 {
        let _ = zx::nanosleep(zx::deadline_after(200_000_000));
        after = dropped()?;
    }
    let waited = (zx::clock_get_monotonic().into_nanos() - started) / 1_000_000;
    if after != before + 2 {
        return Err(format!(
            "udp_unsent_dropped went from {before} to {after} in {waited} ms, not by 2"
        ));
    }
    if waited < 4_000 {
        return Err(format!("dropped after {waited} ms, before the 5 s bound"));
    }
    // The same socket reaches a neighbour that answers: a DNS question
    // for example.com to QEMU's server (any answer will do).
    let query = [
        0x4e, 0x43, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, b'e', b'x', b'a', b'm', b'p', b'l',
        b'e', 3, b'c', b'o', b'm', 0, 0, 1, 0, 1,
    ];
    let server = SocketAddr {
        ip: [10, 0, 2, 3],
        port: 53,
    };
    ok("send a DNS question", socket.send_to(&query, server))?;
    let mut buffer = [0u8; 512];
    let (n, from) = ok(
        "the DNS answer",
        socket.recv_from_until(&mut buffer, zx::deadline_after(10_000_000_000)),
    )?;
    if n < 12 || buffer[..2] != query[..2] || from != server {
        return Err(format!("got {n} bytes from {from}"));
    }
    println!("net-check: udp to 10.0.2.99 dropped after {waited} ms; DNS answered after");
    Ok(())
}

/// Names answered without asking, and a bad name.
fn lookup() -> Check {
    let local = ok("lookup localhost", zx_net::lookup_host("localhost"))?;
    let dotted = ok("lookup 10.0.2.2", zx_net::lookup_host("10.0.2.2"))?;
    if local != [LOOPBACK] || dotted != [[10, 0, 2, 2]] {
        return Err(format!("localhost {local:?}, 10.0.2.2 {dotted:?}"));
    }
    expect(
        "lookup of \"bad name!\"",
        zx_net::lookup_host("bad name!"),
        Status::INVALID_ARGS,
    )?;
    expect(
        "lookup of an empty label",
        zx_net::lookup_host("a..b"),
        Status::INVALID_ARGS,
    )
}

fn main() -> i64 {
    let listener = match TcpListener::bind(PORT, 4) {
        Ok(listener) => listener,
        Err(status) => {
            println!("net-check: cannot listen on {PORT}: {status}");
            return 1;
        }
    };
    let checks: [(&str, &dyn Fn() -> Check); 7] = [
        ("loopback tcp", &|| loopback_tcp(&listener)),
        ("loopback tcp echo", &loopback_echo),
        ("loopback udp", &loopback_udp),
        ("socket options", &|| options(&listener)),
        ("ping", &ping),
        ("lookup", &lookup),
        ("udp to a neighbour that never answers", &udp_unreachable),
    ];
    let mut failed = 0;
    for (name, check) in checks {
        match check() {
            Ok(()) => println!("net-check: ok {name}"),
            Err(why) => {
                failed += 1;
                println!("net-check: FAILED {name}: {why}");
            }
        }
    }
    // Names asked of the DNS server: printed as answered.
    // (The manifest's `args`; a first argument naming the binary is
    // skipped.)
    for name in zx_runtime::args().iter().filter(|a| !a.contains('/')) {
        match zx_net::lookup_host(name) {
            Ok(addresses) => {
                let text: Vec<String> = addresses
                    .iter()
                    .map(|a| format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]))
                    .collect();
                println!("net-check: lookup {name} -> {}", text.join(" "));
            }
            Err(status) => println!("net-check: lookup {name} -> {status}"),
        }
    }
    println!(
        "net-check: {} passed, {failed} failed",
        checks.len() - failed
    );
    failed as i64
}
