//! Interrupt-driven virtio devices over `virtio-drivers`.
//!
//! `virtio-drivers`' simple calls (`read_blocks`, `send`) spin on the used
//! ring until the device answers. These wrappers use the crate's
//! non-blocking calls instead: submit, then sleep in `interrupt_wait` until
//! the device's interrupt (an I/O APIC line the kernel masks when it fires),
//! acknowledge the device (its ISR status, which lowers the level-triggered
//! line), unmask (`interrupt_ack`), and check the used ring again. Every
//! wait is counted, so a driver can show it takes an interrupt per request
//! rather than spinning.

use crate::hal::ZxHal;
use crate::mmio::Mapping;
use crate::pci::{FunctionAccess, FUNCTION_BYTES};
use crate::startup::DeviceHandles;
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use virtio_drivers::device::blk::{BlkReq, BlkResp, VirtIOBlk, SECTOR_SIZE};
use virtio_drivers::device::console::VirtIOConsole;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::pci::bus::{DeviceFunction, PciRoot};
use virtio_drivers::transport::pci::PciTransport;
use zx::{Interrupt, Status, Time, INTERRUPT_GSI, INTERRUPT_MSI, TIME_INFINITE};

/// Why a device call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceError {
    /// A kernel call failed (`TIMED_OUT` when a deadline passed).
    Kernel(Status),
    /// `virtio-drivers` reported an error.
    Virtio(virtio_drivers::Error),
    /// The device has no interrupt line.
    NoInterrupt,
}

impl From<Status> for DeviceError {
    fn from(status: Status) -> Self {
        DeviceError::Kernel(status)
    }
}

impl From<virtio_drivers::Error> for DeviceError {
    fn from(error: virtio_drivers::Error) -> Self {
        DeviceError::Virtio(error)
    }
}

impl DeviceError {
    /// The nearest status, for replies.
    pub fn status(self) -> Status {
        match self {
            DeviceError::Kernel(status) => status,
            DeviceError::Virtio(virtio_drivers::Error::InvalidParam) => Status::INVALID_ARGS,
            DeviceError::Virtio(virtio_drivers::Error::QueueFull) => Status::SHOULD_WAIT,
            DeviceError::Virtio(virtio_drivers::Error::Unsupported) => Status::NOT_SUPPORTED,
            DeviceError::Virtio(_) | DeviceError::NoInterrupt => Status::INTERNAL,
        }
    }
}

/// The device's interrupt, with a count of the interrupts taken.
pub struct Irq {
    interrupt: Interrupt,
    taken: u64,
    signalling: Signalling,
}

impl Irq {
    /// Waits until the interrupt fires or `deadline` passes.
    fn wait(&mut self, deadline: Time) -> Result<(), Status> {
        self.interrupt.wait(deadline)?;
        self.taken += 1;
        Ok(())
    }

    /// Unmasks the line after the device was acknowledged.
    fn ack(&self) -> Result<(), Status> {
        self.interrupt.ack()
    }

    /// Interrupts taken so far.
    pub fn taken(&self) -> u64 {
        self.taken
    }

    /// How the device interrupts.
    pub fn signalling(&self) -> Signalling {
        self.signalling
    }

    /// The kernel's count of the line's interrupts.
    pub fn fired(&self) -> u64 {
        self.interrupt.info().map(|info| info.count).unwrap_or(0)
    }
}

/// The transport of the device in `handles` and its interrupt: maps the
/// configuration space and BARs, claims the INTx line (a device may move
/// to MSI-X afterwards: `prefer_msix`).
pub fn open(handles: &DeviceHandles) -> Result<(PciTransport, Irq), DeviceError> {
    for (_, bar) in &handles.bars {
        crate::hal::register_bar(bar)?;
    }
    let config = Mapping::map(&handles.config, FUNCTION_BYTES)?;
    let function = DeviceFunction {
        bus: handles.address.bus,
        device: handles.address.device,
        function: handles.address.function,
    };
    let mut root = PciRoot::new(FunctionAccess::new(function, config));
    let transport = PciTransport::new::<ZxHal, _>(&mut root, function)
        .map_err(|_| DeviceError::Virtio(virtio_drivers::Error::NotReady))?;
    let (line, resource) = handles.irq.as_ref().ok_or(DeviceError::NoInterrupt)?;
    let interrupt = Interrupt::create(resource, *line, INTERRUPT_GSI)?;
    Ok((
        transport,
        Irq {
            interrupt,
            taken: 0,
            signalling: Signalling::Intx(*line),
        },
    ))
}

