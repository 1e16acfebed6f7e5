//! The device table: each PCI function, the driver bound to it and its
//! state; starting a driver with its device's handles, taking the device
//! it publishes, and restarting it when it ends.

use crate::bindings::zx_component::{
    ComponentState, RealmClient, RealmCreateChildWithHandlesRequest, RealmStartRequest,
    StartupHandle,
};
use crate::bindings::zx_driver::DeviceClass;
use crate::pci::{Bus, Function};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use zx::{
    AsHandleRef, Channel, Event, Handle, Resource, Status, Vmo, INTERRUPT_MSI_BASE,
    INTERRUPT_MSI_COUNT, RSRC_KIND_IRQ,
};
use zx_driver::startup::{self, kind};
use zx_idl::ChannelTransport;

/// Where a device is in its life.
pub enum State {
    /// No driver binds to it.
    Unbound,
    /// Its driver was started and has not published the device yet.
    Starting,
    /// Its driver serves it through this connector.
    Running(Rc<Channel>),
    /// Its driver ended; it is being restarted.
    Restarting,
    /// Its driver was stopped on request (the system is shutting down).
    Stopped,
    /// It could not be started, or ended too often.
    Failed(String),
}

impl State {
    fn name(&self) -> &str {
        match self {
            State::Unbound => "unbound",
            State::Starting => "starting",
            State::Running(_) => "running",
            State::Restarting => "restarting",
            State::Stopped => "stopped",
            State::Failed(_) => "failed",
        }
    }
}

/// One PCI function.
pub struct Device {
    pub function: Function,
    /// The driver's manifest, if one binds.
    pub driver: Option<String>,
    /// The driver's child name in the `drivers` collection.
    pub child: String,
    pub state: State,
    /// What it published, and its index in `/dev/<class>/`.
    pub class: Option<(DeviceClass, usize)>,
    pub restarts: u32,
    /// The MSI number set aside for it (a device with MSI-X and a driver).
    pub msi: Option<u32>,
    token_koid: u64,
    /// The manager's copy of the token: a driver stopped on request raises
    /// `STOPPED_ON_REQUEST` on it.
    pub token: Option<Event>,
}

/// Most times a driver is restarted before its device is given up.
pub const MAX_RESTARTS: u32 = 5;

/// Every device, and what the manager needs to (re)start drivers.
pub struct Devices {
    pub list: Vec<Device>,
    realm: RealmClient<ChannelTransport>,
    mmio: Resource,
    irq: Resource,
    ecam_base: u64,
}

/// `/dev/<class>`'s name.
pub fn class_dir(class: DeviceClass) -> &'static str {
    match class {
        DeviceClass::Block => "block",
        DeviceClass::Network => "net",
        DeviceClass::Serial => "serial",
    }
}

/// The protocol a device of `class` speaks.
pub fn class_protocol(class: DeviceClass) -> &'static str {
    use crate::bindings::{zx_device_block, zx_device_network, zx_device_serial};
    match class {
        DeviceClass::Block => zx_device_block::BlockMarker::DISCOVERABLE_NAME,
        DeviceClass::Network => zx_device_network::NetworkMarker::DISCOVERABLE_NAME,
        DeviceClass::Serial => zx_device_serial::SerialMarker::DISCOVERABLE_NAME,
    }
    .unwrap_or("")
}

fn koid(handle: &impl AsHandleRef) -> u64 {
    handle.basic_info().map(|info| info.koid).unwrap_or(0)
}

impl Devices {
    /// The table for `bus`, with each function's driver from `drivers`.
    pub fn new(
        bus: Bus,
        drivers: &[crate::drivers::Driver],
        realm: RealmClient<ChannelTransport>,
        mmio: Resource,
        irq: Resource,
    ) -> Devices {
        let mut msi_numbers = INTERRUPT_MSI_BASE..INTERRUPT_MSI_BASE + INTERRUPT_MSI_COUNT;
        let list = bus
            .functions
            .iter()
            .map(|function| {
                let driver = crate::drivers::find(drivers, function).map(|d| d.manifest.clone());
                let msi = if driver.is_some() && function.msix {
                    msi_numbers.next()
                } else {
                    None
                };
                Device {
                    msi,
                    child: format!(
                        "{}-{:02x}{:02x}{}",
                        driver.as_deref().unwrap_or("none"),
                        function.address.bus,
                        function.address.device,
                        function.address.function
                    ),
                    function: function.clone(),
                    state: if driver.is_some() {
                        State::Starting
                    } else {
                        State::Unbound
                    },
                    driver,
                    class: None,
                    restarts: 0,
                    token_koid: 0,
                    token: None,
                }
            })
            .collect();
        Devices {
            list,
            realm,
            mmio,
            irq,
            ecam_base: bus.ecam_base,
        }
    }

    /// The start-up handles of device `index`'s driver: configuration
    /// space, memory BARs, its interrupt line, the device token.
    fn handles(&mut self, index: usize) -> Result<Vec<StartupHandle>, Status> {
        let function = &self.list[index].function;
        let bus = Bus {
            ecam_base: self.ecam_base,
            functions: Vec::new(),
        };
        let mut handles = Vec::new();
        let mut add = |kind: u32, handle: Handle| {
            handles.push(StartupHandle {
                kind,
                handle: idlc_runtime::Handle::from_raw(handle.into_raw()),
            })
        };
        let config = Vmo::create_physical(&self.mmio, bus.config_address(function.address), 4096)?;
        add(
            kind(startup::DEVICE_CONFIG, function.address.to_arg()),
            config.into_handle(),
        );
        for bar in &function.bars {
            let size = bar.size.next_multiple_of(4096);
            let vmo = Vmo::create_physical(&self.mmio, bar.address & !0xfff, size)?;
            add(
                kind(startup::DEVICE_BAR, bar.index as u16),
                vmo.into_handle(),
            );
        }
        if let Some(gsi) = function.gsi {
            let line = self.irq.create(RSRC_KIND_IRQ, gsi as u64, 1)?;
            add(kind(startup::DEVICE_IRQ, gsi as u16), line.into_handle());
        }
        if let Some(number) = self.list[index].msi {
            let msi = self.irq.create(RSRC_KIND_IRQ, number as u64, 1)?;
            add(kind(startup::DEVICE_MSI, number as u16), msi.into_handle());
        }
        let token = Event::create()?;
        self.list[index].token_koid = koid(&token);
        let copy = token.handle().duplicate(zx::Rights::SAME_RIGHTS)?;
        self.list[index].token = Some(token);
        add(startup::DEVICE_TOKEN, copy);
        Ok(handles)
    }

