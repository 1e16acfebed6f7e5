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
//! | `ls` | lists the components and whether they run |
//! | `ls <path>` | lists a directory of the namespace (`/boot`, `/logs`) |
//! | `cat <path>` | prints a file of the namespace (`/boot/etc/product`) |
//! | `start <moniker>` | starts a component |
//! | `stop <moniker>` | stops a component (gracefully, then by force) |
//! | `create <parent> <collection> <name> <manifest>` | adds a child to a collection and starts it |
//! | `destroy <moniker>` | stops and removes a child of a collection |
//! | `log` | prints the components' log, from the logger |
//! | `klog` | prints the end of the kernel's log |
//! | `shutdown` | stops every component, then powers the machine off (status 0) |
//!
//! Asked to stop through its lifecycle channel, it exits. Its manifest
//! uses two kernel resources: `debug` (reading console input) and
//! `debuglog` (`klog`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

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

zx_runtime::entry!(main);

/// How often the serial port is polled for input.
const POLL_NANOS: i64 = 10_000_000;

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
    println!("console: type help for the commands");
    loop {
        print!("> ");
        let Some(line) = read_line(&input, lifecycle.as_ref(), &mut history) else {
            println!("console: asked to stop");
            return 0;
        };
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (None, _) => {}
            (Some("help"), _) => {
                println!("help | ls | start <moniker> | stop <moniker> | log | klog | shutdown");
                println!(
                    "ls <path> | cat <path>  (namespace: {})",
                    zx_component::namespace::paths().join(" ")
                );
                println!("create <parent> <collection> <name> <manifest> | destroy <moniker>");
                println!("lsdev (devices and their drivers) | lsblk (block devices)");
            }
            (Some("lsdev"), _) => print_file("/dev/devices"),
            (Some("lsblk"), _) => list_block_devices(),
            (Some("ls"), Some(path)) => list_directory(path),
            (Some("cat"), Some(path)) => print_file(path),
            (Some("ls"), None) => match realm.list() {
                Ok(list) => {
                    for component in list.components {
                        let state = match component.state {
                            ComponentState::Running => "running",
                            ComponentState::Stopped => "stopped",
                            ComponentState::Stopping => "stopping",
                        };
                        println!(
                            "{:<32} {:<8} {:<20} restarts {}",
                            component.moniker, state, component.binary, component.restarts
                        );
                    }
                }
                Err(error) => println!("console: ls failed: {:?}", error),
            },
            (Some("start"), Some(moniker)) => {
                let request = RealmStartRequest {
                    moniker: moniker.into(),
                };
                match realm.start(request) {
                    Ok(Ok(_)) => println!("started {}", moniker),
                    Ok(Err(code)) => println!("cannot start {}: {}", moniker, zx::Status(code)),
                    Err(error) => println!("console: start failed: {:?}", error),
                }
            }
            (Some("stop"), Some(moniker)) => {
                let request = RealmStopRequest {
                    moniker: moniker.into(),
                };
                match realm.stop(request) {
                    Ok(Ok(_)) => println!("stopped {}", moniker),
                    Ok(Err(code)) => println!("cannot stop {}: {}", moniker, zx::Status(code)),
                    Err(error) => println!("console: stop failed: {:?}", error),
                }
            }
            (Some("create"), Some(parent)) => {
                let (Some(collection), Some(name), Some(manifest)) =
                    (words.next(), words.next(), words.next())
                else {
                    println!("usage: create <parent> <collection> <name> <manifest>");
                    continue;
                };
                let request = RealmCreateChildRequest {
                    parent: parent.into(),
                    collection: collection.into(),
                    name: name.into(),
                    manifest: manifest.into(),
                };
                let moniker = alloc::format!("{}/{}:{}", parent, collection, name);
                match realm.create_child(request) {
                    Ok(Ok(_)) => println!("created {}", moniker),
                    Ok(Err(code)) => {
                        println!("cannot create {}: {}", moniker, zx::Status(code));
                        continue;
                    }
                    Err(error) => {
                        println!("console: create failed: {:?}", error);
                        continue;
                    }
                }
                match realm.start(RealmStartRequest {
                    moniker: moniker.clone(),
                }) {
                    Ok(Ok(_)) => println!("started {}", moniker),
                    Ok(Err(code)) => println!("cannot start {}: {}", moniker, zx::Status(code)),
                    Err(error) => println!("console: start failed: {:?}", error),
                }
            }
            (Some("destroy"), Some(moniker)) => {
                let request = RealmDestroyChildRequest {
                    moniker: moniker.into(),
                };
                match realm.destroy_child(request) {
                    Ok(Ok(_)) => println!("destroyed {}", moniker),
                    Ok(Err(code)) => println!("cannot destroy {}: {}", moniker, zx::Status(code)),
                    Err(error) => println!("console: destroy failed: {:?}", error),
                }
            }
            (Some("log"), _) => print_component_log(),
            (Some("klog"), _) => match &debuglog {
                Some(debuglog) => print_log(debuglog),
                None => println!("klog: this console has no debuglog resource"),
            },
            (Some("shutdown"), _) => {
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
            (Some(other), _) => println!("unknown command {:?}; try help", other),
        }
    }
}

/// Most lines kept for the up and down arrows.
const HISTORY: usize = 32;

/// Reads one line with line editing, echoing it: backspace, Ctrl-U (erase
/// the line), Ctrl-W (erase a word), Ctrl-C (abandon the line), and the up
/// and down arrows (earlier lines, kept in `history`). `None` once the
/// component manager asks the console to stop.
fn read_line(
    input: &zx::Resource,
    lifecycle: Option<&zx_component::Lifecycle>,
    history: &mut Vec<String>,
) -> Option<String> {
    let mut line = String::new();
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
        Err(status) => println!("cannot list {}: {}", path, status),
    }
}

/// Lists `/dev/block`: each disk's name, size and the driver's counters.
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
        Err(status) => println!("cannot read {}: {}", path, status),
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

/// Prints the last 2 KiB of the kernel's log.
fn print_log(debuglog: &zx::Resource) {
    let mut text = alloc::vec::Vec::new();
    let mut from = 0;
    let mut buffer = [0u8; 4096];
    while let Ok((count, next)) = zx::debuglog_read(debuglog, from, &mut buffer) {
        text.extend_from_slice(&buffer[..count]);
        from = next;
    }
    let start = text.len().saturating_sub(2048);
    let start = text[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(start, |p| start + p + 1);
    println!("{}", String::from_utf8_lossy(&text[start..]));
}