/// How the device interrupts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signalling {
    /// Its INTx pin, through the I/O APIC: this GSI.
    Intx(u32),
    /// MSI-X table entry 0: this MSI number.
    MsiX(u32),
}

impl core::fmt::Display for Signalling {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Signalling::Intx(gsi) => write!(f, "INTx (GSI {gsi})"),
            Signalling::MsiX(number) => write!(f, "MSI-X (MSI {number})"),
        }
    }
}

/// PCI capability ids (PCI Local Bus Specification 3.0, appendix H).
const CAP_MSIX: u8 = 0x11;
const CAP_VENDOR: u8 = 0x09;
/// virtio PCI capability type of the common configuration (virtio 1.2
/// §4.1.4).
const VIRTIO_COMMON_CFG: u8 = 1;
/// Offsets in the virtio common configuration (virtio 1.2 §4.1.4.3).
const COMMON_MSIX_CONFIG: usize = 0x10;
const COMMON_QUEUE_SELECT: usize = 0x16;
const COMMON_QUEUE_MSIX_VECTOR: usize = 0x1a;
/// "No vector" in the common configuration.
const NO_VECTOR: u16 = 0xffff;

/// The offsets of the capabilities in configuration space `config`, with
/// their ids.
fn capabilities(config: &Mapping) -> Vec<(usize, u8)> {
    let mut found = Vec::new();
    if config.read_u32(0x04) & (1 << 20) == 0 {
        return found; // status: no capability list
    }
    let mut at = (config.read_u32(0x34) & 0xfc) as usize;
    while (0x40..0x100).contains(&at) && found.len() < 48 {
        let header = config.read_u32(at);
        found.push((at, header as u8));
        at = ((header >> 8) & 0xfc) as usize;
    }
    found
}

fn bar_mapping(handles: &DeviceHandles, index: u8) -> Result<Mapping, DeviceError> {
    let (_, vmo) = handles
        .bars
        .iter()
        .find(|(bar, _)| *bar == index)
        .ok_or(DeviceError::NoInterrupt)?;
    Ok(Mapping::map(vmo, vmo.size()?)?)
}

/// Moves the device's interrupts for `queues` to MSI-X table entry 0 and
/// the MSI the driver manager gave (`virtio-drivers` leaves MSI-X off, so
/// the device starts on INTx): the MSI's message goes into the table, the
/// queues' `queue_msix_vector` to entry 0, and MSI-X is enabled, which
/// turns INTx off. The INTx interrupt object is released. Errors leave the
/// device on INTx.
fn use_msix(handles: &DeviceHandles, irq: &mut Irq, queues: &[u16]) -> Result<(), DeviceError> {
    let (number, resource) = handles.msi.as_ref().ok_or(DeviceError::NoInterrupt)?;
    let config = Mapping::map(&handles.config, FUNCTION_BYTES)?;
    let caps = capabilities(&config);
    let msix = caps
        .iter()
        .find(|(_, id)| *id == CAP_MSIX)
        .map(|(at, _)| *at)
        .ok_or(DeviceError::NoInterrupt)?;
    let common = caps
        .iter()
        .filter(|(_, id)| *id == CAP_VENDOR)
        .map(|(at, _)| *at)
        .find(|at| (config.read_u32(*at) >> 24) as u8 == VIRTIO_COMMON_CFG)
        .ok_or(DeviceError::NoInterrupt)?;
    let interrupt = Interrupt::create(resource, *number, INTERRUPT_MSI)?;
    let info = interrupt.info()?;
    // The table entry: address low, address high, data, vector control
    // (0: not masked).
    let table = config.read_u32(msix + 4);
    let table_bar = bar_mapping(handles, (table & 7) as u8)?;
    let entry = (table & !7) as usize;
    table_bar.write_u32(entry, info.msi_address as u32);
    table_bar.write_u32(entry + 4, (info.msi_address >> 32) as u32);
    table_bar.write_u32(entry + 8, info.msi_data);
    table_bar.write_u32(entry + 12, 0);
    // Message control (the upper half of the capability's first dword):
    // enable (bit 15), function mask off (bit 14).
    let header = config.read_u32(msix);
    config.write_u32(msix, (header | 1 << 31) & !(1 << 30));
    // Point the queues at entry 0 (and configuration changes nowhere).
    let common_bar = bar_mapping(handles, config.read_u32(common + 4) as u8)?;
    let base = config.read_u32(common + 8) as usize;
    common_bar.write_u16(base + COMMON_MSIX_CONFIG, NO_VECTOR);
    for queue in queues {
        common_bar.write_u16(base + COMMON_QUEUE_SELECT, *queue);
        common_bar.write_u16(base + COMMON_QUEUE_MSIX_VECTOR, 0);
        if common_bar.read_u16(base + COMMON_QUEUE_MSIX_VECTOR) != 0 {
            // The device refused the vector: back to INTx.
            config.write_u32(msix, header & !(1 << 31));
            return Err(DeviceError::NoInterrupt);
        }
    }
    irq.interrupt = interrupt;
    irq.signalling = Signalling::MsiX(*number);
    Ok(())
}

