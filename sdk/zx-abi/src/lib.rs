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
//! Known gap: this version is written by hand. The design is to declare
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

/// System-call numbers. Arguments are listed in register order; `*out`
/// arguments are user pointers the kernel writes.
pub mod syscall {
    /// `debug_write(buffer, len) -> Status`: writes bytes to the kernel's
    /// debug console. `len` is at most [`super::DEBUG_WRITE_MAX`].
    pub const DEBUG_WRITE: u64 = 0;
    /// `clock_get_monotonic() -> i64`: nanoseconds since boot (never fails).
    pub const CLOCK_GET_MONOTONIC: u64 = 1;
    /// `process_exit(code) -> !`: ends the calling process.
    pub const PROCESS_EXIT: u64 = 2;
    /// `handle_close(handle) -> Status`: closing `HANDLE_INVALID` is OK.
    pub const HANDLE_CLOSE: u64 = 3;
    /// `handle_duplicate(handle, rights, *out) -> Status`: a new handle to
    /// the same object with `rights` (a subset; `SAME_RIGHTS` keeps them).
    pub const HANDLE_DUPLICATE: u64 = 4;
    /// `handle_replace(handle, rights, *out) -> Status`: like duplicate, but
    /// the old handle is closed on success (on failure it stays valid).
    pub const HANDLE_REPLACE: u64 = 5;
    /// `object_get_info(handle, topic, buffer, buffer_size, *actual, *avail)`.
    pub const OBJECT_GET_INFO: u64 = 6;
    /// `object_signal(handle, clear_mask, set_mask) -> Status`: user signals
    /// (and `EVENT_SIGNALED` on events) only.
    pub const OBJECT_SIGNAL: u64 = 7;
    /// `object_signal_peer(handle, clear_mask, set_mask) -> Status`.
    pub const OBJECT_SIGNAL_PEER: u64 = 8;
    /// `object_wait_one(handle, signals, deadline, *observed) -> Status`.
    pub const OBJECT_WAIT_ONE: u64 = 9;
    /// `object_wait_many(*items, count, deadline) -> Status`.
    pub const OBJECT_WAIT_MANY: u64 = 10;
    /// `event_create(options, *out) -> Status`.
    pub const EVENT_CREATE: u64 = 11;
    /// `eventpair_create(options, *out0, *out1) -> Status`.
    pub const EVENTPAIR_CREATE: u64 = 12;
    /// `channel_create(options, *out0, *out1) -> Status`.
    pub const CHANNEL_CREATE: u64 = 13;
    /// `channel_write(handle, options, bytes, num_bytes, handles, num_handles)`:
    /// the handles are moved into the message (closed in the caller), also
    /// when the write fails.
    pub const CHANNEL_WRITE: u64 = 14;
    /// `channel_read(handle, options, bytes, handles, num_bytes,
    /// num_handles, *actual_bytes, *actual_handles) -> Status`.
    pub const CHANNEL_READ: u64 = 15;
    /// `nanosleep(deadline) -> Status`.
    pub const NANOSLEEP: u64 = 16;
    /// `thread_create(process, name, name_len, options, *out) -> Status`.
    pub const THREAD_CREATE: u64 = 17;
    /// `thread_start(thread, entry, stack, arg1, arg2) -> Status`.
    pub const THREAD_START: u64 = 18;
    /// `thread_exit() -> !`.
    pub const THREAD_EXIT: u64 = 19;
    /// `port_create(options, *out) -> Status`.
    pub const PORT_CREATE: u64 = 20;
    /// `port_queue(port, *packet) -> Status`: queues a user packet.
    pub const PORT_QUEUE: u64 = 21;
    /// `port_wait(port, deadline, *packet) -> Status`.
    pub const PORT_WAIT: u64 = 22;
    /// `object_wait_async(handle, port, key, signals, options) -> Status`:
    /// one `PACKET_SIGNAL_ONE` packet is queued when a signal is raised.
    pub const OBJECT_WAIT_ASYNC: u64 = 23;
    /// `timer_create(options, clock_id, *out) -> Status`.
    pub const TIMER_CREATE: u64 = 24;
    /// `timer_set(timer, deadline, slack) -> Status`.
    pub const TIMER_SET: u64 = 25;
    /// `timer_cancel(timer) -> Status`.
    pub const TIMER_CANCEL: u64 = 26;

