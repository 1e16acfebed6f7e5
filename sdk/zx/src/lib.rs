//! Rust bindings to the kernel's system calls.
//!
//! - [`raw`]: one `unsafe` stub per calling shape (the `syscall`
//!   instruction with up to eight arguments, per the convention in
//!   [`zx_abi`]);
//! - safe wrappers: owned handle types ([`Handle`], [`Channel`], [`Event`],
//!   [`EventPair`], [`Process`], [`Thread`], [`Socket`]) that close on drop, with methods
//!   for what each object does; free functions for the rest.
//!
//! On the host the stubs would talk to Linux, so they are compiled only
//! with `--cfg baremetal` (set by build-image); on the host every call
//! returns `NOT_SUPPORTED`, which keeps `cargo check` and clippy useful on
//! the whole workspace.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod device;
mod handle;
mod objects;
pub mod raw;
mod socket;

pub use device::{pci_ecam, Interrupt};
pub use handle::{AsHandleRef, Handle, HandleRef};
pub use objects::{
    create_exception_channel, handle_bind_escrow, task_kill, Channel, Event, EventPair, Job,
    MessageBuf, Port, Process, Resource, Thread, Timer, Vmar, Vmo,
};
pub use socket::{Socket, SocketKind, SocketThreshold};
pub use zx_abi::info;
pub use zx_abi::processargs;
pub use zx_abi::VmOptions;
pub use zx_abi::{
    syscall as numbers, ChannelCallArgs, ExceptionReport, HandleValue, InterruptInfo,
    InterruptPacket, ObjectType, PciEcam, PortPacket, Rights, SignalPacket, Signals, Status, Time,
    WaitItem, CHANNEL_BIND_RECEIVED, CHANNEL_MAX_MSG_BYTES, CHANNEL_MAX_MSG_HANDLES,
    HANDLE_ESCROW_MAX_BINDINGS, HANDLE_INVALID, INTERRUPT_GSI, INTERRUPT_ISA, INTERRUPT_MAX_GSI,
    INTERRUPT_MSI, INTERRUPT_MSI_BASE, INTERRUPT_MSI_COUNT, INTERRUPT_VIRTUAL, PACKET_INTERRUPT,
    PACKET_SIGNAL_ONE, PACKET_USER, RETCODE_EXCEPTION_KILL, RETCODE_SYSCALL_KILL, ROOT_VMAR_BASE,
    RSRC_KIND_IOPORT, RSRC_KIND_IRQ, RSRC_KIND_MMIO, RSRC_KIND_ROOT, RSRC_KIND_SYSTEM,
    RSRC_SYSTEM_COUNT, RSRC_SYSTEM_DEBUG, RSRC_SYSTEM_DEBUGLOG, RSRC_SYSTEM_DMA, RSRC_SYSTEM_POWER,
    SOCKET_DATAGRAM, SOCKET_MAX_BUFFER, SOCKET_MAX_DATAGRAMS, SOCKET_PEEK, SOCKET_SHUTDOWN_READ,
    SOCKET_SHUTDOWN_WRITE, SOCKET_STREAM, TIME_INFINITE, USER_ADDRESS_LIMIT, VMO_RESIZABLE,
};

/// Time since boot, in nanoseconds, from the monotonic clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MonotonicTime(pub i64);

impl MonotonicTime {
    /// Nanoseconds since boot.
    pub fn into_nanos(self) -> i64 {
        self.0
    }

    /// This time plus `nanos` (saturating: never past `TIME_INFINITE`).
    pub fn after_nanos(self, nanos: i64) -> Time {
        self.0.saturating_add(nanos)
    }
}

/// Turns a raw syscall return into `Ok(())` or the error status.
pub(crate) fn status(raw: u64) -> Result<(), Status> {
    Status::from_raw(raw).ok()
}

/// Writes `bytes` to the kernel's debug console.
pub fn debug_write(bytes: &[u8]) -> Result<(), Status> {
    for chunk in bytes.chunks(zx_abi::DEBUG_WRITE_MAX) {
        // SAFETY: `chunk` is a valid slice for the duration of the call.
        status(unsafe {
            raw::syscall2(
                numbers::DEBUG_WRITE,
                chunk.as_ptr() as u64,
                chunk.len() as u64,
            )
        })?;
    }
    Ok(())
}

/// `debug_write` with an unchecked pointer, for tests of the kernel's own
/// pointer validation.
///
/// # Safety
/// The kernel only reads the range and validates it, so the call cannot
/// corrupt the caller; it is `unsafe` because the pointer is arbitrary.
pub unsafe fn debug_write_raw(ptr: *const u8, len: usize) -> Status {
    // SAFETY: see above.
    Status::from_raw(unsafe { raw::syscall2(numbers::DEBUG_WRITE, ptr as u64, len as u64) })
}

