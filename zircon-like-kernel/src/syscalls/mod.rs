//! System-call dispatch.
//!
//! Each handler first *decodes*: it turns every raw argument into a typed,
//! checked value (a handle looked up with the rights it needs, a validated
//! `UserSlice`, a bounded length) or returns a status; only then does it
//! *act*, on those values alone, as in seL4. Nothing a user program passes
//! can panic the kernel.
//!
//! A handler either finishes ([`Flow::Done`], the value for `rax`) or
//! switches the CPU to another thread ([`Flow::Switched`]: the calling
//! thread blocked, exited, or its process ended). A blocked thread's syscall
//! is finished later by [`complete_wait`].

mod channel;
mod debug;
mod device;
mod escrow;
mod handle;
mod object;
mod port;
mod resource;
mod socket;
mod task;
mod vm;
mod wait;

use crate::arch::x86_64::trap::TrapFrame;
use crate::object::thread::{Wait, WakeReason};
use zx_abi::{syscall as nr, HandleValue, Status};

/// How a handler ended.
pub enum Flow {
    /// Return this value in `rax`.
    Done(u64),
    /// The frame now belongs to another thread (or the idle loop).
    Switched,
    /// Part of the work is done and the frame's argument registers now
    /// describe the rest: return to user mode at the syscall instruction
    /// itself, so the thread asks again (and can be preempted first).
    /// Bounds the work done with interrupts off in one pass.
    Restart,
}

/// A handler's result.
pub type SysResult = Result<Flow, Status>;

/// Success with no value.
fn ok() -> SysResult {
    Ok(Flow::Done(0))
}

/// A raw argument as a handle value (values are 32-bit).
fn handle_arg(raw: u64) -> Result<HandleValue, Status> {
    HandleValue::try_from(raw).map_err(|_| Status::BAD_HANDLE)
}

/// The value of a status in `rax` (sign-extended).
fn status_raw(status: Status) -> u64 {
    status.0 as i64 as u64
}

/// A syscall's handler: decodes its arguments from the frame and runs it.
type Handler = fn(&mut TrapFrame) -> SysResult;

/// The handlers, indexed by syscall number (every number below
/// `nr::COUNT` has one: checked when the kernel is compiled), before the
/// memory-reserve check is put in front of the allocating ones.
const UNCHECKED: [Handler; nr::COUNT as usize] = handlers();

/// Runs the handler of syscall `NUMBER` unless the kernel is below its
/// memory reserve (`NO_MEMORY`): the front of every call that can make the
/// kernel allocate memory, so the others pay nothing for the check.
fn reserve_checked<const NUMBER: usize>(frame: &mut TrapFrame) -> SysResult {
    if crate::mem::frames::below_reserve() {
        return Err(Status::NO_MEMORY);
    }
    UNCHECKED[NUMBER](frame)
}

/// Puts [`reserve_checked`] in front of the calls that can make the kernel
/// allocate memory (objects, queued messages and packets, VMO pages, page
/// tables).
macro_rules! reserve_checked {
    ($($number:ident),* $(,)?) => {{
        let mut table = UNCHECKED;
        $(table[nr::$number as usize] = reserve_checked::<{ nr::$number as usize }>;)*
        table
    }};
}

/// The handlers, indexed by syscall number.
static HANDLERS: [Handler; nr::COUNT as usize] = reserve_checked!(
    HANDLE_DUPLICATE,
    HANDLE_REPLACE,
    EVENT_CREATE,
    EVENTPAIR_CREATE,
    CHANNEL_CREATE,
    CHANNEL_WRITE,
    CHANNEL_CALL,
    CHANNEL_RECV,
    THREAD_CREATE,
    PORT_CREATE,
    PORT_QUEUE,
    OBJECT_WAIT_ASYNC,
    OBJECT_WAIT_ONE,
    OBJECT_WAIT_MANY,
    TIMER_CREATE,
    TIMER_SET,
    VMO_CREATE,
    VMO_WRITE,
    VMO_CREATE_CONTIGUOUS,
    VMAR_ALLOCATE,
    VMAR_MAP,
    JOB_CREATE,
    PROCESS_CREATE,
    TASK_CREATE_EXCEPTION_CHANNEL,
    FUTEX_WAIT,
    PORT_WAIT,
    NANOSLEEP,
    RESOURCE_CREATE,
    SOCKET_CREATE,
    SOCKET_WRITE,
);

/// The argument registers, in order (`rdi, rsi, rdx, r10, r8, r9, r12,
/// r13`); inlined, so a handler loads only those it uses.
#[inline(always)]
fn args(frame: &TrapFrame) -> [u64; 8] {
    [
        frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9, frame.r12, frame.r13,
    ]
}

