//! The drivers' system test, run as a component beside the driver manager.
//!
//! It reaches the devices only through `/dev` (the driver manager's
//! directory capability) and prints `[PASS] name` / `[FAIL] name: why`
//! lines for the host harness, then powers the machine off through the
//! Realm (status 0). What it does depends on the disk:
//!
//! - first boot (the pattern is not on the disk): write the pattern to
//!   blocks [`FIRST_BLOCK`].. and flush (the host then reads the image);
//! - later boots: read the pattern back, then make the block driver
//!   crash (`--test-crash`) and read it again through the restarted driver.
//!
//! Every boot also sends an ARP request for the user-net gateway and waits
//! for the reply, echoes what the host writes to the bridge, checks that a
//! component without the MMIO or IRQ resource is refused, and checks the
//! drivers' interrupt counts.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use bindings::zx_component::{RealmClient, RealmShutdownRequest};
use bindings::zx_device_block::{
    BlockAttachVmoRequest, BlockClient, BlockReadRequest, BlockWriteRequest,
};
use bindings::zx_device_network::{NetworkClient, NetworkReceiveRequest, NetworkSendRequest};
use bindings::zx_device_serial::{SerialClient, SerialReadRequest, SerialWriteRequest};
use zx::{Channel, Interrupt, Status, Vmo, INTERRUPT_GSI};
use zx_idl::ChannelTransport;
use zx_runtime::println;

zx_runtime::entry!(main);

/// Where the pattern goes on the disk.
const FIRST_BLOCK: u64 = 100;
/// How many blocks it covers.
const BLOCKS: u32 = 8;
/// The pattern's first bytes (the host test looks for them at byte
/// `FIRST_BLOCK * 512` of the image).
pub const MAGIC: &[u8] = b"ZXDEVTEST-PATTERN";

type Outcome = Result<(), String>;

struct Suite {
    failures: u32,
}

impl Suite {
    fn run(&mut self, name: &str, test: impl FnOnce() -> Outcome) {
        match test() {
            Ok(()) => println!("[PASS] {name}"),
            Err(why) => {
                println!("[FAIL] {name}: {why}");
                self.failures += 1;
            }
        }
    }
}

fn step<T, E: core::fmt::Debug>(result: Result<T, E>, what: &str) -> Result<T, String> {
    result.map_err(|e| format!("{what}: {e:?}"))
}

fn reply<T, E: core::fmt::Debug>(
    result: Result<Result<T, i32>, E>,
    what: &str,
) -> Result<T, String> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(code)) => Err(format!("{what}: {}", Status(code))),
        Err(error) => Err(format!("{what}: {error:?}")),
    }
}

fn pattern() -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..BLOCKS as usize * 512)
        .map(|i| (i * 7 + 3) as u8)
        .collect();
    bytes[..MAGIC.len()].copy_from_slice(MAGIC);
    bytes
}

/// Opens `/dev/<path>`, waiting up to `wait_nanos` for it to appear.
fn open_device(path: &str, wait_nanos: i64) -> Result<Channel, String> {
    let deadline = zx::deadline_after(wait_nanos);
    loop {
        let (directory, entry) = path.rsplit_once('/').unwrap_or(("", path));
        let listed = zx_component::namespace::open(&format!("/dev/{directory}"))
            .and_then(zx_component::fs::read_dir)
            .map(|entries| entries.iter().any(|e| e.name == entry))
            .unwrap_or(false);
        if listed {
            return step(
                zx_component::namespace::open(&format!("/dev/{path}")),
                "open",
            );
        }
        if zx::clock_get_monotonic().into_nanos() > deadline {
            return Err(format!("/dev/{path} did not appear"));
        }
        let _ = zx::nanosleep(zx::deadline_after(50_000_000));
    }
}

fn block() -> Result<(BlockClient<ChannelTransport>, Vmo), String> {
    let disk = BlockClient::new(ChannelTransport::new(open_device(
        "block/0",
        10_000_000_000,
    )?));
    let vmo = step(Vmo::create(BLOCKS as u64 * 512, 0), "vmo")?;
    let copy = step(vmo.handle().duplicate(zx::Rights::SAME_RIGHTS), "duplicate")?;
    let attached = reply(
        disk.attach_vmo(BlockAttachVmoRequest {
            vmo: idlc_runtime::Handle::from_raw(copy.into_raw()),
        }),
        "attach",
    )?;
    if attached.id != 0 {
        return Err("first VMO id is not 0".into());
    }
    Ok((disk, vmo))
}

