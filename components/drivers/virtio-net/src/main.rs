//! The virtio-net driver: serves a network card as
//! `zx.device.network/Network` (`idl/network.idl`) at `/dev/net/<n>`:
//! Ethernet frames in and out, interrupt-driven, through `virtio-drivers`'
//! raw (non-blocking) device.
//!
//! Frame arrival is signalled: a task beside the connections waits for
//! the card's interrupt and raises `USER_0` on the frame event
//! (`GetFrameSignal`) when a received frame waits; `Receive` clears it
//! before it looks. `Send` and `Receive` wait for the interrupt
//! themselves (synchronously) and may take one meant for a received
//! frame, so after each the driver looks for a waiting frame too: no
//! arrival goes unsignalled.
//!
//! Every receive descriptor (16) holds a posted buffer, so frames that
//! arrive while the netstack is busy wait in the ring; a taken frame's
//! buffer is posted again at once.
//!
//! Known gaps: one frame in flight for sending; a `Receive` with a future
//! deadline blocks the driver until a frame or the deadline (one client
//! at a time); the link is reported up (virtio-drivers does not expose
//! the status field).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use alloc::rc::Rc;
use alloc::vec::Vec;
use bindings::zx_device_network::{
    dispatch_network, DeviceStats, NetworkGetFrameSignalResponse, NetworkGetInfoResponse,
    NetworkGetStatsResponse, NetworkMarker, NetworkReceiveBatchRequest,
    NetworkReceiveBatchResponse, NetworkReceiveRequest, NetworkReceiveResponse, NetworkSendRequest,
    NetworkSendResponse, NetworkServer,
};
use core::cell::RefCell;
use zx::{AsHandleRef, Event, Rights, Signals};
use zx_driver::publish::DeviceClass;
use zx_driver::startup::DeviceHandles;
use zx_driver::virtio::{self, NetDevice};
use zx_runtime::println;

zx_runtime::entry!(main);

/// The MTU QEMU's virtio-net uses.
const MTU: u32 = 1500;
/// Most frames one `ReceiveBatch` returns, and the largest frame
/// (`idl/network.idl`'s `MAX_BATCH` and `MAX_FRAME`).
const MAX_BATCH: usize = 16;
const MAX_FRAME: usize = 1514;
/// Raised on the frame event while a received frame waits.
const FRAME_WAITING: Signals = Signals::USER_0;

/// The card and its frame event, shared by the connections and the
/// interrupt task.
struct Card {
    device: RefCell<NetDevice>,
    frames: Event,
}

impl Card {
    /// Raises the frame event if a frame waits.
    fn signal_if_waiting(&self) {
        if self.device.borrow_mut().frame_ready() {
            let _ = self.frames.signal(Signals::empty(), FRAME_WAITING);
        }
    }
}

struct Connection {
    card: Rc<Card>,
}

impl NetworkServer for Connection {
    fn get_info(&mut self) -> NetworkGetInfoResponse {
        NetworkGetInfoResponse {
            mac: self.card.device.borrow().mac(),
            mtu: MTU,
            link_up: true,
        }
    }

    fn send(&mut self, request: NetworkSendRequest) -> Result<NetworkSendResponse, i32> {
        let taken = self.card.device.borrow().stats().0;
        let sent = self.card.device.borrow_mut().send(&request.frame);
        // The wait for the send's completion may have taken the interrupt
        // of a frame received meanwhile.
        if self.card.device.borrow().stats().0 > taken {
            self.card.signal_if_waiting();
        }
        sent.map_err(|e| e.status().0)?;
        Ok(NetworkSendResponse {})
    }

    fn receive(&mut self, request: NetworkReceiveRequest) -> Result<NetworkReceiveResponse, i32> {
        // Cleared before looking, so a frame that arrives after the look
        // raises it again.
        let _ = self.card.frames.signal(FRAME_WAITING, Signals::empty());
        let frame = self.card.device.borrow_mut().receive(request.deadline);
        let frame = frame.map_err(|e| e.status().0)?;
        Ok(NetworkReceiveResponse { frame })
    }

