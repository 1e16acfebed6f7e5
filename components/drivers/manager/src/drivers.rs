//! Which driver binds to which device: each driver's manifest declares the
//! devices it serves (`driver.bind`, compiled into `meta/<name>.cm`), and
//! the manager reads every compiled manifest of the bootfs. A driver
//! whose manifest comes with its package (`docs/packages.md`) has
//! `meta/<name>.bind` there instead: a declaration holding only those
//! matches.

use crate::bindings::zx_component_decl::{ComponentDecl, DeviceMatch, ANY};
use crate::pci::Function;
use alloc::string::String;
use alloc::vec::Vec;
use zx_component::fs;

/// A driver: its manifest and the devices it binds to.
pub struct Driver {
    pub manifest: String,
    pub matches: Vec<DeviceMatch>,
}

/// Largest compiled manifest read.
const MANIFEST_LIMIT: usize = 64 * 1024;

/// Every driver manifest (or bind declaration) in `/boot/meta`.
pub fn load() -> Vec<Driver> {
    let mut drivers = Vec::new();
    let Ok(directory) = zx_component::namespace::open("/boot/meta") else {
        return drivers;
    };
    let Ok(entries) = fs::read_dir(directory) else {
        return drivers;
    };
    for entry in entries {
        let Some(name) = entry
            .name
            .strip_suffix(".cm")
            .or_else(|| entry.name.strip_suffix(".bind"))
        else {
            continue;
        };
        let path = alloc::format!("/boot/meta/{}", entry.name);
        let Ok(file) = zx_component::namespace::open(&path) else {
            continue;
        };
        let Ok(bytes) = fs::read_file(file, MANIFEST_LIMIT) else {
            continue;
        };
        let Ok(decl) = idlc_runtime::decode::<ComponentDecl>(&bytes, &mut []) else {
            continue;
        };
        if let Some(matches) = decl.driver.filter(|m| !m.is_empty()) {
            drivers.push(Driver {
                manifest: name.into(),
                matches,
            });
        }
    }
    drivers.sort_by(|a, b| a.manifest.cmp(&b.manifest));
    drivers
}

fn fits(wanted: u32, actual: u32) -> bool {
    wanted == ANY || wanted == actual
}

/// Whether `function` is what `m` describes.
pub fn matches(m: &DeviceMatch, function: &Function) -> bool {
    fits(m.vendor, function.vendor as u32)
        && fits(m.device, function.device as u32)
        && fits(m.class, function.class as u32)
        && fits(m.subclass, function.subclass as u32)
}

/// The first driver (by manifest name) that binds to `function`.
pub fn find<'a>(drivers: &'a [Driver], function: &Function) -> Option<&'a Driver> {
    drivers
        .iter()
        .find(|driver| driver.matches.iter().any(|m| matches(m, function)))
}
