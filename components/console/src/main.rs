//! The console: a shell on the serial port.
//!
//! It reads lines from the serial console (polling `debug_read`, echoing
//! what is typed, with backspace, Ctrl-U, Ctrl-W, Ctrl-C and a history on
//! the up and down arrows), and talks to the component manager through
//! `zx.component/Realm`, which its manifest `use`s:
//!
//! | command | does |
//! |---|---|
//! | `help` | lists the commands |
//! | `ls` | lists the components and whether they run, every collection, and a component without a program as such |
//! | `ls /` | lists the namespace's roots |
//! | `ls <path>` | lists a directory of the namespace (`/boot`, `/logs`, `/blob`, `/pkg`, `/data`) |
//! | `cat <path>` | prints a file of the namespace (`/boot/etc/product`) |
//! | `start <moniker>` | starts a component |
//! | `stop <moniker>` | stops a component (gracefully, then by force) |
//! | `create <parent> <collection> <name> <manifest>` | adds a child to a collection and starts it |
//! | `destroy <moniker>` | stops and removes a child of a collection |
//! | `log` | prints the components' log, from the logger |
//! | `klog` | prints the end of the kernel's own log (its stamped lines) |
//! | `lsdev`, `lsblk` | lists the devices and their drivers, the block devices |
//! | `df` | how full blobfs and `/data` are (`ls /blob` lists the blobs by Merkle root) |
//! | `net`, `net crash` | the netstack's interface and counters; its test hook |
//! | `ping <host> [count]`, `lookup <host>` | ICMP echo and name lookup through the netstack |
//! | `write /data/<file> <text...>` | writes the text and a newline to a file of `/data` (replacing it) |
//! | `rm /data/<file>` | removes a file of `/data` |
//! | `pkg list` | the packages in blobfs: name, version, root (`docs/packages.md`) |
//! | `pkg resolve <name>` | asks the package resolver for `pkg://<name>` |
//! | `shutdown` | stops every component, then powers the machine off (status 0) |
//!
//! A command given the wrong number of arguments prints its usage line;
//! `cat` of a directory and `ls` of a file say so; a `create` that finds
//! nothing says whether the parent, the collection or the manifest is
//! missing. When another program prints while the console waits for
//! input, the prompt and the line being typed are drawn again below.
//!
//! Asked to stop through its lifecycle channel, it exits. Its manifest
//! uses two kernel resources: `debug` (reading console input, and the
//! kernel's idle counter in the ready line) and `debuglog` (`klog`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod data;
mod pkg;

use alloc::string::String;
use alloc::vec::Vec;
use zx_idl::ChannelTransport;
use zx_runtime::{print, println};

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use bindings::zx_component::{
    ComponentState, RealmClient, RealmCreateChildRequest, RealmDestroyChildRequest, RealmMarker,
    RealmShutdownRequest, RealmStartRequest, RealmStopRequest,
};
use bindings::zx_component_swap::{
    Outcome, SwapControllerClient, SwapControllerMarker, SwapControllerRollbackRequest,
    SwapControllerSwapRequest, SwapReport, Version,
};

zx_runtime::entry!(main);

/// How often the serial port is polled for input.
const POLL_NANOS: i64 = 10_000_000;

/// One command: its name, its arguments (`[optional]` ones in brackets)
/// and what it does. `help` prints the table; a command given the wrong
/// number of arguments prints its line as a usage line.
struct Command {
    name: &'static str,
    arguments: &'static str,
    does: &'static str,
}

