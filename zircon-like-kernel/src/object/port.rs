//! Ports: queues of packets that threads wait on. Packets come from
//! `port_queue` (user packets) and from `object_wait_async` registrations
//! (signal packets). A waiting thread is handed the packet directly, so two
//! waiters can never race for one packet.

use super::thread::{Thread, WakeReason};
use super::{impl_into_any, KernelObject, ObjectBase};
use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use spin::Mutex;
use zerocopy::IntoBytes;
use zx_abi::{ObjectType, PortPacket, SignalPacket, Signals, Status, PACKET_SIGNAL_ONE};

/// Most packets a port holds before `port_queue` is refused.
pub const MAX_PENDING_PACKETS: usize = 4096;

struct PortState {
    packets: VecDeque<PortPacket>,
    waiters: VecDeque<(Weak<Thread>, u64)>,
}

/// A port.
pub struct Port {
    base: ObjectBase,
    state: Mutex<PortState>,
}

impl Port {
    /// A new, empty port.
    pub fn new() -> Arc<Port> {
        Arc::new(Port {
            base: ObjectBase::new(Signals::empty()),
            state: Mutex::new(PortState {
                packets: VecDeque::new(),
                waiters: VecDeque::new(),
            }),
        })
    }

    /// Delivers `packet` to the first waiting thread, or queues it.
    pub fn queue(&self, packet: PortPacket) -> Result<(), Status> {
        loop {
            let waiter = {
                let mut state = self.state.lock();
                match state.waiters.pop_front() {
                    Some(waiter) => waiter,
                    None => {
                        if state.packets.len() >= MAX_PENDING_PACKETS {
                            return Err(Status::SHOULD_WAIT);
                        }
                        state.packets.push_back(packet);
                        return Ok(());
                    }
                }
            };
            if let Some(thread) = waiter.0.upgrade() {
                if crate::sched::wake(&thread, waiter.1, WakeReason::Packet(packet)) {
                    return Ok(());
                }
            }
        }
    }

    /// Queues the packet of a fired `object_wait_async` registration.
    pub fn queue_signal(&self, key: u64, trigger: Signals, observed: Signals) {
        let signal = SignalPacket {
            trigger: trigger.bits(),
            observed: observed.bits(),
            count: 1,
            timestamp: crate::clock::monotonic_nanos() as i64,
            reserved: 0,
        };
        let mut payload = [0u8; 32];
        payload.copy_from_slice(signal.as_bytes());
        // Signal packets are never refused: each comes from a registration
        // that user space made, bounded by its handles.
        let packet = PortPacket {
            key,
            packet_type: PACKET_SIGNAL_ONE,
            status: 0,
            payload,
        };
        let mut state = self.state.lock();
        if state.waiters.is_empty() {
            state.packets.push_back(packet);
            return;
        }
        drop(state);
        let _ = self.queue(packet);
        if self.state.lock().packets.len() > MAX_PENDING_PACKETS {
            warn!(
                "port {} holds more than {} packets",
                self.base.koid(),
                MAX_PENDING_PACKETS
            );
        }
    }

    /// Takes the first packet, or registers `thread` to be handed the next.
    pub fn take_or_wait(&self, thread: &Arc<Thread>, token: u64) -> Option<PortPacket> {
        let mut state = self.state.lock();
        if let Some(packet) = state.packets.pop_front() {
            return Some(packet);
        }
        state.waiters.push_back((Arc::downgrade(thread), token));
        None
    }

    /// Takes the first packet if there is one.
    pub fn try_take(&self) -> Option<PortPacket> {
        self.state.lock().packets.pop_front()
    }

    /// Forgets the waiter of `token` (its wait timed out).
    pub fn remove_waiter(&self, token: u64) {
        self.state.lock().waiters.retain(|(_, t)| *t != token);
    }
}

impl KernelObject for Port {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> ObjectType {
        ObjectType::Port
    }

    impl_into_any!();
}
