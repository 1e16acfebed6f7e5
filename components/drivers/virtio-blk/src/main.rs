//! The virtio-blk driver: serves a disk as `zx.device.block/Block`
//! (`idl/block.idl`) at `/dev/block/<n>`.
//!
//! The driver manager starts it with the disk's handles alone; the disk is
//! driven through `virtio-drivers` with the interrupt-driven wrapper of
//! `zx_driver::virtio`. Data moves through VMOs the client attaches: a
//! request copies between the VMO and a buffer, which the Hal bounces
//! through DMA memory.
//!
//! For the restart test, a driver started with `--test-crash` panics when
//! asked to read block `u64::MAX` (a request no real client makes).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use bindings::zx_device_block::{
    dispatch_block, BlockAttachVmoRequest, BlockAttachVmoResponse, BlockFlushResponse,
    BlockGetInfoResponse, BlockGetStatsResponse, BlockInfo, BlockMarker, BlockReadRequest,
    BlockReadResponse, BlockServer, BlockWriteRequest, BlockWriteResponse, DeviceStats,
};
use core::cell::RefCell;
use zx::{Handle, Status, Vmo};
use zx_driver::publish::DeviceClass;
use zx_driver::startup::DeviceHandles;
use zx_driver::virtio::{self, BlockDevice};
use zx_runtime::println;

zx_runtime::entry!(main);

/// Bytes per block (virtio-blk sectors).
const BLOCK_SIZE: u64 = 512;
/// Most blocks one request moves (1 MiB: one virtio request, one bounce
/// buffer of contiguous DMA memory).
const MAX_TRANSFER: u32 = 2048;
/// Most VMOs one connection attaches.
const MAX_VMOS: usize = 16;

/// The disk, shared by every connection.
struct Disk {
    device: BlockDevice,
    serial: String,
    test_crash: bool,
    /// The transfer buffer, kept between requests.
    buffer: Vec<u8>,
}

/// One client connection: its attached VMOs.
struct Connection {
    disk: Rc<RefCell<Disk>>,
    vmos: Vec<Vmo>,
}

impl Connection {
    /// Checks a transfer; returns the VMO and the byte count.
    fn transfer(&self, vmo_id: u32, block: u64, count: u32) -> Result<(&Vmo, usize), i32> {
        let vmo = self.vmos.get(vmo_id as usize).ok_or(Status::NOT_FOUND.0)?;
        let blocks = self.disk.borrow().device.sectors();
        let end = block
            .checked_add(count as u64)
            .ok_or(Status::OUT_OF_RANGE.0)?;
        if count == 0 || count > MAX_TRANSFER || end > blocks {
            return Err(Status::OUT_OF_RANGE.0);
        }
        Ok((vmo, (count as u64 * BLOCK_SIZE) as usize))
    }
}

impl BlockServer for Connection {
    fn get_info(&mut self) -> BlockGetInfoResponse {
        let disk = self.disk.borrow();
        BlockGetInfoResponse {
            info: BlockInfo {
                block_size: BLOCK_SIZE as u32,
                block_count: disk.device.sectors(),
                read_only: disk.device.read_only(),
                max_transfer_blocks: MAX_TRANSFER,
            },
            serial: disk.serial.clone(),
        }
    }

    fn attach_vmo(
        &mut self,
        request: BlockAttachVmoRequest,
    ) -> Result<BlockAttachVmoResponse, i32> {
        let vmo = Vmo::from_handle(Handle::from_raw(request.vmo.into_raw()));
        if self.vmos.len() >= MAX_VMOS {
            return Err(Status::NO_RESOURCES.0);
        }
        self.vmos.push(vmo);
        Ok(BlockAttachVmoResponse {
            id: (self.vmos.len() - 1) as u32,
        })
    }

    fn read(&mut self, request: BlockReadRequest) -> Result<BlockReadResponse, i32> {
        if request.block == u64::MAX && self.disk.borrow().test_crash {
            panic!("virtio-blk: asked to crash (--test-crash)");
        }
        let (vmo, bytes) = self.transfer(request.vmo_id, request.block, request.count)?;
        let mut disk = self.disk.borrow_mut();
        let Disk { device, buffer, .. } = &mut *disk;
        device
            .read(request.block, &mut buffer[..bytes])
            .map_err(|e| e.status().0)?;
        vmo.write(&buffer[..bytes], request.vmo_offset)
            .map_err(|s| s.0)?;
        Ok(BlockReadResponse {})
    }

    fn write(&mut self, request: BlockWriteRequest) -> Result<BlockWriteResponse, i32> {
        let (vmo, bytes) = self.transfer(request.vmo_id, request.block, request.count)?;
        if self.disk.borrow().device.read_only() {
            return Err(Status::ACCESS_DENIED.0);
        }
        let mut disk = self.disk.borrow_mut();
        let Disk { device, buffer, .. } = &mut *disk;
        vmo.read(&mut buffer[..bytes], request.vmo_offset)
            .map_err(|s| s.0)?;
        device
            .write(request.block, &buffer[..bytes])
            .map_err(|e| e.status().0)?;
        Ok(BlockWriteResponse {})
    }

    fn flush(&mut self) -> Result<BlockFlushResponse, i32> {
        self.disk
            .borrow_mut()
            .device
            .flush()
            .map_err(|e| e.status().0)?;
        Ok(BlockFlushResponse {})
    }

    fn get_stats(&mut self) -> BlockGetStatsResponse {
        let (interrupts, requests, polls) = self.disk.borrow().device.stats();
        BlockGetStatsResponse {
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
        println!("virtio-blk: no device handles (the driver manager starts drivers)");
        return 1;
    };
    let Some(dma) = zx_component::resource("dma") else {
        println!("virtio-blk: no dma resource (the manifest must use it)");
        return 1;
    };
    zx_driver::hal::init(dma);
    let device =
        virtio::open(&handles).and_then(|(transport, irq)| BlockDevice::new(transport, irq));
    let mut device = match device {
        Ok(device) => device,
        Err(error) => {
            println!("virtio-blk: {} cannot start: {:?}", handles.address, error);
            return 1;
        }
    };
    let signalling = device.prefer_msix(&handles);
    println!(
        "virtio-blk: {} interrupts by {}",
        handles.address, signalling
    );
    let serial = device.serial();
    println!(
        "virtio-blk: {} disk {:?}, {} blocks of {} bytes",
        handles.address,
        serial,
        device.sectors(),
        BLOCK_SIZE
    );
    let test_crash = zx_runtime::args().iter().any(|arg| arg == "--test-crash");
    let disk = Rc::new(RefCell::new(Disk {
        device,
        serial,
        test_crash,
        buffer: vec![0u8; (MAX_TRANSFER as u64 * BLOCK_SIZE) as usize],
    }));
    let connector = match zx_driver::publish::publish(&handles.token, DeviceClass::Block) {
        Ok(connector) => connector,
        Err(status) => {
            println!("virtio-blk: cannot publish: {status}");
            return 1;
        }
    };
    zx_driver::publish::run(
        &handles.token,
        connector,
        BlockMarker::DISCOVERABLE_NAME.unwrap_or(""),
        move || Connection {
            disk: Rc::clone(&disk),
            vmos: Vec::new(),
        },
        |connection, message| dispatch_block(connection, message).ok().flatten(),
    )
}
