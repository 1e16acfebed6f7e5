//! Running an image under QEMU: the command line, the timeout, and what the
//! guest's exit means.

use crate::image::Image;
use crate::machine::HostEnds;
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zx_abi::guest_exit;

/// Which accelerator QEMU uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Accel {
    /// Software emulation (the default: works everywhere).
    Tcg,
    /// Hardware virtualization (opt-in: broken on some machines).
    Kvm,
}

/// How to run one boot.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Accelerator.
    pub accel: Accel,
    /// Give up after this long (`Duration::MAX`: never).
    pub timeout: Duration,
    /// Memory override (QEMU syntax).
    pub memory: Option<String>,
    /// CPU-count override.
    pub cpus: Option<u32>,
    /// Appended to the product's kernel command line.
    pub extra_cmdline: String,
    /// Where the machine's host ends go (disk images, the bridge socket);
    /// `target/machines/<product>/` if unset.
    pub machine_dir: Option<std::path::PathBuf>,
    /// Host port forwards to use instead of the product's (already
    /// resolved: no host port 0, see `machine::resolve_forwards`).
    pub forwards: Option<Vec<String>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            accel: Accel::Tcg,
            timeout: Duration::from_secs(60),
            memory: None,
            cpus: None,
            extra_cmdline: String::new(),
            machine_dir: None,
            forwards: None,
        }
    }
}

/// How a boot ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The guest powered off with this status (`zx_abi::guest_exit`).
    Guest(u8),
    /// QEMU exited without a guest status (reset, triple fault, QEMU error).
    Qemu(Option<i32>),
    /// The timeout expired and QEMU was killed.
    Timeout,
    /// `build-image run` with piped or redirected input: the input ended
    /// without powering the guest off, and the guest then printed nothing
    /// for [`INPUT_ENDED_IDLE`], so QEMU was stopped.
    InputEnded,
}

/// How long a guest must stay quiet after piped input ends before
/// `build-image run` stops it.
pub const INPUT_ENDED_IDLE: Duration = Duration::from_secs(5);

impl Ending {
    /// The process exit code `build-image run` reports for this ending.
    pub fn exit_code(&self) -> i32 {
        match self {
            Ending::Guest(status) => *status as i32,
            Ending::Qemu(_) => 2,
            Ending::Timeout => 124,
            Ending::InputEnded => 0,
        }
    }

    /// A sentence for humans.
    pub fn describe(&self) -> String {
        match self {
            Ending::Guest(guest_exit::SUCCESS) => "guest powered off with status 0".into(),
            Ending::Guest(guest_exit::KERNEL_PANIC) => {
                "guest powered off after a KERNEL PANIC".into()
            }
            Ending::Guest(status) => format!("guest powered off with status {status}"),
            Ending::Qemu(code) => format!(
                "QEMU exited ({}) without a guest status: the guest reset or triple-faulted",
                code.map_or("signal".into(), |c| c.to_string())
            ),
            Ending::Timeout => "timeout: the guest did not power off in time".into(),
            Ending::InputEnded => format!(
                "input ended without `shutdown` and the guest was idle for {} s; QEMU stopped",
                INPUT_ENDED_IDLE.as_secs()
            ),
        }
    }
}

/// A finished boot whose console was captured.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Console lines, `\r` removed, each with the time since QEMU started.
    pub lines: Vec<(Duration, String)>,
    /// How it ended.
    pub ending: Ending,
}

impl Captured {
    /// The whole console output.
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(|(_, line)| format!("{line}\n"))
            .collect()
    }

    /// When the first line containing `needle` appeared.
    pub fn time_of(&self, needle: &str) -> Option<Duration> {
        self.lines
            .iter()
            .find(|(_, line)| line.contains(needle))
            .map(|(t, _)| *t)
    }
}

pub(crate) fn qemu_binary() -> Result<String> {
    crate::host::ensure(crate::host::QEMU)
}

/// Where a run's host ends go.
pub fn machine_dir(image: &Image, options: &RunOptions) -> std::path::PathBuf {
    options.machine_dir.clone().unwrap_or_else(|| {
        // The kernel is target/images/<product>/kernel.elf.
        let target = image
            .kernel
            .parent()
            .and_then(|dir| dir.parent())
            .and_then(|dir| dir.parent())
            .unwrap_or(std::path::Path::new("target"));
        target.join("machines").join(&image.product.name)
    })
}

