//! The netstack's one wait per round, on a port, for everything that can
//! give it work: the driver's frame event (`GetFrameSignal`: a frame
//! arrived), the outgoing directory and the lifecycle channel, each
//! client's channel, each listener's channel (closed), and each
//! connection's and UDP socket's kernel socket — for the signals the
//! netstack can act on now, so that a signal it must leave raised (bytes
//! from a client while smoltcp's send buffer is full) does not wake it
//! again and again. The deadline is smoltcp's next timer or the nearest
//! ping's.
//!
//! The port is made for the round and closed after it: the kernel drops
//! the registrations of a closed port, so none pile up on long-lived
//! objects.

use crate::replies::Client;
use crate::{Conn, Net, Stack};
use smoltcp::socket::{tcp, udp};
use zx::{AsHandleRef, Channel, Port, Signals, Time};

/// Waits until something above happens or `deadline` passes.
pub fn wait(
    stack: &Stack,
    clients: &[Client],
    outgoing: &Channel,
    lifecycle: Option<&Channel>,
    deadline: Time,
) {
    let Ok(port) = Port::create() else {
        // No port (out of memory): fall back to the deadline alone.
        let _ = zx::nanosleep(deadline);
        return;
    };
    let arm = |object: zx::HandleRef, signals: Signals| {
        let _ = object.wait_async(&port, 0, signals);
    };
    arm(stack.card.frames.as_handle_ref(), Signals::USER_0);
    let channel = Signals::CHANNEL_READABLE | Signals::PEER_CLOSED;
    arm(outgoing.as_handle_ref(), channel);
    if let Some(lifecycle) = lifecycle {
        arm(lifecycle.as_handle_ref(), channel);
    }
    for client in clients {
        arm(client.transport.channel().as_handle_ref(), channel);
    }
    for listener in &stack.listeners {
        arm(listener.channel.as_handle_ref(), Signals::PEER_CLOSED);
    }
    for conn in &stack.conns {
        let signals = connection_signals(stack, conn);
        if !signals.is_empty() {
            arm(conn.local.as_handle_ref(), signals);
        }
    }
    for udp in &stack.udps {
        let room = stack.sockets.get::<udp::Socket>(udp.ethernet).can_send()
            && stack.lo_sockets.get::<udp::Socket>(udp.loopback).can_send();
        let mut signals = Signals::PEER_CLOSED;
        if room {
            signals |= Signals::SOCKET_READABLE;
        }
        arm(udp.local.as_handle_ref(), signals);
    }
    let _ = port.wait(deadline);
}

/// What the netstack can act on for `conn` now (see `pump_connection`).
fn connection_signals(stack: &Stack, conn: &Conn) -> Signals {
    if conn.client_gone {
        return Signals::empty(); // smoltcp's timers end it
    }
    let set = match conn.net {
        Net::Ethernet => &stack.sockets,
        Net::Loopback => &stack.lo_sockets,
    };
    let socket = set.get::<tcp::Socket>(conn.handle);
    let mut signals = Signals::empty();
    if conn.client_eof {
        signals |= Signals::PEER_CLOSED;
    } else {
        let room = socket.can_send() && conn.send_buffer > socket.send_queue();
        if room || !socket.may_send() {
            signals |= Signals::SOCKET_READABLE
                | Signals::SOCKET_PEER_WRITE_DISABLED
                | Signals::PEER_CLOSED;
        }
    }
    if socket.can_recv() {
        signals |= Signals::SOCKET_WRITE_THRESHOLD;
    }
    signals
}
