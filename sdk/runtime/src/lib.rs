//! The runtime every user program links: the `_start` entry point, the
//! heap, the panic handler, and printing to the debug log.
//!
//! A program is `#![no_std] #![no_main]` and names its main function with
//! [`entry!`]. `_start` receives the handle of the bootstrap channel,
//! aligns the stack, sets up the heap, reads the start-up message
//! (`zx_abi::processargs`: the program's own process, its root VMAR, other
//! handles by kind, and its arguments), calls main, and exits the process
//! with the code main returns. A panic prints its location and message and
//! exits with [`PANIC_EXIT_CODE`].
//!
//! The heap starts in a small `.bss` block (enough to read the start-up
//! message) and then grows in VMOs mapped into a region reserved for it
//! (see `heap.rs`).
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]

// Provides memcpy & co. to the final link.
extern crate baremetal;

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU32, Ordering};
use zx::processargs as zx_abi_processargs;

static PROCESS_SELF: AtomicU32 = AtomicU32::new(zx::HANDLE_INVALID);
static VMAR_ROOT_SELF: AtomicU32 = AtomicU32::new(zx::HANDLE_INVALID);
static BOOTSTRAP: AtomicU32 = AtomicU32::new(zx::HANDLE_INVALID);

extern crate alloc;
use alloc::string::String;
use alloc::vec::Vec;

struct Startup {
    handles: spin::Mutex<Vec<(u32, zx::Handle)>>,
    args: Vec<String>,
    names: Vec<String>,
}

static STARTUP: spin::Once<Startup> = spin::Once::new();

/// The program's arguments (the first is its name).
pub fn args() -> &'static [String] {
    STARTUP.get().map_or(&[], |startup| startup.args.as_slice())
}

/// Takes the start-up handle of `kind` (see `zx_abi::processargs`), if the
/// program was given one.
pub fn take_startup_handle(kind: u32) -> Option<zx::Handle> {
    let mut handles = STARTUP.get()?.handles.lock();
    let index = handles.iter().position(|(k, _)| *k == kind)?;
    Some(handles.remove(index).1)
}

/// Takes the first start-up handle whose kind's type (low 16 bits) is
/// `kind_type`, with its full kind (the argument is in the high 16 bits).
pub fn take_startup_handle_of_type(kind_type: u32) -> Option<(u32, zx::Handle)> {
    let mut handles = STARTUP.get()?.handles.lock();
    let index = handles
        .iter()
        .position(|(k, _)| zx::processargs::kind_type(*k) == kind_type)?;
    Some(handles.remove(index))
}

/// Takes the namespace directories among the start-up handles: each with
/// its path (e.g. `/boot`).
pub fn take_namespace() -> Vec<(String, zx::Handle)> {
    let Some(startup) = STARTUP.get() else {
        return Vec::new();
    };
    let mut handles = startup.handles.lock();
    let mut namespace = Vec::new();
    let mut index = 0;
    while index < handles.len() {
        let kind = handles[index].0;
        let path = startup
            .names
            .get(zx_abi_processargs::kind_arg(kind) as usize);
        match path {
            Some(path)
                if zx_abi_processargs::kind_type(kind)
                    == zx_abi_processargs::NAMESPACE_DIRECTORY =>
            {
                namespace.push((path.clone(), handles.remove(index).1));
            }
            _ => index += 1,
        }
    }
    namespace
}

/// The channel the program was started with (kept open for later
/// messages from whoever started it).
pub fn bootstrap_channel() -> zx::HandleRef {
    zx::HandleRef(BOOTSTRAP.load(Ordering::Relaxed))
}

/// A read-only mapping of a VMO in the program's root VMAR, readable as a
/// byte slice and unmapped when dropped. The runtime holds the one
/// `unsafe` step, so components can stay `forbid(unsafe_code)`.
pub struct ReadOnlyMapping {
    address: usize,
    len: usize,
}

impl ReadOnlyMapping {
    /// Maps the first `len` bytes of `vmo` read-only.
    pub fn new(vmo: &zx::Vmo, len: u64) -> Result<ReadOnlyMapping, zx::Status> {
        let root = core::mem::ManuallyDrop::new(zx::Vmar::from_handle(zx::Handle::from_raw(
            vmar_root_self().0,
        )));
        let address = root.map(0, vmo, 0, len, zx::VmOptions::PERM_READ)?;
        Ok(ReadOnlyMapping {
            address,
            len: len as usize,
        })
    }
}

impl core::ops::Deref for ReadOnlyMapping {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: the mapping was made readable for `len` bytes by `new`
        // and is removed only by `drop`, so it lives as long as `self`;
        // nothing can write it (it is mapped read-only here).
        unsafe { core::slice::from_raw_parts(self.address as *const u8, self.len) }
    }
}