/// The devices' QEMU arguments and host ends (disk images are created).
/// A product's forwards with host port 0 get a free port each time this
/// is called, unless `options.forwards` fixes them.
pub fn devices(image: &Image, options: &RunOptions) -> Result<(Vec<String>, HostEnds)> {
    let machine = &image.product.qemu;
    let forwards = match &options.forwards {
        Some(forwards) => forwards.clone(),
        None => crate::machine::resolve_forwards(&machine.forwards)?
            .into_iter()
            .map(|(forward, _, _)| forward)
            .collect(),
    };
    let dir = machine_dir(image, options);
    for disk in &machine.disks {
        let path = dir.join(format!("{}.img", disk.name));
        if disk.contents == crate::machine::DiskContents::System {
            let template = crate::disk::template(image, &disk.name);
            // Which product's blobfs the machine's disk was made from.
            let stamp_path = path.with_extension("img.product");
            let stamp = crate::disk::blobfs_stamp(&template)?;
            if !path.exists() {
                std::fs::create_dir_all(&dir)?;
                crate::disk::copy_sparse(&template, &path)?;
                std::fs::write(&stamp_path, &stamp)?;
            } else if std::fs::read_to_string(&stamp_path).ok().as_deref() != Some(stamp.as_str()) {
                // The product changed since: its blobfs partition is
                // brought up to date, /data kept (docs/blobfs.md).
                let refreshed = crate::disk::refresh_system_disk(&template, &path)?;
                std::fs::write(&stamp_path, &stamp)?;
                match refreshed {
                    crate::disk::Refresh::Unchanged => {}
                    crate::disk::Refresh::BlobfsReplaced => eprintln!(
                        "build-image: {}: the product changed: blobfs partition rewritten, /data kept",
                        path.display()
                    ),
                    crate::disk::Refresh::BlankReplaced => eprintln!(
                        "build-image: {}: a blank disk from an older build: replaced by the system disk",
                        path.display()
                    ),
                    crate::disk::Refresh::DataMoved => eprintln!(
                        "build-image: {}: the disk's layout changed: written anew, /data copied over",
                        path.display()
                    ),
                }
            }
        }
    }
    crate::machine::qemu_args(
        &machine.disks,
        machine.net,
        &forwards,
        machine.bridge,
        &machine_dir(image, options),
    )
}

/// The QEMU command line of a boot (stdin, stdout and stderr not yet set).
pub fn command(image: &Image, options: &RunOptions) -> Result<Command> {
    let machine = &image.product.qemu;
    let (device_args, _) = devices(image, options)?;
    let mut cmdline = image.product.cmdline.clone();
    if !options.extra_cmdline.is_empty() {
        cmdline = format!("{cmdline} {}", options.extra_cmdline)
            .trim()
            .to_string();
    }
    let mut command = Command::new(qemu_binary()?);
    command
        .args([
            "-machine",
            "q35",
            "-cpu",
            "qemu64,+smep,+smap",
            "-display",
            "none",
            "-monitor",
            "none",
        ])
        .args(["-no-reboot", "-serial", "stdio"])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .args([
            "-accel",
            if options.accel == Accel::Kvm {
                "kvm"
            } else {
                "tcg"
            },
        ])
        .args(["-m", options.memory.as_deref().unwrap_or(&machine.memory)])
        .args(["-smp", &options.cpus.unwrap_or(machine.cpus).to_string()])
        .arg("-kernel")
        .arg(&image.kernel)
        .arg("-initrd")
        .arg(&image.bootfs)
        .args(device_args);
    if !cmdline.is_empty() {
        command.args(["-append", &cmdline]);
    }
    Ok(command)
}

fn ending(status: std::process::ExitStatus) -> Ending {
    match status.code() {
        Some(code) => match guest_exit::from_qemu_exit_code(code) {
            Some(guest) => Ending::Guest(guest),
            None => Ending::Qemu(Some(code)),
        },
        None => Ending::Qemu(None),
    }
}

