//! ICMP echo (`Provider.Ping`): one smoltcp ICMP socket per interface,
//! bound to the netstack's identifier; each request gets a sequence
//! number of its own, and its reply (or its timeout) answers the client's
//! call (a deferred reply, `replies`).

use crate::bindings::zx_net::ProviderPingRequest;
use crate::replies::ReplyTo;
use crate::{Net, Stack};
use alloc::vec;
use alloc::vec::Vec;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::icmp;
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, IpAddress, Ipv4Address};
use zx::Status;

/// The ICMP identifier of the netstack's echo requests.
pub const IDENT: u16 = 0x7a78;
/// Most echo requests waiting for their reply at once.
const MAX_PINGS: usize = 16;
/// Most payload bytes in one request.
const MAX_PAYLOAD: u16 = 1024;
/// The timeout's bounds, in nanoseconds.
const MIN_TIMEOUT: i64 = 1_000_000;
const MAX_TIMEOUT: i64 = 10_000_000_000;
/// Each ICMP socket's buffers: packets and bytes each way.
const ICMP_PACKETS: usize = 16;
const ICMP_BYTES: usize = 16 * 1024;

/// An echo request waiting for its reply.
pub struct Ping {
    reply: ReplyTo,
    net: Net,
    address: Ipv4Address,
    sequence: u16,
    /// When it was sent and when it times out (monotonic nanoseconds).
    sent: i64,
    deadline: i64,
}

/// A new ICMP socket bound to [`IDENT`].
pub fn socket() -> icmp::Socket<'static> {
    let buffer = || {
        icmp::PacketBuffer::new(
            vec![icmp::PacketMetadata::EMPTY; ICMP_PACKETS],
            vec![0; ICMP_BYTES],
        )
    };
    let mut socket = icmp::Socket::new(buffer(), buffer());
    // A fresh socket binds; this cannot fail.
    let _ = socket.bind(icmp::Endpoint::Ident(IDENT));
    socket
}

impl Stack {
    /// Whether echo requests wait for replies (the loop then wakes often
    /// enough to time them out).
    pub fn pinging(&self) -> bool {
        !self.pings.is_empty()
    }

    /// Sends the echo request `request` asks for; the reply to `reply`
    /// comes from [`Stack::ping_results`].
    pub fn start_ping(&mut self, reply: ReplyTo, request: &ProviderPingRequest) -> Result<(), i32> {
        if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&request.timeout)
            || request.payload_size > MAX_PAYLOAD
        {
            return Err(Status::OUT_OF_RANGE.0);
        }
        if self.pings.len() >= MAX_PINGS {
            return Err(Status::NO_RESOURCES.0);
        }
        let address = Ipv4Address::from(request.address);
        let net = Net::toward(address);
        if net == Net::Ethernet && self.iface.ipv4_addr().is_none() {
            return Err(Status::BAD_STATE.0);
        }
        let sequence = self.next_ping;
        self.next_ping = self.next_ping.wrapping_add(1);
        let data: Vec<u8> = (0..request.payload_size).map(|i| i as u8).collect();
        let repr = Icmpv4Repr::EchoRequest {
            ident: IDENT,
            seq_no: sequence,
            data: &data,
        };
        let mut packet = vec![0u8; repr.buffer_len()];
        repr.emit(
            &mut Icmpv4Packet::new_unchecked(&mut packet),
            &ChecksumCapabilities::default(),
        );
        let handle = self.icmp[net as usize];
        self.set(net)
            .get_mut::<icmp::Socket>(handle)
            .send_slice(&packet, IpAddress::Ipv4(address))
            .map_err(|_| Status::NO_RESOURCES.0)?;
        let sent = zx::clock_get_monotonic().into_nanos();
        self.pings.push(Ping {
            reply,
            net,
            address,
            sequence,
            sent,
            deadline: sent + request.timeout,
        });
        Ok(())
    }

    /// The pings answered (their round trip in nanoseconds) and timed out
    /// since the last call.
    pub fn ping_results(&mut self) -> Vec<(ReplyTo, Result<i64, i32>)> {
        let mut results = Vec::new();
        if self.pings.is_empty() {
            // Drain what came late, so the buffers never fill.
            for net in [Net::Ethernet, Net::Loopback] {
                let handle = self.icmp[net as usize];
                let socket = self.set(net).get_mut::<icmp::Socket>(handle);
                while socket.recv().is_ok() {}
            }
            return results;
        }
        let now = zx::clock_get_monotonic().into_nanos();
        for net in [Net::Ethernet, Net::Loopback] {
            let handle = self.icmp[net as usize];
            loop {
                let socket = match net {
                    Net::Ethernet => self.sockets.get_mut::<icmp::Socket>(handle),
                    Net::Loopback => self.lo_sockets.get_mut::<icmp::Socket>(handle),
                };
                let Ok((bytes, IpAddress::Ipv4(from))) = socket.recv() else {
                    break;
                };
                let Ok(packet) = Icmpv4Packet::new_checked(bytes) else {
                    continue;
                };
                let Ok(Icmpv4Repr::EchoReply { ident, seq_no, .. }) =
                    Icmpv4Repr::parse(&packet, &ChecksumCapabilities::default())
                else {
                    continue; // our own request, on the loopback interface
                };
                if ident != IDENT {
                    continue;
                }
                if let Some(index) = self
                    .pings
                    .iter()
                    .position(|p| p.net == net && p.sequence == seq_no && p.address == from)
                {
                    let ping = self.pings.swap_remove(index);
                    results.push((ping.reply, Ok(now - ping.sent)));
                }
            }
        }
        let mut stuck = [false; 2];
        self.pings.retain(|ping| {
            if ping.deadline <= now {
                results.push((ping.reply, Err(Status::TIMED_OUT.0)));
                stuck[ping.net as usize] = true;
                false
            } else {
                true
            }
        });
        for net in [Net::Ethernet, Net::Loopback] {
            if stuck[net as usize] {
                self.unstick(net);
            }
        }
        results
    }

    /// After a timeout: if a request is still queued in `net`'s ICMP
    /// socket (its destination never answered ARP), a fresh socket takes
    /// the old one's place. Otherwise smoltcp would keep trying to send it
    /// for good, asking for that neighbour every second, and its ARP rate
    /// limit (one request a second for the whole interface) would starve
    /// every other new neighbour, the DNS server's included.
    fn unstick(&mut self, net: Net) {
        let handle = self.icmp[net as usize];
        if self.set(net).get::<icmp::Socket>(handle).send_queue() == 0 {
            return;
        }
        self.set(net).remove(handle);
        self.icmp[net as usize] = self.set(net).add(socket());
    }
}
