//! The driver manager: devices in user space, as in Fuchsia.
//!
//! At start it scans PCI bus 0 through ECAM (`pci`), reads which devices
//! each driver binds to from the drivers' compiled manifests (`drivers`),
//! and for each device with a driver creates a child in its `drivers`
//! collection through its own scoped `Realm`, with that device's handles
//! alone as start-up handles (`devices`): configuration space and BARs as
//! physical VMOs, an IRQ resource narrowed to the device's line, and a
//! token. The driver (see `components/drivers/virtio-*`) publishes its
//! device to the manager's `zx.driver.Registry`; the manager serves it in
//! `/dev` (`dev`). When a driver ends — it crashed or was killed — its
//! published connector closes; the manager waits for the component manager
//! to see it stopped and starts it again (back-off 100 ms doubling, at
//! most `MAX_RESTARTS` times), with the same handles.
//!
//! Known gaps: bus 0 only (no bridges); INTx routing is q35's (no AML);
//! a line shared by two devices serves the first driver only.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}
mod dev;
mod devices;
mod drivers;
mod pci;

use alloc::rc::Rc;
use alloc::string::String;
use bindings::zx_component::{RealmClient, RealmMarker};
use bindings::zx_driver::{
    dispatch_registry, RegistryMarker, RegistryPublishRequest, RegistryPublishResponse,
    RegistryServer,
};
use core::cell::RefCell;
use devices::{Devices, State, MAX_RESTARTS};
use idlc_runtime::Transport;
use zx::{AsHandleRef, Channel, Handle, Signals};
use zx_async::Spawner;
use zx_driver::publish::STOPPED_ON_REQUEST;
use zx_idl::ChannelTransport;
use zx_runtime::println;

zx_runtime::entry!(main);

fn log(message: &str) {
    println!("driver_manager: {message}");
    zx_component::log(&alloc::format!("driver_manager: {message}"));
}

/// One driver's connection to the registry.
struct Registry {
    devices: Rc<RefCell<Devices>>,
    spawner: Spawner,
}

impl RegistryServer for Registry {
    fn publish(&mut self, request: RegistryPublishRequest) -> Result<RegistryPublishResponse, i32> {
        let token = Handle::from_raw(request.token.into_raw());
        let connector = Channel::from_handle(Handle::from_raw(request.connector.into_raw()));
        let (index, connector) = self
            .devices
            .borrow_mut()
            .publish(&token, request.class, connector)
            .map_err(|status| status.0)?;
        {
            let devices = self.devices.borrow();
            let device = &devices.list[index];
            let (class, slot) = device.class.unwrap_or((request.class, 0));
            log(&alloc::format!(
                "{} published /dev/{}/{} ({})",
                device.child,
                devices::class_dir(class),
                slot,
                device.function.address
            ));
        }
        self.spawner.spawn(watch(
            Rc::clone(&self.devices),
            self.spawner.clone(),
            index,
            connector,
        ));
        Ok(RegistryPublishResponse {})
    }
}

/// Waits for device `index`'s driver to end, then restarts it.
async fn watch(
    devices: Rc<RefCell<Devices>>,
    spawner: Spawner,
    index: usize,
    connector: Rc<Channel>,
) {
    let _ = zx_async::on_signals(&*connector, Signals::PEER_CLOSED).await;
    let stopped_on_request = devices.borrow().list[index]
        .token
        .as_ref()
        .is_some_and(|token| token.handle().wait_one(STOPPED_ON_REQUEST, 0).is_ok());
    if stopped_on_request {
        devices.borrow_mut().list[index].state = State::Stopped;
        return;
    }
    restart(devices, spawner, index).await;
}

/// Watches a driver that has not published its device yet: if it ends
/// first (a crash during start-up), restarts it.
async fn watch_start(devices: Rc<RefCell<Devices>>, spawner: Spawner, index: usize) {
    loop {
        let _ = zx_async::sleep(zx::deadline_after(START_CHECK_NANOS)).await;
        if !matches!(devices.borrow().list[index].state, State::Starting) {
            return; // published (watched by `watch`), or given up
        }
        if devices.borrow().driver_stopped(index) {
            let child = devices.borrow().list[index].child.clone();
            log(&alloc::format!(
                "{child} ended before publishing its device"
            ));
            restart(devices, spawner, index).await;
            return;
        }
    }
}

/// How often a starting driver is checked.
const START_CHECK_NANOS: i64 = 1_000_000_000;