const COMMANDS: &[Command] = &[
    Command {
        name: "help",
        arguments: "",
        does: "lists the commands",
    },
    Command {
        name: "ls",
        arguments: "[path]",
        does: "lists the components and collections, or a directory (ls / shows the namespace)",
    },
    Command {
        name: "cat",
        arguments: "<path>",
        does: "prints a file of the namespace",
    },
    Command {
        name: "start",
        arguments: "<moniker>",
        does: "starts a component",
    },
    Command {
        name: "stop",
        arguments: "<moniker>",
        does: "stops a component (gracefully, then by force)",
    },
    Command {
        name: "create",
        arguments: "<parent> <collection> <name> <manifest>",
        does: "adds a child to a collection and starts it",
    },
    Command {
        name: "destroy",
        arguments: "<moniker>",
        does: "stops and removes a child of a collection",
    },
    Command {
        name: "log",
        arguments: "",
        does: "prints the components' log, from the logger",
    },
    Command {
        name: "klog",
        arguments: "",
        does: "prints the end of the kernel's own log",
    },
    Command {
        name: "lsdev",
        arguments: "",
        does: "lists the devices and their drivers",
    },
    Command {
        name: "lsblk",
        arguments: "",
        does: "lists the block devices",
    },
    Command {
        name: "net",
        arguments: "[crash]",
        does: "shows the network interface and counters (crash: the netstack's test hook)",
    },
    Command {
        name: "ping",
        arguments: "<host> [count]",
        does: "ICMP echo through the netstack: round trips and loss",
    },
    Command {
        name: "lookup",
        arguments: "<host>",
        does: "the host's addresses, from the DNS server (10.0.2.3 on QEMU's network)",
    },
    Command {
        name: "mem",
        arguments: "",
        does: "prints the memory: RAM, free, the kernel heap",
    },
    Command {
        name: "df",
        arguments: "",
        does: "shows how full blobfs and /data are (ls /blob lists its blobs)",
    },
    Command {
        name: "write",
        arguments: "</data/file> <text...>",
        does: "writes the text and a newline to a file of /data (replacing it)",
    },
    Command {
        name: "pkg",
        arguments: "<list|resolve> [name]",
        does: "lists the packages in blobfs (name, version, root), or resolves pkg://name",
    },
    Command {
        name: "rm",
        arguments: "</data/file>",
        does: "removes a file of /data",
    },
    Command {
        name: "swap",
        arguments: "<moniker> <manifest>",
        does: "hot-swaps a running component to another version (meta/<manifest>.cm)",
    },
    Command {
        name: "rollback",
        arguments: "<moniker>",
        does: "swaps a component back to the version it ran before its last swap",
    },
    Command {
        name: "shutdown",
        arguments: "",
        does: "stops every component, then powers off (status 0)",
    },
];

impl Command {
    /// The command called `name`.
    fn named(name: &str) -> Option<&'static Command> {
        COMMANDS.iter().find(|c| c.name == name)
    }

    /// Whether it takes `count` arguments.
    fn accepts(&self, count: usize) -> bool {
        let words = self.arguments.split_whitespace();
        let required = words.clone().filter(|w| !w.starts_with('[')).count();
        if self.arguments.ends_with("...>") {
            return count >= required;
        }
        (required..=words.count()).contains(&count)
    }
}

