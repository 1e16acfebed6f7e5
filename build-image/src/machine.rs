//! The devices of a product's machine and their host ends: virtio-blk
//! disks backed by image files, a virtio-net card on QEMU's user-mode
//! network (with host port forwards), and the host bridge, a virtio-console
//! port on a Unix socket.
//!
//! Products declare them in `[machine]` (see `docs/drivers.md`); each run
//! keeps its host ends in one directory (`target/machines/<product>/` for
//! `build-image run`, a fresh one per boot for the system tests), where
//! missing disk images are created, zero-filled (sparse).
//!
//! PCI placement: the devices sit on bus 0 from slot 4 on, one slot each,
//! in the order disks, network, bridge. On q35 the INTA# of slot `s` is
//! wired to GSI `20 + s % 4` (the `_PRT` of QEMU's DSDT), so four devices
//! get four lines of their own.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A virtio-blk disk.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// Its name: the image file is `<name>.img`, the guest sees it as the
    /// disk's serial number.
    pub name: String,
    /// Its size, in QEMU's syntax (`64M`, `1G`, bytes without a suffix).
    pub size: String,
    /// What a new image of it holds.
    #[serde(default)]
    pub contents: DiskContents,
}

/// What a disk image holds when it is created.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum DiskContents {
    /// Zeros.
    #[default]
    Blank,
    /// The system disk: a GPT with a blobfs partition holding the
    /// product's blobs and a data partition (`crate::disk`), written by
    /// `build` and copied when the machine's image is created.
    System,
}

/// The network card's back end.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Net {
    /// QEMU's user-mode network (slirp): the guest is 10.0.2.15, the
    /// gateway 10.0.2.2; host ports reach the guest through `forwards`.
    User,
}

/// First PCI slot the product's devices take.
pub const FIRST_SLOT: u32 = 4;

/// Where a run's host ends are.
#[derive(Debug, Clone, Default)]
pub struct HostEnds {
    /// Disk name and image file.
    pub disks: Vec<(String, PathBuf)>,
    /// The bridge socket (the guest's virtio-console), if any.
    pub bridge: Option<PathBuf>,
    /// Whether the machine has a network card (user-mode network).
    pub net: bool,
    /// Host port forwards (`tcp:HOSTPORT-:GUESTPORT`).
    pub forwards: Vec<String>,
}

impl HostEnds {
    /// Lines for humans saying where each end is.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (name, path) in &self.disks {
            lines.push(format!("disk {name}: {}", path.display()));
        }
        if self.net {
            lines.push("network: QEMU user-mode (guest 10.0.2.15, gateway 10.0.2.2)".into());
        }
        for forward in &self.forwards {
            lines.push(format!("network: host forward {forward}"));
        }
        if let Some(path) = &self.bridge {
            lines.push(format!("bridge (virtio-console): {}", path.display()));
        }
        lines
    }
}

/// Bytes of a size in QEMU's syntax.
pub fn parse_size(size: &str) -> Result<u64> {
    let size = size.trim();
    let (digits, unit) = match size.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => size.split_at(at),
        None => (size, ""),
    };
    let value: u64 = digits
        .parse()
        .with_context(|| format!("bad size {size:?}"))?;
    let scale: u64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KIB" => 1 << 10,
        "M" | "MIB" => 1 << 20,
        "G" | "GIB" => 1 << 30,
        _ => bail!("bad size {size:?}: use a number with K, M or G"),
    };
    value
        .checked_mul(scale)
        .with_context(|| format!("size {size:?} is too large"))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Checks the device settings (names, sizes).
pub fn check(disks: &[Disk]) -> Result<()> {
    for (index, disk) in disks.iter().enumerate() {
        if !valid_name(&disk.name) {
            bail!(
                "disk name {:?}: use lowercase letters, digits, '-' and '_'",
                disk.name
            );
        }
        if disks[..index].iter().any(|d| d.name == disk.name) {
            bail!("two disks are called {:?}", disk.name);
        }
        let bytes = parse_size(&disk.size)?;
        if bytes == 0 || bytes % 512 != 0 {
            bail!(
                "disk {:?}: the size must be a non-zero multiple of 512 bytes",
                disk.name
            );
        }
    }
    Ok(())
}

