//! Typed handles for each object kind.

use crate::handle::{AsHandleRef, Handle};
use crate::raw;
use alloc::vec::Vec;
use zx_abi::info::ProcessResources;
use zx_abi::{syscall as nr, HandleValue, PortPacket, Status, Time, VmOptions, HANDLE_INVALID};

macro_rules! handle_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, PartialEq, Eq, Hash)]
        pub struct $name(Handle);

        impl $name {
            /// Wraps an untyped handle (the kernel checks the type on use).
            pub fn from_handle(handle: Handle) -> Self {
                $name(handle)
            }

            /// Unwraps the untyped handle.
            pub fn into_handle(self) -> Handle {
                self.0
            }

            /// The untyped handle.
            pub fn handle(&self) -> &Handle {
                &self.0
            }
        }

        impl AsHandleRef for $name {
            fn raw_handle(&self) -> HandleValue {
                self.0.raw_handle()
            }
        }
    };
}

handle_type!(
    /// One endpoint of a channel.
    Channel
);
handle_type!(
    /// A resource: the right to use privileged kernel services
    /// (`zx_abi::RSRC_*`).
    Resource
);

impl Resource {
    /// A resource narrower than this one: `kind` (`RSRC_KIND_*`) over
    /// `[base, base + size)`.
    pub fn create(&self, kind: u32, base: u64, size: u64) -> Result<Resource, Status> {
        let mut out = HANDLE_INVALID;
        // SAFETY: `out` is valid for the kernel to write.
        crate::status(unsafe {
            raw::syscall5(
                nr::RESOURCE_CREATE,
                self.raw_handle() as u64,
                kind as u64,
                base,
                size,
                &mut out as *mut u32 as u64,
            )
        })?;
        Ok(Resource(Handle::from_raw(out)))
    }

    /// The system resource `which` (`RSRC_SYSTEM_*`) made from this one.
    pub fn system(&self, which: u64) -> Result<Resource, Status> {
        self.create(zx_abi::RSRC_KIND_SYSTEM, which, 1)
    }

    /// The kernel's memory figures (this resource must grant
    /// `RSRC_SYSTEM_DEBUG`).
    pub fn kmem_stats(&self) -> Result<zx_abi::info::KmemStats, Status> {
        let mut record = zx_abi::info::KmemStats::default();
        // SAFETY: `record` is valid for the kernel to write its size.
        crate::status(unsafe {
            raw::syscall6(
                nr::OBJECT_GET_INFO,
                self.raw_handle() as u64,
                zx_abi::info::KMEM_STATS as u64,
                &mut record as *mut zx_abi::info::KmemStats as u64,
                core::mem::size_of::<zx_abi::info::KmemStats>() as u64,
                0,
                0,
            )
        })?;
        Ok(record)
    }

    /// The CPU's idle time (this resource must grant `RSRC_SYSTEM_DEBUG`).
    pub fn cpu_stats(&self) -> Result<zx_abi::info::CpuStats, Status> {
        let mut record = zx_abi::info::CpuStats::default();
        // SAFETY: `record` is valid for the kernel to write its size.
        crate::status(unsafe {
            raw::syscall6(
                nr::OBJECT_GET_INFO,
                self.raw_handle() as u64,
                zx_abi::info::CPU_STATS as u64,
                &mut record as *mut zx_abi::info::CpuStats as u64,
                core::mem::size_of::<zx_abi::info::CpuStats>() as u64,
                0,
                0,
            )
        })?;
        Ok(record)
    }
}
handle_type!(
    /// An event.
    Event
);
handle_type!(
    /// One end of an event pair.
    EventPair
);
handle_type!(
    /// A process.
    Process
);
handle_type!(
    /// A thread.
    Thread
);
handle_type!(
    /// A port.
    Port
);
handle_type!(
    /// A timer.
    Timer
);
handle_type!(
    /// A virtual memory object.
    Vmo
);
handle_type!(
    /// A job.
    Job
);
handle_type!(
    /// A virtual memory address region.
    Vmar
);

fn pair(number: u64) -> Result<(Handle, Handle), Status> {
    let (mut a, mut b) = (HANDLE_INVALID, HANDLE_INVALID);
    // SAFETY: both outputs are valid u32s for the kernel to write.
    crate::status(unsafe {
        raw::syscall3(
            number,
            0,
            &mut a as *mut u32 as u64,
            &mut b as *mut u32 as u64,
        )
    })?;
    Ok((Handle::from_raw(a), Handle::from_raw(b)))
}

