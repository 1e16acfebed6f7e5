//! The network device as smoltcp sees it: `/dev/net/0`'s frame protocol
//! (`idl/network.idl`), with frames taken ahead of smoltcp's poll.

use crate::bindings::zx_device_network::{
    NetworkClient, NetworkReceiveRequest, NetworkSendRequest,
};
use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use smoltcp::phy::{Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use zx_idl::ChannelTransport;

/// The network device, as smoltcp sees it: frames received ahead of
/// smoltcp's poll, and sends straight through the driver.
pub struct Card {
    pub client: NetworkClient<ChannelTransport>,
    pub received: VecDeque<Vec<u8>>,
    pub frames_received: u64,
    pub frames_sent: u64,
}

pub struct RxFrame(Vec<u8>);

pub struct TxFrame<'a> {
    client: &'a NetworkClient<ChannelTransport>,
    sent: &'a mut u64,
}

impl smoltcp::phy::RxToken for RxFrame {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl smoltcp::phy::TxToken for TxFrame<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0u8; len];
        let result = f(&mut frame);
        if let Ok(Ok(_)) = self.client.send(NetworkSendRequest { frame }) {
            *self.sent += 1;
        }
        result
    }
}

impl Device for Card {
    type RxToken<'a> = RxFrame;
    type TxToken<'a> = TxFrame<'a>;

    fn receive(&mut self, _: Instant) -> Option<(RxFrame, TxFrame<'_>)> {
        let frame = self.received.pop_front()?;
        Some((
            RxFrame(frame),
            TxFrame {
                client: &self.client,
                sent: &mut self.frames_sent,
            },
        ))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxFrame<'_>> {
        Some(TxFrame {
            client: &self.client,
            sent: &mut self.frames_sent,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut capabilities = DeviceCapabilities::default();
        capabilities.medium = Medium::Ethernet;
        capabilities.max_transmission_unit = 1514;
        capabilities
    }
}

impl Card {
    /// Waits until `deadline` for a frame, then takes what else is
    /// already there (a bounded batch).
    pub fn receive_until(&mut self, deadline: i64) {
        let mut deadline = deadline;
        for _ in 0..64 {
            match self.client.receive(NetworkReceiveRequest { deadline }) {
                Ok(Ok(response)) => {
                    self.frames_received += 1;
                    self.received.push_back(response.frame);
                    deadline = 0;
                }
                _ => return,
            }
        }
    }
}
