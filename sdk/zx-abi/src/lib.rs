//! The system-call ABI shared by the kernel and user space.
//!
//! One crate, used by both sides, so that the kernel and the SDK cannot
//! disagree about a number. It holds the syscall numbers, the status codes
//! (Zircon's values, so that people who know Zircon read them at once), the
//! register convention, and the constants both sides need.
//!
//! Register convention (x86_64, `syscall` instruction): the syscall number in
//! `rax`; arguments in `rdi, rsi, rdx, r10, r8, r9, r12, r13` (up to eight,
//! as Zircon needs); the result in `rax` (a [`Status`], or a value for the
//! few calls documented to return one). `rcx` and `r11` are clobbered by the
//! instruction itself; every other register is preserved.
//!
//! Known gap: this first version is written by hand. The design is to declare
//! the ABI once in `idl/zx.idl` and generate this crate from it with `idlc`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

/// A status code returned by system calls. Zero is success; errors are
/// negative, with Zircon's numbering.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Status(pub i32);

macro_rules! statuses {
    ($($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
        impl Status {
            $($(#[$doc])* pub const $name: Status = Status($value);)*

            /// The status's name, as in Zircon (`ZX_ERR_` dropped).
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($value => stringify!($name),)*
                    _ => "UNKNOWN_STATUS",
                }
            }
        }
    };
}

statuses! {
    /// Success.
    OK = 0;
    /// The kernel hit a condition it did not expect.
    INTERNAL = -1;
    /// The operation is not implemented or not supported.
    NOT_SUPPORTED = -2;
    /// A resource (other than memory) is exhausted.
    NO_RESOURCES = -3;
    /// Memory is exhausted.
    NO_MEMORY = -4;
    /// An argument is invalid: a bad pointer, length or option.
    INVALID_ARGS = -10;
    /// A handle value does not name a handle of the calling process.
    BAD_HANDLE = -11;
    /// The handle's object is of the wrong type for this call.
    WRONG_TYPE = -12;
    /// The syscall number is not a syscall.
    BAD_SYSCALL = -13;
    /// An argument is outside the valid range.
    OUT_OF_RANGE = -14;
    /// A caller-provided buffer is too small.
    BUFFER_TOO_SMALL = -15;
    /// The object is not in a state where this operation is valid.
    BAD_STATE = -20;
    /// The deadline passed before the operation completed.
    TIMED_OUT = -21;
    /// The operation would block; try again later.
    SHOULD_WAIT = -22;
    /// The operation was canceled.
    CANCELED = -23;
    /// The other end of the object is closed.
    PEER_CLOSED = -24;
    /// The requested entity was not found.
    NOT_FOUND = -25;
    /// The entity already exists.
    ALREADY_EXISTS = -26;
    /// The handle lacks a right this operation needs.
    ACCESS_DENIED = -30;
}

impl Status {
    /// `Ok(())` for [`Status::OK`], `Err(self)` otherwise.
    pub fn ok(self) -> Result<(), Status> {
        if self == Status::OK {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// The status a syscall returned in `rax` (the low 32 bits, sign-extended).
    pub fn from_raw(raw: u64) -> Status {
        Status(raw as i64 as i32)
    }
}

impl core::fmt::Debug for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl core::fmt::Display for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// System-call numbers.
pub mod syscall {
    /// `debug_write(buffer: *const u8, len: usize) -> Status`: writes bytes to
    /// the kernel's debug console. `len` is at most [`super::DEBUG_WRITE_MAX`].
    pub const DEBUG_WRITE: u64 = 0;
    /// `clock_get_monotonic() -> i64`: nanoseconds since boot (never fails).
    pub const CLOCK_GET_MONOTONIC: u64 = 1;
    /// `process_exit(code: i64) -> !`: ends the calling process.
    pub const PROCESS_EXIT: u64 = 2;

    /// Number of syscalls; numbers at or above it return `BAD_SYSCALL`.
    pub const COUNT: u64 = 3;

    /// Name of a syscall number, for traces and reports.
    pub fn name(number: u64) -> &'static str {
        match number {
            DEBUG_WRITE => "debug_write",
            CLOCK_GET_MONOTONIC => "clock_get_monotonic",
            PROCESS_EXIT => "process_exit",
            _ => "invalid",
        }
    }
}

/// Largest single `debug_write`, in bytes.
pub const DEBUG_WRITE_MAX: usize = 4096;

/// First address above user space: user pointers must lie entirely below it.
/// (The top of the lower canonical half, less one guard page.)
pub const USER_ADDRESS_LIMIT: u64 = 0x0000_7fff_ffff_f000;

/// How a guest tells the host harness that it is done: the status written
/// to QEMU's `isa-debug-exit` port, which makes QEMU exit with
/// `(status << 1) | 1`. `build-image` maps it back.
pub mod guest_exit {
    /// Every program the kernel was asked to run finished with status 0.
    pub const SUCCESS: u8 = 0;
    /// The last program exited with a non-zero status or was killed.
    pub const FAILURE: u8 = 1;
    /// The kernel panicked.
    pub const KERNEL_PANIC: u8 = 100;

    /// The guest status behind QEMU's exit code, if QEMU exited through the
    /// debug-exit device.
    pub fn from_qemu_exit_code(code: i32) -> Option<u8> {
        (code & 1 == 1 && (1..=511).contains(&code)).then_some((code >> 1) as u8)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn qemu_exit_codes() {
        use super::guest_exit::*;
        assert_eq!(from_qemu_exit_code(1), Some(SUCCESS));
        assert_eq!(from_qemu_exit_code(3), Some(FAILURE));
        assert_eq!(from_qemu_exit_code(201), Some(KERNEL_PANIC));
        assert_eq!(from_qemu_exit_code(0), None);
        assert_eq!(from_qemu_exit_code(2), None);
    }

    use super::*;

    #[test]
    fn status_names_and_raw_round_trip() {
        assert_eq!(Status::OK.name(), "OK");
        assert_eq!(Status::INVALID_ARGS.name(), "INVALID_ARGS");
        assert_eq!(Status(-999).name(), "UNKNOWN_STATUS");
        // rax carries a sign-extended i32.
        assert_eq!(Status::from_raw((-10i64) as u64), Status::INVALID_ARGS);
        assert_eq!(Status::from_raw(0), Status::OK);
        assert_eq!(Status::OK.ok(), Ok(()));
        assert_eq!(Status::BAD_HANDLE.ok(), Err(Status::BAD_HANDLE));
        assert_eq!(format!("{:?}", Status::PEER_CLOSED), "PEER_CLOSED(-24)");
    }

    #[test]
    fn syscall_names() {
        assert_eq!(syscall::name(syscall::DEBUG_WRITE), "debug_write");
        assert_eq!(syscall::name(syscall::COUNT), "invalid");
    }
}
