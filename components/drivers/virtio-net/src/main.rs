//! The virtio-net driver: serves a network card as
//! `zx.device.network/Network` (`idl/network.idl`) at `/dev/net/<n>`:
//! Ethernet frames in and out, interrupt-driven, through `virtio-drivers`'
//! raw (non-blocking) device.
//!
//! Known gaps: one frame in flight each way; `Receive` blocks the driver
//! until a frame or the deadline (one client at a time); the link is
//! reported up (virtio-drivers does not expose the status field).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use alloc::rc::Rc;
use bindings::zx_device_network::{
    dispatch_network, DeviceStats, NetworkGetInfoResponse, NetworkGetStatsResponse, NetworkMarker,
    NetworkReceiveRequest, NetworkReceiveResponse, NetworkSendRequest, NetworkSendResponse,
    NetworkServer,
};
use core::cell::RefCell;
use zx_driver::publish::DeviceClass;
use zx_driver::startup::DeviceHandles;
use zx_driver::virtio::{self, NetDevice};
use zx_runtime::println;

zx_runtime::entry!(main);

/// The MTU QEMU's virtio-net uses.
const MTU: u32 = 1500;

struct Connection {
    card: Rc<RefCell<NetDevice>>,
}

impl NetworkServer for Connection {
    fn get_info(&mut self) -> NetworkGetInfoResponse {
        NetworkGetInfoResponse {
            mac: self.card.borrow().mac(),
            mtu: MTU,
            link_up: true,
        }
    }

    fn send(&mut self, request: NetworkSendRequest) -> Result<NetworkSendResponse, i32> {
        self.card
            .borrow_mut()
            .send(&request.frame)
            .map_err(|e| e.status().0)?;
        Ok(NetworkSendResponse {})
    }

    fn receive(&mut self, request: NetworkReceiveRequest) -> Result<NetworkReceiveResponse, i32> {
        let frame = self
            .card
            .borrow_mut()
            .receive(request.deadline)
            .map_err(|e| e.status().0)?;
        Ok(NetworkReceiveResponse { frame })
    }

    fn get_stats(&mut self) -> NetworkGetStatsResponse {
        let (interrupts, requests, polls) = self.card.borrow().stats();
        NetworkGetStatsResponse {
            stats: DeviceStats {
                interrupts,
                requests,
                polls,
            },
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
    let mut card = match card {
        Ok(card) => card,
        Err(error) => {
            println!("virtio-net: {} cannot start: {:?}", handles.address, error);
            return 1;
        }
    };
    let signalling = card.prefer_msix(&handles);
    println!(
        "virtio-net: {} interrupts by {}",
        handles.address, signalling
    );
    let mac = card.mac();
    println!(
        "virtio-net: {} MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        handles.address, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    );
    let card = Rc::new(RefCell::new(card));
    let connector = match zx_driver::publish::publish(&handles.token, DeviceClass::Network) {
        Ok(connector) => connector,
        Err(status) => {
            println!("virtio-net: cannot publish: {status}");
            return 1;
        }
    };
    zx_driver::publish::run(
        &handles.token,
        connector,
        NetworkMarker::DISCOVERABLE_NAME.unwrap_or(""),
        move || Connection {
            card: Rc::clone(&card),
        },
        |connection, message| dispatch_network(connection, message).ok().flatten(),
    )
}