    fn receive_batch(
        &mut self,
        request: NetworkReceiveBatchRequest,
    ) -> Result<NetworkReceiveBatchResponse, i32> {
        let max = usize::from(request.max);
        if max == 0 || max > MAX_BATCH {
            return Err(zx::Status::OUT_OF_RANGE.0);
        }
        let _ = self.card.frames.signal(FRAME_WAITING, Signals::empty());
        let mut frames = Vec::new();
        let mut lengths = Vec::new();
        let mut device = self.card.device.borrow_mut();
        while lengths.len() < max && device.frame_ready() {
            let Ok(frame) = device.receive(0) else {
                break;
            };
            // A frame longer than MAX_FRAME (the device keeps to the MTU)
            // is dropped rather than overflow the reply.
            let Ok(length) = u16::try_from(frame.len()) else {
                continue;
            };
            if frame.len() > MAX_FRAME {
                continue;
            }
            frames.extend_from_slice(&frame);
            lengths.push(length);
        }
        Ok(NetworkReceiveBatchResponse { frames, lengths })
    }

    fn get_stats(&mut self) -> NetworkGetStatsResponse {
        let (interrupts, requests, polls) = self.card.device.borrow().stats();
        NetworkGetStatsResponse {
            stats: DeviceStats {
                interrupts,
                requests,
                polls,
            },
        }
    }

    fn get_frame_signal(&mut self) -> Result<NetworkGetFrameSignalResponse, i32> {
        let event = self
            .card
            .frames
            .handle()
            .duplicate(Rights::WAIT | Rights::TRANSFER)
            .map_err(|status| status.0)?;
        Ok(NetworkGetFrameSignalResponse {
            event: idlc_runtime::Handle::from_raw(event.into_raw()),
        })
    }
}

/// Waits for the card's interrupts and raises the frame event when one
/// brought a frame.
async fn interrupts(card: Rc<Card>) {
    loop {
        // The interrupt object outlives the task: it is the card's.
        let waited = {
            let device = card.device.borrow();
            zx_async::on_signals(device.interrupt(), Signals::INTERRUPT_SIGNALED)
        };
        if waited.await.is_err() {
            return;
        }
        if card.device.borrow_mut().take_interrupt() {
            let _ = card.frames.signal(Signals::empty(), FRAME_WAITING);
        }
    }
}

fn main() -> i64 {
    let Some(handles) = DeviceHandles::take() else {
        println!("virtio-net: no device handles (the driver manager starts drivers)");
        return 1;
    };
    let Some(dma) = zx_component::resource("dma") else {
        println!("virtio-net: no dma resource (the manifest must use it)");
        return 1;
    };
    zx_driver::hal::init(dma);
    let card = virtio::open(&handles).and_then(|(transport, irq)| NetDevice::new(transport, irq));
    let mut device = match card {
        Ok(card) => card,
        Err(error) => {
            println!("virtio-net: {} cannot start: {:?}", handles.address, error);
            return 1;
        }
    };
    let signalling = device.prefer_msix(&handles);
    println!(
        "virtio-net: {} interrupts by {}",
        handles.address, signalling
    );
    let mac = device.mac();
    println!(
        "virtio-net: {} MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        handles.address, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    );
    let frames = match Event::create() {
        Ok(event) => event,
        Err(status) => {
            println!("virtio-net: cannot create the frame event: {status}");
            return 1;
        }
    };
    let card = Rc::new(Card {
        device: RefCell::new(device),
        frames,
    });
    let connector = match zx_driver::publish::publish(&handles.token, DeviceClass::Network) {
        Ok(connector) => connector,
        Err(status) => {
            println!("virtio-net: cannot publish: {status}");
            return 1;
        }
    };
    let for_connections = Rc::clone(&card);
    zx_driver::publish::run_with(
        &handles.token,
        connector,
        NetworkMarker::DISCOVERABLE_NAME.unwrap_or(""),
        move || Connection {
            card: Rc::clone(&for_connections),
        },
        |connection, message| dispatch_network(connection, message).ok().flatten(),
        interrupts(card),
    )
}