/// Starts device `index`'s driver again after it ended, with back-off;
/// gives up after `MAX_RESTARTS`.
async fn restart(devices: Rc<RefCell<Devices>>, spawner: Spawner, index: usize) {
    let restarts = {
        let mut table = devices.borrow_mut();
        let device = &mut table.list[index];
        device.restarts += 1;
        device.state = State::Restarting;
        device.restarts
    };
    let child = devices.borrow().list[index].child.clone();
    if restarts > MAX_RESTARTS {
        log(&alloc::format!("{child} ended {restarts} times; giving up"));
        devices.borrow_mut().list[index].state = State::Failed("ended too often".into());
        return;
    }
    log(&alloc::format!(
        "{child} ended; restarting it (restart {restarts})"
    ));
    // The component manager notices the process's end on its own; wait
    // for that (bounded), then back off and start the driver again.
    for _ in 0..100 {
        if devices.borrow().driver_stopped(index) {
            break;
        }
        let _ = zx_async::sleep(zx::deadline_after(20_000_000)).await;
    }
    let backoff = 100_000_000i64 << (restarts - 1).min(4);
    let _ = zx_async::sleep(zx::deadline_after(backoff)).await;
    let started = devices.borrow_mut().start(index);
    match started {
        Ok(()) => spawner.spawn(watch_start(Rc::clone(&devices), spawner.clone(), index)),
        Err(why) => {
            log(&alloc::format!("cannot restart {child}: {why}"));
            devices.borrow_mut().list[index].state = State::Failed(why);
        }
    }
}

async fn serve_registry(channel: Channel, mut registry: Registry) {
    let transport = ChannelTransport::new(channel);
    while let Some(mut message) = zx_component::next_message(&transport).await {
        match dispatch_registry(&mut registry, &mut message) {
            Ok(Some(reply)) => {
                if transport.send(reply).is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(_) => return,
        }
    }
}

/// `path` below the `dev` directory capability (`""` for itself).
fn below_dev(path: &str) -> Option<String> {
    match path.strip_prefix("dev")? {
        "" => Some(String::new()),
        rest => zx_component::fs::join("", rest.strip_prefix('/')?),
    }
}

fn main() -> i64 {
    let (Some(mmio), Some(irq)) = (
        zx_component::resource("mmio"),
        zx_component::resource("irq"),
    ) else {
        log("no mmio or irq resource: the manifest must use both");
        return 1;
    };
    let realm_name = RealmMarker::DISCOVERABLE_NAME.unwrap_or("zx.component.Realm");
    let realm = match zx_component::connect(realm_name) {
        Ok(channel) => RealmClient::new(ChannelTransport::new(channel)),
        Err(status) => {
            log(&alloc::format!("cannot reach {realm_name}: {status}"));
            return 1;
        }
    };
    let bus = match pci::scan(&mmio) {
        Ok(bus) => bus,
        Err(status) => {
            log(&alloc::format!("cannot scan PCI: {status}"));
            return 1;
        }
    };
    let drivers = drivers::load();
    log(&alloc::format!(
        "{} PCI functions on bus 0, {} drivers ({})",
        bus.functions.len(),
        drivers.len(),
        drivers
            .iter()
            .map(|d| d.manifest.as_str())
            .collect::<alloc::vec::Vec<_>>()
            .join(", ")
    ));
    let devices = Rc::new(RefCell::new(Devices::new(bus, &drivers, realm, mmio, irq)));
    let count = devices.borrow().list.len();
    for index in 0..count {
        if devices.borrow().list[index].driver.is_none() {
            continue;
        }
        let result = devices.borrow_mut().bind(index);
        let devices_ref = devices.borrow();
        let device = &devices_ref.list[index];
        match result {
            Ok(()) => log(&alloc::format!(
                "{} {:04x}:{:04x}: started {}",
                device.function.address,
                device.function.vendor,
                device.function.device,
                device.child
            )),
            Err(why) => {
                let child = device.child.clone();
                drop(devices_ref);
                log(&alloc::format!("cannot start {child}: {why}"));
                devices.borrow_mut().list[index].state = State::Failed(why);
            }
        }
    }
    let Some(outgoing) = zx_component::Outgoing::take() else {
        log("no outgoing directory");
        return 1;
    };
    let Ok(mut executor) = zx_async::Executor::new() else {
        return 1;
    };
    let spawner = executor.spawner();
    for index in 0..count {
        if matches!(devices.borrow().list[index].state, State::Starting) {
            spawner.spawn(watch_start(Rc::clone(&devices), spawner.clone(), index));
        }
    }
    let registry_name = RegistryMarker::DISCOVERABLE_NAME.unwrap_or("zx.driver.Registry");
    let accept = async move {
        while let Some((path, channel)) = outgoing.next().await {
            if path == registry_name {
                let registry = Registry {
                    devices: Rc::clone(&devices),
                    spawner: spawner.clone(),
                };
                spawner.spawn(serve_registry(channel, registry));
            } else if let Some(below) = below_dev(&path) {
                let tree: Rc<dyn zx_component::fs::Tree> = Rc::new(dev::DevTree {
                    devices: Rc::clone(&devices),
                });
                zx_component::fs::serve(tree, below, channel, &spawner);
            } else {
                log(&alloc::format!("no capability named {path}"));
            }
        }
    };
    let Some(lifecycle) = zx_component::Lifecycle::take() else {
        executor.run(accept);
        return 0;
    };
    executor.spawner().spawn(accept);
    executor.run(async move { lifecycle.stopped().await });
    0
}
