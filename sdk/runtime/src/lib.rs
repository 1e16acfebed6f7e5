//! The runtime every user program links: the `_start` entry point, the
//! heap, the panic handler, and printing to the debug log.
//!
//! A program is `#![no_std] #![no_main]` and names its main function with
//! [`entry!`]; `_start` aligns the stack, sets up the heap, records the
//! start-up handle to the program's own process ([`process_self`]), calls
//! main, and exits the process with the code it returns. A panic prints its
//! location and message and exits with [`PANIC_EXIT_CODE`].
//!
//! Known gaps: the heap is a fixed 1 MiB region in `.bss` until VMOs exist
//! (then it grows by mapping VMOs); start-up handles beyond the process
//! itself, and the async executor, come with ports and the bootstrap
//! channel.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]

// Provides memcpy & co. to the final link.
extern crate baremetal;

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU32, Ordering};

static PROCESS_SELF: AtomicU32 = AtomicU32::new(zx::HANDLE_INVALID);
static VMAR_ROOT_SELF: AtomicU32 = AtomicU32::new(zx::HANDLE_INVALID);

/// The program's own process (the handle the kernel passed at start).
pub fn process_self() -> zx::HandleRef {
    zx::HandleRef(PROCESS_SELF.load(Ordering::Relaxed))
}

/// The program's root VMAR (the handle the kernel passed at start).
pub fn vmar_root_self() -> zx::HandleRef {
    zx::HandleRef(VMAR_ROOT_SELF.load(Ordering::Relaxed))
}

/// Size of the heap.
pub const HEAP_SIZE: usize = 1 << 20;

#[cfg(not(test))]
mod heap {
    use linked_list_allocator::LockedHeap;

    #[global_allocator]
    pub static HEAP: LockedHeap = LockedHeap::empty();

    #[cfg_attr(not(baremetal), allow(dead_code))]
    pub static mut HEAP_MEMORY: [u8; super::HEAP_SIZE] = [0; super::HEAP_SIZE];
}

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

    extern "C" fn program_start(process_self: u64, vmar_root_self: u64) -> ! {
        use core::sync::atomic::Ordering::Relaxed;
        crate::PROCESS_SELF.store(process_self as u32, Relaxed);
        crate::VMAR_ROOT_SELF.store(vmar_root_self as u32, Relaxed);
        // SAFETY: runs once, before main and before any allocation; the
        // region is a static used by the heap alone.
        unsafe {
            let memory = core::ptr::addr_of_mut!(crate::heap::HEAP_MEMORY) as *mut u8;
            crate::heap::HEAP.lock().init(memory, crate::HEAP_SIZE);
        }
        // SAFETY: `entry!` defines the symbol with this signature.
        let code = unsafe { __zx_program_main() };
        zx::process_exit(code)
    }
}

// Not gated on `baremetal`: host `cargo check`/clippy of user programs
// needs a panic handler too (they are never linked there).
#[cfg(not(test))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("panic: {}", info);
    zx::process_exit(PANIC_EXIT_CODE)
}