/// A received message: bytes and handles.
#[derive(Debug, Default)]
pub struct MessageBuf {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The handles.
    pub handles: Vec<Handle>,
}

impl Channel {
    /// A new pair of connected endpoints.
    pub fn create() -> Result<(Channel, Channel), Status> {
        let (a, b) = pair(nr::CHANNEL_CREATE)?;
        Ok((Channel(a), Channel(b)))
    }

    /// Writes a message; the handles move into it (they are consumed even
    /// if the write fails).
    pub fn write(&self, bytes: &[u8], handles: Vec<Handle>) -> Result<(), Status> {
        let values: Vec<HandleValue> = handles.into_iter().map(Handle::into_raw).collect();
        // SAFETY: both slices are valid for their lengths.
        crate::status(unsafe {
            raw::syscall6(
                nr::CHANNEL_WRITE,
                self.raw_handle() as u64,
                0,
                bytes.as_ptr() as u64,
                bytes.len() as u64,
                values.as_ptr() as u64,
                values.len() as u64,
            )
        })
    }

    /// Reads a message into caller buffers; returns (bytes, handles) read,
    /// or on `BUFFER_TOO_SMALL` the sizes needed in `needed`.
    #[inline]
    pub fn read_raw(
        &self,
        bytes: &mut [u8],
        handles: &mut [HandleValue],
        needed: &mut (u32, u32),
    ) -> Result<(usize, usize), Status> {
        self.read_raw_etc(0, bytes, handles, needed)
    }

    /// [`Channel::read_raw`] with `options` (0 or
    /// `CHANNEL_BIND_RECEIVED`: the handles arrive bound to the escrow this
    /// endpoint is bound to).
    pub fn read_raw_etc(
        &self,
        options: u32,
        bytes: &mut [u8],
        handles: &mut [HandleValue],
        needed: &mut (u32, u32),
    ) -> Result<(usize, usize), Status> {
        let (mut actual_bytes, mut actual_handles) = (0u32, 0u32);
        // SAFETY: the buffers and outputs are valid for the kernel to write.
        let result = crate::status(unsafe {
            raw::syscall8(
                nr::CHANNEL_READ,
                [
                    self.raw_handle() as u64,
                    u64::from(options),
                    bytes.as_mut_ptr() as u64,
                    handles.as_mut_ptr() as u64,
                    bytes.len() as u64,
                    handles.len() as u64,
                    &mut actual_bytes as *mut u32 as u64,
                    &mut actual_handles as *mut u32 as u64,
                ],
            )
        });
        *needed = (actual_bytes, actual_handles);
        result.map(|()| (actual_bytes as usize, actual_handles as usize))
    }

    /// Writes `bytes` (whose first four bytes the kernel replaces with a
    /// transaction id) and waits until `deadline` for the reply with the
    /// same id, which is read into `reply` (other messages stay queued).
    #[inline]
    pub fn call(
        &self,
        bytes: &[u8],
        handles: Vec<Handle>,
        deadline: Time,
        reply: &mut MessageBuf,
    ) -> Result<(), Status> {
        self.call_etc(0, bytes, handles, deadline, reply)
    }