    /// `vmo_create(size, options, *out) -> Status`: pages are zero-filled on
    /// first touch. Options: `VMO_RESIZABLE`.
    pub const VMO_CREATE: u64 = 27;
    /// `vmo_read(vmo, *buffer, offset, len) -> Status`.
    pub const VMO_READ: u64 = 28;
    /// `vmo_write(vmo, *buffer, offset, len) -> Status`.
    pub const VMO_WRITE: u64 = 29;
    /// `vmo_get_size(vmo, *size) -> Status`.
    pub const VMO_GET_SIZE: u64 = 30;
    /// `vmo_set_size(vmo, size) -> Status`: only for resizable VMOs; shrinking
    /// a mapped VMO fails with `BAD_STATE`.
    pub const VMO_SET_SIZE: u64 = 31;
    /// `vmo_create_contiguous(size, options, *out) -> Status`: physically
    /// contiguous, committed pages, for device drivers.
    pub const VMO_CREATE_CONTIGUOUS: u64 = 32;
    /// `vmo_get_physical(vmo, offset, *address) -> Status`: the physical
    /// address of a contiguous VMO's byte `offset`.
    pub const VMO_GET_PHYSICAL: u64 = 33;
    /// `vmar_allocate(parent, options, offset, size, *child, *child_address)`.
    pub const VMAR_ALLOCATE: u64 = 34;
    /// `vmar_map(vmar, options, vmar_offset, vmo, vmo_offset, len, *address)`.
    pub const VMAR_MAP: u64 = 35;
    /// `vmar_unmap(vmar, address, len) -> Status`: whole mappings and
    /// sub-regions only.
    pub const VMAR_UNMAP: u64 = 36;
    /// `vmar_protect(vmar, options, address, len) -> Status`: whole mappings
    /// only.
    pub const VMAR_PROTECT: u64 = 37;

    /// `job_create(parent, options, *out) -> Status`: a child job with the
    /// parent's limits.
    pub const JOB_CREATE: u64 = 38;
    /// `job_set_limits(job, max_handles, max_memory) -> Status`: limits per
    /// process of the job's subtree (0 = unchanged); they only tighten.
    pub const JOB_SET_LIMITS: u64 = 39;
    /// `process_create(job, name, name_len, options, *process, *vmar)`.
    pub const PROCESS_CREATE: u64 = 40;
    /// `process_start(process, thread, entry, stack, handle, arg2)`: `handle`
    /// moves into the new process; its new value is the thread's `rdi`.
    pub const PROCESS_START: u64 = 41;
    /// `task_kill(task) -> Status`: a process, thread or job (and its
    /// subtree).
    pub const TASK_KILL: u64 = 42;
    /// `task_create_exception_channel(task, options, *out) -> Status`: the
    /// channel receives an [`super::ExceptionReport`] when a thread of the
    /// task (a process, or any process under a job) faults.
    pub const TASK_CREATE_EXCEPTION_CHANNEL: u64 = 43;

    /// `futex_wait(address, current_value, deadline) -> Status`: blocks
    /// while the 32-bit word at `address` holds `current_value`
    /// (`BAD_STATE` if it does not).
    pub const FUTEX_WAIT: u64 = 44;
    /// `futex_wake(address, count) -> Status`: wakes up to `count` threads
    /// waiting on `address`.
    pub const FUTEX_WAKE: u64 = 45;
    /// `debuglog_read(from, buffer, len, *actual, *next) -> Status`: reads
    /// the kernel's console output from stream position `from` (positions
    /// older than the ring start at the oldest kept byte); `SHOULD_WAIT`
    /// when nothing new exists.
    pub const DEBUGLOG_READ: u64 = 46;

    /// Number of syscalls; numbers at or above it return `BAD_SYSCALL`.
    pub const COUNT: u64 = 47;