fn read_pattern(disk: &BlockClient<ChannelTransport>, vmo: &Vmo) -> Result<Vec<u8>, String> {
    reply(
        disk.read(BlockReadRequest {
            vmo_id: 0,
            vmo_offset: 0,
            block: FIRST_BLOCK,
            count: BLOCKS,
        }),
        "read",
    )?;
    let mut back = vec![0u8; BLOCKS as usize * 512];
    step(vmo.read(&mut back, 0), "vmo read")?;
    Ok(back)
}

fn check_block(suite: &mut Suite) {
    let (disk, vmo) = match block() {
        Ok(found) => found,
        Err(why) => {
            suite.run("blk.open", || Err(why));
            return;
        }
    };
    if let Ok(info) = disk.get_info() {
        println!(
            "devtest: disk {:?}: {} blocks of {} bytes",
            info.serial, info.info.block_count, info.info.block_size
        );
    }
    let present = read_pattern(&disk, &vmo).is_ok_and(|back| back == pattern());
    if !present {
        suite.run("blk.write_flush", || {
            step(vmo.write(&pattern(), 0), "vmo write")?;
            reply(
                disk.write(BlockWriteRequest {
                    vmo_id: 0,
                    vmo_offset: 0,
                    block: FIRST_BLOCK,
                    count: BLOCKS,
                }),
                "write",
            )?;
            reply(disk.flush(), "flush")?;
            let back = read_pattern(&disk, &vmo)?;
            (back == pattern())
                .then_some(())
                .ok_or_else(|| "read back differs".into())
        });
        suite.run("blk.out_of_range", || {
            let info = step(disk.get_info(), "info")?;
            match disk.read(BlockReadRequest {
                vmo_id: 0,
                vmo_offset: 0,
                block: info.info.block_count,
                count: 1,
            }) {
                Ok(Err(code)) if Status(code) == Status::OUT_OF_RANGE => Ok(()),
                other => Err(format!("read past the end: {other:?}")),
            }
        });
        return;
    }
    suite.run("blk.read_back_after_reboot", || Ok(()));
    suite.run("blk.crashed_driver_restarts", || {
        // The driver panics on this request (`--test-crash`): the reply
        // never comes, the channel closes.
        let crashed = disk.read(BlockReadRequest {
            vmo_id: 0,
            vmo_offset: 0,
            block: u64::MAX,
            count: 1,
        });
        if crashed.is_ok() {
            return Err(format!("the driver answered: {crashed:?}"));
        }
        // Wait for the driver to be gone from /dev and back.
        let _ = zx::nanosleep(zx::deadline_after(100_000_000));
        let (disk, vmo) = block()?;
        for _ in 0..8 {
            if read_pattern(&disk, &vmo)? != pattern() {
                return Err("the restarted driver read other bytes".into());
            }
        }
        Ok(())
    });
}

const GUEST_IP: [u8; 4] = [10, 0, 2, 15];
const GATEWAY_IP: [u8; 4] = [10, 0, 2, 2];

fn arp_request(mac: [u8; 6]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(60);
    frame.extend_from_slice(&[0xff; 6]); // to everyone
    frame.extend_from_slice(&mac);
    frame.extend_from_slice(&[0x08, 0x06]); // ARP
    frame.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]); // Ethernet/IPv4, request
    frame.extend_from_slice(&mac);
    frame.extend_from_slice(&GUEST_IP);
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&GATEWAY_IP);
    frame.resize(60, 0);
    frame
}

fn check_network(suite: &mut Suite) {
    suite.run("net.arp_gateway_replies", || {
        let card = NetworkClient::new(ChannelTransport::new(open_device("net/0", 10_000_000_000)?));
        let info = step(card.get_info(), "info")?;
        reply(
            card.send(NetworkSendRequest {
                frame: arp_request(info.mac),
            }),
            "send",
        )?;
        let deadline = zx::deadline_after(10_000_000_000);
        loop {
            let frame = reply(card.receive(NetworkReceiveRequest { deadline }), "receive")?.frame;
            let is_reply = frame.len() >= 42
                && frame[12..14] == [0x08, 0x06]
                && frame[20..22] == [0, 2]
                && frame[28..32] == GATEWAY_IP;
            if is_reply {
                println!(
                    "devtest: 10.0.2.2 is at {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    frame[22], frame[23], frame[24], frame[25], frame[26], frame[27]
                );
                return Ok(());
            }
        }
    });
}