    /// [`Channel::call`] with `options`: 0, or `CHANNEL_BIND_RECEIVED`,
    /// with which the reply's handles arrive already bound to the escrow
    /// this endpoint is bound to (`handle_bind_escrow`), and a reply that
    /// cannot be taken so stays queued here (docs/hot-swap.md).
    pub fn call_etc(
        &self,
        options: u32,
        bytes: &[u8],
        handles: Vec<Handle>,
        deadline: Time,
        reply: &mut MessageBuf,
    ) -> Result<(), Status> {
        // Most calls carry no handles: nothing to convert then.
        let values: Vec<HandleValue> = if handles.is_empty() {
            Vec::new()
        } else {
            handles.into_iter().map(Handle::into_raw).collect()
        };
        // Not initialised: the kernel writes as many values as it reports.
        let mut reply_handles =
            core::mem::MaybeUninit::<[HandleValue; zx_abi::CHANNEL_MAX_MSG_HANDLES]>::uninit();
        // Room for the largest reply, without initialising it: the kernel
        // writes the bytes and says how many.
        reply.bytes.clear();
        reply.bytes.reserve(zx_abi::CHANNEL_MAX_MSG_BYTES);
        let args = zx_abi::ChannelCallArgs {
            write_bytes: bytes.as_ptr() as u64,
            write_handles: values.as_ptr() as u64,
            read_bytes: reply.bytes.spare_capacity_mut().as_mut_ptr() as u64,
            read_handles: reply_handles.as_mut_ptr() as u64,
            write_num_bytes: bytes.len() as u32,
            write_num_handles: values.len() as u32,
            read_num_bytes: zx_abi::CHANNEL_MAX_MSG_BYTES as u32,
            read_num_handles: zx_abi::CHANNEL_MAX_MSG_HANDLES as u32,
        };
        let (mut actual_bytes, mut actual_handles) = (0u32, 0u32);
        // SAFETY: every buffer in `args` is valid for its length for the
        // kernel to read or write; the outputs are valid u32s.
        let result = crate::status(unsafe {
            raw::syscall6(
                nr::CHANNEL_CALL,
                self.raw_handle() as u64,
                u64::from(options),
                deadline as u64,
                &args as *const zx_abi::ChannelCallArgs as u64,
                &mut actual_bytes as *mut u32 as u64,
                &mut actual_handles as *mut u32 as u64,
            )
        });
        match result {
            Ok(()) => {
                // SAFETY: the kernel wrote `actual_bytes` (at most the
                // capacity reserved above) bytes at the start of the buffer.
                unsafe { reply.bytes.set_len(actual_bytes as usize) };
                let count = (actual_handles as usize).min(zx_abi::CHANNEL_MAX_MSG_HANDLES);
                // SAFETY: the kernel wrote `actual_handles` values (at most
                // the array's length) at its start; only those are read.
                let received = unsafe {
                    core::slice::from_raw_parts(reply_handles.as_ptr().cast::<HandleValue>(), count)
                };
                if received.is_empty() {
                    reply.handles.clear();
                } else {
                    reply.handles = received.iter().map(|&h| Handle::from_raw(h)).collect();
                }
                Ok(())
            }
            Err(status) => {
                reply.bytes.clear();
                Err(status)
            }
        }
    }

    /// The receive fastpath (`channel_recv`): writes `reply` first when
    /// given (bytes and handle values, which leave this process), then
    /// receives the next message into `bytes` and `handles`, waiting
    /// inside the receive until `deadline` if none is queued. Returns the
    /// counts received; on `BUFFER_TOO_SMALL` the message stays queued and
    /// `needed` receives its sizes.
    pub fn recv_raw(
        &self,
        reply: Option<(&[u8], &[HandleValue])>,
        bytes: &mut [u8],
        handles: &mut [HandleValue],
        deadline: Time,
        needed: &mut (u32, u32),
    ) -> Result<(usize, usize), Status> {
        let (options, write) = match reply {
            Some(write) => (zx_abi::CHANNEL_RECV_REPLY, write),
            None => (0, (&[][..], &[][..])),
        };
        let args = zx_abi::ChannelCallArgs {
            write_bytes: write.0.as_ptr() as u64,
            write_handles: write.1.as_ptr() as u64,
            read_bytes: bytes.as_mut_ptr() as u64,
            read_handles: handles.as_mut_ptr() as u64,
            write_num_bytes: write.0.len() as u32,
            write_num_handles: write.1.len() as u32,
            read_num_bytes: bytes.len() as u32,
            read_num_handles: handles.len() as u32,
        };
        let (mut actual_bytes, mut actual_handles) = (0u32, 0u32);
        // SAFETY: every buffer in `args` is valid for its length for the
        // kernel to read or write; the outputs are valid u32s.
        let result = crate::status(unsafe {
            raw::syscall6(
                nr::CHANNEL_RECV,
                self.raw_handle() as u64,
                options as u64,
                deadline as u64,
                &args as *const zx_abi::ChannelCallArgs as u64,
                &mut actual_bytes as *mut u32 as u64,
                &mut actual_handles as *mut u32 as u64,
            )
        });
        *needed = (actual_bytes, actual_handles);
        result.map(|()| (actual_bytes as usize, actual_handles as usize))
    }

