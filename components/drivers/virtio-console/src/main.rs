//! The virtio-console driver: serves the host bridge's port as
//! `zx.device.serial/Serial` (`idl/serial.idl`) at `/dev/serial/<n>`.
//! Reads wait for the device's interrupt.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use alloc::rc::Rc;
use bindings::zx_device_serial::{
    dispatch_serial, DeviceStats, SerialGetStatsResponse, SerialMarker, SerialReadRequest,
    SerialReadResponse, SerialServer, SerialWriteRequest, SerialWriteResponse, MAX_CHUNK,
};
use core::cell::RefCell;
use zx_driver::publish::DeviceClass;
use zx_driver::startup::DeviceHandles;
use zx_driver::virtio::{self, ConsoleDevice};
use zx_runtime::println;

zx_runtime::entry!(main);

struct Connection {
    port: Rc<RefCell<ConsoleDevice>>,
}

impl SerialServer for Connection {
    fn write(&mut self, request: SerialWriteRequest) -> Result<SerialWriteResponse, i32> {
        self.port
            .borrow_mut()
            .write(&request.data)
            .map_err(|e| e.status().0)?;
        Ok(SerialWriteResponse {})
    }

    fn read(&mut self, request: SerialReadRequest) -> Result<SerialReadResponse, i32> {
        let data = self
            .port
            .borrow_mut()
            .read(request.deadline, MAX_CHUNK as usize)
            .map_err(|e| e.status().0)?;
        Ok(SerialReadResponse { data })
    }

    fn get_stats(&mut self) -> SerialGetStatsResponse {
        let (interrupts, requests, polls) = self.port.borrow().stats();
        SerialGetStatsResponse {
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
        println!("virtio-console: no device handles (the driver manager starts drivers)");
        return 1;
    };
    let Some(dma) = zx_component::resource("dma") else {
        println!("virtio-console: no dma resource (the manifest must use it)");
        return 1;
    };
    zx_driver::hal::init(dma);
    let port =
        virtio::open(&handles).and_then(|(transport, irq)| ConsoleDevice::new(transport, irq));
    let port = match port {
        Ok(port) => port,
        Err(error) => {
            println!(
                "virtio-console: {} cannot start: {:?}",
                handles.address, error
            );
            return 1;
        }
    };
    println!("virtio-console: {} port ready", handles.address);
    let port = Rc::new(RefCell::new(port));
    let connector = match zx_driver::publish::publish(&handles.token, DeviceClass::Serial) {
        Ok(connector) => connector,
        Err(status) => {
            println!("virtio-console: cannot publish: {status}");
            return 1;
        }
    };
    zx_driver::publish::run(
        &handles.token,
        connector,
        SerialMarker::DISCOVERABLE_NAME.unwrap_or(""),
        move || Connection {
            port: Rc::clone(&port),
        },
        |connection, message| dispatch_serial(connection, message).ok().flatten(),
    )
}