    /// Name of a syscall number, for traces and reports.
    pub fn name(number: u64) -> &'static str {
        const NAMES: [&str; COUNT as usize] = [
            "debug_write",
            "clock_get_monotonic",
            "process_exit",
            "handle_close",
            "handle_duplicate",
            "handle_replace",
            "object_get_info",
            "object_signal",
            "object_signal_peer",
            "object_wait_one",
            "object_wait_many",
            "event_create",
            "eventpair_create",
            "channel_create",
            "channel_write",
            "channel_read",
            "nanosleep",
            "thread_create",
            "thread_start",
            "thread_exit",
            "port_create",
            "port_queue",
            "port_wait",
            "object_wait_async",
            "timer_create",
            "timer_set",
            "timer_cancel",
            "vmo_create",
            "vmo_read",
            "vmo_write",
            "vmo_get_size",
            "vmo_set_size",
            "vmo_create_contiguous",
            "vmo_get_physical",
            "vmar_allocate",
            "vmar_map",
            "vmar_unmap",
            "vmar_protect",
            "job_create",
            "job_set_limits",
            "process_create",
            "process_start",
            "task_kill",
            "task_create_exception_channel",
            "futex_wait",
            "futex_wake",
            "debuglog_read",
        ];
        NAMES.get(number as usize).copied().unwrap_or("invalid")
    }
}

/// A handle value as user space sees it: a per-process name for a
/// (kernel object, rights) pair. Values are unforgeable: they are scrambled
/// with a per-process secret and never reused while the process lives.
pub type HandleValue = u32;

/// The value that is never a handle.
pub const HANDLE_INVALID: HandleValue = 0;

/// A point in monotonic time, in nanoseconds since boot.
pub type Time = i64;

/// A deadline that never passes.
pub const TIME_INFINITE: Time = i64::MAX;

/// Largest channel message, in bytes (as in Zircon).
pub const CHANNEL_MAX_MSG_BYTES: usize = 65536;
/// Most handles in one channel message (as in Zircon).
pub const CHANNEL_MAX_MSG_HANDLES: usize = 64;
/// Most items in one `object_wait_many`.
pub const WAIT_MANY_MAX_ITEMS: usize = 64;
/// Longest thread name.
pub const MAX_NAME_LEN: usize = 32;

bitflags::bitflags! {
    /// What a handle allows (Zircon's `ZX_RIGHT_*` values).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Rights: u32 {
        /// The handle may be duplicated.
        const DUPLICATE = 1 << 0;
        /// The handle may be sent over a channel.
        const TRANSFER = 1 << 1;
        /// Read data (channel messages, VMO contents, ...).
        const READ = 1 << 2;
        /// Write data.
        const WRITE = 1 << 3;
        /// Map as executable.
        const EXECUTE = 1 << 4;
        /// Map into an address space.
        const MAP = 1 << 5;
        /// Read properties.
        const GET_PROPERTY = 1 << 6;
        /// Set properties.
        const SET_PROPERTY = 1 << 7;
        /// Enumerate children.
        const ENUMERATE = 1 << 8;
        /// Destroy (kill) the object.
        const DESTROY = 1 << 9;
        /// Set policy.
        const SET_POLICY = 1 << 10;
        /// Read policy.
        const GET_POLICY = 1 << 11;
        /// Raise or clear the object's user signals.
        const SIGNAL = 1 << 12;
        /// Raise or clear the peer's user signals.
        const SIGNAL_PEER = 1 << 13;
        /// Wait on the object's signals.
        const WAIT = 1 << 14;
        /// Inspect (object_get_info).
        const INSPECT = 1 << 15;
        /// Create child jobs and processes.
        const MANAGE_JOB = 1 << 16;
        /// Manage a process (create threads, map memory).
        const MANAGE_PROCESS = 1 << 17;
        /// Manage a thread (start it).
        const MANAGE_THREAD = 1 << 18;
        /// Apply a scheduling profile.
        const APPLY_PROFILE = 1 << 19;
        /// Not a right: "the same rights as the original" for duplicate and
        /// replace.
        const SAME_RIGHTS = 1 << 31;

        /// What nearly every handle has.
        const BASIC = Self::TRANSFER.bits() | Self::DUPLICATE.bits() | Self::WAIT.bits() | Self::INSPECT.bits();
        /// Data access.
        const IO = Self::READ.bits() | Self::WRITE.bits();
        /// Property access.
        const PROPERTY = Self::GET_PROPERTY.bits() | Self::SET_PROPERTY.bits();
    }
}