/// Sleeps on `irq` until `done` says the device finished, acknowledging
/// the device with `ack` after each interrupt. Each look at the device
/// counts in `polls`: one per request plus one per interrupt, never more,
/// which is what shows the driver does not spin.
fn wait_until<D>(
    device: &mut D,
    irq: &mut Irq,
    polls: &mut u64,
    deadline: Time,
    mut done: impl FnMut(&mut D) -> bool,
    mut ack: impl FnMut(&mut D),
) -> Result<(), Status> {
    loop {
        *polls += 1;
        if done(device) {
            return Ok(());
        }
        irq.wait(deadline)?;
        ack(device);
        irq.ack()?;
    }
}

/// A virtio-blk disk.
pub struct BlockDevice {
    device: VirtIOBlk<ZxHal, PciTransport>,
    irq: Irq,
    requests: u64,
    polls: u64,
}

/// How long a disk request may take before the driver gives up.
const REQUEST_NANOS: i64 = 10_000_000_000;

impl BlockDevice {
    /// Starts the disk.
    pub fn new(transport: PciTransport, irq: Irq) -> Result<BlockDevice, DeviceError> {
        let mut device = VirtIOBlk::new(transport)?;
        device.enable_interrupts();
        Ok(BlockDevice {
            device,
            irq,
            requests: 0,
            polls: 0,
        })
    }

    /// Moves the disk's interrupts to MSI-X if the driver manager gave an
    /// MSI; returns how it interrupts now.
    pub fn prefer_msix(&mut self, handles: &DeviceHandles) -> Signalling {
        let _ = use_msix(handles, &mut self.irq, &[0]);
        self.irq.signalling()
    }

    /// Number of 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        self.device.capacity()
    }

    /// Whether writes are refused.
    pub fn read_only(&self) -> bool {
        self.device.readonly()
    }

    /// The disk's serial (its name on the QEMU command line).
    pub fn serial(&mut self) -> alloc::string::String {
        let mut id = [0u8; 20];
        let len = self.device.device_id(&mut id).unwrap_or(0);
        alloc::string::String::from_utf8_lossy(&id[..len]).into_owned()
    }

    /// Reads sectors from `sector` into `buffer` (a multiple of 512 bytes).
    pub fn read(&mut self, sector: u64, buffer: &mut [u8]) -> Result<(), DeviceError> {
        check_len(buffer.len())?;
        let mut request = BlkReq::default();
        let mut response = BlkResp::default();
        // SAFETY: `request`, `buffer` and `response` are not touched until
        // `complete_read_blocks` below, which gets the same three.
        let token = unsafe {
            self.device
                .read_blocks_nb(sector as usize, &mut request, buffer, &mut response)?
        };
        self.wait_for(token)?;
        // SAFETY: the same buffers as `read_blocks_nb` was given.
        unsafe {
            self.device
                .complete_read_blocks(token, &request, buffer, &mut response)?
        };
        self.requests += 1;
        Ok(())
    }

    /// Writes `buffer` (a multiple of 512 bytes) to sectors from `sector`.
    pub fn write(&mut self, sector: u64, buffer: &[u8]) -> Result<(), DeviceError> {
        check_len(buffer.len())?;
        let mut request = BlkReq::default();
        let mut response = BlkResp::default();
        // SAFETY: as in `read`.
        let token = unsafe {
            self.device
                .write_blocks_nb(sector as usize, &mut request, buffer, &mut response)?
        };
        self.wait_for(token)?;
        // SAFETY: the same buffers as `write_blocks_nb` was given.
        unsafe {
            self.device
                .complete_write_blocks(token, &request, buffer, &mut response)?
        };
        self.requests += 1;
        Ok(())
    }

    /// Makes completed writes durable. (`virtio-drivers` has no
    /// non-blocking flush: this one spins until the device answers.)
    pub fn flush(&mut self) -> Result<(), DeviceError> {
        self.device.flush()?;
        // The flush's completion raised the line too: take it now.
        let _ = self.device.ack_interrupt();
        let _ = self.irq.ack();
        self.requests += 1;
        Ok(())
    }

    fn wait_for(&mut self, token: u16) -> Result<(), DeviceError> {
        let deadline = zx::deadline_after(REQUEST_NANOS);
        wait_until(
            &mut self.device,
            &mut self.irq,
            &mut self.polls,
            deadline,
            |device| device.peek_used() == Some(token),
            |device| {
                device.ack_interrupt();
            },
        )?;
        Ok(())
    }

    /// Interrupts taken, requests completed, looks at the used ring.
    pub fn stats(&self) -> (u64, u64, u64) {
        (self.irq.taken(), self.requests, self.polls)
    }
}