/// Puts `handler` at `number` (once).
const fn set(table: &mut [Option<Handler>; nr::COUNT as usize], number: u64, handler: Handler) {
    assert!(
        table[number as usize].is_none(),
        "two handlers for one syscall"
    );
    table[number as usize] = Some(handler);
}

const fn handlers() -> [Handler; nr::COUNT as usize] {
    let mut table: [Option<Handler>; nr::COUNT as usize] = [None; nr::COUNT as usize];
    set(&mut table, nr::DEBUG_WRITE, |f| {
        let a = args(f);
        debug::debug_write(a[0], a[1])
    });
    set(&mut table, nr::CLOCK_GET_MONOTONIC, |_| {
        Ok(Flow::Done(crate::clock::monotonic_nanos()))
    });
    set(&mut table, nr::PROCESS_EXIT, |f| {
        let a = args(f);
        task::process_exit(a[0] as i64)
    });
    set(&mut table, nr::HANDLE_CLOSE, |f| {
        let a = args(f);
        handle::close(a[0])
    });
    set(&mut table, nr::HANDLE_DUPLICATE, |f| {
        let a = args(f);
        handle::duplicate(a[0], a[1], a[2])
    });
    set(&mut table, nr::HANDLE_REPLACE, |f| {
        let a = args(f);
        handle::replace(a[0], a[1], a[2])
    });
    set(&mut table, nr::OBJECT_GET_INFO, |f| {
        let a = args(f);
        object::get_info(a[0], a[1], a[2], a[3], a[4], a[5])
    });
    set(&mut table, nr::OBJECT_SIGNAL, |f| {
        let a = args(f);
        object::signal(a[0], a[1], a[2])
    });
    set(&mut table, nr::OBJECT_SIGNAL_PEER, |f| {
        let a = args(f);
        object::signal_peer(a[0], a[1], a[2])
    });
    set(&mut table, nr::OBJECT_WAIT_ONE, |f| {
        let a = args(f);
        wait::wait_one(f, a[0], a[1], a[2], a[3])
    });
    set(&mut table, nr::OBJECT_WAIT_MANY, |f| {
        let a = args(f);
        wait::wait_many(f, a[0], a[1], a[2])
    });
    set(&mut table, nr::EVENT_CREATE, |f| {
        let a = args(f);
        object::event_create(a[0], a[1])
    });
    set(&mut table, nr::EVENTPAIR_CREATE, |f| {
        let a = args(f);
        object::eventpair_create(a[0], a[1], a[2])
    });
    set(&mut table, nr::CHANNEL_CREATE, |f| {
        let a = args(f);
        channel::create(a[0], a[1], a[2])
    });
    set(&mut table, nr::CHANNEL_WRITE, |f| {
        let a = args(f);
        channel::write(a[0], a[1], a[2], a[3], a[4], a[5])
    });
    set(&mut table, nr::CHANNEL_READ, |f| {
        let a = args(f);
        channel::read(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7])
    });
    set(&mut table, nr::NANOSLEEP, |f| {
        let a = args(f);
        wait::nanosleep(f, a[0])
    });
    set(&mut table, nr::THREAD_CREATE, |f| {
        let a = args(f);
        task::thread_create(a[0], a[1], a[2], a[3], a[4])
    });
    set(&mut table, nr::THREAD_START, |f| {
        let a = args(f);
        task::thread_start(a[0], a[1], a[2], a[3], a[4])
    });
    set(&mut table, nr::THREAD_EXIT, |_| task::thread_exit());
    set(&mut table, nr::PORT_CREATE, |f| {
        let a = args(f);
        port::port_create(a[0], a[1])
    });
    set(&mut table, nr::PORT_QUEUE, |f| {
        let a = args(f);
        port::port_queue(a[0], a[1])
    });
    set(&mut table, nr::PORT_WAIT, |f| {
        let a = args(f);
        port::port_wait(f, a[0], a[1], a[2])
    });
    set(&mut table, nr::OBJECT_WAIT_ASYNC, |f| {
        let a = args(f);
        port::wait_async(a[0], a[1], a[2], a[3], a[4])
    });
    set(&mut table, nr::TIMER_CREATE, |f| {
        let a = args(f);
        port::timer_create(a[0], a[1], a[2])
    });
    set(&mut table, nr::TIMER_SET, |f| {
        let a = args(f);
        port::timer_set(a[0], a[1], a[2])
    });
    set(&mut table, nr::TIMER_CANCEL, |f| {
        let a = args(f);
        port::timer_cancel(a[0])
    });
    set(&mut table, nr::VMO_CREATE, |f| {
        let a = args(f);
        vm::vmo_create(a[0], a[1], a[2])
    });
    set(&mut table, nr::VMO_READ, |f| {
        let a = args(f);
        vm::vmo_read(f, a[0], a[1], a[2], a[3])
    });
    set(&mut table, nr::VMO_WRITE, |f| {
        let a = args(f);
        vm::vmo_write(f, a[0], a[1], a[2], a[3])
    });
    set(&mut table, nr::VMO_GET_SIZE, |f| {
        let a = args(f);
        vm::vmo_get_size(a[0], a[1])
    });
    set(&mut table, nr::VMO_SET_SIZE, |f| {
        let a = args(f);
        vm::vmo_set_size(a[0], a[1])
    });
    set(&mut table, nr::VMO_CREATE_CONTIGUOUS, |f| {
        let a = args(f);
        vm::vmo_create_contiguous(a[0], a[1], a[2], a[3])
    });
    set(&mut table, nr::VMO_GET_PHYSICAL, |f| {
        let a = args(f);
        vm::vmo_get_physical(a[0], a[1], a[2])
    });
    set(&mut table, nr::VMAR_ALLOCATE, |f| {
        let a = args(f);
        vm::vmar_allocate(a[0], a[1], a[2], a[3], a[4], a[5])
    });
    set(&mut table, nr::VMAR_MAP, |f| {
        let a = args(f);
        vm::vmar_map(a[0], a[1], a[2], a[3], a[4], a[5], a[6])
    });
    set(&mut table, nr::VMAR_UNMAP, |f| {
        let a = args(f);
        vm::vmar_unmap(a[0], a[1], a[2])
    });
    set(&mut table, nr::VMAR_PROTECT, |f| {
        let a = args(f);
        vm::vmar_protect(a[0], a[1], a[2], a[3])
    });
    set(&mut table, nr::JOB_CREATE, |f| {
        let a = args(f);
        task::job_create(a[0], a[1], a[2])
    });
    set(&mut table, nr::JOB_SET_LIMITS, |f| {
        let a = args(f);
        task::job_set_limits(a[0], a[1], a[2], a[3], a[4])
    });
    set(&mut table, nr::PROCESS_CREATE, |f| {
        let a = args(f);
        task::process_create(a[0], a[1], a[2], a[3], a[4], a[5])
    });
    set(&mut table, nr::PROCESS_START, |f| {
        let a = args(f);
        task::process_start(a[0], a[1], a[2], a[3], a[4], a[5])
    });
    set(&mut table, nr::TASK_KILL, |f| {
        let a = args(f);
        task::task_kill(a[0])
    });
    set(&mut table, nr::TASK_CREATE_EXCEPTION_CHANNEL, |f| {
        let a = args(f);
        task::create_exception_channel(a[0], a[1], a[2])
    });
    set(&mut table, nr::FUTEX_WAIT, |f| {
        let a = args(f);
        wait::futex_wait(f, a[0], a[1], a[2])
    });
    set(&mut table, nr::FUTEX_WAKE, |f| {
        let a = args(f);
        wait::futex_wake(a[0], a[1])
    });
    set(&mut table, nr::DEBUGLOG_READ, |f| {
        let a = args(f);
        debug::debuglog_read(a[0], a[1], a[2], a[3], a[4], a[5])
    });
    set(&mut table, nr::CHANNEL_CALL, |f| {
        let a = args(f);
        channel::call(f, a[0], a[1], a[2], a[3], a[4], a[5])
    });
    set(&mut table, nr::DEBUG_READ, |f| {
        let a = args(f);
        debug::debug_read(a[0], a[1], a[2], a[3])
    });
    set(&mut table, nr::SYSTEM_SHUTDOWN, |f| {
        let a = args(f);
        debug::system_shutdown(a[0], a[1])
    });
    set(&mut table, nr::RESOURCE_CREATE, |f| {
        let a = args(f);
        resource::resource_create(a[0], a[1], a[2], a[3], a[4])
    });
    set(&mut table, nr::VMO_CREATE_PHYSICAL, |f| {
        let a = args(f);
        device::vmo_create_physical(a[0], a[1], a[2], a[3])
    });
    set(&mut table, nr::INTERRUPT_CREATE, |f| {
        let a = args(f);
        device::interrupt_create(a[0], a[1], a[2], a[3])
    });
    set(&mut table, nr::INTERRUPT_BIND, |f| {
        let a = args(f);
        device::interrupt_bind(a[0], a[1], a[2], a[3])
    });
    set(&mut table, nr::INTERRUPT_WAIT, |f| {
        let a = args(f);
        device::interrupt_wait(f, a[0], a[1])
    });
    set(&mut table, nr::INTERRUPT_ACK, |f| {
        let a = args(f);
        device::interrupt_ack(a[0])
    });
    set(&mut table, nr::INTERRUPT_TRIGGER, |f| {
        let a = args(f);
        device::interrupt_trigger(a[0])
    });
    set(&mut table, nr::INTERRUPT_GET_INFO, |f| {
        let a = args(f);
        device::interrupt_get_info(a[0], a[1])
    });
    set(&mut table, nr::SYSTEM_GET_PCI_ECAM, |f| {
        let a = args(f);
        device::system_get_pci_ecam(a[0], a[1])
    });
    set(&mut table, nr::SOCKET_CREATE, |f| {
        let a = args(f);
        socket::create(a[0], a[1], a[2])
    });
    set(&mut table, nr::SOCKET_WRITE, |f| {
        let a = args(f);
        socket::write(a[0], a[1], a[2], a[3], a[4])
    });
    set(&mut table, nr::SOCKET_READ, |f| {
        let a = args(f);
        socket::read(a[0], a[1], a[2], a[3], a[4])
    });
    set(&mut table, nr::SOCKET_SHUTDOWN, |f| {
        let a = args(f);
        socket::shutdown(a[0], a[1])
    });
    set(&mut table, nr::SOCKET_SET_THRESHOLD, |f| {
        let a = args(f);
        socket::set_threshold(a[0], a[1], a[2])
    });
    set(&mut table, nr::CHANNEL_RECV, |f| {
        let a = args(f);
        channel::recv(f, a[0], a[1], a[2], a[3], a[4], a[5])
    });
    set(&mut table, nr::HANDLE_BIND_ESCROW, |f| {
        let a = args(f);
        escrow::bind(a[0], a[1])
    });
    let mut handlers: [Handler; nr::COUNT as usize] = [unknown; nr::COUNT as usize];
    let mut number = 0;
    while number < table.len() {
        match table[number] {
            Some(handler) => handlers[number] = handler,
            None => panic!("a syscall number without a handler"),
        }
        number += 1;
    }
    handlers
}

