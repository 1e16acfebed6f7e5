//! What each syscall takes, and how the fuzzer makes one call.
//!
//! [`SIGNATURES`] describes every syscall's arguments by meaning (a
//! handle of some kind, a pointer the kernel reads or writes, a length, a
//! deadline...), in the order of `idl/zx.idl`; its length is the syscall
//! count, so a new syscall does not compile until it is described here.
//! [`plan`] turns a signature into register values — usually plausible
//! ones, always with a chance of junk — and prepares what pointers point
//! at (arrays of live handles, wait items, packets, call arguments) in the
//! thread's corner of the scratch area. After the call, [`harvest`] adds
//! the handles it created or received to the pool and forgets those it
//! closed or moved.

use crate::arena::{Arena, ACTUAL_HANDLES_SLOT, PREPARED_BYTES, READ_HANDLES_SLOT, SCRATCH_SIZE};
use crate::pool::{Kind, POOL};
use crate::rng::Rng;
use crate::values;
use zx::numbers as nr;

const PAGE: u64 = 4096;
/// Size of the generation's big VMO (see `generation.rs`).
pub const BIG_VMO: u64 = 64 << 20;

/// What an argument means.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arg {
    /// A handle, preferably of this kind.
    Handle(Kind),
    /// A handle moved into another process or message.
    MovedHandle,
    /// A pointer the kernel writes a new handle of this kind to.
    OutHandle(Kind),
    /// As `OutHandle`, of the kind of the call's first (handle) argument.
    OutHandleLikeFirst,
    /// A pointer the kernel reads (usually to valid memory).
    In,
    /// A pointer the kernel writes (usually to valid memory).
    Out,
    /// A pointer to a name (its length follows).
    Name,
    /// A pointer to an array of handles to send (its count follows).
    HandleArray,
    /// A pointer to `WaitItem`s (their count follows).
    WaitItems,
    /// A pointer to a `PortPacket`.
    Packet,
    /// A pointer to `ChannelCallArgs`.
    CallArgs,
    /// A pointer the kernel writes received handles to (capacity follows).
    ReceivedHandles,
    /// A pointer the kernel writes the number of received handles to.
    ReceivedCount,
    /// A byte length (of the preceding buffer, often).
    Length,
    /// A count of the preceding array's elements.
    Count,
    /// An object size.
    Size,
    /// An offset into an object or region.
    Offset,
    /// A user address (of a mapping).
    Address,
    /// A code address for a new thread.
    Entry,
    /// A stack pointer for a new thread.
    Stack,
    Deadline,
    Options,
    Rights,
    Signals,
    VmOptions,
    Topic,
    /// A small number (a kind, a limit, a futex value).
    Small,
    /// Any integer.
    Integer,
}

use Arg::*;

/// A syscall's arguments and how often the fuzzer calls it (relative
/// weight; calls that end the fuzzer's own thread or process are rare).
struct Signature {
    args: &'static [Arg],
    weight: u64,
}

const fn sig(weight: u64, args: &'static [Arg]) -> Signature {
    Signature { args, weight }
}