    /// Receives the next message into `buffer` (reusing its memory),
    /// waiting inside the receive until `deadline`; with `reply`, writes
    /// it first (`channel_recv` with `CHANNEL_RECV_REPLY`: a server's
    /// reply-and-wait in one syscall). The reply's handles are consumed
    /// whatever the outcome.
    pub fn recv(
        &self,
        reply: Option<(&[u8], Vec<Handle>)>,
        buffer: &mut MessageBuf,
        deadline: Time,
    ) -> Result<(), Status> {
        let values: Vec<HandleValue>;
        let reply = match reply {
            Some((bytes, handles)) => {
                values = handles.into_iter().map(Handle::into_raw).collect();
                Some((bytes, &values[..]))
            }
            None => None,
        };
        let mut handles =
            core::mem::MaybeUninit::<[HandleValue; zx_abi::CHANNEL_MAX_MSG_HANDLES]>::uninit();
        // Room for the largest message, without initialising it: the
        // kernel writes the bytes and says how many.
        buffer.bytes.clear();
        buffer.bytes.reserve(zx_abi::CHANNEL_MAX_MSG_BYTES);
        let capacity = buffer.bytes.capacity().min(u32::MAX as usize);
        let args = zx_abi::ChannelCallArgs {
            write_bytes: reply.map_or(0, |r| r.0.as_ptr() as u64),
            write_handles: reply.map_or(0, |r| r.1.as_ptr() as u64),
            read_bytes: buffer.bytes.spare_capacity_mut().as_mut_ptr() as u64,
            read_handles: handles.as_mut_ptr() as u64,
            write_num_bytes: reply.map_or(0, |r| r.0.len() as u32),
            write_num_handles: reply.map_or(0, |r| r.1.len() as u32),
            read_num_bytes: capacity as u32,
            read_num_handles: zx_abi::CHANNEL_MAX_MSG_HANDLES as u32,
        };
        let options = if reply.is_some() {
            zx_abi::CHANNEL_RECV_REPLY
        } else {
            0
        };
        let (mut actual_bytes, mut actual_handles) = (0u32, 0u32);
        // SAFETY: every buffer in `args` is valid for its length for the
        // kernel to read or write; the outputs are valid u32s.
        let result = crate::status(unsafe {
            raw::syscall6(
                nr::CHANNEL_RECV,
                self.raw_handle() as u64,
                options as u64,
                deadline as u64,
                &args as *const zx_abi::ChannelCallArgs as u64,
                &mut actual_bytes as *mut u32 as u64,
                &mut actual_handles as *mut u32 as u64,
            )
        });
        buffer.handles.clear();
        result?;
        // SAFETY: the kernel wrote `actual_bytes` (at most the capacity
        // given) bytes at the start of the buffer.
        unsafe { buffer.bytes.set_len(actual_bytes as usize) };
        let count = (actual_handles as usize).min(zx_abi::CHANNEL_MAX_MSG_HANDLES);
        // SAFETY: the kernel wrote `actual_handles` values at the start of
        // the array (at most its length); only those are read.
        let received =
            unsafe { core::slice::from_raw_parts(handles.as_ptr().cast::<HandleValue>(), count) };
        buffer
            .handles
            .extend(received.iter().map(|&h| Handle::from_raw(h)));
        Ok(())
    }

    /// Hands the request with call txid `txid`, read with [`Channel::recv`]
    /// and not answered, back to the front of the queue
    /// (`CHANNEL_RECV_RETURN`).
    pub fn return_request(&self, txid: u32) -> Result<(), Status> {
        let txid = txid.to_le_bytes();
        let args = zx_abi::ChannelCallArgs {
            write_bytes: txid.as_ptr() as u64,
            write_handles: 0,
            read_bytes: 0,
            read_handles: 0,
            write_num_bytes: 4,
            write_num_handles: 0,
            read_num_bytes: 0,
            read_num_handles: 0,
        };
        // SAFETY: `args` and the four bytes it names are valid for the
        // kernel to read.
        crate::status(unsafe {
            raw::syscall6(
                nr::CHANNEL_RECV,
                self.raw_handle() as u64,
                zx_abi::CHANNEL_RECV_RETURN as u64,
                0,
                &args as *const zx_abi::ChannelCallArgs as u64,
                0,
                0,
            )
        })
    }