/// Boots interactively: the console is this terminal, or this process's
/// stdin and stdout when they are piped or redirected. Returns how it
/// ended.
///
/// On a terminal QEMU owns stdin (it switches the terminal to raw mode) and
/// the run ends when the guest powers off, or at the timeout. Piped input is
/// copied to QEMU by this process, so its end is seen: the run then ends
/// when the guest powers off or, once the input has ended, when the guest
/// has printed nothing for [`INPUT_ENDED_IDLE`] (`printf 'ls\n' |
/// build-image run` lists and ends; a `shutdown` at the end powers off as
/// before).
pub fn run_interactive(image: &Image, options: &RunOptions) -> Result<Ending> {
    use std::io::IsTerminal;
    let deadline = Instant::now().checked_add(options.timeout);
    let mut command = command(image, options)?;
    command.stderr(Stdio::inherit());
    if std::io::stdin().is_terminal() {
        let mut child = command
            .stdin(Stdio::inherit())
            .stdout(Stdio::inherit())
            .spawn()
            .context("cannot start QEMU")?;
        return wait(&mut child, deadline, || false);
    }
    // A pipe still goes to the guest byte by byte: the UART holds one byte
    // and QEMU reads no more until the guest takes it; the kernel drains it
    // into a ring on every tick, so nothing is lost even in a burst.
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start QEMU")?;
    // When the input ended, then when the guest last printed.
    let activity = Arc::new(Mutex::new((None::<Instant>, Instant::now())));
    let mut guest_input = child.stdin.take().expect("piped");
    {
        let activity = Arc::clone(&activity);
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut guest_input);
            let now = Instant::now();
            *activity.lock().unwrap() = (Some(now), now);
            // QEMU's end stays open: the guest reads what is still queued.
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        });
    }
    let mut guest_output = child.stdout.take().expect("piped");
    let forward = {
        let activity = Arc::clone(&activity);
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut buffer = [0u8; 4096];
            while let Ok(count @ 1..) = guest_output.read(&mut buffer) {
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(&buffer[..count]);
                let _ = stdout.flush();
                activity.lock().unwrap().1 = Instant::now();
            }
        })
    };
    let ending = wait(&mut child, deadline, || {
        let (ended, last_output) = *activity.lock().unwrap();
        ended.is_some() && last_output.elapsed() >= INPUT_ENDED_IDLE
    });
    // Everything QEMU printed is passed on before the run reports its end.
    let _ = forward.join();
    ending
}

