//! Kernel logging: leveled lines on the serial console, each stamped with
//! the monotonic clock and the module that wrote it:
//!
//! ```text
//! [     0.012345] I mem: 511 MiB usable RAM in 3 ranges
//! ```
//!
//! The level is set by `loglevel=` on the command line (default `info`).
//! Messages are formatted straight to the UART under one lock, so lines of
//! different CPUs never interleave.

use crate::arch::x86_64::serial::Serial;
use core::fmt::Write;
use core::sync::atomic::{AtomicU8, Ordering};
use spin::Mutex;

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Something failed.
    Error = 0,
    /// Something is wrong but the kernel carries on.
    Warn = 1,
    /// Milestones worth a line.
    Info = 2,
    /// Details for kernel developers.
    Debug = 3,
    /// Everything.
    Trace = 4,
}

impl Level {
    fn letter(self) -> char {
        match self {
            Level::Error => 'E',
            Level::Warn => 'W',
            Level::Info => 'I',
            Level::Debug => 'D',
            Level::Trace => 'T',
        }
    }

    /// Parses `error`, `warn`, `info`, `debug`, `trace`.
    pub fn parse(name: &str) -> Option<Level> {
        Some(match name {
            "error" => Level::Error,
            "warn" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "trace" => Level::Trace,
            _ => return None,
        })
    }
}

static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
// Built in place (a const initializer in .bss): the 64 KiB ring must never
// travel through the small boot stack.
static CONSOLE: Mutex<Console> = Mutex::new(Console {
    serial: None,
    ring: [0; HISTORY],
    written: 0,
    input: [0; INPUT],
    input_start: 0,
    input_len: 0,
    writer: 0,
    line_start: true,
});

/// Bytes of typed input held until a program reads them.
const INPUT: usize = 1024;

/// Bytes of console output kept for `debuglog_read`.
const HISTORY: usize = 64 * 1024;

/// The UART plus a ring of everything written to it, so user space (the
/// logger) can read the kernel's log after the fact.
struct Console {
    serial: Option<Serial>,
    ring: [u8; HISTORY],
    /// Bytes written since boot; the ring holds the last `HISTORY`.
    written: u64,
    /// Typed input not yet read, as a ring: the UART holds one byte, so it
    /// is drained on every timer tick and nothing typed while no program
    /// reads is lost.
    input: [u8; INPUT],
    input_start: usize,
    input_len: usize,
    /// Who wrote last (a process's koid; 0: the kernel), and whether the
    /// output stands at the start of a line: when someone else writes in
    /// the middle of a line (another program's prompt), their output
    /// starts on a fresh line.
    writer: u64,
    line_start: bool,
}

impl Console {
    /// Moves the bytes waiting in the UART into the input ring, until the
    /// ring is full (then the UART holds its byte, and QEMU holds the rest
    /// back until a program reads).
    fn drain_uart(&mut self) {
        let Some(serial) = self.serial.as_mut() else {
            return;
        };
        while self.input_len < INPUT {
            let Some(byte) = serial.try_read_byte() else {
                break;
            };
            self.input[(self.input_start + self.input_len) % INPUT] = byte;
            self.input_len += 1;
        }
    }
}

impl Console {
    fn write_bytes(&mut self, bytes: &[u8]) {
        let Some(serial) = self.serial.as_mut() else {
            return;
        };
        serial.write_bytes(bytes);
        for &byte in bytes {
            self.ring[(self.written % HISTORY as u64) as usize] = byte;
            self.written += 1;
        }
        if let Some(&last) = bytes.last() {
            self.line_start = last == b'\n';
        }
    }

    /// Writes `bytes` for `writer`, on a fresh line if another writer left
    /// the output in the middle of one.
    fn write_as(&mut self, writer: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if writer != self.writer && !self.line_start {
            self.write_bytes(b"\n");
        }
        self.writer = writer;
        self.write_bytes(bytes);
    }
}

/// The kernel's own output (its log, fault and panic reports).
struct KernelOutput<'a>(&'a mut Console);

impl core::fmt::Write for KernelOutput<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.write_as(0, s.as_bytes());
        Ok(())
    }
}

