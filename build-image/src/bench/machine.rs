//! The virtual machine both benchmark guests run on. One function builds
//! the QEMU arguments for both sides, so their settings cannot drift apart.
//!
//! Why each setting (DESIGN §8):
//! - `-accel tcg -icount shift=0,sleep=off`: one guest instruction is one
//!   nanosecond of virtual time and one TSC tick, so `lfence; rdtsc` pairs
//!   count instructions, independent of the host's load. `sleep=off` jumps
//!   the virtual clock to the next timer when the guest idles instead of
//!   waiting, so idle periods cost no wall time (they still advance the
//!   TSC: boot figures include them).
//! - `-rtc base=...,clock=vm`: a fixed wall-clock date; otherwise Linux
//!   seeds its randomisation from the RTC and exec-heavy cases move by
//!   1–2 % between runs.
//! - `-cpu qemu64`, pinned: instruction counts differ between CPU models
//!   (features change which code paths the kernels and libc take).
//! - the benchmark disk: one image file, read-only (both guests run at
//!   once and share it), as a modern virtio-blk device in PCI slot 4.

use std::ffi::OsString;
use std::path::Path;

/// The CPU model both guests run on.
pub const CPU: &str = "qemu64";

/// The instruction-counting settings.
pub const ICOUNT: &str = "shift=0,sleep=off";

/// The pinned real-time clock.
pub const RTC: &str = "base=2024-01-01T00:00:00,clock=vm";

/// The machine: memory and CPUs (from the `bench` product, for both sides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// Guest memory, QEMU syntax.
    pub memory: String,
    /// Number of CPUs.
    pub cpus: u32,
    /// The benchmark disk's image, if the machine has one.
    pub disk: Option<std::path::PathBuf>,
    /// A virtio-net card on QEMU's user network with host forwards to the
    /// guest's benchmark ports, if the machine has one.
    pub net: Option<NetPorts>,
}

/// The host ports QEMU forwards to the guest's benchmark servers
/// (`127.0.0.1:<host>` to the guest's 10.0.2.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetPorts {
    /// Forwarded to [`RX_PORT`], the TCP sink.
    pub rx: u16,
    /// Forwarded to [`RR_PORT`], the request + reply server.
    pub rr: u16,
}

/// The guest's TCP sink port (both guests).
pub const RX_PORT: u16 = 5001;
/// The guest's request + reply port (both guests).
pub const RR_PORT: u16 = 5002;

/// What to boot on the machine.
#[derive(Debug, Clone)]
pub struct Boot<'a> {
    /// `-kernel`.
    pub kernel: &'a Path,
    /// `-initrd`.
    pub initrd: &'a Path,
    /// `-append` (omitted when empty).
    pub append: &'a str,
}

impl Machine {
    /// The settings shared by both guests, without what is booted: what
    /// `results.json` and the docs show.
    pub fn common_args(&self) -> Vec<String> {
        [
            "-machine",
            "q35",
            "-cpu",
            CPU,
            "-accel",
            "tcg",
            "-icount",
            ICOUNT,
            "-rtc",
            RTC,
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([
            "-m".into(),
            self.memory.clone(),
            "-smp".into(),
            self.cpus.to_string(),
        ])
        .chain(self.disk.iter().flat_map(|disk| {
            [
                "-drive".into(),
                format!(
                    "file={},if=none,id=benchdisk,format=raw,readonly=on",
                    disk.display()
                ),
                "-device".into(),
                "virtio-blk-pci,drive=benchdisk,addr=0x4,disable-legacy=on".into(),
            ]
        }))
        .chain(self.net.iter().flat_map(|ports| {
            [
                "-netdev".into(),
                format!(
                    "user,id=net0,hostfwd=tcp:127.0.0.1:{}-:{RX_PORT},hostfwd=tcp:127.0.0.1:{}-:{RR_PORT}",
                    ports.rx, ports.rr
                ),
                "-device".into(),
                "virtio-net-pci,netdev=net0,addr=0x5,disable-legacy=on".into(),
            ]
        }))
        .collect()
    }

    /// The full QEMU command line (without the binary) for `boot`.
    pub fn args(&self, boot: &Boot<'_>) -> Vec<OsString> {
        let mut args: Vec<OsString> = self.common_args().into_iter().map(Into::into).collect();
        args.push("-kernel".into());
        args.push(boot.kernel.into());
        args.push("-initrd".into());
        args.push(boot.initrd.into());
        if !boot.append.is_empty() {
            args.push("-append".into());
            args.push(boot.append.into());
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_share_the_counting_settings() {
        let machine = Machine {
            memory: "512M".into(),
            cpus: 1,
            disk: Some("disk.img".into()),
            net: Some(NetPorts { rx: 4001, rr: 4002 }),
        };
        let args: Vec<String> = machine
            .args(&Boot {
                kernel: Path::new("k"),
                initrd: Path::new("i"),
                append: "console=ttyS0",
            })
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        let text = args.join(" ");
        for needle in [
            "-cpu qemu64",
            "-icount shift=0,sleep=off",
            "-rtc base=2024-01-01T00:00:00,clock=vm",
            "-accel tcg",
            "-m 512M",
            "-kernel k -initrd i -append console=ttyS0",
            "file=disk.img,if=none,id=benchdisk,format=raw,readonly=on",
            "hostfwd=tcp:127.0.0.1:4001-:5001,hostfwd=tcp:127.0.0.1:4002-:5002",
            "virtio-net-pci,netdev=net0,addr=0x5,disable-legacy=on",
        ] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
    }
}