/// Waits for QEMU to exit, killing it at `deadline` (`Ending::Timeout`) or
/// once `input_ended_and_idle` (`Ending::InputEnded`).
fn wait(
    child: &mut std::process::Child,
    deadline: Option<Instant>,
    input_ended_and_idle: impl Fn() -> bool,
) -> Result<Ending> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(ending(status));
        }
        let stop = if deadline.is_some_and(|d| Instant::now() >= d) {
            Some(Ending::Timeout)
        } else if input_ended_and_idle() {
            Some(Ending::InputEnded)
        } else {
            None
        };
        if let Some(ending) = stop {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(ending);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Types `input` into the guest's console as a person would: after a
/// pause for the boot, a byte at a time at typing speed, so a test's
/// commands reach a running system one after the other, and never closes
/// the pipe (a closed console is not what a test means to show).
/// The line the console prints once it reads its input.
const CONSOLE_READY: &str = "console: type help for the commands";

/// The longest wait for the console's ready line before typing anyway (a
/// product whose console never says it, or a boot that failed: the test
/// then reports what it misses).
const CONSOLE_READY_WAIT: Duration = Duration::from_secs(180);

fn type_slowly(mut guest_input: std::process::ChildStdin, input: Vec<u8>, lines: ConsoleLines) {
    use std::io::Write;
    // Typed before the console reads, the bytes could be lost or land in
    // the middle of a log line: wait for the console to say it listens,
    // however slow the boot is on a loaded host.
    let waited = Instant::now();
    while waited.elapsed() < CONSOLE_READY_WAIT
        && !lines
            .lock()
            .unwrap()
            .iter()
            .any(|(_, line)| line.contains(CONSOLE_READY))
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    for byte in input {
        if guest_input
            .write_all(&[byte])
            .and_then(|()| guest_input.flush())
            .is_err()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(if byte == b'\n' { 300 } else { 30 }));
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Boots with the console captured, typing `input` into it.
pub fn run_captured_with_input(
    image: &Image,
    options: &RunOptions,
    input: &[u8],
) -> Result<Captured> {
    let mut command = command(image, options)?;
    command.stdin(Stdio::piped());
    let input = input.to_vec();
    let stdin = Arc::new(Mutex::new(None));
    let fed = Arc::clone(&stdin);
    capture_lines(
        command,
        options.timeout,
        false,
        move |guest_input| *fed.lock().unwrap() = Some(guest_input),
        move |lines| {
            if let Some(guest_input) = stdin.lock().unwrap().take() {
                std::thread::spawn(move || type_slowly(guest_input, input, lines));
            }
        },
    )
}

/// Boots with the console captured (no input), for tests.
pub fn run_captured(image: &Image, options: &RunOptions) -> Result<Captured> {
    capture(command(image, options)?, options.timeout)
}

/// Boots with the console captured and also printed as it arrives, for
/// long runs (`build-image fuzz`).
pub fn run_captured_echoing(image: &Image, options: &RunOptions) -> Result<Captured> {
    let mut command = command(image, options)?;
    command.stdin(Stdio::null());
    capture_with(command, options.timeout, true, |_| {})
}

/// Runs QEMU with exactly `args` (the caller describes the whole machine)
/// and the console captured, for callers that need settings products do
/// not have, such as `build-image bench` (instruction counting, a Linux
/// guest).
pub fn run_args_captured(args: &[std::ffi::OsString], timeout: Duration) -> Result<Captured> {
    let mut command = Command::new(qemu_binary()?);
    command.args(args);
    capture(command, timeout)
}

/// The console lines of a run so far (each with the time since QEMU
/// started), shared with a watcher while the run goes on.
pub type ConsoleLines = Arc<Mutex<Vec<(Duration, String)>>>;

/// Like [`run_args_captured`], and `watch` is given the console as it
/// grows, right after QEMU starts (to start a host-side client that
/// waits for the guest's cue; it must not block).
pub fn run_args_captured_watching(
    args: &[std::ffi::OsString],
    timeout: Duration,
    watch: impl FnOnce(ConsoleLines),
) -> Result<Captured> {
    let mut command = Command::new(qemu_binary()?);
    command.args(args).stdin(Stdio::null());
    capture_lines(command, timeout, false, |_| {}, watch)
}

/// Runs `command` (a QEMU command line) with stdout and stderr captured
/// line by line, killing it after `timeout`.
fn capture(mut command: Command, timeout: Duration) -> Result<Captured> {
    command.stdin(Stdio::null());
    capture_with(command, timeout, false, |_| {})
}

fn capture_with(
    command: Command,
    timeout: Duration,
    echo: bool,
    feed: impl FnOnce(std::process::ChildStdin),
) -> Result<Captured> {
    capture_lines(command, timeout, echo, feed, |_| {})
}

fn capture_lines(
    mut command: Command,
    timeout: Duration,
    echo: bool,
    feed: impl FnOnce(std::process::ChildStdin),
    watch: impl FnOnce(ConsoleLines),
) -> Result<Captured> {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start QEMU")?;
    if let Some(stdin) = child.stdin.take() {
        feed(stdin);
    }
    let lines: ConsoleLines = Arc::new(Mutex::new(Vec::new()));
    watch(Arc::clone(&lines));
    let stdout = child.stdout.take().expect("piped");
    let reader = {
        let lines = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).split(b'\n').map_while(|l| l.ok()) {
                let text = String::from_utf8_lossy(&line).replace('\r', "");
                if echo {
                    println!("{text}");
                }
                lines.lock().unwrap().push((started.elapsed(), text));
            }
        })
    };
    let stderr = child.stderr.take().expect("piped");
    let error_reader = {
        let lines = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                lines
                    .lock()
                    .unwrap()
                    .push((started.elapsed(), format!("qemu: {line}")));
            }
        })
    };
    let deadline = started.checked_add(timeout);
    let ending = loop {
        if let Some(status) = child.try_wait()? {
            break ending(status);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            break Ending::Timeout;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = reader.join();
    let _ = error_reader.join();
    let lines = std::mem::take(&mut *lines.lock().unwrap());
    Ok(Captured { lines, ending })
}