/// Copies console history from stream position `from` into `out`; returns
/// (bytes copied, position after them). Positions older than the ring start
/// at the oldest byte kept.
pub fn read_history(from: u64, out: &mut [u8]) -> (usize, u64) {
    let console = CONSOLE.lock();
    let oldest = console.written.saturating_sub(HISTORY as u64);
    let start = from.clamp(oldest, console.written);
    let count = ((console.written - start) as usize).min(out.len());
    for (i, slot) in out[..count].iter_mut().enumerate() {
        *slot = console.ring[((start + i as u64) % HISTORY as u64) as usize];
    }
    (count, start + count as u64)
}

/// Brings up the console. Everything logged before is lost (nothing is).
pub fn init() {
    CONSOLE.lock().serial = Some(Serial::init());
}

/// Sets the most verbose level that is printed.
pub fn set_max_level(level: Level) {
    MAX_LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Whether lines of `level` are printed.
pub fn enabled(level: Level) -> bool {
    level as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
}

#[doc(hidden)]
pub fn _log(level: Level, module: &str, args: core::fmt::Arguments<'_>) {
    let nanos = crate::clock::monotonic_nanos();
    let module = module.strip_prefix("kernel::").unwrap_or(module);
    let _ = writeln!(
        KernelOutput(&mut CONSOLE.lock()),
        "[{:6}.{:06}] {} {}: {}",
        nanos / 1_000_000_000,
        (nanos % 1_000_000_000) / 1000,
        level.letter(),
        module,
        args
    );
}

/// Copies the bytes typed on the console so far (at most `out.len()`)
/// without taking them: [`consume_input`] does, once they were delivered.
pub fn peek_input(out: &mut [u8]) -> usize {
    let mut console = CONSOLE.lock();
    console.drain_uart();
    let count = console.input_len.min(out.len());
    for (i, slot) in out[..count].iter_mut().enumerate() {
        *slot = console.input[(console.input_start + i) % INPUT];
    }
    count
}

/// Takes the first `count` typed bytes (after [`peek_input`]).
pub fn consume_input(count: usize) {
    let mut console = CONSOLE.lock();
    let count = count.min(console.input_len);
    console.input_start = (console.input_start + count) % INPUT;
    console.input_len -= count;
}

/// Keeps typed input from being lost while no program reads it (called
/// on every timer tick). Skips a tick when the console is busy.
pub fn poll_input() {
    if let Some(mut console) = CONSOLE.try_lock() {
        console.drain_uart();
    }
}

/// Writes a user program's debug output (`writer`: its process's koid)
/// to the console.
pub fn write_raw(writer: u64, bytes: &[u8]) {
    CONSOLE.lock().write_as(writer, bytes);
}

/// Writes formatted text with no prefix (panic and fault reports).
pub fn write_fmt_raw(args: core::fmt::Arguments<'_>) {
    let _ = KernelOutput(&mut CONSOLE.lock()).write_fmt(args);
}

/// Frees the console lock if the panicking code held it.
///
/// # Safety
/// Only for the panic path, after which nothing else runs.
pub unsafe fn force_unlock_for_panic() {
    // SAFETY: the caller is the panic handler; the holder (if any) will never
    // run again, so breaking its lock cannot race.
    unsafe { CONSOLE.force_unlock() };
}

/// Logs at a level: `log!(Level::Info, "x = {}", x)`.
macro_rules! log {
    ($level:expr, $($arg:tt)*) => {
        if $crate::log::enabled($level) {
            $crate::log::_log($level, module_path!(), format_args!($($arg)*))
        }
    };
}

macro_rules! error { ($($arg:tt)*) => { log!($crate::log::Level::Error, $($arg)*) }; }
macro_rules! warn { ($($arg:tt)*) => { log!($crate::log::Level::Warn, $($arg)*) }; }
macro_rules! info { ($($arg:tt)*) => { log!($crate::log::Level::Info, $($arg)*) }; }
macro_rules! debug { ($($arg:tt)*) => { log!($crate::log::Level::Debug, $($arg)*) }; }
