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
//! The ABI is declared once, in `idl/zx.idl`; `build-image gen-abi` generates
//! `src/generated.rs` from it (syscall numbers and names, [`Status`],
//! [`Rights`], [`Signals`], [`VmOptions`], [`ObjectType`], the structures
//! syscalls point to, and the ABI's constants) together with the manual,
//! `docs/syscalls.md`. A golden test (`cargo test -p build-image --test
//! abi`) keeps the checked-in copies in step. What the IDL does not declare
//! is written here by hand: the `HandleValue` and `Time` types, the default
//! rights of new objects, the `object_get_info` records, the start-up message ("processargs") and the guest exit codes.
//!
//! Known gap: the kernel still dispatches on the numbers by hand; user
//! stubs and the dispatch table are not generated yet.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod generated;
pub use generated::*;

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

/// A handle value as user space sees it: a per-process name for a
/// (kernel object, rights) pair. Values are unforgeable: they are scrambled
/// with a per-process secret and never reused while the process lives.
pub type HandleValue = u32;

/// A point in monotonic time, in nanoseconds since boot.
pub type Time = i64;

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
    /// Default rights of a new interrupt object (`READ` to bind it,
    /// `WRITE` to acknowledge it, `SIGNAL` to trigger a virtual one).
    pub const DEFAULT_INTERRUPT: Rights = Rights::from_bits_retain(
        Rights::BASIC.bits() | Rights::READ.bits() | Rights::WRITE.bits() | Rights::SIGNAL.bits(),
    );
    /// Default rights of a physical VMO: a VMO's, less `EXECUTE` (device
    /// memory holds no code).
    pub const DEFAULT_PHYSICAL_VMO: Rights =
        Rights::from_bits_retain(Rights::DEFAULT_VMO.bits() & !Rights::EXECUTE.bits());
    /// Default rights of a new resource (`WRITE` lets `resource_create`
    /// narrow it; as Zircon's).
    pub const DEFAULT_RESOURCE: Rights = Rights::from_bits_retain(
        Rights::TRANSFER.bits()
            | Rights::DUPLICATE.bits()
            | Rights::INSPECT.bits()
            | Rights::WRITE.bits(),
    );
    /// Default rights of a new socket endpoint (as Zircon's).
    pub const DEFAULT_SOCKET: Rights = Rights::from_bits_retain(
        Rights::BASIC.bits()
            | Rights::IO.bits()
            | Rights::PROPERTY.bits()
            | Rights::SIGNAL.bits()
            | Rights::SIGNAL_PEER.bits(),
    );
}

/// The start-up message protocol ("processargs"): the first message on a
/// new process's bootstrap channel (whose handle is the first thread's
/// `rdi`) carries its start-up handles and arguments.
///
/// Bytes: the header, then one `u32` kind per handle, then the arguments
/// and then the namespace paths, as UTF-8 strings each ended by a NUL byte.
///
/// A kind's low 16 bits say what the handle is; the high 16 bits are an
/// argument, as in Zircon's `PA_HND(type, arg)`: for
/// [`NAMESPACE_DIRECTORY`] the index of its path among the names.
pub mod processargs {
    /// The header's magic.
    pub const MAGIC: u32 = u32::from_le_bytes(*b"ZXPA");
    /// Header length in bytes: magic, handle count, argument count, name
    /// count.
    pub const HEADER_LEN: usize = 16;