/// Every syscall, by number.
const SIGNATURES: [Signature; nr::COUNT as usize] = [
    /* debug_write */ sig(1, &[In, Length]),
    /* clock_get_monotonic */ sig(2, &[]),
    /* process_exit */ sig(0, &[Integer]),
    /* handle_close */ sig(14, &[Handle(Kind::Unknown)]),
    /* handle_duplicate */ sig(12, &[Handle(Kind::Unknown), Rights, OutHandleLikeFirst]),
    /* handle_replace */ sig(8, &[Handle(Kind::Unknown), Rights, OutHandleLikeFirst]),
    /* object_get_info */
    sig(8, &[Handle(Kind::Process), Topic, Out, Length, Out, Out]),
    /* object_signal */ sig(10, &[Handle(Kind::Event), Signals, Signals]),
    /* object_signal_peer */ sig(10, &[Handle(Kind::EventPair), Signals, Signals]),
    /* object_wait_one */ sig(8, &[Handle(Kind::Unknown), Signals, Deadline, Out]),
    /* object_wait_many */ sig(8, &[WaitItems, Count, Deadline]),
    /* event_create */ sig(8, &[Options, OutHandle(Kind::Event)]),
    /* eventpair_create */
    sig(
        8,
        &[
            Options,
            OutHandle(Kind::EventPair),
            OutHandle(Kind::EventPair),
        ],
    ),
    /* channel_create */
    sig(
        10,
        &[Options, OutHandle(Kind::Channel), OutHandle(Kind::Channel)],
    ),
    /* channel_write */
    sig(
        20,
        &[
            Handle(Kind::Channel),
            Options,
            In,
            Length,
            HandleArray,
            Count,
        ],
    ),
    /* channel_read */
    sig(
        16,
        &[
            Handle(Kind::Channel),
            Options,
            Out,
            ReceivedHandles,
            Length,
            Count,
            Out,
            ReceivedCount,
        ],
    ),
    /* nanosleep */ sig(3, &[Deadline]),
    /* thread_create */
    sig(
        5,
        &[
            Handle(Kind::Process),
            Name,
            Length,
            Options,
            OutHandle(Kind::Thread),
        ],
    ),
    /* thread_start */ sig(4, &[Handle(Kind::Thread), Entry, Stack, Integer, Integer]),
    /* thread_exit */ sig(0, &[]),
    /* port_create */ sig(6, &[Options, OutHandle(Kind::Port)]),
    /* port_queue */ sig(8, &[Handle(Kind::Port), Packet]),
    /* port_wait */ sig(8, &[Handle(Kind::Port), Deadline, Out]),
    /* object_wait_async */
    sig(
        12,
        &[
            Handle(Kind::Unknown),
            Handle(Kind::Port),
            Integer,
            Signals,
            Options,
        ],
    ),
    /* timer_create */ sig(5, &[Options, Options, OutHandle(Kind::Timer)]),
    /* timer_set */ sig(6, &[Handle(Kind::Timer), Deadline, Integer]),
    /* timer_cancel */ sig(4, &[Handle(Kind::Timer)]),
    /* vmo_create */ sig(8, &[Size, Options, OutHandle(Kind::Vmo)]),
    /* vmo_read */ sig(10, &[Handle(Kind::Vmo), Out, Offset, Length]),
    /* vmo_write */ sig(10, &[Handle(Kind::Vmo), In, Offset, Length]),
    /* vmo_get_size */ sig(4, &[Handle(Kind::Vmo), Out]),
    /* vmo_set_size */ sig(6, &[Handle(Kind::Vmo), Size]),
    /* vmo_create_contiguous */
    sig(
        2,
        &[Handle(Kind::Unknown), Size, Options, OutHandle(Kind::Vmo)],
    ),
    /* vmo_get_physical */ sig(2, &[Handle(Kind::Vmo), Offset, Out]),
    /* vmar_allocate */
    sig(
        8,
        &[
            Handle(Kind::Vmar),
            VmOptions,
            Offset,
            Size,
            OutHandle(Kind::Vmar),
            Out,
        ],
    ),
    /* vmar_map */
    sig(
        10,
        &[
            Handle(Kind::Vmar),
            VmOptions,
            Offset,
            Handle(Kind::Vmo),
            Offset,
            Length,
            Out,
        ],
    ),
    /* vmar_unmap */ sig(5, &[Handle(Kind::Vmar), Address, Length]),
    /* vmar_protect */ sig(4, &[Handle(Kind::Vmar), VmOptions, Address, Length]),
    /* job_create */ sig(4, &[Handle(Kind::Job), Options, OutHandle(Kind::Job)]),
    /* job_set_limits */ sig(4, &[Handle(Kind::Job), Integer, Size, Small, Small]),
    /* process_create */
    sig(
        4,
        &[
            Handle(Kind::Job),
            Name,
            Length,
            Options,
            OutHandle(Kind::Process),
            OutHandle(Kind::Vmar),
        ],
    ),
    /* process_start */
    sig(
        3,
        &[
            Handle(Kind::Process),
            Handle(Kind::Thread),
            Entry,
            Stack,
            MovedHandle,
            Integer,
        ],
    ),
    /* task_kill */ sig(2, &[Handle(Kind::Unknown)]),
    /* task_create_exception_channel */
    sig(3, &[Handle(Kind::Job), Options, OutHandle(Kind::Channel)]),
    /* futex_wait */ sig(5, &[In, Small, Deadline]),
    /* futex_wake */ sig(5, &[In, Count]),
    /* debuglog_read */ sig(2, &[Handle(Kind::Unknown), Integer, Out, Length, Out, Out]),
    /* channel_call */
    sig(
        10,
        &[
            Handle(Kind::Channel),
            Options,
            Deadline,
            CallArgs,
            Out,
            ReceivedCount,
        ],
    ),
    /* debug_read */ sig(2, &[Handle(Kind::Unknown), Out, Length, Out]),
    /* system_shutdown */ sig(1, &[Handle(Kind::Unknown), Integer]),
    /* resource_create */
    sig(
        2,
        &[
            Handle(Kind::Unknown),
            Small,
            Integer,
            Integer,
            OutHandle(Kind::Unknown),
        ],
    ), // Drivers' calls: the generations hold no resource, so these are
    // checked for refusal (and for what they do with foreign handles).
    /* vmo_create_physical */
    sig(
        2,
        &[Handle(Kind::Unknown), Integer, Size, OutHandle(Kind::Vmo)],
    ),
    /* interrupt_create */
    sig(
        2,
        &[
            Handle(Kind::Unknown),
            Small,
            Options,
            OutHandle(Kind::Unknown),
        ],
    ),
    /* interrupt_bind */
    sig(
        2,
        &[Handle(Kind::Unknown), Handle(Kind::Port), Integer, Options],
    ),
    /* interrupt_wait */ sig(2, &[Handle(Kind::Unknown), Deadline]),
    /* interrupt_ack */ sig(2, &[Handle(Kind::Unknown)]),
    /* interrupt_trigger */ sig(2, &[Handle(Kind::Unknown)]),
    /* interrupt_get_info */ sig(2, &[Handle(Kind::Unknown), Out]),
    /* system_get_pci_ecam */ sig(1, &[Handle(Kind::Unknown), Out]),
    /* socket_create */
    sig(
        6,
        &[Options, OutHandle(Kind::Unknown), OutHandle(Kind::Unknown)],
    ),
    /* socket_write */ sig(8, &[Handle(Kind::Unknown), Options, In, Length, Out]),
    /* socket_read */ sig(8, &[Handle(Kind::Unknown), Options, Out, Length, Out]),
    /* socket_shutdown */ sig(4, &[Handle(Kind::Unknown), Options]),
    /* socket_set_threshold */ sig(4, &[Handle(Kind::Unknown), Options, Size]),
    /* channel_recv */
    sig(
        10,
        &[
            Handle(Kind::Channel),
            Options,
            Deadline,
            CallArgs,
            Out,
            ReceivedCount,
        ],
    ),
    /* handle_bind_escrow */ sig(2, &[Handle(Kind::Unknown), Handle(Kind::Channel)]),
];

