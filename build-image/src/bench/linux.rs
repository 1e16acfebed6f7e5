//! The Linux peer: Debian's kernel booted with an initramfs whose static
//! `/init` (`build-image/bench/linux-peer/peer.c`) runs the peer cases.
//!
//! The set-up is the benchmark's own, so a clean machine needs nothing but
//! apt: it downloads Debian's `linux-image-amd64` meta-package, follows it
//! to the versioned `linux-image-6.1.0-*-amd64` package, unpacks that with
//! `dpkg -x` into `target/bench/linux/` (no install: nothing on the host
//! changes), builds the peer with `gcc -static` (installing `libc6-dev` if
//! its static libraries are missing), and packs it as `/init` in a gzip'd
//! newc cpio written by [`super::cpio`], with the virtio block modules of
//! the same package (Debian builds virtio as modules), which the peer
//! loads for the block-device cases. The downloaded kernel is kept
//! and reused by later runs.
//!
//! The init powers the machine off through `ioperm` + `outb` to QEMU's
//! isa-debug-exit port, so a finished run ends with guest status 0 like
//! ours.

use super::cpio::{self, Archive};
use super::machine::{Boot, Machine};
use super::measurement::GuestReport;
use super::net::Wall;
use crate::qemu::Captured;
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's meta-package that names the current kernel package.
const META_PACKAGE: &str = "linux-image-amd64";
/// The peer's source, relative to the workspace root.
pub const PEER_SOURCE: &str = "build-image/bench/linux-peer/peer.c";
/// The kernel command line. `panic=-1` turns a failed init into an
/// immediate reboot, which `-no-reboot` makes a QEMU exit, instead of a
/// hang until the timeout.
pub const APPEND: &str = "console=ttyS0 quiet panic=-1";
/// Time allowed for one apt or compiler step.
const TOOL_TIMEOUT: Duration = Duration::from_secs(600);

/// A ready Linux guest.
#[derive(Debug, Clone)]
pub struct LinuxGuest {
    /// The kernel (`boot/vmlinuz-*` of the unpacked package).
    pub vmlinuz: PathBuf,
    /// The initramfs with the peer as `/init`.
    pub initramfs: PathBuf,
    /// The Debian package the kernel came from (`name_version_arch.deb`).
    pub package: String,
}

/// Where the benchmark keeps its files.
pub fn bench_dir(root: &Path) -> PathBuf {
    root.join("target/bench")
}

/// Prepares the kernel and the initramfs. `log` receives progress lines;
/// the tools' own output goes to `target/bench/setup.log`.
pub fn setup(root: &Path, log: &mut dyn FnMut(String)) -> Result<LinuxGuest> {
    let dir = bench_dir(root);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tools = Tools {
        log: dir.join("setup.log"),
    };
    fs::write(&tools.log, "").with_context(|| format!("cannot write {}", tools.log.display()))?;
    let (vmlinuz, package) = kernel(&dir, &tools, log)?;
    let peer = build_peer(root, &dir, &tools, log)?;
    let initramfs = dir.join("initramfs.cpio.gz");
    write_initramfs(&peer, &dir.join("linux/lib/modules"), &initramfs)?;
    log(format!(
        "wrote {} (/init = {})",
        initramfs.display(),
        peer.display()
    ));
    Ok(LinuxGuest {
        vmlinuz,
        initramfs,
        package,
    })
}

/// Boots the guest and collects what the peer reported.
pub fn run(
    guest: &LinuxGuest,
    machine: &Machine,
    timeout: Duration,
) -> Result<(Captured, GuestReport, Option<Result<Wall>>)> {
    let args = machine.args(&Boot {
        kernel: &guest.vmlinuz,
        initrd: &guest.initramfs,
        append: APPEND,
    });
    let (captured, wall) = super::net::boot(&args, timeout, machine.net)?;
    let report = GuestReport::parse(captured.lines.iter().map(|(_, line)| line.as_str()));
    Ok((captured, report, wall))
}

/// The initramfs: `/init`, the `/dev/console` node the kernel opens as
/// init's standard streams (without it, init's output goes nowhere), and
/// the virtio block modules in `/lib/modules` (name, contents).
pub fn initramfs_bytes(init: &[u8], modules: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut archive = Archive::new();
    archive.directory("dev", 0o755);
    archive.char_device("dev/console", 0o600, (5, 1));
    archive.directory("proc", 0o755);
    archive.directory("tmp", 0o1777);
    archive.directory("lib", 0o755);
    archive.directory("lib/modules", 0o755);
    for (name, data) in modules {
        archive.file(&format!("lib/modules/{name}"), 0o644, data);
    }
    archive.file("init", 0o755, init);
    cpio::gzip(&archive.finish())
}

