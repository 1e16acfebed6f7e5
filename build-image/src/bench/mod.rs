//! `build-image bench`: deterministic in-guest benchmarks of our kernel
//! beside a Linux guest, in one run (issue 6, DESIGN §8).
//!
//! Absolute times mean nothing under TCG on shared machines, so the guests
//! count instructions: on the [`machine`] both sides share, with QEMU
//! `-icount shift=0,sleep=off`, one TSC tick is one guest instruction and
//! the counts are the same on every run and every host. Each guest runs its
//! cases many times and prints the median and minimum per case
//! ([`measurement`]); the [`report`] pairs them row by row ([`cases`]) into
//! a table — printed, and written to `target/bench/results.json` and the
//! "Kernel benchmarks" section of `docs/performance.md`.
//!
//! - [`ours`]: the `bench` product (`components/bench`);
//! - [`linux`]: Debian's kernel with an initramfs ([`cpio`]) whose `/init`
//!   is our C peer (`build-image/bench/linux-peer/peer.c`).
//!
//! Benchmarks are a command, never a test: `cargo test` only runs the unit
//! tests of this module.

pub mod cases;
pub mod cpio;
pub mod linux;
pub mod machine;
pub mod measurement;
pub mod net;
pub mod ours;
pub mod profile;
pub mod report;
pub mod storage;
pub mod swap;

use crate::qemu::{Captured, Ending};
use anyhow::{Context, Result};
use machine::Machine;
use measurement::GuestReport;
use report::Table;
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// The command that reproduces the results (shown in the docs).
pub const COMMAND: &str = "cargo run -p build-image -- bench";

/// Settings of one `build-image bench` run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Time allowed for each guest's boot.
    pub timeout: Duration,
    /// Whether to rewrite the section of `docs/performance.md`.
    pub write_docs: bool,
    /// Run only the hot-swap rows (`build-image bench --only swap`).
    pub swap_only: bool,
}

/// What `results.json` holds.
#[derive(Debug, Serialize)]
struct Results<'a> {
    command: &'static str,
    unit: &'static str,
    qemu: String,
    machine: Vec<String>,
    ours_cmdline: &'a str,
    linux_package: &'a str,
    linux_append: &'static str,
    table: &'a Table,
    ours: &'a GuestReport,
    linux: &'a GuestReport,
    net_wall: &'a NetWall,
    problems: &'a [String],
}

/// The host's wall-clock figures of the network cases, for information.
#[derive(Debug, Default, Serialize)]
struct NetWall {
    ours: Option<net::Wall>,
    linux: Option<net::Wall>,
}