fn main() -> i64 {
    let name = RealmMarker::DISCOVERABLE_NAME.unwrap_or("zx.component.Realm");
    let realm = match zx_component::connect(name) {
        Ok(channel) => RealmClient::new(ChannelTransport::new(channel)),
        Err(status) => {
            println!("console: cannot reach {}: {}", name, status);
            return 1;
        }
    };
    let Some(input) = zx_component::resource("debug") else {
        println!("console: no debug resource: cannot read the console (its manifest must use it)");
        return 1;
    };
    let debuglog = zx_component::resource("debuglog");
    let lifecycle = zx_component::Lifecycle::take();
    let mut history = Vec::new();
    // When the console became ready, in monotonic nanoseconds since the
    // kernel's entry (guest instructions under `-icount shift=0`), and
    // the TSC ticks the CPU spent halted until then (`info::CPU_STATS`:
    // under `-icount sleep=off` the virtual time skipped while waiting
    // for the disk). `build-image bench` takes the difference as the
    // boot's busy instructions.
    let up = zx::clock_get_monotonic().0;
    match input.cpu_stats() {
        Ok(stats) => println!(
            "console: type help for the commands (up {} ns, idle {} ticks)",
            up, stats.idle_ticks
        ),
        Err(_) => println!("console: type help for the commands (up {} ns)", up),
    }
    loop {
        let Some(line) = read_line(&input, debuglog.as_ref(), lifecycle.as_ref(), &mut history)
        else {
            println!("console: asked to stop");
            return 0;
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((&name, arguments)) = words.split_first() else {
            continue;
        };
        let Some(command) = Command::named(name) else {
            println!("unknown command {:?}; try help", name);
            continue;
        };
        if !command.accepts(arguments.len()) {
            println!("usage: {} {}", command.name, command.arguments);
            continue;
        }
        match (name, arguments) {
            ("help", _) => {
                for command in COMMANDS {
                    let usage = alloc::format!("{} {}", command.name, command.arguments);
                    println!("{:<50} {}", usage, command.does);
                }
                println!("namespace: {}", zx_component::namespace::paths().join(" "));
            }
            ("lsdev", _) => print_file("/dev/devices"),
            ("lsblk", _) => list_block_devices(),
            ("df", _) => print_disk_usage(),
            ("write", [path, text @ ..]) => data::write(path, &text.join(" ")),
            ("rm", [path]) => data::remove(path),
            ("pkg", ["list"]) => pkg::list(),
            ("pkg", ["resolve", name]) => pkg::resolve(name),
            ("pkg", _) => println!("usage: pkg list | pkg resolve <name>"),
            ("ls", ["/"]) => list_namespace(),
            ("ls", [path]) => list_directory(path),
            ("cat", [path]) => print_file(path),
            ("ls", _) => list_components(&realm),
            ("swap", [moniker, source]) => {
                let request = SwapControllerSwapRequest {
                    moniker: (*moniker).into(),
                    source: (*source).into(),
                };
                match swap_controller().map(|c| c.swap(request)) {
                    Some(Ok(reply)) => print_report(moniker, &reply.report),
                    Some(Err(error)) => println!("console: swap failed: {:?}", error),
                    None => {}
                }
            }
            ("rollback", [moniker]) => {
                let request = SwapControllerRollbackRequest {
                    moniker: (*moniker).into(),
                };
                match swap_controller().map(|c| c.rollback(request)) {
                    Some(Ok(reply)) => print_report(moniker, &reply.report),
                    Some(Err(error)) => println!("console: rollback failed: {:?}", error),
                    None => {}
                }
            }
            ("start", [moniker]) => {
                let request = RealmStartRequest {
                    moniker: (*moniker).into(),
                };
                match realm.start(request) {
                    Ok(Ok(_)) => println!("started {}", moniker),
                    Ok(Err(code)) => println!("cannot start {}: {}", moniker, zx::Status(code)),
                    Err(error) => println!("console: start failed: {:?}", error),
                }
            }
            ("stop", [moniker]) => {
                let request = RealmStopRequest {
                    moniker: (*moniker).into(),
                };
                match realm.stop(request) {
                    Ok(Ok(_)) => println!("stopped {}", moniker),
                    Ok(Err(code)) => println!("cannot stop {}: {}", moniker, zx::Status(code)),
                    Err(error) => println!("console: stop failed: {:?}", error),
                }
            }
            ("create", [parent, collection, name, manifest]) => {
                create(&realm, parent, collection, name, manifest)
            }
            ("destroy", [moniker]) => {
                let request = RealmDestroyChildRequest {
                    moniker: (*moniker).into(),
                };
                match realm.destroy_child(request) {
                    Ok(Ok(_)) => println!("destroyed {}", moniker),
                    Ok(Err(code)) => println!("cannot destroy {}: {}", moniker, zx::Status(code)),
                    Err(error) => println!("console: destroy failed: {:?}", error),
                }
            }
            ("log", _) => print_component_log(),
            ("net", []) => print_interface(),
            ("net", ["crash"]) => crash_netstack(),
            ("ping", [host]) => ping(host, "4"),
            ("ping", [host, count]) => ping(host, count),
            ("lookup", [host]) => lookup(host),
            ("mem", _) => match input.kmem_stats() {
                Ok(stats) => println!(
                    "memory: {} MiB, {} MiB free; kernel heap {} KiB ({} KiB of it kept free)",
                    stats.total_bytes >> 20,
                    stats.free_bytes >> 20,
                    stats.heap_bytes >> 10,
                    stats.heap_free_bytes >> 10
                ),
                Err(status) => println!("mem: {}", status),
            },
            ("klog", _) => match &debuglog {
                Some(debuglog) => print_kernel_log(debuglog),
                None => println!("klog: this console has no debuglog resource"),
            },
            ("shutdown", _) => {
                println!("console: shutting down");
                // The component manager stops everything, this console
                // included (through its lifecycle channel), then powers off.
                let shutdown = RealmShutdownRequest { status: 0 };
                if let (Some(lifecycle), Ok(())) = (lifecycle.as_ref(), realm.shutdown(shutdown)) {
                    while lifecycle.try_stopped().is_none() {
                        let _ = zx::nanosleep(zx::deadline_after(POLL_NANOS));
                    }
                    println!("console: stopped");
                    return 0;
                }
                println!("console: the component manager did not take the shutdown");
            }
            _ => println!("usage: {} {}", command.name, command.arguments),
        }
    }
}

/// A connection to the component manager's `SwapController` (its absence
/// is said once per command).
fn swap_controller() -> Option<SwapControllerClient<ChannelTransport>> {
    let name =
        SwapControllerMarker::DISCOVERABLE_NAME.unwrap_or("zx.component.swap.SwapController");
    match zx_component::connect(name) {
        Ok(channel) => Some(SwapControllerClient::new(ChannelTransport::new(channel))),
        Err(status) => {
            println!("console: cannot reach {}: {}", name, status);
            None
        }
    }
}

/// Prints what became of a swap or a rollback.
fn print_report(moniker: &str, report: &SwapReport) {
    let gap = report.gap_nanos / 1000;
    match report.outcome {
        Outcome::Swapped => println!("swapped {} (gap {} us)", moniker, gap),
        Outcome::Refused => println!("swap of {} refused: {}", moniker, report.reason),
        Outcome::RolledBack => println!(
            "swap of {} rolled back: {} (gap {} us)",
            moniker, report.reason, gap
        ),
    }
}

/// Each component's manifest and last swap, from the `SwapController`
/// (empty if the console cannot reach it).
fn versions() -> Vec<Version> {
    let Ok(channel) = zx_component::connect(
        SwapControllerMarker::DISCOVERABLE_NAME.unwrap_or("zx.component.swap.SwapController"),
    ) else {
        return Vec::new();
    };
    SwapControllerClient::new(ChannelTransport::new(channel))
        .versions()
        .map(|reply| reply.versions)
        .unwrap_or_default()
}

/// Lists the components, each collection (empty ones too) and the root as
/// what it is: a component with no program of its own neither runs nor
/// stops. Each running one shows its version (the manifest it runs) and
/// its last swap.
fn list_components(realm: &RealmClient<ChannelTransport>) {
    let versions = versions();
    let list = match realm.list() {
        Ok(list) => list,
        Err(error) => return println!("console: ls failed: {:?}", error),
    };
    let collections = realm
        .list_collections()
        .map(|reply| reply.collections)
        .unwrap_or_default();
    for component in list.components {
        if component.binary.is_empty() {
            println!(
                "{:<32} -        (no program: a realm of children)",
                component.moniker
            );
        } else {
            let state = match component.state {
                ComponentState::Running => "running",
                ComponentState::Stopped => "stopped",
                ComponentState::Stopping => "stopping",
            };
            let version = versions
                .iter()
                .find(|v| v.moniker == component.moniker)
                .map(|v| {
                    if v.last_swap.is_empty() {
                        alloc::format!("  version {}", v.manifest)
                    } else {
                        alloc::format!("  version {} ({})", v.manifest, v.last_swap)
                    }
                })
                .unwrap_or_default();
            println!(
                "{:<32} {:<8} {:<20} restarts {}{}",
                component.moniker, state, component.binary, component.restarts, version
            );
        }
        for collection in collections.iter().filter(|c| c.parent == component.moniker) {
            let moniker = alloc::format!("{}/{}:", collection.parent, collection.name);
            println!(
                "{:<32} collection ({} children)",
                moniker, collection.children
            );
        }
    }
}

/// `create`: adds the child and starts it. The component manager answers
/// `NOT_FOUND` for a missing parent, collection or manifest alike; the
/// console finds out which and says so.
fn create(
    realm: &RealmClient<ChannelTransport>,
    parent: &str,
    collection: &str,
    name: &str,
    manifest: &str,
) {
    let request = RealmCreateChildRequest {
        parent: parent.into(),
        collection: collection.into(),
        name: name.into(),
        manifest: manifest.into(),
    };
    let moniker = alloc::format!("{}/{}:{}", parent, collection, name);
    match realm.create_child(request) {
        Ok(Ok(_)) => println!("created {}", moniker),
        Ok(Err(code)) if zx::Status(code) == zx::Status::NOT_FOUND => {
            let parents = realm.list().map(|l| l.components).unwrap_or_default();
            let collections = realm
                .list_collections()
                .map(|l| l.collections)
                .unwrap_or_default();
            let theirs: Vec<&str> = collections
                .iter()
                .filter(|c| c.parent == parent)
                .map(|c| c.name.as_str())
                .collect();
            if !parents.iter().any(|c| c.moniker == parent) {
                println!(
                    "cannot create {}: there is no component {}",
                    moniker, parent
                );
            } else if !theirs.contains(&collection) {
                println!(
                    "cannot create {}: {} has no collection {:?} (its collections: {})",
                    moniker,
                    parent,
                    collection,
                    if theirs.is_empty() {
                        String::from("none")
                    } else {
                        theirs.join(", ")
                    }
                );
            } else {
                println!(
                    "cannot create {}: no manifest {:?} (meta/{}.cm is not in the bootfs, nor is it a package)",
                    moniker, manifest, manifest
                );
            }
            return;
        }
        Ok(Err(code)) => return println!("cannot create {}: {}", moniker, zx::Status(code)),
        Err(error) => return println!("console: create failed: {:?}", error),
    }
    match realm.start(RealmStartRequest {
        moniker: moniker.clone(),
    }) {
        Ok(Ok(_)) => println!("started {}", moniker),
        Ok(Err(code)) => println!("cannot start {}: {}", moniker, zx::Status(code)),
        Err(error) => println!("console: start failed: {:?}", error),
    }
}

/// `ls /`: the roots of the namespace (each a directory capability).
fn list_namespace() {
    for path in zx_component::namespace::paths() {
        println!("{:<8} {:>8} {}", "dir", "-", path.trim_start_matches('/'));
    }
}

/// Most lines kept for the up and down arrows.
const HISTORY: usize = 32;

/// The prompt.
const PROMPT: &str = "> ";

/// Where the console's output ends in the kernel's log (`debuglog`): the
/// console reads on from here to see whether another program printed
/// since it drew the prompt.
struct LogPosition<'a> {
    debuglog: &'a zx::Resource,
    end: u64,
}

