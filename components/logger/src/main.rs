//! The logger: collects every component's log lines.
//!
//! It serves two protocols from its outgoing directory:
//!
//! - `zx.logger.LogSink`: components write lines. The component manager
//!   opens each connection as `zx.logger.LogSink/<moniker>`, so the logger
//!   knows who writes without trusting the writer;
//! - `zx.logger.LogReader`: reads the kept records back (the console's
//!   `log` command).
//!
//! It keeps the last [`KEEP`] records, each with the writer's moniker and the
//! time it arrived, and also prints each to the serial console. It also
//! serves them as a read-only directory capability, `logs`, holding one
//! text file, `all` (a line per record), so that `cat /logs/all` works in
//! any component whose manifest uses it.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::string::String;
use core::cell::RefCell;
use core::fmt::Write;
use idlc_runtime::{IncomingMessage, OutgoingMessage, Transport};
use zx::Channel;
use zx_component::bindings::zx_io::{DirEntry, EntryKind};
use zx_component::fs::{Node, Tree};
use zx_idl::ChannelTransport;
use zx_runtime::println;

mod bindings {
    #![allow(clippy::all, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/idl.rs"));
}

use bindings::zx_logger::{
    dispatch_log_reader, dispatch_log_sink, LogReaderReadRequest, LogReaderReadResponse,
    LogReaderServer, LogRecord, LogSinkServer, LogSinkWriteRequest,
};

zx_runtime::entry!(main);

/// How many records are kept.
const KEEP: usize = 512;

#[derive(Default)]
struct Log {
    /// (sequence number, record), oldest first.
    records: VecDeque<(u64, LogRecord)>,
    next: u64,
}

struct Sink {
    log: Rc<RefCell<Log>>,
    component: String,
}

impl LogSinkServer for Sink {
    fn write(&mut self, request: LogSinkWriteRequest) {
        let time = zx::clock_get_monotonic().into_nanos();
        println!(
            "[{:6}.{:06}] log {}: {}",
            time / 1_000_000_000,
            (time % 1_000_000_000) / 1000,
            self.component,
            Printable(&request.message)
        );
        let mut log = self.log.borrow_mut();
        log.next += 1;
        let sequence = log.next;
        let record = LogRecord {
            time,
            component: self.component.clone(),
            message: request.message,
        };
        log.records.push_back((sequence, record));
        if log.records.len() > KEEP {
            log.records.pop_front();
        }
    }
}

struct Reader {
    log: Rc<RefCell<Log>>,
}

impl LogReaderServer for Reader {
    fn read(&mut self, request: LogReaderReadRequest) -> LogReaderReadResponse {
        let log = self.log.borrow();
        let records: alloc::vec::Vec<LogRecord> = log
            .records
            .iter()
            .filter(|(sequence, _)| *sequence > request.after)
            .take(32)
            .map(|(_, record)| record.clone())
            .collect();
        let next = log
            .records
            .iter()
            .filter(|(sequence, _)| *sequence > request.after)
            .take(32)
            .last()
            .map_or(request.after, |(sequence, _)| *sequence);
        LogReaderReadResponse { records, next }
    }
}

/// The records as text, a line each.
fn render(log: &Log) -> String {
    let mut text = String::new();
    for (_, record) in &log.records {
        let _ = writeln!(
            text,
            "[{:6}.{:06}] {}: {}",
            record.time / 1_000_000_000,
            (record.time % 1_000_000_000) / 1000,
            record.component,
            record.message
        );
    }
    text
}

/// The checked path below the `logs` directory that `path` names (`""`
/// for `logs` itself), if it names one.
fn below_logs(path: &str) -> Option<String> {
    match path.strip_prefix("logs")? {
        "" => Some(String::new()),
        rest => zx_component::fs::join("", rest.strip_prefix('/')?),
    }
}

/// The `logs` directory: one file, `all`, the records as text. Each
/// connection to the file reads the records as they were when it was
/// opened (a snapshot), so rotation never tears a line.
struct LogsTree {
    log: Rc<RefCell<Log>>,
}

impl LogsTree {
    const FILE: &'static str = "all";
}

impl Tree for LogsTree {
    fn lookup(&self, path: &str) -> Option<Node> {
        match path {
            "" => Some(Node::Directory),
            Self::FILE => Some(Node::File(render(&self.log.borrow()).len() as u64)),
            _ => None,
        }
    }

    fn list(&self, path: &str) -> alloc::vec::Vec<DirEntry> {
        if !path.is_empty() {
            return alloc::vec::Vec::new();
        }
        alloc::vec![DirEntry {
            name: Self::FILE.into(),
            kind: EntryKind::File,
            size: render(&self.log.borrow()).len() as u64,
        }]
    }

    fn read(&self, _path: &str, _offset: u64, _count: usize) -> Option<alloc::vec::Vec<u8>> {
        None // every read is from a snapshot
    }

    fn snapshot(&self, path: &str) -> Option<alloc::vec::Vec<u8>> {
        (path == Self::FILE).then(|| render(&self.log.borrow()).into_bytes())
    }
}

/// A line from a component, shown with its control characters escaped
/// (`\u{1b}`), so that no writer can steer the serial console.
struct Printable<'a>(&'a str);

impl core::fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_unicode())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// Serves one connection with `dispatch` until it closes.
async fn serve(
    channel: Channel,
    mut dispatch: impl FnMut(&mut IncomingMessage) -> Option<OutgoingMessage>,
) {
    let transport = ChannelTransport::new(channel);
    while let Some(mut message) = zx_component::next_message(&transport).await {
        if let Some(reply) = dispatch(&mut message) {
            if transport.send(reply).is_err() {
                return;
            }
        }
    }
}

fn main() -> i64 {
    let Some(outgoing) = zx_component::Outgoing::take() else {
        println!("logger: no outgoing directory");
        return 1;
    };
    let Ok(mut executor) = zx_async::Executor::new() else {
        return 1;
    };
    let spawner = executor.spawner();
    let log = Rc::new(RefCell::new(Log::default()));
    let accept = async move {
        while let Some((path, channel)) = outgoing.next().await {
            if let Some(component) = path.strip_prefix("zx.logger.LogSink/") {
                let mut sink = Sink {
                    log: Rc::clone(&log),
                    component: component.into(),
                };
                spawner.spawn(serve(channel, move |message| {
                    dispatch_log_sink(&mut sink, message).ok().flatten()
                }));
            } else if let Some(below) = below_logs(&path) {
                // The `logs` directory, or a path below it.
                let tree: Rc<dyn Tree> = Rc::new(LogsTree {
                    log: Rc::clone(&log),
                });
                zx_component::fs::serve(tree, below, channel, &spawner);
            } else if path == "zx.logger.LogReader" {
                let mut reader = Reader {
                    log: Rc::clone(&log),
                };
                spawner.spawn(serve(channel, move |message| {
                    dispatch_log_reader(&mut reader, message).ok().flatten()
                }));
            } else {
                println!("logger: no service named {}", path);
            }
        }
    };
    let Some(lifecycle) = zx_component::Lifecycle::take() else {
        executor.run(accept);
        return 0;
    };
    // Serve until the component manager asks us to stop (or is gone).
    executor.spawner().spawn(accept);
    executor.run(async move { lifecycle.stopped().await });
    println!("logger: stopping");
    0
}