/// Runs the benchmarks. Returns whether everything ran (both guests
/// finished and every row that should have numbers has them).
pub fn run(root: &Path, options: &Options) -> Result<bool> {
    let started = Instant::now();
    let mut say = |line: String| eprintln!("build-image bench: {line}");
    let dir = linux::bench_dir(root);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if options.swap_only {
        return swap::run_alone(root, &dir, options.timeout, options.write_docs, &mut say);
    }

    let product = ours::product(root)?;
    let disk = dir.join("disk.img");
    write_disk(&disk)?;
    // Every boot has the network card (the Linux guest runs every case in
    // one boot), each with host ports of its own (ours and Linux boot at
    // the same time); only the network boots get the host's client.
    let machine = Machine {
        memory: product.qemu.memory.clone(),
        cpus: product.qemu.cpus,
        disk: Some(disk),
        net: Some(net::free_ports()?),
    };
    let linux_machine = Machine {
        net: Some(net::free_ports()?),
        ..machine.clone()
    };
    let net_machine = machine.clone();
    let image = ours::build(root, &product, &mut say)?;
    let block_product = crate::product::Product::load(root, ours::BLOCK_PRODUCT)?;
    let block_image = ours::build(root, &block_product, &mut say)?;
    let net_product = crate::product::Product::load(root, ours::NET_PRODUCT)?;
    let net_image = ours::build(root, &net_product, &mut say)?;
    let guest = linux::setup(root, &mut say)?;

    say(format!(
        "booting both guests with -icount {} (seconds for ours, about a minute at most for Linux)",
        machine::ICOUNT
    ));
    let (ours_run, linux_run) = std::thread::scope(|scope| {
        let ours = scope.spawn(|| ours::run(&image, &machine, options.timeout));
        let linux = scope.spawn(|| linux::run(&guest, &linux_machine, options.timeout));
        (
            ours.join().expect("the boot thread does not panic"),
            linux.join().expect("the boot thread does not panic"),
        )
    });
    let (ours_console, ours_report) = ours_run?;
    let (linux_console, linux_report, linux_wall) = linux_run?;
    let (block_console, block_report) = ours::run(&block_image, &machine, options.timeout)?;
    let (net_console, net_report, net_wall) =
        ours::run_net(&net_image, &net_machine, options.timeout)?;
    save_console(&dir.join("ours.log"), &ours_console)?;
    save_console(&dir.join("ours-blk.log"), &block_console)?;
    save_console(&dir.join("ours-net.log"), &net_console)?;
    save_console(&dir.join("linux.log"), &linux_console)?;
    let ours_report = ours::merge(ours_report, block_report.clone());
    let ours_report = ours::merge(ours_report, net_report.clone());

    let table = Table::build(&ours_report, &linux_report);
    let mut problems = table.problems();
    for (side, console, report) in [
        ("ours", &ours_console, &ours_report),
        ("ours (block)", &block_console, &block_report),
        ("ours (network)", &net_console, &net_report),
        ("Linux", &linux_console, &linux_report),
    ] {
        problems.extend(guest_problems(side, console, report));
    }
    let mut wall = NetWall::default();
    for (side, result, slot) in [
        ("ours", net_wall, &mut wall.ours),
        ("Linux", linux_wall, &mut wall.linux),
    ] {
        match result {
            Some(Ok(figures)) => *slot = Some(figures),
            Some(Err(error)) => problems.push(format!("{side}: network client: {error:#}")),
            None => problems.push(format!("{side}: the network client did not run")),
        }
    }
    for (side, figures) in [("ours", wall.ours), ("Linux", wall.linux)] {
        if let Some(figures) = figures {
            say(format!(
                "{side}: TCP to the guest {:.2} MB/s, connect + request + close {:.2} ms (host wall clock)",
                figures.rx_mb_per_s, figures.round_trip_ms
            ));
        }
    }

    // The storage rows (issue 12): their own guests and section; their
    // problems are said but leave the kernel section alone.
    let storage = storage::run(root, &machine, &dir, options.timeout, &mut say)
        .inspect_err(|e| say(format!("storage: problem: {e:#}")))
        .ok();
    let storage_problems = storage.as_ref().map(storage::problems);
    for problem in storage_problems.iter().flatten() {
        say(format!("storage: problem: {problem}"));
    }

    // The hot-swap rows (issue 14): their own guest and section.
    let swap = swap::run(root, &dir, options.timeout, &mut say)
        .inspect_err(|e| say(format!("swap: problem: {e:#}")))
        .ok();
    if let Some(figures) = &swap {
        for problem in &figures.problems {
            say(format!("swap: problem: {problem}"));
        }
        say(format!(
            "swap: longest client gap per swap median {} ns, max {} ns; per stop + start median {} ns, max {} ns",
            figures.swap.median, figures.swap.max, figures.restart.median, figures.restart.max
        ));
    }

    println!("{}", table.to_text());
    let ours_only = report::unpaired(&ours_report, report::Side::Ours);
    if !ours_only.is_empty() {
        println!("ours only (no Linux peer):");
        for m in ours_only {
            println!(
                "  {:<32} {} (min {})",
                m.name,
                report::group_digits(m.median),
                report::group_digits(m.min)
            );
        }
    }
    let qemu = qemu_version();
    let results = Results {
        command: COMMAND,
        unit: "guest instructions (TSC ticks under -icount shift=0,sleep=off)",
        qemu: qemu.clone(),
        machine: machine.common_args(),
        ours_cmdline: &product.cmdline,
        linux_package: &guest.package,
        linux_append: linux::APPEND,
        table: &table,
        ours: &ours_report,
        linux: &linux_report,
        net_wall: &wall,
        problems: &problems,
    };
    let json_path = dir.join("results.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&results)? + "\n")
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    say(format!("wrote {}", json_path.display()));

    for problem in &problems {
        say(format!("problem: {problem}"));
    }
    if let (true, Some(figures), Some([])) =
        (options.write_docs, &storage, storage_problems.as_deref())
    {
        let docs = root.join("docs/performance.md");
        let existing = std::fs::read_to_string(&docs).unwrap_or_default();
        let section = storage::markdown(figures, COMMAND)?;
        let updated = report::replace_section(&existing, storage::SECTION_HEADING, &section);
        std::fs::write(&docs, updated)
            .with_context(|| format!("cannot write {}", docs.display()))?;
        say(format!(
            "updated the \"Storage benchmarks\" section of {}",
            docs.display()
        ));
    }
    if let (true, Some(figures)) = (options.write_docs, &swap) {
        if figures.problems.is_empty() {
            let docs = root.join("docs/performance.md");
            let existing = std::fs::read_to_string(&docs).unwrap_or_default();
            let section = swap::markdown(figures, COMMAND);
            let updated = report::replace_section(&existing, swap::SECTION_HEADING, &section);
            std::fs::write(&docs, updated)
                .with_context(|| format!("cannot write {}", docs.display()))?;
            say(format!(
                "updated the \"Hot-swap benchmarks\" section of {}",
                docs.display()
            ));
        }
    }
    if options.write_docs && problems.is_empty() {
        let docs = root.join("docs/performance.md");
        let existing = std::fs::read_to_string(&docs).unwrap_or_else(|_| {
            "# Performance\n\nMeasurements of the system, each section written by the tool that measures it.\n".into()
        });
        let section = docs_section(&results, &machine);
        let updated = report::replace_section(&existing, report::SECTION_HEADING, &section);
        std::fs::write(&docs, updated)
            .with_context(|| format!("cannot write {}", docs.display()))?;
        say(format!(
            "updated the \"Kernel benchmarks\" section of {}",
            docs.display()
        ));
    } else if options.write_docs {
        say("docs/performance.md left unchanged because of the problems above".into());
    }
    say(format!(
        "done in {} s of wall time; consoles in {}/ours.log and linux.log",
        started.elapsed().as_secs(),
        dir.display()
    ));
    Ok(problems.is_empty())
}

/// Size of the benchmark disk (both guests read it).
const DISK_BYTES: u64 = 64 << 20;

/// Writes the benchmark disk if it is missing: 64 MiB whose every 4 KiB
/// page starts with its number (so a read of the wrong page would show).
fn write_disk(path: &Path) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == DISK_BYTES) {
        return Ok(());
    }
    let mut bytes = vec![0u8; DISK_BYTES as usize];
    for (page, chunk) in bytes.chunks_mut(4096).enumerate() {
        chunk[..8].copy_from_slice(&(page as u64).to_le_bytes());
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// What went wrong with one guest's run, if anything.
fn guest_problems(side: &str, console: &Captured, report: &GuestReport) -> Vec<String> {
    let mut problems: Vec<String> = report
        .errors
        .iter()
        .map(|error| format!("{side}: {error}"))
        .collect();
    if console.ending != Ending::Guest(0) {
        problems.push(format!("{side}: {}", console.ending.describe()));
    }
    if !report.finished {
        problems.push(format!("{side}: the guest did not print BENCH-END"));
    }
    problems
}

fn save_console(path: &Path, console: &Captured) -> Result<()> {
    std::fs::write(path, console.text()).with_context(|| format!("cannot write {}", path.display()))
}

fn qemu_version() -> String {
    std::process::Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .map(String::from)
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The "Kernel benchmarks" section of `docs/performance.md`.
fn docs_section(results: &Results<'_>, machine: &Machine) -> String {
    let Results {
        table,
        ours,
        linux,
        net_wall: wall,
        ..
    } = results;
    let (qemu, cmdline, linux_package) =
        (&results.qemu, results.ours_cmdline, results.linux_package);
    format!(
        "{heading}

Guest instructions per operation, ours beside Linux, counted in one run
on the same QEMU machine (issue 6). This section is written by the
command that measures it; reproduce it with:

```sh
{COMMAND}
```

The first run on a clean machine downloads Debian's kernel (70 MB) with
apt; a run takes well under a minute once the OS crates are built. For
a given QEMU version and kernel package the figures are the same on
every run and every host. Everything is also in `target/bench/results.json`, and the
guests' consoles in `target/bench/{{ours,linux}}.log`.

**Method.** QEMU counts instructions: with `-icount shift=0,sleep=off`
one guest TSC tick is one guest instruction, so `lfence; rdtsc` pairs
around an operation count the instructions it ran, including those of
the kernel. Each cell is the median over the iterations, with the
minimum (timer interrupts that land inside a sample inflate it); the
cost of an empty `lfence; rdtsc` pair is subtracted. Both sides run the
same number of iterations per case (the tool refuses to compare them
otherwise). The ratio is our median divided by Linux's: below 1, we run
fewer instructions.

- Machine (both sides): `qemu-system-x86_64 {args}` ({qemu}).
- Ours: the `bench` product (kernel + `components/bench`), kernel
  command line `{cmdline}`; for the virtio-blk rows the `bench-blk`
  product (component manager, driver manager, the virtio-blk driver and
  `components/bench/src/bin/blkbench.rs`).
- Both sides read the same 64 MiB disk image (`target/bench/disk.img`,
  read-only) as a modern virtio-blk device; Linux loads Debian's virtio
  modules from the initramfs and reads `/dev/vda` with `O_DIRECT`.
- Linux: Debian's `{linux_package}`, `-append \"{append}\"`, with
  `/init` = `build-image/bench/linux-peer/peer.c` (`gcc -O2 -static`).

{table}
What each row runs:

{cases}
Cases with no row — the `lfence; rdtsc` pair overhead (subtracted
everywhere) and breakdowns. Ours:

{ours_only}
Linux:

{linux_only}
The `roundtrip_0_step_*` cases split our 0-byte round trip into its
steps, reading the TSC on both threads (`components/bench/src/channel.rs`
says where each starts and ends); `to_echo` and `to_main` are a wait
that blocks, the switch, and the other thread's wait returning.

Targets (issue 6; goals, not test assertions):

{targets}
Reading the numbers:

- The two-process round trips run between this program and
  `bin/child-echo`, started with `zx-launch` in a child job (the same path
  userboot uses); the thread rows show what the address-space switch of
  a second process adds.
- Instructions are not time: QEMU counts a page-table switch, an MSR
  write or one iteration of a `rep` instruction as one instruction each.
  The figures say how much work each path does, not what it costs on
  hardware.
- Boot figures are TSC ticks, which under `sleep=off` include the
  virtual time a guest spends idle (it jumps to its next timer). Ours:
  of the time from kernel entry, most is the 10 ms TSC calibration and
  the wait for three timer ticks (see `target/bench/ours.log`). Linux:
  most of its figure passes before its clock starts, in the XZ
  decompressor that unpacks the 8 MB `vmlinuz`; the kernel-clock row
  shows what follows.
- Our `memcpy`, `memset` and the kernel's user copies move 8 bytes per
  counted instruction (`rep movsq` / `rep stosq`, then the tail byte by
  byte); glibc's copy moves 16 bytes per SSE2 load and store. QEMU counts
  every `rep` iteration as one instruction.
- The virtio-blk rows count what the whole system ran for a read. A
  read waits for the device, and under `sleep=off` a guest that halts
  while it waits jumps to its next timer deadline (ours ticks every
  10 ms, Debian's Linux every 4 ms), whenever the host's timing makes it
  wait. So each side subtracts its idle time from the TSC interval, as
  in the network rows (ours: the kernel's idle ticks, `info::CPU_STATS`,
  read by `blkbench` through the debug resource; Linux: the turns of a
  `SCHED_IDLE` spinner, two instructions each, which keeps its CPU from
  halting, `peer.c`). What is left is the block path's work: the request,
  the device's interrupt and the wake-up, the copy into the caller's
  buffer where there is one.
- The network rows ({net_wall}) count what the whole system ran
  for the traffic: the guest waits for the host, so each side subtracts
  its idle time from the TSC interval (ours: the kernel's idle ticks,
  `info::CPU_STATS`; Linux: the turns of a `SCHED_IDLE` spinner, two
  instructions each, which keeps its CPU from halting). The host client
  is `build-image/src/bench/net.rs`; both guests are 10.0.2.15 on QEMU's
  user network with a virtio-net card (slot 5) and host forwards to
  ports 5001 (sink) and 5002 (request + reply); ours gets its address by
  DHCP, Linux statically (`peer.c`). How often a guest waits changes from
  run to run with the host's pace, and with it the counts somewhat.
- What dominates ours in the network rows: {net_breakdown}
- Linux runs with Debian's default mitigations, which on the `qemu64`
  CPU model (an AMD model, so no page-table isolation) are retpolines,
  RSB filling on context switch and `swapgs` barriers.
",
        heading = report::SECTION_HEADING,
        net_wall = wall_text(wall),
        net_breakdown = net_breakdown(ours),
        // The disk as the workspace names it, not as this machine does.
        args = Machine {
            memory: machine.memory.clone(),
            cpus: machine.cpus,
            disk: machine
                .disk
                .as_ref()
                .map(|_| std::path::PathBuf::from("target/bench/disk.img")),
            net: machine.net.map(|_| machine::NetPorts { rx: 0, rr: 0 }),
        }
        .common_args()
        .join(" "),
        append = linux::APPEND,
        table = table.to_markdown(),
        cases = table.cases_markdown(),
        targets = table.targets_markdown(ours, linux),
        ours_only = report::unpaired_markdown(&report::unpaired(ours, report::Side::Ours)),
        linux_only = report::unpaired_markdown(&report::unpaired(linux, report::Side::Linux)),
    )
}

/// The wall-clock figures of the network cases, for the docs.
fn wall_text(wall: &NetWall) -> String {
    let side = |name: &str, figures: Option<net::Wall>| match figures {
        Some(f) => format!(
            "{name} {:.2} MB/s and {:.1} ms a round trip",
            f.rx_mb_per_s, f.round_trip_ms
        ),
        None => format!("{name} not measured"),
    };
    format!(
        "host wall clock in this run, for information only: {}, {}",
        side("ours", wall.ours),
        side("Linux", wall.linux)
    )
}

/// The paragraph on what our receive path spends its instructions on,
/// from `netbench`'s breakdown cases.
fn net_breakdown(ours: &GuestReport) -> String {
    let median = |name: &str| ours.get(name).map(|m| m.median);
    let (Some(per_mib), Some(frames), Some(sent), Some(rounds)) = (
        median("net_tcp_rx_mib"),
        median("net_rx_frames_received_per_mib"),
        median("net_rx_frames_sent_per_mib"),
        median("net_rx_netstack_rounds_per_mib"),
    ) else {
        return "not measured in this run.".into();
    };
    let per_frame = per_mib / frames.max(1);
    format!(
        "per MiB received the netstack took {frames} frames from the driver \
  in {rounds} rounds of its loop and sent {sent} (ACKs), so about \
  {frames_per_round} frames a round and {per_frame} instructions a \
  received frame, all layers together. Per frame: the virtio used ring \
  and a copy out of the DMA buffer in the driver, the frame's share of \
  one `ReceiveBatch` call (up to 16 frames a call; a call per frame, as \
  `Receive` did, cost about 11,600 instructions a frame more: 18.2 \
  million a MiB before, docs/netstack.md), smoltcp's TCP processing \
  with its software checksum and the copy into its receive buffer, and \
  the kernel socket's copy in and out; per round, the port the netstack \
  waits on with its registrations and the `Send` calls of its ACKs. \
  Linux does the same work in one address space with no IPC, and its \
  virtio-net driver builds socket buffers around its receive pages \
  (copying at most the headers).",
        frames_per_round = frames / rounds.max(1),
        per_frame = report::group_digits(per_frame),
    )
}