    /// Reads the next message, growing `buffer` as needed.
    pub fn read(&self, buffer: &mut MessageBuf) -> Result<(), Status> {
        self.read_etc(0, buffer)
    }

    /// [`Channel::read`] with `options` (0 or `CHANNEL_BIND_RECEIVED`: the
    /// handles arrive bound to the escrow this endpoint is bound to;
    /// `BAD_STATE` if it is bound to none).
    pub fn read_etc(&self, options: u32, buffer: &mut MessageBuf) -> Result<(), Status> {
        let mut handles = [HANDLE_INVALID; zx_abi::CHANNEL_MAX_MSG_HANDLES];
        if buffer.bytes.capacity() < 256 {
            buffer.bytes.reserve(256);
        }
        loop {
            let capacity = buffer.bytes.capacity();
            buffer.bytes.resize(capacity, 0);
            let mut needed = (0, 0);
            match self.read_raw_etc(options, &mut buffer.bytes, &mut handles, &mut needed) {
                Ok((n_bytes, n_handles)) => {
                    buffer.bytes.truncate(n_bytes);
                    buffer.handles = handles[..n_handles]
                        .iter()
                        .map(|&h| Handle::from_raw(h))
                        .collect();
                    return Ok(());
                }
                Err(Status::BUFFER_TOO_SMALL) => {
                    buffer.bytes.reserve(needed.0 as usize);
                }
                Err(status) => return Err(status),
            }
        }
    }
}

impl Event {
    /// A new event.
    pub fn create() -> Result<Event, Status> {
        let mut out = HANDLE_INVALID;
        // SAFETY: `out` is valid for the kernel to write.
        crate::status(unsafe { raw::syscall2(nr::EVENT_CREATE, 0, &mut out as *mut u32 as u64) })?;
        Ok(Event(Handle::from_raw(out)))
    }
}

impl EventPair {
    /// A new pair of linked ends.
    pub fn create() -> Result<(EventPair, EventPair), Status> {
        let (a, b) = pair(nr::EVENTPAIR_CREATE)?;
        Ok((EventPair(a), EventPair(b)))
    }
}

impl Process {
    /// Resource counts of the process.
    pub fn resources(&self) -> Result<ProcessResources, Status> {
        let mut record = ProcessResources::default();
        // SAFETY: `record` is valid for the kernel to write its size.
        crate::status(unsafe {
            raw::syscall6(
                nr::OBJECT_GET_INFO,
                self.raw_handle() as u64,
                zx_abi::info::PROCESS_RESOURCES as u64,
                &mut record as *mut ProcessResources as u64,
                core::mem::size_of::<ProcessResources>() as u64,
                0,
                0,
            )
        })?;
        Ok(record)
    }

    /// Creates a thread in this process (not started).
    pub fn create_thread(&self, name: &str) -> Result<Thread, Status> {
        let mut out = HANDLE_INVALID;
        // SAFETY: the name and output are valid for the kernel.
        crate::status(unsafe {
            raw::syscall5(
                nr::THREAD_CREATE,
                self.raw_handle() as u64,
                name.as_ptr() as u64,
                name.len() as u64,
                0,
                &mut out as *mut u32 as u64,
            )
        })?;
        Ok(Thread(Handle::from_raw(out)))
    }
}

impl Process {
    /// Starts the process's first thread at `entry` with stack `stack`;
    /// `argument` moves into the process and its new value is the thread's
    /// first argument.
    pub fn start(
        &self,
        thread: &Thread,
        entry: usize,
        stack: usize,
        argument: Handle,
        arg2: u64,
    ) -> Result<(), Status> {
        let argument = argument.into_raw();
        // SAFETY: no memory is passed.
        let result = crate::status(unsafe {
            raw::syscall6(
                nr::PROCESS_START,
                self.raw_handle() as u64,
                thread.raw_handle() as u64,
                entry as u64,
                stack as u64,
                argument as u64,
                arg2,
            )
        });
        if result.is_err() {
            // Not transferred: close it here.
            drop(Handle::from_raw(argument));
        }
        result
    }