impl Rights {
    /// Default rights of a new channel endpoint (not duplicable, as in Zircon).
    pub const DEFAULT_CHANNEL: Rights = Rights::from_bits_retain(
        Rights::TRANSFER.bits()
            | Rights::WAIT.bits()
            | Rights::INSPECT.bits()
            | Rights::IO.bits()
            | Rights::SIGNAL.bits()
            | Rights::SIGNAL_PEER.bits(),
    );
    /// Default rights of a new event.
    pub const DEFAULT_EVENT: Rights =
        Rights::from_bits_retain(Rights::BASIC.bits() | Rights::SIGNAL.bits());
    /// Default rights of a new event pair endpoint.
    pub const DEFAULT_EVENTPAIR: Rights = Rights::from_bits_retain(
        Rights::BASIC.bits() | Rights::SIGNAL.bits() | Rights::SIGNAL_PEER.bits(),
    );
    /// Default rights of a new process handle.
    pub const DEFAULT_PROCESS: Rights = Rights::from_bits_retain(
        Rights::BASIC.bits()
            | Rights::IO.bits()
            | Rights::PROPERTY.bits()
            | Rights::ENUMERATE.bits()
            | Rights::DESTROY.bits()
            | Rights::SIGNAL.bits()
            | Rights::MANAGE_PROCESS.bits()
            | Rights::MANAGE_THREAD.bits(),
    );
    /// Default rights of a new port (ports are not waitable).
    pub const DEFAULT_PORT: Rights = Rights::from_bits_retain(
        Rights::TRANSFER.bits()
            | Rights::DUPLICATE.bits()
            | Rights::INSPECT.bits()
            | Rights::IO.bits(),
    );
    /// Default rights of a new timer.
    pub const DEFAULT_TIMER: Rights = Rights::from_bits_retain(
        Rights::BASIC.bits() | Rights::WRITE.bits() | Rights::SIGNAL.bits(),
    );
    /// Default rights of a new VMO. `EXECUTE` is included: W^X is enforced
    /// per mapping instead (no mapping is both writable and executable).
    pub const DEFAULT_VMO: Rights = Rights::from_bits_retain(
        Rights::BASIC.bits()
            | Rights::IO.bits()
            | Rights::PROPERTY.bits()
            | Rights::MAP.bits()
            | Rights::SIGNAL.bits()
            | Rights::EXECUTE.bits(),
    );
    /// Default rights of a new job handle.
    pub const DEFAULT_JOB: Rights = Rights::from_bits_retain(
        Rights::BASIC.bits()
            | Rights::IO.bits()
            | Rights::PROPERTY.bits()
            | Rights::ENUMERATE.bits()
            | Rights::DESTROY.bits()
            | Rights::SIGNAL.bits()
            | Rights::MANAGE_JOB.bits()
            | Rights::MANAGE_PROCESS.bits()
            | Rights::MANAGE_THREAD.bits()
            | Rights::SET_POLICY.bits()
            | Rights::GET_POLICY.bits(),
    );
    /// Rights of a process's root VMAR handle.
    pub const DEFAULT_VMAR: Rights =
        Rights::from_bits_retain(Rights::BASIC.bits() | Rights::IO.bits() | Rights::EXECUTE.bits());
    /// Default rights of a new thread handle.
    pub const DEFAULT_THREAD: Rights = Rights::from_bits_retain(
        Rights::BASIC.bits()
            | Rights::IO.bits()
            | Rights::PROPERTY.bits()
            | Rights::DESTROY.bits()
            | Rights::SIGNAL.bits()
            | Rights::MANAGE_THREAD.bits(),
    );
}

