//! The runtime every user program links: the `_start` entry point, the
//! panic handler, and printing to the debug log.
//!
//! A program is `#![no_std] #![no_main]` and names its main function with
//! [`entry!`]; `_start` aligns the stack, calls it, and exits the process with
//! the code it returns. A panic prints its location and message and exits
//! with [`PANIC_EXIT_CODE`].
//!
//! Known gaps (planned with the kernel-objects work): process arguments and
//! start-up handles, a heap, and an async executor.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]

// Provides memcpy & co. to the final link.
extern crate baremetal;

use core::fmt::{self, Write};

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

    extern "C" fn program_start() -> ! {
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