    /// Whether the process started, and how it ended.
    pub fn state(&self) -> Result<zx_abi::info::ProcessState, Status> {
        let mut record = zx_abi::info::ProcessState::default();
        // SAFETY: `record` is valid for the kernel to write its size.
        crate::status(unsafe {
            raw::syscall6(
                nr::OBJECT_GET_INFO,
                self.raw_handle() as u64,
                zx_abi::info::PROCESS_STATE as u64,
                &mut record as *mut zx_abi::info::ProcessState as u64,
                core::mem::size_of::<zx_abi::info::ProcessState>() as u64,
                0,
                0,
            )
        })?;
        Ok(record)
    }
}

/// Kills a process, thread or job (and everything under a job).
pub fn task_kill(task: &impl AsHandleRef) -> Result<(), Status> {
    // SAFETY: no memory is passed.
    crate::status(unsafe { raw::syscall1(nr::TASK_KILL, task.raw_handle() as u64) })
}

/// Binds `handle` to the escrow channel `escrow`: if this process ends
/// while it still holds `handle`, the kernel moves the handle into a
/// message on `escrow` (its bytes: the handle's value, little-endian
/// `u32`) instead of closing it. The binding ends when the handle leaves
/// the process. See `handle_bind_escrow` in docs/syscalls.md.
pub fn handle_bind_escrow(handle: &impl AsHandleRef, escrow: &Channel) -> Result<(), Status> {
    // SAFETY: no memory is passed.
    crate::status(unsafe {
        raw::syscall2(
            nr::HANDLE_BIND_ESCROW,
            handle.raw_handle() as u64,
            escrow.raw_handle() as u64,
        )
    })
}

/// A channel that receives an `ExceptionReport` when a thread of `task` (a
/// process, or any process under a job) faults.
pub fn create_exception_channel(task: &impl AsHandleRef) -> Result<Channel, Status> {
    let mut out = HANDLE_INVALID;
    // SAFETY: `out` is valid for the kernel to write.
    crate::status(unsafe {
        raw::syscall3(
            nr::TASK_CREATE_EXCEPTION_CHANNEL,
            task.raw_handle() as u64,
            0,
            &mut out as *mut u32 as u64,
        )
    })?;
    Ok(Channel(Handle::from_raw(out)))
}

impl Job {
    /// A child job with this job's limits.
    pub fn create_child(&self) -> Result<Job, Status> {
        let mut out = HANDLE_INVALID;
        // SAFETY: `out` is valid for the kernel to write.
        crate::status(unsafe {
            raw::syscall3(
                nr::JOB_CREATE,
                self.raw_handle() as u64,
                0,
                &mut out as *mut u32 as u64,
            )
        })?;
        Ok(Job(Handle::from_raw(out)))
    }

    /// Tightens the limits of the job's subtree (0: unchanged): handles,
    /// mapped bytes and threads per process, and processes in the subtree.
    pub fn set_limits(
        &self,
        max_handles: u64,
        max_memory: u64,
        max_threads: u64,
        max_processes: u64,
    ) -> Result<(), Status> {
        // SAFETY: no memory is passed.
        crate::status(unsafe {
            raw::syscall5(
                nr::JOB_SET_LIMITS,
                self.raw_handle() as u64,
                max_handles,
                max_memory,
                max_threads,
                max_processes,
            )
        })
    }

    /// Creates an empty process in the job; returns it and its root VMAR.
    pub fn create_process(&self, name: &str) -> Result<(Process, Vmar), Status> {
        let (mut process, mut vmar) = (HANDLE_INVALID, HANDLE_INVALID);
        // SAFETY: the name and outputs are valid for the kernel.
        crate::status(unsafe {
            raw::syscall6(
                nr::PROCESS_CREATE,
                self.raw_handle() as u64,
                name.as_ptr() as u64,
                name.len() as u64,
                0,
                &mut process as *mut u32 as u64,
                &mut vmar as *mut u32 as u64,
            )
        })?;
        Ok((
            Process(Handle::from_raw(process)),
            Vmar(Handle::from_raw(vmar)),
        ))
    }
}

impl Thread {
    /// Starts the thread at `entry` with stack pointer `stack` and two
    /// arguments (in `rdi` and `rsi`).
    pub fn start(&self, entry: usize, stack: usize, arg1: u64, arg2: u64) -> Result<(), Status> {
        // SAFETY: no memory is passed; the kernel validates the addresses
        // only as user addresses, the thread's own code is responsible for
        // what it runs.
        crate::status(unsafe {
            raw::syscall5(
                nr::THREAD_START,
                self.raw_handle() as u64,
                entry as u64,
                stack as u64,
                arg1,
                arg2,
            )
        })
    }
}