fn check_serial(suite: &mut Suite) {
    suite.run("serial.host_bytes_echoed", || {
        let port = SerialClient::new(ChannelTransport::new(open_device(
            "serial/0",
            10_000_000_000,
        )?));
        reply(
            port.write(SerialWriteRequest {
                data: b"devtest: ready\n".to_vec(),
            }),
            "write",
        )?;
        // Echo what the host sends until two lines have ended (the host
        // sends the second once the first came back, so the driver waits
        // for it).
        let deadline = zx::deadline_after(30_000_000_000);
        let mut seen = Vec::new();
        while seen.iter().filter(|b| **b == b'\n').count() < 2 {
            let data = reply(port.read(SerialReadRequest { deadline }), "read")?.data;
            seen.extend_from_slice(&data);
            reply(port.write(SerialWriteRequest { data }), "echo")?;
        }
        println!(
            "devtest: echoed {:?} on the bridge",
            String::from_utf8_lossy(&seen).trim_end()
        );
        Ok(())
    });
}

fn check_refused(suite: &mut Suite) {
    suite.run("resource.component_without_mmio_or_irq_is_refused", || {
        // This component uses `dma` only: neither physical memory nor
        // interrupts are within its reach.
        let dma = zx_component::resource("dma").ok_or("no dma resource")?;
        match Vmo::create_physical(&dma, 0xfeb0_0000, 4096) {
            Err(Status::ACCESS_DENIED) => {}
            other => return Err(format!("vmo_create_physical: {other:?}")),
        }
        match Interrupt::create(&dma, 20, INTERRUPT_GSI) {
            Err(Status::ACCESS_DENIED) => {}
            other => return Err(format!("interrupt_create: {other:?}")),
        }
        if zx::pci_ecam(&dma) != Err(Status::ACCESS_DENIED) {
            return Err("system_get_pci_ecam answered".into());
        }
        Ok(())
    });
}

fn check_interrupts(suite: &mut Suite) {
    suite.run("drivers.wait_for_interrupts", || {
        let mut lines = Vec::new();
        if let Ok(channel) = open_device("block/0", 1_000_000_000) {
            let stats = step(
                BlockClient::new(ChannelTransport::new(channel)).get_stats(),
                "blk",
            )?;
            let s = stats.stats;
            lines.push(("blk", s.interrupts, s.requests, s.polls));
        }
        if let Ok(channel) = open_device("net/0", 1_000_000_000) {
            let stats = step(
                NetworkClient::new(ChannelTransport::new(channel)).get_stats(),
                "net",
            )?;
            let s = stats.stats;
            lines.push(("net", s.interrupts, s.requests, s.polls));
        }
        if let Ok(channel) = open_device("serial/0", 1_000_000_000) {
            let stats = step(
                SerialClient::new(ChannelTransport::new(channel)).get_stats(),
                "serial",
            )?;
            let s = stats.stats;
            lines.push(("serial", s.interrupts, s.requests, s.polls));
        }
        for (name, interrupts, requests, polls) in &lines {
            println!(
                "devtest: {name} driver: {interrupts} interrupts, {requests} requests, {polls} polls"
            );
            // A driver that waits for interrupts looks at its device once
            // per request and once per interrupt (the network driver twice:
            // it looks for a received frame after a send that took an
            // interrupt); one that spins, far more.
            let per_interrupt = if *name == "net" { 2 } else { 1 };
            if *polls > requests + per_interrupt * interrupts {
                return Err(format!("{name} looked at its device {polls} times"));
            }
        }
        // A device may answer before its driver looks (then no wait, no
        // interrupt taken); the bridge's second line always arrives while
        // the driver waits, so interrupts were taken somewhere.
        if lines.iter().all(|(_, interrupts, _, _)| *interrupts == 0) {
            return Err("no driver took an interrupt".into());
        }
        (!lines.is_empty())
            .then_some(())
            .ok_or_else(|| "no devices".into())
    });
}

fn main() -> i64 {
    let mut suite = Suite { failures: 0 };
    check_refused(&mut suite);
    check_block(&mut suite);
    check_network(&mut suite);
    check_serial(&mut suite);
    check_interrupts(&mut suite);
    println!("devtest: {} failures", suite.failures);
    if let Ok(channel) = zx_component::connect("zx.component.Realm") {
        let realm = RealmClient::new(ChannelTransport::new(channel));
        let _ = realm.shutdown(RealmShutdownRequest { status: 0 });
    }
    suite.failures as i64
}