    /// Handle kind: the process itself.
    pub const PROCESS_SELF: u32 = 1;
    /// Handle kind: the process's root VMAR.
    pub const VMAR_ROOT: u32 = 2;
    /// Handle kind: the job to create processes in.
    pub const JOB_DEFAULT: u32 = 3;
    /// Handle kind: a VMO holding the bootfs image.
    pub const BOOTFS_VMO: u32 = 4;
    /// Handle kind: a component's `/svc` directory (served by the
    /// component manager; `zx.io/Directory`).
    pub const SVC_DIRECTORY: u32 = 5;
    /// Handle kind: the server end of a component's outgoing directory.
    pub const OUTGOING_DIRECTORY: u32 = 6;
    /// Handle kind: the server end of a component's lifecycle channel
    /// (`zx.process.lifecycle/Lifecycle`): the component manager asks
    /// through it that the component stop.
    pub const LIFECYCLE: u32 = 7;
    /// Handle kind: a connection to the logger (`zx.logger/LogSink`),
    /// opened by the component manager in the component's name.
    pub const LOG_SINK: u32 = 8;
    /// Handle kind: a resource (see `resource_create`); the argument says
    /// which, see [`resource`].
    pub const RESOURCE: u32 = 9;
    /// [`RESOURCE`] argument of the root resource (userboot's alone).
    pub const RESOURCE_ROOT: u16 = 0xffff;
    /// [`RESOURCE`] argument of a whole-kind resource (`RSRC_KIND_MMIO`,
    /// `_IRQ` or `_IOPORT` over its full range): this plus the kind.
    pub const RESOURCE_WHOLE_KIND: u16 = 0x100;
    /// Handle kind: a directory of the component's namespace (a
    /// `zx.io/Directory` client end), whose path is name number `arg`; see
    /// [`namespace_directory`].
    pub const NAMESPACE_DIRECTORY: u32 = 0x20;
    /// Handle kinds from here on are the program's own.
    pub const USER_BASE: u32 = 0x100;

    /// The kind of namespace directory number `index` (its path is name
    /// number `index`).
    pub const fn namespace_directory(index: u16) -> u32 {
        NAMESPACE_DIRECTORY | (index as u32) << 16
    }

    /// The resources a component may `use`, by manifest name, with their
    /// [`RESOURCE`] argument: what the component manager hands out.
    pub const RESOURCE_NAMES: [(&str, u16); 7] = [
        ("debug", crate::RSRC_SYSTEM_DEBUG as u16),
        ("debuglog", crate::RSRC_SYSTEM_DEBUGLOG as u16),
        ("power", crate::RSRC_SYSTEM_POWER as u16),
        ("dma", crate::RSRC_SYSTEM_DMA as u16),
        ("mmio", RESOURCE_WHOLE_KIND + crate::RSRC_KIND_MMIO as u16),
        ("irq", RESOURCE_WHOLE_KIND + crate::RSRC_KIND_IRQ as u16),
        (
            "ioport",
            RESOURCE_WHOLE_KIND + crate::RSRC_KIND_IOPORT as u16,
        ),
    ];