bitflags::bitflags! {
    /// Object signals (Zircon's `ZX_*_SIGNAL*` values). The meaning of the
    /// low bits depends on the object type; bits 24..32 are user signals on
    /// every object.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Signals: u32 {
        /// Channel: a message is waiting.
        const CHANNEL_READABLE = 1 << 0;
        /// Channel: a write can succeed.
        const CHANNEL_WRITABLE = 1 << 1;
        /// Channel, event pair: the other end is closed.
        const PEER_CLOSED = 1 << 2;
        /// Event, event pair: signaled by `object_signal`.
        const EVENT_SIGNALED = 1 << 3;
        /// Process, thread: it has ended.
        const TASK_TERMINATED = 1 << 3;
        /// Timer: its deadline passed.
        const TIMER_SIGNALED = 1 << 3;
        /// Thread: it is running or runnable.
        const THREAD_RUNNING = 1 << 4;
        /// User signal 0.
        const USER_0 = 1 << 24;
        /// User signal 1.
        const USER_1 = 1 << 25;
        /// User signal 2.
        const USER_2 = 1 << 26;
        /// User signal 3.
        const USER_3 = 1 << 27;
        /// User signal 4.
        const USER_4 = 1 << 28;
        /// User signal 5.
        const USER_5 = 1 << 29;
        /// User signal 6.
        const USER_6 = 1 << 30;
        /// User signal 7.
        const USER_7 = 1 << 31;
        /// All user signals.
        const USER_ALL = 0xff00_0000;
    }
}

/// Kernel object types (Zircon's `ZX_OBJ_TYPE_*` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ObjectType {
    /// A process.
    Process = 1,
    /// A thread.
    Thread = 2,
    /// A virtual memory object.
    Vmo = 3,
    /// A channel endpoint.
    Channel = 4,
    /// An event.
    Event = 5,
    /// A port.
    Port = 6,
    /// An event pair endpoint.
    EventPair = 16,
    /// A job.
    Job = 17,
    /// A virtual memory address region.
    Vmar = 18,
    /// A timer.
    Timer = 22,
}

/// One entry of `object_wait_many` (`zx_wait_item_t`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    zerocopy::FromBytes,
    zerocopy::IntoBytes,
    zerocopy::Immutable,
)]
#[repr(C)]
pub struct WaitItem {
    /// The handle to wait on.
    pub handle: HandleValue,
    /// Signals that end the wait.
    pub wait_for: u32,
    /// Written by the kernel: the signals observed.
    pub pending: u32,
}

/// A port packet's type: queued by `port_queue`.
pub const PACKET_USER: u32 = 0;
/// A port packet's type: an `object_wait_async` registration fired.
pub const PACKET_SIGNAL_ONE: u32 = 1;

/// A port packet (`zx_port_packet_t`, 48 bytes).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    zerocopy::FromBytes,
    zerocopy::IntoBytes,
    zerocopy::Immutable,
)]
#[repr(C)]
pub struct PortPacket {
    /// The key given to `object_wait_async`, or chosen by the queuer.
    pub key: u64,
    /// `PACKET_USER` or `PACKET_SIGNAL_ONE`.
    pub packet_type: u32,
    /// A status (0 for signal packets).
    pub status: i32,
    /// User data, or a [`SignalPacket`] for signal packets.
    pub payload: [u8; 32],
}

/// The payload of a `PACKET_SIGNAL_ONE` packet.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    zerocopy::FromBytes,
    zerocopy::IntoBytes,
    zerocopy::Immutable,
)]
#[repr(C)]
pub struct SignalPacket {
    /// The signals that were waited for.
    pub trigger: u32,
    /// The signals observed when the packet was queued.
    pub observed: u32,
    /// Always 1.
    pub count: u64,
    /// Monotonic time when the packet was queued.
    pub timestamp: i64,
    /// Zero.
    pub reserved: u64,
}

bitflags::bitflags! {
    /// Options of `vmar_map`, `vmar_allocate` and `vmar_protect`
    /// (Zircon's `ZX_VM_*` values).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct VmOptions: u32 {
        /// Readable.
        const PERM_READ = 1 << 0;
        /// Writable.
        const PERM_WRITE = 1 << 1;
        /// Executable.
        const PERM_EXECUTE = 1 << 2;
        /// At exactly `vmar_offset`, not wherever there is room.
        const SPECIFIC = 1 << 4;
        /// (allocate) The new region allows mappings at specific offsets.
        const CAN_MAP_SPECIFIC = 1 << 6;
        /// (allocate) The new region allows readable mappings.
        const CAN_MAP_READ = 1 << 7;
        /// (allocate) The new region allows writable mappings.
        const CAN_MAP_WRITE = 1 << 8;
        /// (allocate) The new region allows executable mappings.
        const CAN_MAP_EXECUTE = 1 << 9;
    }
}

/// `vmo_create` option: the VMO can change size.
pub const VMO_RESIZABLE: u32 = 1 << 1;

