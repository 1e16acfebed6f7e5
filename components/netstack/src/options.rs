//! Socket options (`Provider.SetOption`, `GetOption`). The client names
//! its socket by handing a duplicate of its end: the netstack finds the
//! connection whose end is that socket's peer (by koid), so only a holder
//! of the socket can change it. Every value is checked against its
//! bounds before anything changes.

use crate::bindings::zx_net::SocketOption;
use crate::{Net, Stack, KERNEL_BUFFERED, TCP_TX};
use smoltcp::socket::tcp;
use smoltcp::time::Duration;
use zx::{AsHandleRef, Handle, SocketThreshold, Status};

/// `SO_KEEPALIVE`'s bounds, in milliseconds (0 turns it off).
const KEEPALIVE_MIN_MS: u64 = 1_000;
const KEEPALIVE_MAX_MS: u64 = 7_200_000;
/// `SO_RCVBUF`'s bounds: bytes waiting in the kernel socket.
const RECEIVE_MIN: u64 = 4 * 1024;
pub const RECEIVE_MAX: u64 = 128 * 1024;
/// `SO_SNDBUF`'s bounds: bytes in smoltcp's send buffer.
const SEND_MIN: u64 = 1024;
const SEND_MAX: u64 = TCP_TX as u64;

/// What a client's socket turned out to be.
enum Found {
    Tcp(usize),
    Udp,
}

/// An option's value, checked.
enum Setting {
    NoDelay(bool),
    KeepAlive(Option<Duration>),
    ReceiveBuffer(usize),
    SendBuffer(usize),
}

fn check(option: SocketOption, value: u64) -> Result<Setting, i32> {
    let in_range = |min: u64, max: u64| {
        if (min..=max).contains(&value) {
            Ok(value as usize)
        } else {
            Err(Status::OUT_OF_RANGE.0)
        }
    };
    Ok(match option {
        SocketOption::TcpNodelay => match value {
            0 => Setting::NoDelay(false),
            1 => Setting::NoDelay(true),
            _ => return Err(Status::INVALID_ARGS.0),
        },
        SocketOption::SoKeepalive => match value {
            0 => Setting::KeepAlive(None),
            _ => Setting::KeepAlive(Some(Duration::from_millis(in_range(
                KEEPALIVE_MIN_MS,
                KEEPALIVE_MAX_MS,
            )? as u64))),
        },
        SocketOption::SoRcvbuf => Setting::ReceiveBuffer(in_range(RECEIVE_MIN, RECEIVE_MAX)?),
        SocketOption::SoSndbuf => Setting::SendBuffer(in_range(SEND_MIN, SEND_MAX)?),
    })
}

impl Stack {
    /// The connection (or UDP socket) whose netstack end is the peer of
    /// `socket`.
    fn find(&self, socket: &Handle) -> Result<Found, i32> {
        let koid = socket.basic_info().map_err(|_| Status::NOT_FOUND.0)?.koid;
        let peer_of = |local: &zx::Socket| {
            local
                .basic_info()
                .is_ok_and(|info| info.related_koid == koid)
        };
        if let Some(index) = self.conns.iter().position(|conn| peer_of(&conn.local)) {
            return Ok(Found::Tcp(index));
        }
        if self.udps.iter().any(|udp| peer_of(&udp.local)) {
            return Ok(Found::Udp);
        }
        Err(Status::NOT_FOUND.0)
    }

    /// The TCP connection `socket` belongs to (`NOT_SUPPORTED` for a UDP
    /// socket).
    fn tcp_index(&self, socket: &Handle) -> Result<usize, i32> {
        match self.find(socket)? {
            Found::Tcp(index) => Ok(index),
            Found::Udp => Err(Status::NOT_SUPPORTED.0),
        }
    }

    pub fn set_option(
        &mut self,
        socket: &Handle,
        option: SocketOption,
        value: u64,
    ) -> Result<(), i32> {
        let setting = check(option, value)?;
        let index = self.tcp_index(socket)?;
        let conn = &mut self.conns[index];
        let set = match conn.net {
            Net::Ethernet => &mut self.sockets,
            Net::Loopback => &mut self.lo_sockets,
        };
        let tcp = set.get_mut::<tcp::Socket>(conn.handle);
        match setting {
            Setting::NoDelay(no_delay) => tcp.set_nagle_enabled(!no_delay),
            Setting::KeepAlive(interval) => tcp.set_keep_alive(interval),
            Setting::ReceiveBuffer(bytes) => {
                conn.local
                    .set_threshold(SocketThreshold::Write, zx::SOCKET_MAX_BUFFER - bytes)
                    .map_err(|status| status.0)?;
                conn.receive_buffer = bytes;
            }
            Setting::SendBuffer(bytes) => conn.send_buffer = bytes,
        }
        Ok(())
    }

    pub fn get_option(&mut self, socket: &Handle, option: SocketOption) -> Result<u64, i32> {
        let index = self.tcp_index(socket)?;
        let conn = &self.conns[index];
        let set = match conn.net {
            Net::Ethernet => &mut self.sockets,
            Net::Loopback => &mut self.lo_sockets,
        };
        let tcp = set.get::<tcp::Socket>(conn.handle);
        Ok(match option {
            SocketOption::TcpNodelay => u64::from(!tcp.nagle_enabled()),
            SocketOption::SoKeepalive => tcp.keep_alive().map_or(0, |d| d.total_millis()),
            SocketOption::SoRcvbuf => conn.receive_buffer as u64,
            SocketOption::SoSndbuf => conn.send_buffer as u64,
        })
    }
}

/// The default receive buffer is inside the bounds.
const _: () =
    assert!(KERNEL_BUFFERED as u64 >= RECEIVE_MIN && KERNEL_BUFFERED as u64 <= RECEIVE_MAX);