    /// Creates device `index`'s driver in the `drivers` collection and
    /// starts it.
    pub fn bind(&mut self, index: usize) -> Result<(), String> {
        let Some(manifest) = self.list[index].driver.clone() else {
            return Ok(());
        };
        let handles = self.handles(index).map_err(|s| format!("handles: {s}"))?;
        let request = RealmCreateChildWithHandlesRequest {
            parent: String::new(),
            collection: "drivers".into(),
            name: self.list[index].child.clone(),
            manifest,
            handles,
        };
        match self.realm.create_child_with_handles(request) {
            Ok(Ok(_)) => {}
            Ok(Err(code)) => return Err(format!("create: {}", Status(code))),
            Err(error) => return Err(format!("create: {error:?}")),
        }
        self.start(index)
    }

    fn moniker(&self, index: usize) -> String {
        format!("drivers:{}", self.list[index].child)
    }

    /// Starts device `index`'s (stopped) driver.
    pub fn start(&mut self, index: usize) -> Result<(), String> {
        let moniker = self.moniker(index);
        match self.realm.start(RealmStartRequest { moniker }) {
            Ok(Ok(_)) => {
                self.list[index].state = State::Starting;
                Ok(())
            }
            Ok(Err(code)) => Err(format!("start: {}", Status(code))),
            Err(error) => Err(format!("start: {error:?}")),
        }
    }

    /// Whether device `index`'s driver process has ended (as the component
    /// manager sees it).
    pub fn driver_stopped(&self, index: usize) -> bool {
        let moniker = self.moniker(index);
        match self.realm.list() {
            Ok(reply) => reply
                .components
                .iter()
                .find(|c| c.moniker.ends_with(&moniker))
                .is_none_or(|c| c.state == ComponentState::Stopped),
            Err(_) => true,
        }
    }

    /// A driver publishes the device of `token`: returns its index.
    pub fn publish(
        &mut self,
        token: &Handle,
        class: DeviceClass,
        connector: Channel,
    ) -> Result<(usize, Rc<Channel>), Status> {
        let token = koid(token);
        let index = self
            .list
            .iter()
            .position(|d| d.token_koid != 0 && d.token_koid == token)
            .ok_or(Status::NOT_FOUND)?;
        if matches!(self.list[index].state, State::Running(_)) {
            return Err(Status::ALREADY_EXISTS);
        }
        let slot = match self.list[index].class {
            Some((_, slot)) => slot,
            None => self
                .list
                .iter()
                .filter(|d| d.class.is_some_and(|(c, _)| c == class))
                .count(),
        };
        let connector = Rc::new(connector);
        self.list[index].class = Some((class, slot));
        self.list[index].state = State::Running(Rc::clone(&connector));
        Ok((index, connector))
    }

    /// Connects `channel` to `/dev/<class>/<slot>`; closes it if there is
    /// no such running device.
    pub fn connect(&self, class: DeviceClass, slot: usize, channel: Channel) {
        let found = self
            .list
            .iter()
            .find_map(|device| match (&device.state, device.class) {
                (State::Running(connector), Some((c, s))) if c == class && s == slot => {
                    Some(connector)
                }
                _ => None,
            });
        if let Some(connector) = found {
            let _ = zx_component::open(connector.raw_handle(), class_protocol(class), channel);
        }
    }

    /// The published devices of `class`, by slot.
    pub fn slots(&self, class: DeviceClass) -> Vec<usize> {
        let mut slots: Vec<usize> = self
            .list
            .iter()
            .filter_map(|d| match (&d.state, d.class) {
                (State::Running(_), Some((c, s))) if c == class => Some(s),
                _ => None,
            })
            .collect();
        slots.sort();
        slots
    }

    /// The device tree as text: `/dev/devices` (the console's `lsdev`).
    pub fn describe(&self) -> String {
        let mut text = String::new();
        for device in &self.list {
            let f = &device.function;
            let _ = write!(
                text,
                "{} {:04x}:{:04x} class {:02x}.{:02x}",
                f.address, f.vendor, f.device, f.class, f.subclass
            );
            if let Some(gsi) = f.gsi {
                let _ = write!(text, " gsi {gsi}");
            }
            if let Some(msi) = device.msi {
                let _ = write!(text, " msi {msi}");
            }
            match &device.driver {
                Some(driver) => {
                    let _ = write!(text, " driver {} {}", driver, device.state.name());
                }
                None => text.push_str(" no driver"),
            }
            if let Some((class, slot)) = device.class {
                let _ = write!(text, " /dev/{}/{}", class_dir(class), slot);
            }
            if device.restarts > 0 {
                let _ = write!(text, " restarts {}", device.restarts);
            }
            if let State::Failed(why) = &device.state {
                let _ = write!(text, " ({why})");
            }
            text.push('\n');
        }
        text
    }
}