/// Largest VMO, in bytes.
pub const VMO_MAX_SIZE: u64 = 1 << 36;

/// Exit code of a process killed with `task_kill` (or with its job).
pub const RETCODE_SYSCALL_KILL: i64 = -1024;
/// Exit code of a process the kernel killed after an exception.
pub const RETCODE_EXCEPTION_KILL: i64 = -1028;

/// What an exception channel receives when a thread faults.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    zerocopy::FromBytes,
    zerocopy::IntoBytes,
    zerocopy::Immutable,
)]
#[repr(C)]
pub struct ExceptionReport {
    /// Koid of the faulting process.
    pub process_koid: u64,
    /// Koid of the faulting thread.
    pub thread_koid: u64,
    /// The exception vector (14 = page fault, 13 = general protection...).
    pub vector: u64,
    /// The CPU's error code.
    pub error_code: u64,
    /// The faulting address (CR2) for page faults.
    pub address: u64,
    /// The faulting instruction.
    pub rip: u64,
}

/// The start-up message protocol ("processargs"): the first message on a
/// new process's bootstrap channel (whose handle is the first thread's
/// `rdi`) carries its start-up handles and arguments.
///
/// Bytes: the header, then one `u32` kind per handle, then the arguments
/// as UTF-8 strings each ended by a NUL byte.
pub mod processargs {
    /// The header's magic.
    pub const MAGIC: u32 = u32::from_le_bytes(*b"ZXPA");
    /// Header length in bytes: magic, handle count, argument count.
    pub const HEADER_LEN: usize = 12;

    /// Handle kind: the process itself.
    pub const PROCESS_SELF: u32 = 1;
    /// Handle kind: the process's root VMAR.
    pub const VMAR_ROOT: u32 = 2;
    /// Handle kind: the job to create processes in.
    pub const JOB_DEFAULT: u32 = 3;
    /// Handle kind: a VMO holding the bootfs image.
    pub const BOOTFS_VMO: u32 = 4;
    /// Handle kinds from here on are the program's own.
    pub const USER_BASE: u32 = 0x100;

    /// Writes a message's bytes into `out` (which must be long enough, see
    /// [`encoded_len`]): header, handle kinds, NUL-terminated arguments.
    /// Returns the length written.
    pub fn encode(kinds: &[u32], args: &[&str], out: &mut [u8]) -> usize {
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&MAGIC.to_le_bytes());
        put(&(kinds.len() as u32).to_le_bytes());
        put(&(args.len() as u32).to_le_bytes());
        for kind in kinds {
            put(&kind.to_le_bytes());
        }
        for arg in args {
            put(arg.as_bytes());
            put(&[0]);
        }
        at
    }

    /// Bytes [`encode`] needs.
    pub fn encoded_len(kinds: &[u32], args: &[&str]) -> usize {
        HEADER_LEN + 4 * kinds.len() + args.iter().map(|a| a.len() + 1).sum::<usize>()
    }

    /// A decoded message: handle kinds (in handle order) and arguments.
    pub struct Decoded<'a> {
        kinds: &'a [u8],
        args: &'a [u8],
        arg_count: usize,
    }

    impl<'a> Decoded<'a> {
        /// Parses the bytes of a start-up message; `None` if malformed.
        pub fn parse(bytes: &'a [u8], handle_count: usize) -> Option<Decoded<'a>> {
            let word =
                |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
            if word(0)? != MAGIC || word(4)? as usize != handle_count {
                return None;
            }
            let arg_count = word(8)? as usize;
            let kinds_end = HEADER_LEN.checked_add(handle_count.checked_mul(4)?)?;
            let kinds = bytes.get(HEADER_LEN..kinds_end)?;
            let args = bytes.get(kinds_end..)?;
            if args.iter().filter(|&&b| b == 0).count() != arg_count
                || args.last().is_some_and(|&b| b != 0)
            {
                return None;
            }
            Some(Decoded {
                kinds,
                args,
                arg_count,
            })
        }

        /// The kind of handle `index`.
        pub fn kind(&self, index: usize) -> u32 {
            u32::from_le_bytes(
                self.kinds[index * 4..index * 4 + 4]
                    .try_into()
                    .unwrap_or([0; 4]),
            )
        }

        /// The arguments (invalid UTF-8 reads as empty).
        pub fn args(&self) -> impl Iterator<Item = &'a str> {
            let args = self.args;
            args.split(|&b| b == 0)
                .take(self.arg_count)
                .map(|arg| core::str::from_utf8(arg).unwrap_or(""))
        }
    }
}