const TOTAL_WEIGHT: u64 = {
    let mut total = 0;
    let mut index = 0;
    while index < SIGNATURES.len() {
        total += SIGNATURES[index].weight;
        index += 1;
    }
    total
};

/// What to do with the call's results if it succeeds.
#[derive(Clone, Copy)]
enum Harvest {
    Nothing,
    /// A new handle of this kind at this scratch offset.
    Handle {
        offset: u64,
        kind: Kind,
    },
    /// Received handles: their count and the array, at scratch offsets.
    Received {
        count: u64,
        array: u64,
    },
    /// This handle was closed or moved.
    Gone(u32),
}

/// One planned call.
pub struct Call {
    /// The syscall number (possibly not a syscall).
    pub number: u64,
    /// The eight argument registers.
    pub args: [u64; 8],
    harvests: [Harvest; 12],
}

/// Builds one call's arguments, for thread `thread`.
struct Planner<'a> {
    rng: &'a mut Rng,
    arena: &'a Arena,
    thread: usize,
    /// The element count or byte length of the last prepared input.
    last_count: Option<u64>,
    out_slots_used: u64,
    first_handle_kind: Option<Kind>,
    harvests: [Harvest; 12],
    harvest_count: usize,
}

impl Planner<'_> {
    fn harvest(&mut self, harvest: Harvest) {
        if self.harvest_count < self.harvests.len() {
            self.harvests[self.harvest_count] = harvest;
            self.harvest_count += 1;
        }
    }

    /// A pooled handle of `kind`, or junk: 0, a stale value, random bits.
    fn handle(&mut self, kind: Kind) -> u64 {
        self.handle_of(kind).0
    }

    /// As `handle`, with the kind of what was picked.
    fn handle_of(&mut self, kind: Kind) -> (u64, Kind) {
        if self.rng.percent(88) {
            if let Some((handle, picked)) = POOL.pick(self.rng, kind) {
                return (u64::from(handle), picked);
            }
        }
        let junk = match self.rng.below(6) {
            0 => 0,
            1 | 2 => u64::from(POOL.stale(self.rng)),
            3 => self.rng.next() & 0xffff_ffff,
            4 => u64::from(u32::MAX),
            _ => values::integer(self.rng),
        };
        (junk, Kind::Unknown)
    }

    /// Scratch offset of this thread's prepared-input block.
    fn prepared(&self) -> u64 {
        self.arena.prepared(self.thread)
    }

    /// A pointer to this thread's prepared input (or, sometimes, anywhere).
    fn prepared_pointer(&mut self) -> u64 {
        if self.rng.percent(85) {
            self.arena.base + self.prepared()
        } else {
            values::pointer(self.rng, self.arena)
        }
    }

    fn handles(&mut self, count: usize, out: &mut [u8]) {
        for chunk in out.chunks_exact_mut(4).take(count) {
            let handle = self.handle(Kind::Unknown) as u32;
            chunk.copy_from_slice(&handle.to_le_bytes());
        }
    }

    fn value(&mut self, arg: Arg) -> u64 {
        let rng = &mut *self.rng;
        match arg {
            Handle(kind) => {
                let (handle, picked) = self.handle_of(kind);
                self.first_handle_kind.get_or_insert(picked);
                handle
            }
            MovedHandle => {
                let handle = self.handle(Kind::Unknown);
                self.harvest(Harvest::Gone(handle as u32));
                handle
            }
            OutHandle(kind) => self.out_handle(kind),
            OutHandleLikeFirst => self.out_handle(self.first_handle_kind.unwrap_or(Kind::Unknown)),
            In | Out => {
                if rng.percent(75) {
                    // Somewhere in the thread's block of prepared input
                    // (the rest of the scratch area is the pointer
                    // generator's).
                    let within = rng.below(2048) & !7;
                    self.arena.base + self.arena.prepared(self.thread) + 2048 + within
                } else {
                    values::pointer(rng, self.arena)
                }
            }
            Name => {
                let len = rng.pick(&[0, 1, 5, 31, 32, 33, 200]);
                let mut name = [0u8; 200];
                for byte in &mut name[..len] {
                    *byte = if rng.percent(90) {
                        b'a' + rng.below(26) as u8
                    } else {
                        rng.next() as u8
                    };
                }
                self.arena.put(self.prepared(), &name[..len]);
                self.last_count = Some(len as u64);
                self.prepared_pointer()
            }
            HandleArray => {
                let count = rng.pick(&[0, 1, 1, 1, 2, 3, 4, 8, 64, 65]);
                let mut bytes = [0u8; 65 * 4];
                self.handles(count, &mut bytes);
                self.arena.put(self.prepared(), &bytes[..count * 4]);
                self.last_count = Some(count as u64);
                for chunk in bytes.chunks_exact(4).take(count.min(8)) {
                    let handle = u32::from_le_bytes(chunk.try_into().unwrap_or_default());
                    self.harvest(Harvest::Gone(handle));
                }
                self.prepared_pointer()
            }
            WaitItems => {
                let count = rng.pick(&[0, 1, 1, 2, 3, 8, 64, 65]);
                let mut bytes = [0u8; 65 * 12];
                for item in bytes.chunks_exact_mut(12).take(count) {
                    let handle = self.handle(Kind::Unknown) as u32;
                    let signals = values::signals(self.rng) as u32;
                    item[..4].copy_from_slice(&handle.to_le_bytes());
                    item[4..8].copy_from_slice(&signals.to_le_bytes());
                }
                self.arena.put(self.prepared(), &bytes[..count * 12]);
                self.last_count = Some(count as u64);
                self.prepared_pointer()
            }
            Packet => {
                let mut packet = [0u8; 48];
                for chunk in packet.chunks_exact_mut(8) {
                    chunk.copy_from_slice(&values::integer(rng).to_le_bytes());
                }
                if rng.percent(70) {
                    packet[8..12].copy_from_slice(&zx::PACKET_USER.to_le_bytes());
                }
                self.arena.put(self.prepared(), &packet);
                self.prepared_pointer()
            }
            CallArgs => self.call_args(),
            ReceivedHandles => {
                self.last_count = Some(64);
                let slot = self.arena.slots(self.thread) + READ_HANDLES_SLOT;
                if rng.percent(80) {
                    self.arena.base + slot
                } else {
                    values::pointer(rng, self.arena)
                }
            }
            ReceivedCount => {
                let slots = self.arena.slots(self.thread);
                if rng.percent(80) {
                    self.arena.put(slots + ACTUAL_HANDLES_SLOT, &[0; 4]);
                    self.harvest(Harvest::Received {
                        count: slots + ACTUAL_HANDLES_SLOT,
                        array: slots + READ_HANDLES_SLOT,
                    });
                    self.arena.base + slots + ACTUAL_HANDLES_SLOT
                } else {
                    values::pointer(rng, self.arena)
                }
            }
            Length | Count => match self.last_count.take() {
                Some(count) if rng.percent(75) => count,
                _ if arg == Count => values::small(rng),
                _ => values::length(rng),
            },
            Size => values::size(rng),
            Offset => values::offset(rng),
            Address => values::pointer(rng, self.arena),
            Entry => {
                if rng.percent(85) {
                    self.arena.exit_code()
                } else {
                    values::pointer(rng, self.arena)
                }
            }
            Stack => values::pointer(rng, self.arena),
            Deadline => values::deadline(rng),
            Options => values::options(rng),
            Rights => values::rights(rng),
            Signals => values::signals(rng),
            VmOptions => values::vm_options(rng),
            Topic => values::topic(rng),
            Small => values::small(rng),
            Integer => values::integer(rng),
        }
    }

    fn out_handle(&mut self, kind: Kind) -> u64 {
        let slot = self.out_slots_used;
        if slot < 4 && self.rng.percent(85) {
            self.out_slots_used += 1;
            let offset = self.arena.slots(self.thread) + 4 * slot;
            self.arena.put(offset, &[0; 4]);
            self.harvest(Harvest::Handle { offset, kind });
            self.arena.base + offset
        } else {
            values::pointer(self.rng, self.arena)
        }
    }

    /// `ChannelCallArgs` with bytes and handles to write and room to read.
    fn call_args(&mut self) -> u64 {
        let block = self.prepared();
        let bytes_offset = block + 256;
        let handles_offset = block + 1024;
        let write_bytes = self.rng.pick(&[0u64, 3, 4, 8, 64, 1000]);
        let write_handles = self.rng.pick(&[0usize, 0, 1, 2, 65]);
        let mut handles = [0u8; 65 * 4];
        self.handles(write_handles, &mut handles);
        for chunk in handles.chunks_exact(4).take(write_handles.min(8)) {
            let handle = u32::from_le_bytes(chunk.try_into().unwrap_or_default());
            self.harvest(Harvest::Gone(handle));
        }
        self.arena
            .put(handles_offset, &handles[..write_handles * 4]);
        let slots = self.arena.slots(self.thread);
        let pointer = |planner: &mut Self, good: u64| {
            if planner.rng.percent(85) {
                planner.arena.base + good
            } else {
                values::pointer(planner.rng, planner.arena)
            }
        };
        let fields = [
            pointer(self, bytes_offset),
            pointer(self, handles_offset),
            pointer(self, block + 2048),
            pointer(self, slots + READ_HANDLES_SLOT),
        ];
        let counts = [
            if self.rng.percent(85) {
                write_bytes
            } else {
                values::length(self.rng)
            } as u32,
            write_handles as u32,
            if self.rng.percent(85) {
                (PREPARED_BYTES - 2048) as u32
            } else {
                values::length(self.rng) as u32
            },
            if self.rng.percent(85) {
                64
            } else {
                values::small(self.rng) as u32
            },
        ];
        let mut record = [0u8; 48];
        for (index, field) in fields.iter().enumerate() {
            record[index * 8..index * 8 + 8].copy_from_slice(&field.to_le_bytes());
        }
        for (index, count) in counts.iter().enumerate() {
            record[32 + index * 4..36 + index * 4].copy_from_slice(&count.to_le_bytes());
        }
        self.arena.put(block, &record);
        self.prepared_pointer()
    }
}

