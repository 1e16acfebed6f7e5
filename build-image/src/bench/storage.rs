//! The storage rows of `build-image bench` (issue 12), in the "Storage
//! benchmarks" section of `docs/performance.md`:
//!
//! - blobfs: write and verified read of 1 MiB blobs (`components/bench`'s
//!   `blobbench`, the `bench-blob` product on a blank disk of its own),
//!   in guest instructions per MiB, beside the Merkle root of 1 MiB alone;
//! - boot to the console of the default product with its components
//!   loaded from packages on the system disk, against the same product
//!   with every program and manifest in the bootfs
//!   ([`crate::image::Layout::BootfsOnly`]), the same disk attached.
//!
//! Both run on the benchmark machine ([`super::machine`], `-icount`). These
//! cases wait for the disk, and under `sleep=off` an idle guest's clock
//! jumps to its next timer deadline while the host does the I/O. The blob
//! samples are busy instructions: `blobbench` subtracts the kernel's idle
//! ticks (`info::CPU_STATS`) from each TSC interval, as `netbench` does.
//! The boot figures are busy instructions too: the console's ready line
//! gives its monotonic time since the kernel's entry and the kernel's idle
//! ticks until then, and the row is their difference (the total, idle
//! jumps included, is kept beside it). The disks
//! are fresh copies, writable (blobfs formats the blank one; datafs
//! formats the data partition of the system disk), never the read-only
//! disk the kernel cases share with the Linux peer.

use super::machine::{Boot, Machine};
use super::measurement::GuestReport;
use crate::image::{self, Image, Layout};
use crate::product::Product;
use crate::qemu::{self, Captured};
use anyhow::{anyhow, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The product of the blobfs cases.
pub const BLOB_PRODUCT: &str = "bench-blob";
/// The product whose boot is measured.
pub const BOOT_PRODUCT: &str = "default";
/// The heading of the section in `docs/performance.md`.
pub const SECTION_HEADING: &str = "## Storage benchmarks";
/// What the console prints once it reads commands, with the monotonic
/// time since the kernel's entry and the kernel's idle ticks until then
/// (`components/console`): `... (up <ns> ns, idle <ticks> ticks)`.
const READY: &str = "console: type help for the commands (up ";
/// Size of the blank blobfs disk.
const BLOB_DISK_BYTES: u64 = 64 << 20;
/// Bytes per blob sample (`blobbench`).
const BLOB_BYTES: u64 = 1 << 20;

/// What the storage cases measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Figures {
    /// `blobbench`'s report (`blob_write_1m`, `blob_read_1m`).
    pub blob: GuestReport,
    /// The boot from the kernel's entry to the console, with the
    /// components loaded from packages on disk.
    pub boot_packages: BootFigure,
    /// The same, every component in the bootfs.
    pub boot_bootfs: BootFigure,
}

/// A boot to the console, from its ready line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BootFigure {
    /// Monotonic nanoseconds since the kernel's entry: guest instructions
    /// under `-icount shift=0`, plus the virtual time skipped while idle.
    pub total: u64,
    /// TSC ticks the CPU spent halted until then (`info::CPU_STATS`).
    pub idle: u64,
}

impl BootFigure {
    /// The instructions the system ran: the total less the idle ticks
    /// (one tick per instruction and per nanosecond under `-icount
    /// shift=0`).
    pub fn busy(&self) -> u64 {
        self.total.saturating_sub(self.idle)
    }
}

/// The virtio-blk device for a writable disk image, in the slot the
/// products' disks take. `cache=unsafe` (the image is a throwaway copy):
/// under `sleep=off` an idle guest's clock jumps from timer to timer, so a
/// flush that takes the host milliseconds would let the driver's 10 s
/// request deadline pass; with the host's page cache a request completes
/// before that.
fn disk_args(path: &Path) -> Vec<std::ffi::OsString> {
    vec![
        "-drive".into(),
        format!(
            "file={},if=none,id=disk-data,format=raw,cache=unsafe",
            path.display()
        )
        .into(),
        "-device".into(),
        "virtio-blk-pci,drive=disk-data,addr=0x4,serial=data,disable-legacy=on".into(),
    ]
}

fn boot_args(machine: &Machine, image: &Image, disk: &Path) -> Vec<std::ffi::OsString> {
    let bare = Machine {
        disk: None,
        ..machine.clone()
    };
    let mut args = bare.args(&Boot {
        kernel: &image.kernel,
        initrd: &image.bootfs,
        append: &image.product.cmdline,
    });
    args.extend(disk_args(disk));
    args
}