/// The clock timers use.
pub const CLOCK_MONOTONIC: u32 = 0;

/// `object_get_info` topics and their records.
pub mod info {
    /// Topic: [`HandleBasic`] about the handle itself.
    pub const HANDLE_BASIC: u32 = 2;
    /// Topic: [`ProcessResources`] of a process.
    pub const PROCESS_RESOURCES: u32 = 0x1000;
    /// Topic: [`ProcessState`] of a process.
    pub const PROCESS_STATE: u32 = 0x1001;

    /// [`ProcessState::flags`]: the process has started.
    pub const PROCESS_STARTED: u32 = 1 << 0;
    /// [`ProcessState::flags`]: the process has ended.
    pub const PROCESS_EXITED: u32 = 1 << 1;

    /// Whether a process runs and how it ended.
    #[derive(
        Clone,
        Copy,
        Debug,
        Default,
        PartialEq,
        Eq,
        zerocopy::FromBytes,
        zerocopy::IntoBytes,
        zerocopy::Immutable,
    )]
    #[repr(C)]
    pub struct ProcessState {
        /// Its exit code, once ended (see `RETCODE_*`).
        pub return_code: i64,
        /// `PROCESS_STARTED` | `PROCESS_EXITED`.
        pub flags: u32,
        /// Zero.
        pub reserved: u32,
    }

    /// Basic facts about a handle (`zx_info_handle_basic_t`).
    #[derive(
        Clone,
        Copy,
        Debug,
        Default,
        PartialEq,
        Eq,
        zerocopy::FromBytes,
        zerocopy::IntoBytes,
        zerocopy::Immutable,
    )]
    #[repr(C)]
    pub struct HandleBasic {
        /// The object's koid.
        pub koid: u64,
        /// The handle's rights.
        pub rights: u32,
        /// The object's type (`ObjectType` as u32).
        pub object_type: u32,
        /// The peer's koid for two-ended objects, else 0.
        pub related_koid: u64,
        /// Zero.
        pub reserved: u64,
    }

    /// What a process holds.
    #[derive(
        Clone,
        Copy,
        Debug,
        Default,
        PartialEq,
        Eq,
        zerocopy::FromBytes,
        zerocopy::IntoBytes,
        zerocopy::Immutable,
    )]
    #[repr(C)]
    pub struct ProcessResources {
        /// Handles in its table.
        pub handle_count: u64,
        /// Threads that have not ended.
        pub thread_count: u64,
        /// Bytes of memory mapped into its address space.
        pub mapped_bytes: u64,
    }
}

/// Largest single `debug_write`, in bytes.
pub const DEBUG_WRITE_MAX: usize = 4096;

/// Where a process's root VMAR starts: the first 64 KiB stay unmapped so
/// that null-pointer accesses fault.
pub const ROOT_VMAR_BASE: u64 = 0x1_0000;

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
    fn processargs_round_trip_and_rejects_garbage() {
        use super::processargs::*;
        let kinds = [PROCESS_SELF, VMAR_ROOT, USER_BASE + 3];
        let args = ["bin/echo", "--verbose", ""];
        let mut buffer = [0u8; 128];
        let len = encode(&kinds, &args, &mut buffer);
        assert_eq!(len, encoded_len(&kinds, &args));
        let decoded = Decoded::parse(&buffer[..len], 3).unwrap();
        assert_eq!(decoded.kind(2), USER_BASE + 3);
        assert_eq!(decoded.args().collect::<Vec<_>>(), args);
        assert!(
            Decoded::parse(&buffer[..len], 2).is_none(),
            "handle count mismatch"
        );
        assert!(
            Decoded::parse(&buffer[..len - 1], 3).is_none(),
            "unterminated argument"
        );
        assert!(Decoded::parse(&buffer[..5], 3).is_none(), "truncated");
        for at in 0..len {
            let mut bad = buffer;
            bad[at] ^= 0xff;
            let _ = Decoded::parse(&bad[..len], 3).map(|d| d.args().count());
        }
    }

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