/// A syscall number: usually a syscall, by weight; sometimes one past the
/// end or far out of range.
fn number(rng: &mut Rng) -> u64 {
    match rng.below(1000) {
        0..=19 => {
            let random = rng.next();
            rng.pick(&[nr::COUNT, nr::COUNT + 1, 255, 1 << 32, u64::MAX, random])
        }
        20..=24 => rng.below(nr::COUNT),
        _ => {
            let mut choice = rng.below(TOTAL_WEIGHT);
            for (number, signature) in SIGNATURES.iter().enumerate() {
                if choice < signature.weight {
                    return number as u64;
                }
                choice -= signature.weight;
            }
            nr::CLOCK_GET_MONOTONIC
        }
    }
}

/// Plans thread `thread`'s next call: of syscall `number` if given (a
/// burst of one syscall, to reach limits), else of a random one.
pub fn plan(rng: &mut Rng, arena: &Arena, thread: usize, number: Option<u64>) -> Call {
    let number = number.unwrap_or_else(|| self::number(rng));
    let mut planner = Planner {
        rng,
        arena,
        thread,
        last_count: None,
        out_slots_used: 0,
        first_handle_kind: None,
        harvests: [Harvest::Nothing; 12],
        harvest_count: 0,
    };
    let mut args = [0u64; 8];
    let signature: &[Arg] = SIGNATURES
        .get(number as usize)
        .map_or(&[Integer, Integer, In, Length], |s| s.args);
    for (index, arg) in signature.iter().enumerate() {
        args[index] = planner.value(*arg);
        // Any argument may be junk of any width.
        if planner.rng.percent(3) {
            args[index] = values::integer(planner.rng);
        }
    }
    // Big, valid copies now and then, so that VMO pages get committed in
    // bulk and the job's memory limit (and, on a small machine, the
    // kernel's reserve) is reached.
    if (number == nr::VMO_WRITE || number == nr::VMO_READ) && planner.rng.percent(30) {
        args[1] = arena.base;
        args[2] = if planner.rng.percent(50) {
            planner.rng.below(16) * PAGE
        } else {
            planner.rng.below(BIG_VMO / PAGE) * PAGE
        };
        args[3] = (1 + planner.rng.below(SCRATCH_SIZE / PAGE)) * PAGE;
    }
    // What debug_write accepts goes to the console: a few bytes are
    // enough to cover it, more would drown the console in junk.
    if number == nr::DEBUG_WRITE && args[1] <= zx_abi::DEBUG_WRITE_MAX as u64 {
        args[1] = args[1].min(4);
    }
    // Registers past the signature are ignored by the kernel; sometimes
    // fill them to check it.
    if planner.rng.percent(5) {
        for arg in &mut args[signature.len()..] {
            *arg = values::integer(planner.rng);
        }
    }
    Call {
        number,
        args,
        harvests: planner.harvests,
    }
}