/// The QEMU arguments for the devices, with the host ends in `dir`
/// (created, with missing disk images).
pub fn qemu_args(
    disks: &[Disk],
    net: Option<Net>,
    forwards: &[String],
    bridge: bool,
    dir: &Path,
) -> Result<(Vec<String>, HostEnds)> {
    check(disks)?;
    let mut args = Vec::new();
    let mut ends = HostEnds::default();
    if disks.is_empty() && net.is_none() && !bridge {
        args.extend(["-nic".into(), "none".into()]);
        return Ok((args, ends));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut slot = FIRST_SLOT;
    for disk in disks {
        let path = dir.join(format!("{}.img", disk.name));
        if !path.exists() {
            let file = std::fs::File::create(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            file.set_len(parse_size(&disk.size)?)?;
        }
        args.push("-drive".into());
        args.push(format!(
            "file={},if=none,id=disk-{},format=raw",
            path.display(),
            disk.name
        ));
        args.push("-device".into());
        args.push(format!(
            "virtio-blk-pci,drive=disk-{},addr={slot:#x},serial={},disable-legacy=on",
            disk.name, disk.name
        ));
        ends.disks.push((disk.name.clone(), path));
        slot += 1;
    }
    match net {
        Some(Net::User) => {
            let mut netdev = "user,id=net0".to_string();
            for forward in forwards {
                netdev.push_str(&format!(",hostfwd={forward}"));
            }
            args.extend(["-netdev".into(), netdev, "-device".into()]);
            args.push(format!(
                "virtio-net-pci,netdev=net0,addr={slot:#x},disable-legacy=on"
            ));
            ends.net = true;
            ends.forwards = forwards.to_vec();
            slot += 1;
        }
        None => args.extend(["-nic".into(), "none".into()]),
    }
    if bridge {
        let path = dir.join("bridge.sock");
        let _ = std::fs::remove_file(&path);
        args.push("-chardev".into());
        args.push(format!(
            "socket,id=bridge,path={},server=on,wait=off",
            path.display()
        ));
        args.push("-device".into());
        args.push(format!(
            "virtio-serial-pci,id=serial0,addr={slot:#x},disable-legacy=on"
        ));
        args.extend(["-device".into(), "virtconsole,chardev=bridge".into()]);
        ends.bridge = Some(path);
    }
    Ok((args, ends))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("12X").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn devices_get_slots_in_order_and_disks_are_created() {
        let dir = std::env::temp_dir().join(format!("machine-test-{}", std::process::id()));
        let disks = [Disk {
            contents: DiskContents::Blank,
            name: "data".into(),
            size: "1M".into(),
        }];
        let (args, ends) = qemu_args(&disks, Some(Net::User), &[], true, &dir).unwrap();
        let line = args.join(" ");
        assert!(line.contains("virtio-blk-pci,drive=disk-data,addr=0x4"));
        assert!(line.contains("virtio-net-pci,netdev=net0,addr=0x5"));
        assert!(line.contains("virtio-serial-pci,id=serial0,addr=0x6"));
        assert_eq!(std::fs::metadata(&ends.disks[0].1).unwrap().len(), 1 << 20);
        assert!(ends.bridge.is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_disks_are_refused() {
        let bad = |name: &str, size: &str| {
            check(&[Disk {
                contents: DiskContents::Blank,
                name: name.into(),
                size: size.into(),
            }])
            .is_err()
        };
        assert!(bad("Data", "1M"));
        assert!(bad("data", "100"));
        assert!(bad("data", "0"));
        assert!(!bad("data", "1M"));
    }

    #[test]
    fn no_devices_means_no_network_card() {
        let (args, ends) = qemu_args(&[], None, &[], false, Path::new("/nonexistent")).unwrap();
        assert_eq!(args, ["-nic", "none"]);
        assert!(ends.describe().is_empty());
    }
}
