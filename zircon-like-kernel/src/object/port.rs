//! Ports: queues of packets that threads wait on. Packets come from
//! `port_queue` (user packets) and from `object_wait_async` registrations
//! (signal packets). A waiting thread is handed the packet directly, so two
//! waiters can never race for one packet.
//!
//! A port never holds more than [`MAX_PENDING_PACKETS`] packets, counting
//! the packets armed registrations will deliver: `object_wait_async` takes
//! a [`PacketSlot`] when it registers (refused with `SHOULD_WAIT` when the
//! port is full), and the queue's memory for it is reserved then, so
//! delivering a signal packet never allocates and never fails.
//!
//! The queue's memory is charged to the job of the program that created
//! the port as it grows (twice a packet's size per slot: the slot, and the
//! observer entry an armed registration keeps on the object it watches),
//! and given back when the port goes.

use super::account::MemoryAccount;
use super::thread::{Thread, WakeReason};
use super::{impl_into_any, KernelObject, ObjectBase};
use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use spin::Mutex;
use zerocopy::IntoBytes;
use zx_abi::{ObjectType, PortPacket, SignalPacket, Signals, Status, PACKET_SIGNAL_ONE};

/// Most packets a port holds, queued and promised to armed
/// `object_wait_async` registrations together; past it `port_queue` and
/// `object_wait_async` are refused with `SHOULD_WAIT`.
pub const MAX_PENDING_PACKETS: usize = 4096;

/// Bytes charged per slot of a port's queue: the packet, and the observer
/// entry an armed registration for it keeps on the watched object.
const SLOT_COST: u64 =
    (core::mem::size_of::<PortPacket>() + core::mem::size_of::<super::Observer>()) as u64;

struct PortState {
    packets: VecDeque<PortPacket>,
    /// Who the queue's capacity is charged to, and how much is.
    account: Option<Arc<MemoryAccount>>,
    charged: u64,
    /// Packets promised to armed registrations ([`PacketSlot`]s); the
    /// queue's capacity always covers `packets.len() + armed`.
    armed: usize,
    waiters: VecDeque<(Weak<Thread>, u64)>,
}

impl PortState {
    /// Makes room for one more packet, queued or promised.
    fn make_room(&mut self) -> Result<(), Status> {
        if self.packets.len() + self.armed >= MAX_PENDING_PACKETS {
            return Err(Status::SHOULD_WAIT);
        }
        if self.packets.capacity() > self.packets.len() + self.armed {
            return Ok(());
        }
        self.grow()
    }

    /// Grows the queue's capacity, charging the growth.
    #[cold]
    fn grow(&mut self) -> Result<(), Status> {
        let before = self.packets.capacity();
        self.packets
            .try_reserve(self.armed + 1)
            .map_err(|_| Status::NO_MEMORY)?;
        let grown = (self.packets.capacity() - before) as u64 * SLOT_COST;
        if let Some(account) = &self.account {
            if let Err(status) = account.charge(grown) {
                self.packets.shrink_to(before);
                return Err(status);
            }
            self.charged += grown;
        }
        Ok(())
    }
}

/// A packet promised to an `object_wait_async` registration: room in its
/// port's queue, given back if the registration is dropped unfired.
pub struct PacketSlot {
    port: Weak<Port>,
}

impl PacketSlot {
    /// Whether the port still exists.
    pub fn port_alive(&self) -> bool {
        self.port.strong_count() > 0
    }

    /// Delivers the registration's packet into the room kept for it.
    pub fn fill(self, key: u64, trigger: Signals, observed: Signals) {
        let port = core::mem::take(&mut core::mem::ManuallyDrop::new(self).port);
        if let Some(port) = port.upgrade() {
            port.deliver_armed(key, trigger, observed);
        }
    }
}

impl Drop for PacketSlot {
    fn drop(&mut self) {
        if let Some(port) = self.port.upgrade() {
            let mut state = port.state.lock();
            state.armed = state.armed.saturating_sub(1);
        }
    }
}

/// A port.
pub struct Port {
    base: ObjectBase,
    state: Mutex<PortState>,
}

impl Port {
    /// A new, empty port whose queue is charged to `account`.
    pub fn new(account: Option<Arc<MemoryAccount>>) -> Arc<Port> {
        Arc::new(Port {
            base: ObjectBase::new(Signals::empty()),
            state: Mutex::new(PortState {
                packets: VecDeque::new(),
                account,
                charged: 0,
                armed: 0,
                waiters: VecDeque::new(),
            }),
        })
    }

    /// Delivers `packet` to the first waiting thread, or queues it if the
    /// port has room.
    pub fn queue(&self, packet: PortPacket) -> Result<(), Status> {
        self.deliver(packet, false)
    }

    /// Promises room for one packet to an `object_wait_async`
    /// registration.
    pub fn reserve(self: &Arc<Self>) -> Result<PacketSlot, Status> {
        let mut state = self.state.lock();
        state.make_room()?;
        state.armed += 1;
        Ok(PacketSlot {
            port: Arc::downgrade(self),
        })
    }

    /// Hands `packet` to a waiting thread or queues it; `armed`: it fills
    /// the room a [`PacketSlot`] kept, so it cannot fail.
    fn deliver(&self, packet: PortPacket, armed: bool) -> Result<(), Status> {
        if armed {
            let mut state = self.state.lock();
            state.armed = state.armed.saturating_sub(1);
        }
        loop {
            let waiter = {
                let mut state = self.state.lock();
                match state.waiters.pop_front() {
                    Some(waiter) => {
                        super::room::trim(&mut state.waiters);
                        waiter
                    }
                    None => {
                        if !armed {
                            state.make_room()?;
                        }
                        // Within the capacity kept for it: no allocation.
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

    /// Delivers the packet of a fired `object_wait_async` registration.
    fn deliver_armed(&self, key: u64, trigger: Signals, observed: Signals) {
        let signal = SignalPacket {
            trigger: trigger.bits(),
            observed: observed.bits(),
            count: 1,
            timestamp: crate::clock::monotonic_nanos() as i64,
            reserved: 0,
        };
        let mut payload = [0u8; 32];
        payload.copy_from_slice(signal.as_bytes());
        let packet = PortPacket {
            key,
            packet_type: PACKET_SIGNAL_ONE,
            status: 0,
            payload,
        };
        let _ = self.deliver(packet, true);
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
        let mut state = self.state.lock();
        state.waiters.retain(|(_, t)| *t != token);
        super::room::trim(&mut state.waiters);
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        let state = self.state.get_mut();
        if let Some(account) = &state.account {
            account.uncharge(state.charged);
        }
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