impl<'a> LogPosition<'a> {
    /// The end of the log now.
    fn new(debuglog: &'a zx::Resource) -> LogPosition<'a> {
        let mut position = LogPosition { debuglog, end: 0 };
        position.take_new();
        position
    }

    /// What was written since the last call (at most the ring's length),
    /// moving `end` past it.
    fn take_new(&mut self) -> Vec<u8> {
        let mut text = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok((count, next)) = zx::debuglog_read(self.debuglog, self.end, &mut buffer) {
            text.extend_from_slice(&buffer[..count]);
            self.end = next;
        }
        text
    }
}

/// Reads one line with line editing, echoing it after the prompt:
/// backspace, Ctrl-U (erase the line), Ctrl-W (erase a word), Ctrl-C
/// (abandon the line), and the up and down arrows (earlier lines, kept in
/// `history`). When other programs print while the console waits (the
/// component manager's and drivers' log lines), the prompt and what has
/// been typed are drawn again below their output, so the line being typed
/// stays whole and visible. `None` once the component manager asks the
/// console to stop.
fn read_line(
    input: &zx::Resource,
    debuglog: Option<&zx::Resource>,
    lifecycle: Option<&zx_component::Lifecycle>,
    history: &mut Vec<String>,
) -> Option<String> {
    let mut line = String::new();
    print!("{}", PROMPT);
    let mut log = debuglog.map(LogPosition::new);
    // Where the arrows are in `history` (`history.len()`: the new line).
    let mut recalled = history.len();
    // Bytes of an escape sequence (`ESC [ A`) seen so far.
    let mut escape = 0;
    // One byte at a time: what is typed after the end of this line stays
    // in the kernel for the next call.
    let mut buffer = [0u8; 1];
    loop {
        if zx::debug_read(input, &mut buffer).is_err() {
            if lifecycle.is_some_and(|l| l.try_stopped().is_some()) {
                return None;
            }
            if let Some(log) = log.as_mut() {
                let foreign = log.take_new();
                if !foreign.is_empty() {
                    // Another program printed over the prompt: draw it
                    // again on a line of its own.
                    if foreign.last() != Some(&b'\n') {
                        println!();
                    }
                    print!("{}{}", PROMPT, line);
                    log.take_new();
                }
            }
            let _ = zx::nanosleep(zx::deadline_after(POLL_NANOS));
            continue;
        }
        let byte = buffer[0];
        match (escape, byte) {
            (0, 0x1b) | (1, b'[') => escape += 1,
            (2, b'A' | b'B') => {
                escape = 0;
                recalled = if byte == b'A' {
                    recalled.saturating_sub(1)
                } else {
                    (recalled + 1).min(history.len())
                };
                erase(&mut line, usize::MAX);
                line = history.get(recalled).cloned().unwrap_or_default();
                print!("{}", line);
            }
            (1 | 2, _) => escape = 0, // another sequence: ignored
            (_, b'\r' | b'\n') => {
                println!();
                if !line.is_empty() && history.last() != Some(&line) {
                    if history.len() == HISTORY {
                        history.remove(0);
                    }
                    history.push(line.clone());
                }
                return Some(line);
            }
            (_, 0x08 | 0x7f) => erase(&mut line, 1),
            (_, 0x15) => erase(&mut line, usize::MAX),
            (_, 0x17) => {
                let keep = line.trim_end().rfind(' ').map_or(0, |at| at + 1);
                let count = line.len() - keep;
                erase(&mut line, count);
            }
            (_, 0x03) => {
                println!("^C");
                return Some(String::new());
            }
            (_, byte) if byte.is_ascii_graphic() || byte == b' ' => {
                line.push(byte as char);
                print!("{}", byte as char);
            }
            _ => {}
        }
        // The echo is the console's own output, not another program's.
        if let Some(log) = log.as_mut() {
            log.take_new();
        }
    }
}

/// Erases the last `count` characters of `line`, on the screen too.
fn erase(line: &mut String, count: usize) {
    for _ in 0..count {
        if line.pop().is_none() {
            return;
        }
        print!("\u{8} \u{8}");
    }
}

/// Lists directory `path` of the namespace.
fn list_directory(path: &str) {
    let entries = zx_component::namespace::open(path).and_then(zx_component::fs::read_dir);
    match entries {
        Ok(entries) => {
            for entry in entries {
                println!(
                    "{:<8} {:>8} {}",
                    zx_component::fs::kind_name(entry.kind),
                    entry.size,
                    entry.name
                );
            }
        }
        Err(_) if is_file(path) => println!("ls: {} is a file (try cat {})", path, path),
        Err(status) => println!("cannot list {}: {}", path, status),
    }
}

/// Whether `path` opens as a directory that lists.
fn is_directory(path: &str) -> bool {
    zx_component::namespace::open(path)
        .and_then(zx_component::fs::read_dir)
        .is_ok()
}

/// Whether `path` opens as a file that reads.
fn is_file(path: &str) -> bool {
    zx_component::namespace::open(path)
        .and_then(|file| zx_component::fs::read_file(file, 1))
        .is_ok()
}

/// Lists `/dev/block`: each disk's name, size and the driver's counters.
/// `df`: blobfs's usage, from `zx.blob.Blobfs.GetInfo`.
fn print_disk_usage() {
    use bindings::zx_blob::{BlobfsClient, BlobfsMarker};
    let name = BlobfsMarker::DISCOVERABLE_NAME.unwrap_or("zx.blob.Blobfs");
    let info = zx_component::connect(name)
        .map_err(|status| alloc::format!("{status}"))
        .and_then(|channel| {
            BlobfsClient::new(ChannelTransport::new(channel))
                .get_info()
                .map_err(|error| alloc::format!("{error:?}"))
        });
    let info = match info {
        Ok(response) => response.info,
        Err(why) => {
            println!("df: blobfs does not answer: {why}");
            return data::print_usage();
        }
    };
    let block = u64::from(info.block_size);
    let total = info.total_blocks * block;
    let used = info.used_blocks * block;
    let percent = (used * 100).checked_div(total).unwrap_or(0);
    println!(
        "{:<10} {:>12} {:>12} {:>12} {:>5}  blobs",
        "filesystem", "bytes", "used", "free", "use%"
    );
    println!(
        "{:<10} {:>12} {:>12} {:>12} {:>4}%  {} of {}",
        "blobfs",
        total,
        used,
        total - used,
        percent,
        info.blob_count,
        info.max_blobs
    );
    data::print_usage();
}

fn list_block_devices() {
    use bindings::zx_device_block::BlockClient;
    let entries = zx_component::namespace::open("/dev/block").and_then(zx_component::fs::read_dir);
    let entries = match entries {
        Ok(entries) => entries,
        Err(status) => {
            println!("cannot list /dev/block: {}", status);
            return;
        }
    };
    println!(
        "{:<14} {:<10} {:>12} {:>6}  interrupts/requests",
        "device", "serial", "bytes", "block"
    );
    for entry in entries {
        let path = alloc::format!("/dev/block/{}", entry.name);
        let Ok(channel) = zx_component::namespace::open(&path) else {
            continue;
        };
        let disk = BlockClient::new(ChannelTransport::new(channel));
        match (disk.get_info(), disk.get_stats()) {
            (Ok(info), Ok(stats)) => println!(
                "{:<14} {:<10} {:>12} {:>6}  {}/{}/{}",
                path,
                info.serial,
                info.info.block_count * info.info.block_size as u64,
                info.info.block_size,
                stats.stats.interrupts,
                stats.stats.requests,
                stats.stats.polls
            ),
            (Err(error), _) | (_, Err(error)) => println!("{}: {:?}", path, error),
        }
    }
}

/// Prints file `path` of the namespace (at most 64 KiB of it).
fn print_file(path: &str) {
    let data = zx_component::namespace::open(path)
        .and_then(|file| zx_component::fs::read_file(file, 64 * 1024));
    match data {
        Ok(data) => {
            // Control characters (but lines and tabs) are shown escaped:
            // a file cannot steer the terminal.
            let text: String = String::from_utf8_lossy(&data)
                .chars()
                .map(|c| match c {
                    '\n' | '\t' => String::from(c),
                    c if c.is_control() => c.escape_unicode().collect(),
                    c => String::from(c),
                })
                .collect();
            print!("{}", text);
        }
        Err(_) if is_directory(path) => {
            println!("cat: {} is a directory (try ls {})", path, path)
        }
        Err(status) => println!("cannot read {}: {}", path, status),
    }
}

/// `net`: the netstack's interface: address, gateway and counters.
fn print_interface() {
    use bindings::zx_net::ProviderClient;
    let provider = match zx_component::connect("zx.net.Provider") {
        Ok(channel) => ProviderClient::new(ChannelTransport::new(channel)),
        Err(status) => return println!("net: no netstack: {}", status),
    };
    let info = match provider.get_interface() {
        Ok(response) => response.info,
        Err(error) => return println!("net: the netstack did not answer: {:?}", error),
    };
    let ip = |a: [u8; 4]| alloc::format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
    let m = info.mac;
    println!(
        "eth0  {}/{}  gateway {}  dns {}  MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        ip(info.address),
        info.prefix_len,
        ip(info.gateway),
        ip(info.dns),
        m[0],
        m[1],
        m[2],
        m[3],
        m[4],
        m[5]
    );
    println!(
        "  ethernet  frames received {}  sent {}",
        info.frames_received, info.frames_sent
    );
    println!(
        "  tcp       accepted {}  connected {}  open {}",
        info.tcp_accepted, info.tcp_connected, info.tcp_open
    );
    println!(
        "  udp       received {}  sent {}  dropped unsent {}",
        info.udp_received, info.udp_sent, info.udp_unsent_dropped
    );
    println!(
        "  memory    mapped {} KiB  peak {} KiB",
        info.memory_mapped >> 10,
        info.memory_peak >> 10
    );
    println!("  loop      rounds {}", info.rounds);
}

/// The netstack's provider, or why not.
fn net_provider(command: &str) -> Option<bindings::zx_net::ProviderClient<ChannelTransport>> {
    match zx_component::connect("zx.net.Provider") {
        Ok(channel) => Some(bindings::zx_net::ProviderClient::new(
            ChannelTransport::new(channel),
        )),
        Err(status) => {
            println!("{}: no netstack: {}", command, status);
            None
        }
    }
}

fn dotted(a: [u8; 4]) -> alloc::string::String {
    alloc::format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

/// The addresses of `host` (a dotted address is its own).
fn resolve(
    provider: &bindings::zx_net::ProviderClient<ChannelTransport>,
    host: &str,
) -> Result<alloc::vec::Vec<[u8; 4]>, alloc::string::String> {
    use bindings::zx_net::ProviderLookupHostRequest;
    match provider.lookup_host(ProviderLookupHostRequest { name: host.into() }) {
        Ok(Ok(response)) => Ok(response.addresses),
        Ok(Err(code)) => Err(alloc::format!("{}", zx::Status(code))),
        Err(error) => Err(alloc::format!("the netstack did not answer: {:?}", error)),
    }
}

/// `lookup <host>`: the host's addresses.
fn lookup(host: &str) {
    let Some(provider) = net_provider("lookup") else {
        return;
    };
    match resolve(&provider, host) {
        Ok(addresses) => {
            let text: alloc::vec::Vec<_> = addresses.into_iter().map(dotted).collect();
            println!("{} has address {}", host, text.join(" "));
        }
        Err(why) => println!("lookup {}: {}", host, why),
    }
}

/// `ping <host> [count]`: `count` echo requests (1 to 100), one a
/// second, each waiting 1 s for its reply; round trips in the guest's
/// monotonic time.
fn ping(host: &str, count: &str) {
    use bindings::zx_net::ProviderPingRequest;
    let count = match count.parse::<u32>() {
        Ok(count) if (1..=100).contains(&count) => count,
        _ => return println!("ping: the count is 1 to 100"),
    };
    let Some(provider) = net_provider("ping") else {
        return;
    };
    let address = match resolve(&provider, host) {
        Ok(addresses) if !addresses.is_empty() => addresses[0],
        Ok(_) => return println!("ping: {} has no address", host),
        Err(why) => return println!("ping: {}: {}", host, why),
    };
    println!("PING {} ({}): 56 data bytes", host, dotted(address));
    let (mut received, mut min, mut max, mut total) = (0u32, i64::MAX, 0i64, 0i64);
    for sequence in 0..count {
        if sequence > 0 {
            let _ = zx::nanosleep(zx::deadline_after(1_000_000_000));
        }
        let request = ProviderPingRequest {
            address,
            payload_size: 56,
            timeout: 1_000_000_000,
        };
        match provider.ping(request) {
            Ok(Ok(response)) => {
                received += 1;
                min = min.min(response.rtt);
                max = max.max(response.rtt);
                total += response.rtt;
                println!(
                    "64 bytes from {}: seq={} time={}.{:03} ms",
                    dotted(address),
                    sequence,
                    response.rtt / 1_000_000,
                    response.rtt / 1_000 % 1_000
                );
            }
            Ok(Err(code)) => println!("seq={}: {}", sequence, zx::Status(code)),
            Err(error) => return println!("ping: the netstack did not answer: {:?}", error),
        }
    }
    let loss = (count - received) * 100 / count;
    println!("{} sent, {} received, {}% loss", count, received, loss);
    if received > 0 {
        let ms = |ns: i64| alloc::format!("{}.{:03}", ns / 1_000_000, ns / 1_000 % 1_000);
        println!(
            "rtt min/avg/max = {}/{}/{} ms",
            ms(min),
            ms(total / i64::from(received)),
            ms(max)
        );
    }
}

/// `net crash`: asks the netstack to crash (its test hook).
fn crash_netstack() {
    use bindings::zx_net::TestHookClient;
    let hook = match zx_component::connect("zx.net.TestHook") {
        Ok(channel) => TestHookClient::new(ChannelTransport::new(channel)),
        Err(status) => return println!("net: no test hook: {}", status),
    };
    // The netstack crashes instead of answering.
    match hook.crash() {
        Ok(()) => println!("net: the netstack answered instead of crashing"),
        Err(_) => println!("net: the netstack crashed"),
    }
}

/// Prints the records the logger kept.
fn print_component_log() {
    use bindings::zx_logger::{LogReaderClient, LogReaderReadRequest};
    let reader = match zx_component::connect("zx.logger.LogReader") {
        Ok(channel) => LogReaderClient::new(ChannelTransport::new(channel)),
        Err(status) => return println!("console: no logger: {}", status),
    };
    let mut after = 0;
    loop {
        match reader.read(LogReaderReadRequest { after }) {
            Ok(response) if !response.records.is_empty() => {
                for record in response.records {
                    println!(
                        "[{:6}.{:06}] {}: {}",
                        record.time / 1_000_000_000,
                        (record.time % 1_000_000_000) / 1000,
                        record.component,
                        record.message
                    );
                }
                after = response.next;
            }
            Ok(_) => return,
            Err(error) => return println!("console: log failed: {:?}", error),
        }
    }
}

/// Prints the end of the kernel's own log: the lines the kernel stamped
/// (`[  seconds] L module: …`) out of everything on the console, which the
/// kernel's log ring also holds (programs' output, this console's prompt
/// and echo). A kernel line that landed after a program's partial line is
/// shown from its stamp.
fn print_kernel_log(debuglog: &zx::Resource) {
    let mut text = alloc::vec::Vec::new();
    let mut from = 0;
    let mut buffer = [0u8; 4096];
    while let Ok((count, next)) = zx::debuglog_read(debuglog, from, &mut buffer) {
        text.extend_from_slice(&buffer[..count]);
        from = next;
    }
    let text = String::from_utf8_lossy(&text);
    let kernel: Vec<&str> = text.lines().filter_map(kernel_line).collect();
    for line in &kernel[kernel.len().saturating_sub(KLOG_LINES)..] {
        println!("{}", line);
    }
}

/// Most kernel lines `klog` prints.
const KLOG_LINES: usize = 40;

/// The kernel's line within `line` (from its `[  0.123456] I ` stamp), if
/// there is one.
fn kernel_line(line: &str) -> Option<&str> {
    let mut from = 0;
    while let Some(open) = line[from..].find('[').map(|at| from + at) {
        let rest = &line[open + 1..];
        if let Some(close) = rest.find("] ") {
            let stamp = rest[..close].trim_start();
            let level = &rest.as_bytes()[close + 2..];
            let is_stamp = !stamp.is_empty()
                && stamp.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && stamp.contains('.');
            let is_level = level.len() >= 2
                && matches!(level[0], b'E' | b'W' | b'I' | b'D' | b'T')
                && level[1] == b' ';
            if is_stamp && is_level {
                return Some(&line[open..]);
            }
        }
        from = open + 1;
    }
    None
}
