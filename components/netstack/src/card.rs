//! The network device as smoltcp sees it: `/dev/net/0`'s frame protocol
//! (`idl/network.idl`), with frames taken ahead of smoltcp's poll. The
//! driver raises `USER_0` on `frames` when a frame waits
//! (`GetFrameSignal`); the netstack waits on it with everything else and
//! takes frames with `ReceiveBatch` (up to 16 a call), which never
//! blocks the driver.

use crate::bindings::zx_device_network::{
    NetworkClient, NetworkReceiveBatchRequest, NetworkSendRequest,
};
use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use smoltcp::phy::{Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use zx_idl::ChannelTransport;

/// Most frames taken from the device per round.
const FRAMES_PER_ROUND: usize = 64;
/// Most frames taken per `ReceiveBatch` (the protocol's `MAX_BATCH`).
const BATCH: usize = 16;

/// The network device, as smoltcp sees it: frames received ahead of
/// smoltcp's poll, and sends straight through the driver.
pub struct Card {
    pub client: NetworkClient<ChannelTransport>,
    pub received: VecDeque<Vec<u8>>,
    pub frames_received: u64,
    pub frames_sent: u64,
    /// The driver's frame event.
    pub frames: zx::Event,
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
    /// Takes the frames that wait (a bounded batch, [`FRAMES_PER_ROUND`]);
    /// whether the batch was full (more may wait: the driver cleared its
    /// event, so the caller must not wait for it).
    pub fn take_frames(&mut self) -> bool {
        let mut taken = 0;
        while taken < FRAMES_PER_ROUND {
            let max = BATCH.min(FRAMES_PER_ROUND - taken);
            let Ok(Ok(batch)) = self
                .client
                .receive_batch(NetworkReceiveBatchRequest { max: max as u8 })
            else {
                return false;
            };
            let mut at = 0;
            for &length in &batch.lengths {
                let end = at + usize::from(length);
                let Some(frame) = batch.frames.get(at..end) else {
                    break; // a malformed reply: what is left is dropped
                };
                self.received.push_back(frame.to_vec());
                self.frames_received += 1;
                at = end;
            }
            taken += batch.lengths.len();
            if batch.lengths.len() < max {
                return false; // none left
            }
        }
        true
    }
}