impl Port {
    /// A new port.
    pub fn create() -> Result<Port, Status> {
        let mut out = HANDLE_INVALID;
        // SAFETY: `out` is valid for the kernel to write.
        crate::status(unsafe { raw::syscall2(nr::PORT_CREATE, 0, &mut out as *mut u32 as u64) })?;
        Ok(Port(Handle::from_raw(out)))
    }

    /// Queues a user packet.
    pub fn queue(&self, packet: &PortPacket) -> Result<(), Status> {
        // SAFETY: the packet is valid for the kernel to read.
        crate::status(unsafe {
            raw::syscall2(
                nr::PORT_QUEUE,
                self.raw_handle() as u64,
                packet as *const PortPacket as u64,
            )
        })
    }

    /// Waits for the next packet until `deadline`.
    pub fn wait(&self, deadline: Time) -> Result<PortPacket, Status> {
        let mut packet = PortPacket::default();
        // SAFETY: the packet is valid for the kernel to write.
        crate::status(unsafe {
            raw::syscall3(
                nr::PORT_WAIT,
                self.raw_handle() as u64,
                deadline as u64,
                &mut packet as *mut PortPacket as u64,
            )
        })?;
        Ok(packet)
    }
}

impl Timer {
    /// A new timer on the monotonic clock.
    pub fn create() -> Result<Timer, Status> {
        let mut out = HANDLE_INVALID;
        // SAFETY: `out` is valid for the kernel to write.
        crate::status(unsafe {
            raw::syscall3(
                nr::TIMER_CREATE,
                0,
                zx_abi::CLOCK_MONOTONIC as u64,
                &mut out as *mut u32 as u64,
            )
        })?;
        Ok(Timer(Handle::from_raw(out)))
    }

    /// Arms the timer for `deadline`.
    pub fn set(&self, deadline: Time, slack: i64) -> Result<(), Status> {
        // SAFETY: no pointers.
        crate::status(unsafe {
            raw::syscall3(
                nr::TIMER_SET,
                self.raw_handle() as u64,
                deadline as u64,
                slack as u64,
            )
        })
    }

    /// Disarms the timer.
    pub fn cancel(&self) -> Result<(), Status> {
        // SAFETY: no pointers.
        crate::status(unsafe { raw::syscall1(nr::TIMER_CANCEL, self.raw_handle() as u64) })
    }
}

impl Vmo {
    /// A new VMO of `size` bytes (rounded up to pages), zero-filled on
    /// demand. `options`: 0 or `VMO_RESIZABLE`.
    pub fn create(size: u64, options: u32) -> Result<Vmo, Status> {
        let mut out = HANDLE_INVALID;
        // SAFETY: `out` is valid for the kernel to write.
        crate::status(unsafe {
            raw::syscall3(
                nr::VMO_CREATE,
                size,
                options as u64,
                &mut out as *mut u32 as u64,
            )
        })?;
        Ok(Vmo(Handle::from_raw(out)))
    }

    /// A physically contiguous, committed VMO (for drivers); `resource`
    /// must grant `RSRC_SYSTEM_DMA`.
    pub fn create_contiguous(resource: &Resource, size: u64) -> Result<Vmo, Status> {
        let mut out = HANDLE_INVALID;
        // SAFETY: `out` is valid for the kernel to write.
        crate::status(unsafe {
            raw::syscall4(
                nr::VMO_CREATE_CONTIGUOUS,
                resource.raw_handle() as u64,
                size,
                0,
                &mut out as *mut u32 as u64,
            )
        })?;
        Ok(Vmo(Handle::from_raw(out)))
    }

    /// Reads `buffer.len()` bytes at `offset`.
    pub fn read(&self, buffer: &mut [u8], offset: u64) -> Result<(), Status> {
        // SAFETY: the buffer is valid for the kernel to write.
        crate::status(unsafe {
            raw::syscall4(
                nr::VMO_READ,
                self.raw_handle() as u64,
                buffer.as_mut_ptr() as u64,
                offset,
                buffer.len() as u64,
            )
        })
    }