/// Runs the storage cases on `machine` (the benchmark machine, without
/// its disk). `dir` holds the disks' copies and the consoles.
pub fn run(
    root: &Path,
    machine: &Machine,
    dir: &Path,
    timeout: Duration,
    say: &mut dyn FnMut(String),
) -> Result<Figures> {
    let dir = dir.join("storage");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    // blobfs: a blank disk, written anew each run.
    let product = Product::load(root, BLOB_PRODUCT)?;
    let image = image::build(root, &product, say)?;
    let disk = dir.join("blob.img");
    let file = std::fs::File::create(&disk)
        .with_context(|| format!("cannot create {}", disk.display()))?;
    file.set_len(BLOB_DISK_BYTES)?;
    drop(file);
    say("booting bench-blob (blobfs write and read)".into());
    let captured = qemu::run_args_captured(&boot_args(machine, &image, &disk), timeout)?;
    save(&dir.join("blob.log"), &captured)?;
    let blob = GuestReport::parse(captured.lines.iter().map(|(_, line)| line.as_str()));

    // Boot to the console, packages on disk and bootfs only.
    let product = Product::load(root, BOOT_PRODUCT)?;
    let mut figures = Vec::new();
    for (layout, name) in [
        (Layout::Packages, "default"),
        (Layout::BootfsOnly, "default-bootfs-only"),
    ] {
        let variant = Product {
            name: format!("bench-{name}"),
            ..product.clone()
        };
        let image = image::build_with(root, &variant, layout, say)?;
        let disk = dir.join(format!("{name}.img"));
        crate::disk::copy_sparse(&crate::disk::template(&image, "data"), &disk)?;
        say(format!("booting {name} to its console"));
        let (lines, up) = boot_to_console(&boot_args(machine, &image, &disk), timeout)?;
        std::fs::write(dir.join(format!("{name}.log")), lines.join("\n") + "\n")?;
        figures.push(up.ok_or_else(|| {
            anyhow!(
                "{name}: the console never printed its ready line with its idle ticks (see {})",
                dir.join(format!("{name}.log")).display()
            )
        })?);
    }
    Ok(Figures {
        blob,
        boot_packages: figures[0],
        boot_bootfs: figures[1],
    })
}