/// After `call` returned `result`: pools what it created or received,
/// forgets what it closed or moved, and closes what the pool displaced.
pub fn harvest(rng: &mut Rng, arena: &Arena, call: &Call, result: u64) {
    if call.number >= nr::COUNT {
        return;
    }
    // Handles sent with channel_write and channel_call (and the one
    // process_start hands over) leave the caller's table whatever the
    // outcome, as in Zircon.
    for harvest in call.harvests {
        if let Harvest::Gone(handle) = harvest {
            POOL.forget(rng, handle);
        }
    }
    if result != 0 {
        return;
    }
    match call.number {
        nr::HANDLE_CLOSE | nr::HANDLE_REPLACE => POOL.forget(rng, call.args[0] as u32),
        _ => {}
    }
    for harvest in call.harvests {
        match harvest {
            Harvest::Nothing | Harvest::Gone(_) => {}
            Harvest::Handle { offset, kind } => keep(rng, arena.word(offset), kind),
            Harvest::Received { count, array } => {
                let count = arena.word(count).min(64) as u64;
                for index in 0..count {
                    keep(rng, arena.word(array + 4 * index), Kind::Unknown);
                }
            }
        }
    }
}

/// Pools `handle`; the handle it displaces is usually closed, sometimes
/// leaked (the generation's handle limit is there to be reached).
fn keep(rng: &mut Rng, handle: u32, kind: Kind) {
    if let Some(displaced) = POOL.insert(rng, handle, kind) {
        if rng.percent(75) {
            drop(zx::Handle::from_raw(displaced));
            POOL.forget(rng, displaced);
        }
    }
}