/// Issues syscall `number` with raw arguments and returns `rax`, for tests
/// of the kernel's validation.
///
/// # Safety
/// Arguments that the syscall treats as pointers must be valid for it, or
/// deliberately invalid in a way the kernel must reject.
pub unsafe fn syscall_raw(number: u64, args: [u64; 8]) -> u64 {
    // SAFETY: per the contract above.
    unsafe { raw::syscall8(number, args) }
}

/// Issues an arbitrary syscall number with no arguments, for tests of the
/// kernel's dispatch.
pub fn syscall_by_number(number: u64) -> u64 {
    // SAFETY: all arguments are zero: no memory can be affected.
    unsafe { raw::syscall8(number, [0; 8]) }
}

/// The monotonic clock: nanoseconds since boot.
pub fn clock_get_monotonic() -> MonotonicTime {
    // SAFETY: no arguments.
    MonotonicTime(unsafe { raw::syscall0(numbers::CLOCK_GET_MONOTONIC) } as i64)
}

/// Sleeps until `deadline` (monotonic nanoseconds).
pub fn nanosleep(deadline: Time) -> Result<(), Status> {
    // SAFETY: no pointers.
    status(unsafe { raw::syscall1(numbers::NANOSLEEP, deadline as u64) })
}

/// A deadline `nanos` from now.
pub fn deadline_after(nanos: i64) -> Time {
    clock_get_monotonic().after_nanos(nanos)
}

/// Waits on several objects; fills each item's `pending`.
pub fn object_wait_many(items: &mut [WaitItem], deadline: Time) -> Result<(), Status> {
    // SAFETY: `items` is valid for reads and writes of its length.
    status(unsafe {
        raw::syscall3(
            numbers::OBJECT_WAIT_MANY,
            items.as_mut_ptr() as u64,
            items.len() as u64,
            deadline as u64,
        )
    })
}

/// Ends the calling process with `code`.
pub fn process_exit(code: i64) -> ! {
    // SAFETY: no pointers; does not return.
    unsafe { raw::syscall1(numbers::PROCESS_EXIT, code as u64) };
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Ends the calling thread.
pub fn thread_exit() -> ! {
    // SAFETY: no pointers; does not return.
    unsafe { raw::syscall0(numbers::THREAD_EXIT) };
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Sleeps while the word at `word` holds `current`, until `deadline`.
/// `BAD_STATE` if it no longer does.
pub fn futex_wait(
    word: &core::sync::atomic::AtomicU32,
    current: u32,
    deadline: Time,
) -> Result<(), Status> {
    // SAFETY: the kernel only reads the word, which the reference keeps valid.
    status(unsafe {
        raw::syscall3(
            numbers::FUTEX_WAIT,
            word.as_ptr() as u64,
            current as u64,
            deadline as u64,
        )
    })
}

/// Wakes up to `count` threads waiting on `word`.
pub fn futex_wake(word: &core::sync::atomic::AtomicU32, count: u32) -> Result<(), Status> {
    // SAFETY: the address is only used as a key.
    status(unsafe { raw::syscall2(numbers::FUTEX_WAKE, word.as_ptr() as u64, count as u64) })
}

/// Reads the kernel's console output from stream position `from` into
/// `buffer`; returns (bytes read, the position to read from next).
/// `resource` must grant `RSRC_SYSTEM_DEBUGLOG`.
pub fn debuglog_read(
    resource: &Resource,
    from: u64,
    buffer: &mut [u8],
) -> Result<(usize, u64), Status> {
    let (mut actual, mut next) = (0u64, 0u64);
    // SAFETY: the buffer and outputs are valid for the kernel to write.
    status(unsafe {
        raw::syscall6(
            numbers::DEBUGLOG_READ,
            resource.raw_handle() as u64,
            from,
            buffer.as_mut_ptr() as u64,
            buffer.len() as u64,
            &mut actual as *mut u64 as u64,
            &mut next as *mut u64 as u64,
        )
    })?;
    Ok((actual as usize, next))
}

/// Reads bytes typed on the serial console, without waiting
/// (`SHOULD_WAIT` when nothing has arrived). `resource` must grant
/// `RSRC_SYSTEM_DEBUG`.
pub fn debug_read(resource: &Resource, buffer: &mut [u8]) -> Result<usize, Status> {
    let mut actual = 0u64;
    // SAFETY: the buffer and output are valid for the kernel to write.
    status(unsafe {
        raw::syscall4(
            numbers::DEBUG_READ,
            resource.raw_handle() as u64,
            buffer.as_mut_ptr() as u64,
            buffer.len() as u64,
            &mut actual as *mut u64 as u64,
        )
    })?;
    Ok(actual as usize)
}

/// Powers the machine off with `status`; returns only if `resource` does
/// not grant `RSRC_SYSTEM_POWER` (with why).
pub fn system_shutdown(resource: &Resource, code: u32) -> Status {
    // SAFETY: no pointers; on success it does not return.
    Status::from_raw(unsafe {
        raw::syscall2(
            numbers::SYSTEM_SHUTDOWN,
            resource.raw_handle() as u64,
            code as u64,
        )
    })
}