fn check_len(len: usize) -> Result<(), DeviceError> {
    if len == 0 || !len.is_multiple_of(SECTOR_SIZE) {
        return Err(DeviceError::Kernel(Status::INVALID_ARGS));
    }
    Ok(())
}

/// Descriptors per virtio-net queue.
const NET_QUEUE: usize = 16;
/// Receive buffer size: the virtio-net header and a full frame.
const NET_BUFFER: usize = 2048;

/// A virtio-net card: every receive descriptor holds a posted buffer, so
/// frames the host sends while the driver is busy wait in the ring (not
/// in QEMU, one at a time); one frame in flight for sending.
pub struct NetDevice {
    device: VirtIONetRaw<ZxHal, PciTransport, NET_QUEUE>,
    irq: Irq,
    requests: u64,
    polls: u64,
    /// The posted receive buffers, by token (descriptor index).
    receiving: Vec<Option<Box<[u8]>>>,
}

impl NetDevice {
    /// Starts the card and posts a receive buffer in every descriptor.
    pub fn new(transport: PciTransport, irq: Irq) -> Result<NetDevice, DeviceError> {
        let mut device = VirtIONetRaw::new(transport)?;
        device.enable_interrupts();
        let mut net = NetDevice {
            device,
            irq,
            requests: 0,
            polls: 0,
            receiving: (0..NET_QUEUE).map(|_| None).collect(),
        };
        for _ in 0..NET_QUEUE {
            net.post_receive(vec![0u8; NET_BUFFER].into_boxed_slice())?;
        }
        Ok(net)
    }

    /// Posts `buffer` (a new one, or one whose frame was taken).
    fn post_receive(&mut self, mut buffer: Box<[u8]>) -> Result<(), DeviceError> {
        // SAFETY: the buffer's heap block is kept in `self.receiving`,
        // untouched (moving the box does not move it), until
        // `receive_complete` gets it back.
        let token = unsafe { self.device.receive_begin(&mut buffer)? };
        let slot = self
            .receiving
            .get_mut(usize::from(token))
            .ok_or(DeviceError::Kernel(Status::INTERNAL))?;
        *slot = Some(buffer);
        Ok(())
    }

    /// Moves the card's interrupts (both queues) to MSI-X if the driver
    /// manager gave an MSI; returns how it interrupts now.
    pub fn prefer_msix(&mut self, handles: &DeviceHandles) -> Signalling {
        let _ = use_msix(handles, &mut self.irq, &[0, 1]);
        self.irq.signalling()
    }