/// The modules the peer loads for the block and network cases (Debian
/// builds virtio as modules), in the order it loads them.
pub const BLOCK_MODULES: [&str; 9] = [
    "virtio_ring.ko",
    "virtio.ko",
    "virtio_pci_legacy_dev.ko",
    "virtio_pci_modern_dev.ko",
    "virtio_pci.ko",
    "virtio_blk.ko",
    "failover.ko",
    "net_failover.ko",
    "virtio_net.ko",
];

/// Finds `name` below `dir` (the unpacked package's `lib/modules`).
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

fn write_initramfs(peer: &Path, modules_dir: &Path, out: &Path) -> Result<()> {
    let init = fs::read(peer).with_context(|| format!("cannot read {}", peer.display()))?;
    let mut modules = Vec::new();
    for name in BLOCK_MODULES {
        let path = find_file(modules_dir, name)
            .with_context(|| format!("no {name} in {}", modules_dir.display()))?;
        let data = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        modules.push((name.to_string(), data));
    }
    fs::write(out, initramfs_bytes(&init, &modules))
        .with_context(|| format!("cannot write {}", out.display()))
}

/// Finds or downloads the kernel; returns `vmlinuz` and the package name.
fn kernel(dir: &Path, tools: &Tools, log: &mut dyn FnMut(String)) -> Result<(PathBuf, String)> {
    let unpacked = dir.join("linux");
    let marker = unpacked.join(".package");
    if let (Ok(package), Some(vmlinuz)) = (fs::read_to_string(&marker), find_vmlinuz(&unpacked)) {
        log(format!(
            "using {} (from {}; delete {} to download again)",
            vmlinuz.display(),
            package.trim(),
            unpacked.display()
        ));
        return Ok((vmlinuz, package.trim().to_string()));
    }

    let debs = dir.join("debs");
    fs::create_dir_all(&debs).with_context(|| format!("cannot create {}", debs.display()))?;
    log(format!("downloading {META_PACKAGE} with apt-get"));
    let meta = match download(&debs, META_PACKAGE, tools) {
        Ok(deb) => deb,
        Err(first) => {
            log(format!(
                "apt-get download failed ({first:#}); running apt-get update"
            ));
            tools.run(&mut as_root(&["apt-get", "update"]), "apt-get update")?;
            download(&debs, META_PACKAGE, tools)?
        }
    };
    let depends = tools.output(
        Command::new("dpkg-deb").arg("-f").arg(&meta).arg("Depends"),
        "dpkg-deb -f",
    )?;
    let package = kernel_package(&depends).with_context(|| {
        format!("{META_PACKAGE} depends on {depends:?}: no linux-image-6.1.0-*-amd64 package there")
    })?;
    log(format!("{META_PACKAGE} names {package}; downloading it"));
    let deb = download(&debs, &package, tools)?;
    if unpacked.exists() {
        fs::remove_dir_all(&unpacked)
            .with_context(|| format!("cannot remove {}", unpacked.display()))?;
    }
    log(format!("unpacking {} (dpkg -x)", deb.display()));
    tools.run(
        Command::new("dpkg").arg("-x").arg(&deb).arg(&unpacked),
        "dpkg -x",
    )?;
    let vmlinuz = find_vmlinuz(&unpacked)
        .with_context(|| format!("no boot/vmlinuz-* in {}", deb.display()))?;
    let name = deb
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    fs::write(&marker, &name).with_context(|| format!("cannot write {}", marker.display()))?;
    Ok((vmlinuz, name))
}

/// `apt-get download <package>` into `debs`; returns the `.deb`.
fn download(debs: &Path, package: &str, tools: &Tools) -> Result<PathBuf> {
    tools.run(
        Command::new("apt-get")
            .args(["download", package])
            .current_dir(debs),
        &format!("apt-get download {package}"),
    )?;
    let prefix = format!("{package}_");
    let mut found: Vec<PathBuf> = fs::read_dir(debs)?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
        })
        .collect();
    // Newest last (an older download may still be there).
    found.sort_by_key(|path| fs::metadata(path).and_then(|m| m.modified()).ok());
    found
        .pop()
        .with_context(|| format!("apt-get download {package} left no {prefix}*.deb"))
}