/// The handler of numbers without one (none below `nr::COUNT`).
fn unknown(_: &mut TrapFrame) -> SysResult {
    Err(Status::BAD_SYSCALL)
}

/// Runs the syscall described by `frame` (number in `rax`, arguments in
/// `rdi, rsi, rdx, r10, r8, r9, r12, r13`).
#[inline]
pub fn dispatch(frame: &mut TrapFrame) {
    let number = frame.rax;
    let Some(&handler) = HANDLERS.get(number as usize) else {
        refuse_unknown(frame);
        return;
    };
    // The memory reserve is checked only by calls that allocate (their
    // entries in `HANDLERS` check it first).
    match handler(frame) {
        Ok(Flow::Done(value)) => frame.rax = value,
        // Every blocking IPC call ends this way: kept inline.
        Ok(Flow::Switched) => {}
        other => finish(frame, other),
    }
}

/// Whether `number` names a syscall (the others fail with
/// `BAD_SYSCALL` and do nothing else).
#[inline]
pub fn known(number: u64) -> bool {
    (number as usize) < HANDLERS.len()
}

/// Ends a syscall whose number names none: `BAD_SYSCALL`.
#[inline]
pub fn refuse_unknown(frame: &mut TrapFrame) {
    frame.rax = status_raw(Status::BAD_SYSCALL);
}

/// The rest of [`dispatch`]: a handler that restarts or failed.
#[cold]
#[inline(never)]
fn finish(frame: &mut TrapFrame, result: SysResult) {
    match result {
        Ok(Flow::Done(value)) => frame.rax = value,
        Ok(Flow::Switched) => {}
        // `syscall` (0f 05) is two bytes long; `rax` still holds the
        // number.
        Ok(Flow::Restart) => frame.rip -= 2,
        Err(status) => frame.rax = status_raw(status),
    }
}

/// Finishes the syscall a woken thread was blocked in; `frame` is that
/// thread's, and its address space is active. The wait stays where it is
/// (what the syscall still needs is taken out of it; the caller drops the
/// rest): a `Wait` is large, and moving it costs a copy.
pub fn complete_wait(wait: &mut Wait, reason: WakeReason, frame: &mut TrapFrame) {
    frame.rax = match wait::complete(wait, reason) {
        Ok(()) => 0,
        Err(status) => status_raw(status),
    };
}
