//! The loopback interface's device: packets sent to 127.0.0.0/8 are
//! queued and received again on the next poll (smoltcp's own `Loopback`,
//! with the queue visible, so the netstack knows when to poll again).

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use smoltcp::phy::{Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Largest packet on the loopback interface.
const MTU: usize = 65535;
/// Most packets queued at once (past it smoltcp's sockets retransmit).
const MAX_QUEUED: usize = 256;

#[derive(Default)]
pub struct LoopbackDevice {
    queue: VecDeque<Vec<u8>>,
}

impl LoopbackDevice {
    /// Whether packets wait to be received.
    pub fn pending(&self) -> bool {
        !self.queue.is_empty()
    }
}

pub struct RxPacket(Vec<u8>);

pub struct TxPacket<'a>(&'a mut VecDeque<Vec<u8>>);

impl smoltcp::phy::RxToken for RxPacket {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl smoltcp::phy::TxToken for TxPacket<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = vec![0u8; len];
        let result = f(&mut packet);
        if self.0.len() < MAX_QUEUED {
            self.0.push_back(packet);
        }
        result
    }
}

impl Device for LoopbackDevice {
    type RxToken<'a> = RxPacket;
    type TxToken<'a> = TxPacket<'a>;

    fn receive(&mut self, _: Instant) -> Option<(RxPacket, TxPacket<'_>)> {
        let packet = self.queue.pop_front()?;
        Some((RxPacket(packet), TxPacket(&mut self.queue)))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxPacket<'_>> {
        Some(TxPacket(&mut self.queue))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut capabilities = DeviceCapabilities::default();
        capabilities.medium = Medium::Ip;
        capabilities.max_transmission_unit = MTU;
        capabilities
    }
}
