//! The `/dev` directory capability:
//!
//! ```text
//! /dev/devices        the device tree as text (the console's `lsdev`)
//! /dev/block/0        zx.device.block/Block of the first disk
//! /dev/net/0          zx.device.network/Network
//! /dev/serial/0       zx.device.serial/Serial (the host bridge)
//! ```
//!
//! Opening a device connects straight to its driver (through the
//! connector the driver published); the manager is not in the data path.

use crate::bindings::zx_driver::DeviceClass;
use crate::devices::{class_dir, Devices};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use zx::Channel;
use zx_component::bindings::zx_io::{DirEntry, EntryKind};
use zx_component::fs::{Node, Tree};

const CLASSES: [DeviceClass; 3] = [
    DeviceClass::Block,
    DeviceClass::Network,
    DeviceClass::Serial,
];
const DEVICES_FILE: &str = "devices";

/// The tree, over the device table.
pub struct DevTree {
    pub devices: Rc<RefCell<Devices>>,
}

fn class_of(name: &str) -> Option<DeviceClass> {
    CLASSES.into_iter().find(|c| class_dir(*c) == name)
}

/// (class, slot) of `path` = `<class>/<slot>`.
fn device_path(path: &str) -> Option<(DeviceClass, usize)> {
    let (class, slot) = path.split_once('/')?;
    Some((class_of(class)?, slot.parse().ok()?))
}

impl Tree for DevTree {
    fn lookup(&self, path: &str) -> Option<Node> {
        if path.is_empty() || class_of(path).is_some() {
            return Some(Node::Directory);
        }
        if path == DEVICES_FILE {
            return Some(Node::File(self.devices.borrow().describe().len() as u64));
        }
        let (class, slot) = device_path(path)?;
        self.devices
            .borrow()
            .slots(class)
            .contains(&slot)
            .then_some(Node::Service)
    }

    fn list(&self, path: &str) -> Vec<DirEntry> {
        if path.is_empty() {
            let mut entries: Vec<DirEntry> = CLASSES
                .iter()
                .map(|c| DirEntry {
                    name: class_dir(*c).into(),
                    kind: EntryKind::Directory,
                    size: 0,
                })
                .collect();
            entries.push(DirEntry {
                name: DEVICES_FILE.into(),
                kind: EntryKind::File,
                size: self.devices.borrow().describe().len() as u64,
            });
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            return entries;
        }
        let Some(class) = class_of(path) else {
            return Vec::new();
        };
        self.devices
            .borrow()
            .slots(class)
            .into_iter()
            .map(|slot| DirEntry {
                name: format!("{slot}"),
                kind: EntryKind::Service,
                size: 0,
            })
            .collect()
    }

    fn read(&self, path: &str, offset: u64, count: usize) -> Option<Vec<u8>> {
        let text = self.snapshot(path)?;
        let start = (offset as usize).min(text.len());
        let end = start.saturating_add(count).min(text.len());
        Some(text[start..end].to_vec())
    }

    fn snapshot(&self, path: &str) -> Option<Vec<u8>> {
        (path == DEVICES_FILE).then(|| String::into_bytes(self.devices.borrow().describe()))
    }

    fn connect(&self, path: &str, channel: Channel) {
        if let Some((class, slot)) = device_path(path) {
            self.devices.borrow().connect(class, slot, channel);
        }
    }
}
