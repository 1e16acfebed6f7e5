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
static CONSOLE: Mutex<Option<Serial>> = Mutex::new(None);

/// Brings up the console. Everything logged before is lost (nothing is).
pub fn init() {
    *CONSOLE.lock() = Some(Serial::init());
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
    let mut console = CONSOLE.lock();
    if let Some(serial) = console.as_mut() {
        let _ = writeln!(
            serial,
            "[{:6}.{:06}] {} {}: {}",
            nanos / 1_000_000_000,
            (nanos % 1_000_000_000) / 1000,
            level.letter(),
            module,
            args
        );
    }
}

/// Writes raw bytes (user programs' debug output) to the console.
pub fn write_raw(bytes: &[u8]) {
    if let Some(serial) = CONSOLE.lock().as_mut() {
        serial.write_bytes(bytes);
    }
}

/// Writes formatted text with no prefix (panic and fault reports).
pub fn write_fmt_raw(args: core::fmt::Arguments<'_>) {
    if let Some(serial) = CONSOLE.lock().as_mut() {
        let _ = serial.write_fmt(args);
    }
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