/// The versioned kernel package named in the meta-package's `Depends`
/// (e.g. `linux-image-6.1.0-56-amd64 (= 6.1.192-2)`).
pub fn kernel_package(depends: &str) -> Option<String> {
    depends
        .split([',', '|'])
        .map(|alternative| alternative.split_whitespace().next().unwrap_or(""))
        .find(|name| {
            name.strip_prefix("linux-image-6.1.0-")
                .and_then(|rest| rest.strip_suffix("-amd64"))
                .is_some_and(|abi| !abi.is_empty() && abi.chars().all(|c| c.is_ascii_digit()))
        })
        .map(String::from)
}

fn find_vmlinuz(unpacked: &Path) -> Option<PathBuf> {
    fs::read_dir(unpacked.join("boot"))
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
}

/// Compiles the peer with `gcc -static`, installing what is missing.
fn build_peer(
    root: &Path,
    dir: &Path,
    tools: &Tools,
    log: &mut dyn FnMut(String),
) -> Result<PathBuf> {
    let source = root.join(PEER_SOURCE);
    let out = dir.join("linux-peer");
    fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let binary = out.join("init");
    let mut compile = Command::new("gcc");
    compile
        .args(["-O2", "-static", "-Wall", "-o"])
        .arg(&binary)
        .arg(&source);
    if !static_libc_present() {
        log("static C library missing: installing gcc and libc6-dev with apt-get".into());
        let mut install = as_root(&["apt-get", "install", "-y", "gcc", "libc6-dev"]);
        install.env("DEBIAN_FRONTEND", "noninteractive");
        if tools.run(&mut install, "apt-get install").is_err() {
            tools.run(&mut as_root(&["apt-get", "update"]), "apt-get update")?;
            tools.run(&mut install, "apt-get install")?;
        }
    }
    tools.run(&mut compile, "gcc -static (the Linux peer)")?;
    log(format!("built {} from {PEER_SOURCE}", binary.display()));
    Ok(binary)
}

/// Whether `gcc` exists and finds `libc.a` (it prints a bare `libc.a` when
/// it does not).
fn static_libc_present() -> bool {
    Command::new("gcc")
        .arg("-print-file-name=libc.a")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .is_some_and(|path| Path::new(&path).is_absolute() && Path::new(&path).exists())
}

/// `args` as a command, through `sudo` unless we are root already.
fn as_root(args: &[&str]) -> Command {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    let mut command = if is_root {
        Command::new(args[0])
    } else {
        let mut command = Command::new("sudo");
        command.arg(args[0]);
        command
    };
    command.args(&args[1..]);
    command
}

/// Runs set-up tools with a timeout, their output appended to a log file.
struct Tools {
    log: PathBuf,
}

impl Tools {
    /// Runs `command`; fails with the log's tail if it fails or times out.
    fn run(&self, command: &mut Command, what: &str) -> Result<()> {
        let log = fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot run {what}"))?;
        let deadline = Instant::now() + TOOL_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "{what} timed out after {} s{}",
                    TOOL_TIMEOUT.as_secs(),
                    self.tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if !status.success() {
            bail!("{what} failed ({status}){}", self.tail());
        }
        Ok(())
    }

    /// Runs a quick query and returns its standard output.
    fn output(&self, command: &mut Command, what: &str) -> Result<String> {
        let out = command
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {what}"))?;
        if !out.status.success() {
            bail!(
                "{what} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        format!("; the end of {}:\n{tail}", self.log.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_versioned_kernel_package() {
        assert_eq!(
            kernel_package("linux-image-6.1.0-56-amd64 (= 6.1.192-2)").as_deref(),
            Some("linux-image-6.1.0-56-amd64")
        );
        assert_eq!(
            kernel_package("initramfs-tools | linux-initramfs-tool, linux-image-6.1.0-9-amd64")
                .as_deref(),
            Some("linux-image-6.1.0-9-amd64")
        );
        assert_eq!(kernel_package("linux-image-6.1.0-56-cloud-amd64"), None);
        assert_eq!(kernel_package(""), None);
    }

    #[test]
    fn the_initramfs_has_init_and_a_console() {
        use std::io::Read;
        let mut cpio = Vec::new();
        flate2::read::GzDecoder::new(&initramfs_bytes(b"\x7fELF", &[])[..])
            .read_to_end(&mut cpio)
            .unwrap();
        let text = String::from_utf8_lossy(&cpio);
        for name in ["dev\0", "dev/console\0", "init\0", "TRAILER!!!\0"] {
            assert!(text.contains(name), "{name:?} missing");
        }
    }
}