/// Boots until the console says it is ready; its figures then, and the
/// console lines. QEMU is killed at that point or at `timeout`.
fn boot_to_console(
    args: &[std::ffi::OsString],
    timeout: Duration,
) -> Result<(Vec<String>, Option<BootFigure>)> {
    let mut child = Command::new(qemu::qemu_binary()?)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start QEMU")?;
    let stdout = child.stdout.take().context("QEMU's stdout")?;
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + timeout;
    let mut lines = Vec::new();
    let mut up = None;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(line) = receive.recv_timeout(left) else {
            break;
        };
        let line = line.replace('\r', "");
        up = ready_time(&line);
        lines.push(line);
        if up.is_some() {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok((lines, up))
}

/// The figures in the console's ready line (`(up <ns> ns, idle <ticks>
/// ticks)`); `None` for any other line, or one without the idle ticks.
fn ready_time(line: &str) -> Option<BootFigure> {
    let at = line.find(READY)?;
    let words: Vec<&str> = line[at + READY.len()..].split_whitespace().collect();
    match words[..] {
        [total, "ns,", "idle", idle, "ticks)", ..] => Some(BootFigure {
            total: total.parse().ok()?,
            idle: idle.parse().ok()?,
        }),
        _ => None,
    }
}

fn save(path: &Path, captured: &Captured) -> Result<()> {
    std::fs::write(path, captured.text())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// What is wrong with the figures, if anything.
pub fn problems(figures: &Figures) -> Vec<String> {
    let mut problems: Vec<String> = figures
        .blob
        .errors
        .iter()
        .map(|e| format!("bench-blob: {e}"))
        .collect();
    if !figures.blob.finished {
        problems.push("bench-blob did not finish (BENCH-END missing)".into());
    }
    for case in ["blob_write_1m", "blob_read_1m", "merkle_root_1m"] {
        if !figures.blob.measurements.iter().any(|m| m.name == case) {
            problems.push(format!("bench-blob reported no {case}"));
        }
    }
    problems
}

/// The section of `docs/performance.md`.
pub fn markdown(figures: &Figures, command: &str) -> Result<String> {
    use super::report::group_digits;
    let median = |case: &str| {
        figures
            .blob
            .measurements
            .iter()
            .find(|m| m.name == case)
            .map(|m| m.median)
            .ok_or_else(|| anyhow!("no {case}"))
    };
    let hashing = median("merkle_root_1m")? as f64;
    let write_share = 100.0 * hashing / median("blob_write_1m")?.max(1) as f64;
    let read_share = 100.0 * hashing / median("blob_read_1m")?.max(1) as f64;
    let mut out = format!(
        "{SECTION_HEADING}\n\nWritten by `{command}` (`build-image/src/bench/storage.rs`, issue 12): \
         guest instructions under `-icount shift=0,sleep=off` on the benchmark machine. \
         These cases wait for the disk, and while the guest halts its clock jumps to the next \
         timer deadline; the blob rows count only the instructions executed (busy = TSC \
         interval less the ticks the kernel spent halted meanwhile, `info::CPU_STATS`, read by \
         `blobbench` before and after each sample). The last row is the hashing alone: the \
         Merkle root of 1 MiB (SHA-256 of every 8 KiB block and of the tree above them, \
         software SHA-256 on the `qemu64` CPU) computed in `blobbench` itself; blobfs does it \
         once per write (the blob is verified against its root before commit) and about once per \
         read (every block checked against the tree), so it is {write_share:.0} % of a write \
         and {read_share:.0} % of a read. The rest is the bytes' copies through the channels \
         and the VMOs, the virtio-blk requests, and the calls themselves.\n\n"
    );
    out.push_str("| case | median | min | per MiB (median) |\n|---|---:|---:|---:|\n");
    for (case, what) in [
        (
            "blob_write_1m",
            "blob write, 1 MiB: `Blobfs.Create` with root and size, 16 writes of 64 KiB, commit (verified against the root, data and Merkle tree written)",
        ),
        (
            "blob_read_1m",
            "blob read, 1 MiB: open `/blob/<root>`, read it whole, every block checked against the Merkle tree",
        ),
        (
            "merkle_root_1m",
            "the hashing alone: the Merkle root of 1 MiB, in `blobbench`",
        ),
    ] {
        let m = figures
            .blob
            .measurements
            .iter()
            .find(|m| m.name == case)
            .ok_or_else(|| anyhow!("no {case}"))?;
        out.push_str(&format!(
            "| {what} | {} | {} | {} |\n",
            group_digits(m.median),
            group_digits(m.min),
            group_digits(m.median * (1 << 20) / BLOB_BYTES),
        ));
    }
    let (packages, bootfs) = (figures.boot_packages, figures.boot_bootfs);
    let ratio = packages.busy() as f64 / bootfs.busy().max(1) as f64;
    out.push_str(&format!(
        "\nBoot of the default product to its console (kernel entry to the console's \
         ready line), the same system disk attached to both. Like the blob rows, busy \
         instructions: the console's ready line gives its monotonic time (one nanosecond per \
         guest instruction under `-icount`) and the kernel's idle ticks until then \
         (`info::CPU_STATS`), and the row is the difference. The total, which includes the \
         idle jumps while the guest waits for the disk and moves between runs, is beside it:\n\n\
         | boot | busy instructions | ratio | total, idle included |\n|---|---:|---:|---:|\n\
         | components outside the bootstrap set from their packages in blobfs (what the product does) | {} | {ratio:.2} | {} |\n\
         | every program and manifest in the bootfs | {} | 1.00 | {} |\n",
        group_digits(packages.busy()),
        group_digits(packages.total),
        group_digits(bootfs.busy()),
        group_digits(bootfs.total),
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_ready_line() {
        let figure =
            ready_time("console: type help for the commands (up 612345 ns, idle 12 ticks)");
        assert_eq!(
            figure,
            Some(BootFigure {
                total: 612345,
                idle: 12
            })
        );
        assert_eq!(figure.map(|f| f.busy()), Some(612333));
        assert_eq!(ready_time("console: type help for the commands"), None);
        // Without the idle ticks (a console that cannot read them) the
        // line gives no figure: the bench says the console never was ready.
        assert_eq!(
            ready_time("console: type help for the commands (up 7 ns)"),
            None
        );
        assert_eq!(
            ready_time("x console: type help for the commands (up 7 ns, idle 9 ticks)"),
            Some(BootFigure { total: 7, idle: 9 })
        );
    }
}