    /// The card's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.device.mac_address()
    }

    /// Sends one Ethernet frame.
    pub fn send(&mut self, frame: &[u8]) -> Result<(), DeviceError> {
        let mut buffer: Vec<u8> = vec![0u8; NET_BUFFER.min(frame.len() + 64)];
        let header = self.device.fill_buffer_header(&mut buffer)?;
        buffer.truncate(header + frame.len());
        if buffer.len() < header + frame.len() {
            return Err(DeviceError::Kernel(Status::OUT_OF_RANGE));
        }
        buffer[header..].copy_from_slice(frame);
        // SAFETY: `buffer` is not touched until `transmit_complete`.
        let token = unsafe { self.device.transmit_begin(&buffer)? };
        let deadline = zx::deadline_after(REQUEST_NANOS);
        wait_until(
            &mut self.device,
            &mut self.irq,
            &mut self.polls,
            deadline,
            |device| device.poll_transmit() == Some(token),
            |device| {
                device.ack_interrupt();
            },
        )?;
        // SAFETY: the same buffer as `transmit_begin` was given.
        unsafe { self.device.transmit_complete(token, &buffer)? };
        self.requests += 1;
        Ok(())
    }

    /// The next frame received, waiting until `deadline`.
    pub fn receive(&mut self, deadline: Time) -> Result<Vec<u8>, DeviceError> {
        wait_until(
            &mut self.device,
            &mut self.irq,
            &mut self.polls,
            deadline,
            |device| device.poll_receive().is_some(),
            |device| {
                device.ack_interrupt();
            },
        )?;
        let token = self
            .device
            .poll_receive()
            .ok_or(DeviceError::Kernel(Status::INTERNAL))?;
        let mut buffer = self
            .receiving
            .get_mut(usize::from(token))
            .and_then(Option::take)
            .ok_or(DeviceError::Kernel(Status::INTERNAL))?;
        // SAFETY: the same buffer as `receive_begin` was given for `token`.
        let (header, length) = unsafe { self.device.receive_complete(token, &mut buffer)? };
        let frame = buffer[header..header + length].to_vec();
        self.requests += 1;
        self.post_receive(buffer)?;
        Ok(frame)
    }

    /// Interrupts taken, frames moved, looks at the used rings.
    pub fn stats(&self) -> (u64, u64, u64) {
        (self.irq.taken(), self.requests, self.polls)
    }

    /// The card's interrupt object, to wait for `INTERRUPT_SIGNALED`
    /// asynchronously (then call [`NetDevice::take_interrupt`]).
    pub fn interrupt(&self) -> &Interrupt {
        &self.irq.interrupt
    }

    /// Acknowledges an interrupt (device and line; one that `send` or
    /// `receive` took meanwhile is acknowledged again, harmlessly) and
    /// says whether a received frame waits.
    pub fn take_interrupt(&mut self) -> bool {
        self.device.ack_interrupt();
        let _ = self.irq.ack();
        self.irq.taken += 1;
        self.frame_ready()
    }

    /// Whether a received frame waits to be taken with `receive`.
    pub fn frame_ready(&mut self) -> bool {
        self.polls += 1;
        self.device.poll_receive().is_some()
    }
}

/// A virtio-console port (the host bridge).
pub struct ConsoleDevice {
    device: VirtIOConsole<ZxHal, PciTransport>,
    irq: Irq,
    requests: u64,
    polls: u64,
}

impl ConsoleDevice {
    /// Starts the port.
    pub fn new(transport: PciTransport, irq: Irq) -> Result<ConsoleDevice, DeviceError> {
        Ok(ConsoleDevice {
            device: VirtIOConsole::new(transport)?,
            irq,
            requests: 0,
            polls: 0,
        })
    }

    /// Writes `data`. (`virtio-drivers` completes transmits by spinning on
    /// the used ring; the host takes the bytes at once.)
    pub fn write(&mut self, data: &[u8]) -> Result<(), DeviceError> {
        if !data.is_empty() {
            self.device.send_bytes(data)?;
            let _ = self.device.ack_interrupt();
            let _ = self.irq.ack();
        }
        Ok(())
    }

    /// What has arrived, waiting for at least one byte until `deadline`.
    pub fn read(&mut self, deadline: Time, limit: usize) -> Result<Vec<u8>, DeviceError> {
        let mut data = Vec::new();
        loop {
            self.polls += 1;
            while data.len() < limit {
                match self.device.recv(true)? {
                    Some(byte) => data.push(byte),
                    None => break,
                }
            }
            if !data.is_empty() {
                self.requests += 1;
                return Ok(data);
            }
            self.irq.wait(deadline)?;
            self.device.ack_interrupt()?;
            self.irq.ack()?;
        }
    }

    /// Interrupts taken, reads completed, looks at the receive queue.
    pub fn stats(&self) -> (u64, u64, u64) {
        (self.irq.taken(), self.requests, self.polls)
    }
}

/// A deadline that never passes.
pub const FOREVER: Time = TIME_INFINITE;