impl Drop for ReadOnlyMapping {
    fn drop(&mut self) {
        let root = core::mem::ManuallyDrop::new(zx::Vmar::from_handle(zx::Handle::from_raw(
            vmar_root_self().0,
        )));
        // SAFETY: no slice from `deref` outlives `self`.
        let _ = unsafe { root.unmap(self.address, self.len as u64) };
    }
}

/// Reads and decodes the start-up message.
#[cfg_attr(not(baremetal), allow(dead_code))]
fn read_startup(bootstrap: u32) {
    BOOTSTRAP.store(bootstrap, Ordering::Relaxed);
    let channel =
        core::mem::ManuallyDrop::new(zx::Channel::from_handle(zx::Handle::from_raw(bootstrap)));
    let mut message = zx::MessageBuf::default();
    if channel.read(&mut message).is_err() {
        return;
    }
    let Some(decoded) = zx_abi_processargs::Decoded::parse(&message.bytes, message.handles.len())
    else {
        return;
    };
    let args = decoded.args().map(String::from).collect();
    let names = decoded.names().map(String::from).collect();
    let mut handles = Vec::new();
    for (index, handle) in message.handles.into_iter().enumerate() {
        match decoded.kind(index) {
            zx_abi_processargs::PROCESS_SELF => {
                PROCESS_SELF.store(handle.into_raw(), Ordering::Relaxed)
            }
            zx_abi_processargs::VMAR_ROOT => {
                VMAR_ROOT_SELF.store(handle.into_raw(), Ordering::Relaxed)
            }
            kind => handles.push((kind, handle)),
        }
    }
    STARTUP.call_once(|| Startup {
        handles: spin::Mutex::new(handles),
        args,
        names,
    });
}

/// The program's own process (the handle the kernel passed at start).
pub fn process_self() -> zx::HandleRef {
    zx::HandleRef(PROCESS_SELF.load(Ordering::Relaxed))
}

/// The program's root VMAR (the handle the kernel passed at start).
pub fn vmar_root_self() -> zx::HandleRef {
    zx::HandleRef(VMAR_ROOT_SELF.load(Ordering::Relaxed))
}

#[cfg(not(test))]
mod heap;

/// Exit code of a process that panicked.
pub const PANIC_EXIT_CODE: i64 = 101;

/// Names the program's main function: `fn() -> i64`, the exit code.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[no_mangle]
        pub extern "C" fn __zx_program_main() -> i64 {
            let main: fn() -> i64 = $main;
            main()
        }
    };
}

/// Prints to the debug log, like `print!`.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::_print(format_args!($($arg)*)) };
}

/// Prints a line to the debug log, like `println!`.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::_print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// A `fmt::Write` sink that buffers a line and flushes it with one syscall,
/// so lines of different programs do not interleave mid-line.
struct DebugLog {
    buffer: [u8; 256],
    len: usize,
}

impl DebugLog {
    fn flush(&mut self) {
        // An error here has nowhere to be reported; the kernel only refuses
        // invalid pointers, which this buffer never is.
        let _ = zx::debug_write(&self.buffer[..self.len]);
        self.len = 0;
    }
}

impl Write for DebugLog {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &byte in s.as_bytes() {
            if self.len == self.buffer.len() {
                self.flush();
            }
            self.buffer[self.len] = byte;
            self.len += 1;
            if byte == b'\n' {
                self.flush();
            }
        }
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let mut log = DebugLog {
        buffer: [0; 256],
        len: 0,
    };
    let _ = log.write_fmt(args);
    if log.len > 0 {
        log.flush();
    }
}

#[cfg(baremetal)]
mod start {
    extern "C" {
        fn __zx_program_main() -> i64;
    }

    // The process starts here with an unspecified stack alignment: align it
    // to 16 bytes as the System V ABI requires at a call, then call Rust.
    core::arch::global_asm!(
        ".globl _start",
        "_start:",
        "and rsp, -16",
        "xor ebp, ebp",
        "call {main}",
        "ud2",
        main = sym program_start,
    );

    extern "C" fn program_start(bootstrap: u64) -> ! {
        crate::read_startup(bootstrap as u32);
        crate::heap::grow_into_vmos(crate::vmar_root_self());
        // SAFETY: `entry!` defines the symbol with this signature.
        let code = unsafe { __zx_program_main() };
        zx::process_exit(code)
    }
}

// Host `cargo check`/clippy of user programs (never linked there) gets
// its panic handler from `std`, which this crate links on the host: the
// host tools in the same workspace unify `bitflags` with its `std`
// feature, so a handler of our own would be a second one there.
#[cfg(not(baremetal))]
extern crate std;

#[cfg(not(test))]
#[cfg_attr(baremetal, panic_handler)]
#[cfg_attr(not(baremetal), allow(dead_code))]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("panic: {}", info);
    zx::process_exit(PANIC_EXIT_CODE)
}