    /// Writes `data` at `offset`.
    pub fn write(&self, data: &[u8], offset: u64) -> Result<(), Status> {
        // SAFETY: the data is valid for the kernel to read.
        crate::status(unsafe {
            raw::syscall4(
                nr::VMO_WRITE,
                self.raw_handle() as u64,
                data.as_ptr() as u64,
                offset,
                data.len() as u64,
            )
        })
    }

    /// Size in bytes.
    pub fn size(&self) -> Result<u64, Status> {
        let mut size = 0u64;
        // SAFETY: `size` is valid for the kernel to write.
        crate::status(unsafe {
            raw::syscall2(
                nr::VMO_GET_SIZE,
                self.raw_handle() as u64,
                &mut size as *mut u64 as u64,
            )
        })?;
        Ok(size)
    }

    /// Changes the size (resizable VMOs only).
    pub fn set_size(&self, size: u64) -> Result<(), Status> {
        // SAFETY: no pointers.
        crate::status(unsafe { raw::syscall2(nr::VMO_SET_SIZE, self.raw_handle() as u64, size) })
    }

    /// Physical address of byte `offset` (contiguous VMOs only).
    pub fn physical_address(&self, offset: u64) -> Result<u64, Status> {
        let mut address = 0u64;
        // SAFETY: `address` is valid for the kernel to write.
        crate::status(unsafe {
            raw::syscall3(
                nr::VMO_GET_PHYSICAL,
                self.raw_handle() as u64,
                offset,
                &mut address as *mut u64 as u64,
            )
        })?;
        Ok(address)
    }
}

impl Vmar {
    /// Maps `len` bytes of `vmo` from `vmo_offset`; `vmar_offset` is used
    /// with `VmOptions::SPECIFIC`. Returns the address.
    pub fn map(
        &self,
        vmar_offset: u64,
        vmo: &Vmo,
        vmo_offset: u64,
        len: u64,
        options: VmOptions,
    ) -> Result<usize, Status> {
        let mut address = 0u64;
        // SAFETY: `address` is valid for the kernel to write.
        crate::status(unsafe {
            raw::syscall8(
                nr::VMAR_MAP,
                [
                    self.raw_handle() as u64,
                    options.bits() as u64,
                    vmar_offset,
                    vmo.raw_handle() as u64,
                    vmo_offset,
                    len,
                    &mut address as *mut u64 as u64,
                    0,
                ],
            )
        })?;
        Ok(address as usize)
    }

    /// Removes the mappings and regions in `[address, address + len)`.
    ///
    /// # Safety
    /// Nothing in the range may be in use by Rust code (references into it
    /// would dangle).
    pub unsafe fn unmap(&self, address: usize, len: u64) -> Result<(), Status> {
        // SAFETY: no pointers are read or written by the kernel.
        crate::status(unsafe {
            raw::syscall3(
                nr::VMAR_UNMAP,
                self.raw_handle() as u64,
                address as u64,
                len,
            )
        })
    }

    /// Changes the access of the mappings in `[address, address + len)`.
    ///
    /// # Safety
    /// Code relying on the old access (e.g. writing) must not run after.
    pub unsafe fn protect(
        &self,
        options: VmOptions,
        address: usize,
        len: u64,
    ) -> Result<(), Status> {
        // SAFETY: no pointers are read or written by the kernel.
        crate::status(unsafe {
            raw::syscall4(
                nr::VMAR_PROTECT,
                self.raw_handle() as u64,
                options.bits() as u64,
                address as u64,
                len,
            )
        })
    }

    /// Creates a child region; returns it and its address.
    pub fn allocate(
        &self,
        offset: u64,
        size: u64,
        options: VmOptions,
    ) -> Result<(Vmar, usize), Status> {
        let (mut child, mut address) = (HANDLE_INVALID, 0u64);
        // SAFETY: both outputs are valid for the kernel to write.
        crate::status(unsafe {
            raw::syscall6(
                nr::VMAR_ALLOCATE,
                self.raw_handle() as u64,
                options.bits() as u64,
                offset,
                size,
                &mut child as *mut u32 as u64,
                &mut address as *mut u64 as u64,
            )
        })?;
        Ok((Vmar(Handle::from_raw(child)), address as usize))
    }
}