    /// The [`RESOURCE`] argument of the resource a manifest calls `name`.
    pub fn resource_arg(name: &str) -> Option<u16> {
        RESOURCE_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, arg)| *arg)
    }

    /// The kind of a resource handle: `arg` is `RSRC_SYSTEM_*` for a system
    /// resource, [`RESOURCE_WHOLE_KIND`] `+ kind` for a whole kind, or
    /// [`RESOURCE_ROOT`].
    pub const fn resource(arg: u16) -> u32 {
        RESOURCE | (arg as u32) << 16
    }

    /// What a handle of kind `kind` is (its low 16 bits).
    pub const fn kind_type(kind: u32) -> u32 {
        kind & 0xffff
    }

    /// The argument of kind `kind` (its high 16 bits).
    pub const fn kind_arg(kind: u32) -> u16 {
        (kind >> 16) as u16
    }

    /// Writes a message's bytes into `out` (which must be long enough, see
    /// [`encoded_len`]): header, handle kinds, NUL-terminated arguments and
    /// names. Returns the length written.
    pub fn encode(kinds: &[u32], args: &[&str], names: &[&str], out: &mut [u8]) -> usize {
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&MAGIC.to_le_bytes());
        put(&(kinds.len() as u32).to_le_bytes());
        put(&(args.len() as u32).to_le_bytes());
        put(&(names.len() as u32).to_le_bytes());
        for kind in kinds {
            put(&kind.to_le_bytes());
        }
        for string in args.iter().chain(names) {
            put(string.as_bytes());
            put(&[0]);
        }
        at
    }

    /// Bytes [`encode`] needs.
    pub fn encoded_len(kinds: &[u32], args: &[&str], names: &[&str]) -> usize {
        HEADER_LEN + 4 * kinds.len() + args.iter().chain(names).map(|a| a.len() + 1).sum::<usize>()
    }

    /// A decoded message: handle kinds (in handle order), arguments and
    /// names.
    pub struct Decoded<'a> {
        kinds: &'a [u8],
        strings: &'a [u8],
        arg_count: usize,
        name_count: usize,
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
            let name_count = word(12)? as usize;
            let kinds_end = HEADER_LEN.checked_add(handle_count.checked_mul(4)?)?;
            let kinds = bytes.get(HEADER_LEN..kinds_end)?;
            let strings = bytes.get(kinds_end..)?;
            if strings.iter().filter(|&&b| b == 0).count() != arg_count.checked_add(name_count)?
                || strings.last().is_some_and(|&b| b != 0)
            {
                return None;
            }
            Some(Decoded {
                kinds,
                strings,
                arg_count,
                name_count,
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
            self.strings
                .split(|&b| b == 0)
                .take(self.arg_count)
                .map(|arg| core::str::from_utf8(arg).unwrap_or(""))
        }

        /// The names: namespace paths (invalid UTF-8 reads as empty).
        pub fn names(&self) -> impl Iterator<Item = &'a str> {
            self.strings
                .split(|&b| b == 0)
                .skip(self.arg_count)
                .take(self.name_count)
                .map(|name| core::str::from_utf8(name).unwrap_or(""))
        }
    }
}

/// `object_get_info` topics and their records.
pub mod info {
    /// Topic: [`HandleBasic`] about the handle itself.
    pub const HANDLE_BASIC: u32 = 2;
    /// Topic: [`ProcessResources`] of a process.
    pub const PROCESS_RESOURCES: u32 = 0x1000;
    /// Topic: [`ProcessState`] of a process.
    pub const PROCESS_STATE: u32 = 0x1001;
    /// Topic: [`KmemStats`], the kernel's memory; asked of a resource
    /// granting `RSRC_SYSTEM_DEBUG`.
    pub const KMEM_STATS: u32 = 0x2000;
    /// Topic: [`CpuStats`], the CPU's idle time; asked of a resource
    /// granting `RSRC_SYSTEM_DEBUG`.
    pub const CPU_STATS: u32 = 0x2001;

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

    /// The kernel's memory (`zx_info_kmem_stats_t`, in part).
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
    pub struct KmemStats {
        /// Bytes of RAM the frame allocator manages.
        pub total_bytes: u64,
        /// Bytes of it free now.
        pub free_bytes: u64,
        /// Bytes the kernel heap holds (in use, or kept for reuse), the
        /// metadata and page tables of its large-block range included.
        pub heap_bytes: u64,
        /// Of those, bytes kept free for reuse.
        pub heap_free_bytes: u64,
    }

    /// The CPU's time (`zx_info_cpu_stats_t`, in part).
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
    pub struct CpuStats {
        /// TSC ticks spent halted with nothing to run since boot (under
        /// QEMU `-icount`, the virtual time skipped while idle).
        pub idle_ticks: u64,
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
        let kinds = [PROCESS_SELF, VMAR_ROOT, namespace_directory(1)];
        let args = ["bin/echo", "--verbose", ""];
        let names = ["/boot", "/data"];
        let mut buffer = [0u8; 128];
        let len = encode(&kinds, &args, &names, &mut buffer);
        assert_eq!(len, encoded_len(&kinds, &args, &names));
        let decoded = Decoded::parse(&buffer[..len], 3).unwrap();
        assert_eq!(kind_type(decoded.kind(2)), NAMESPACE_DIRECTORY);
        assert_eq!(kind_arg(decoded.kind(2)), 1);
        assert_eq!(decoded.args().collect::<Vec<_>>(), args);
        assert_eq!(decoded.names().collect::<Vec<_>>(), names);
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
