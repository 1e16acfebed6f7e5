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

/// Runs the syscall described by `frame` (number in `rax`, arguments in
/// `rdi, rsi, rdx, r10, r8, r9, r12, r13`).
pub fn dispatch(frame: &mut TrapFrame) {
    let a = [
        frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9, frame.r12, frame.r13,
    ];
    if allocates(frame.rax) && crate::mem::frames::below_reserve() {
        frame.rax = status_raw(Status::NO_MEMORY);
        return;
    }
    let result = match frame.rax {
        nr::DEBUG_WRITE => debug::debug_write(a[0], a[1]),
        nr::CLOCK_GET_MONOTONIC => Ok(Flow::Done(crate::clock::monotonic_nanos())),
        nr::PROCESS_EXIT => task::process_exit(a[0] as i64),
        nr::HANDLE_CLOSE => handle::close(a[0]),
        nr::HANDLE_DUPLICATE => handle::duplicate(a[0], a[1], a[2]),
        nr::HANDLE_REPLACE => handle::replace(a[0], a[1], a[2]),
        nr::OBJECT_GET_INFO => object::get_info(a[0], a[1], a[2], a[3], a[4], a[5]),
        nr::OBJECT_SIGNAL => object::signal(a[0], a[1], a[2]),
        nr::OBJECT_SIGNAL_PEER => object::signal_peer(a[0], a[1], a[2]),
        nr::OBJECT_WAIT_ONE => wait::wait_one(frame, a[0], a[1], a[2], a[3]),
        nr::OBJECT_WAIT_MANY => wait::wait_many(frame, a[0], a[1], a[2]),
        nr::EVENT_CREATE => object::event_create(a[0], a[1]),
        nr::EVENTPAIR_CREATE => object::eventpair_create(a[0], a[1], a[2]),
        nr::CHANNEL_CREATE => channel::create(a[0], a[1], a[2]),
        nr::CHANNEL_WRITE => channel::write(a[0], a[1], a[2], a[3], a[4], a[5]),
        nr::CHANNEL_READ => channel::read(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]),
        nr::NANOSLEEP => wait::nanosleep(frame, a[0]),
        nr::THREAD_CREATE => task::thread_create(a[0], a[1], a[2], a[3], a[4]),
        nr::THREAD_START => task::thread_start(a[0], a[1], a[2], a[3], a[4]),
        nr::THREAD_EXIT => task::thread_exit(),
        nr::PORT_CREATE => port::port_create(a[0], a[1]),
        nr::PORT_QUEUE => port::port_queue(a[0], a[1]),
        nr::PORT_WAIT => port::port_wait(frame, a[0], a[1], a[2]),
        nr::OBJECT_WAIT_ASYNC => port::wait_async(a[0], a[1], a[2], a[3], a[4]),
        nr::TIMER_CREATE => port::timer_create(a[0], a[1], a[2]),
        nr::TIMER_SET => port::timer_set(a[0], a[1], a[2]),
        nr::TIMER_CANCEL => port::timer_cancel(a[0]),
        nr::VMO_CREATE => vm::vmo_create(a[0], a[1], a[2]),
        nr::VMO_READ => vm::vmo_read(frame, a[0], a[1], a[2], a[3]),
        nr::VMO_WRITE => vm::vmo_write(frame, a[0], a[1], a[2], a[3]),
        nr::VMO_GET_SIZE => vm::vmo_get_size(a[0], a[1]),
        nr::VMO_SET_SIZE => vm::vmo_set_size(a[0], a[1]),
        nr::VMO_CREATE_CONTIGUOUS => vm::vmo_create_contiguous(a[0], a[1], a[2], a[3]),
        nr::VMO_GET_PHYSICAL => vm::vmo_get_physical(a[0], a[1], a[2]),
        nr::VMAR_ALLOCATE => vm::vmar_allocate(a[0], a[1], a[2], a[3], a[4], a[5]),
        nr::VMAR_MAP => vm::vmar_map(a[0], a[1], a[2], a[3], a[4], a[5], a[6]),
        nr::VMAR_UNMAP => vm::vmar_unmap(a[0], a[1], a[2]),
        nr::VMAR_PROTECT => vm::vmar_protect(a[0], a[1], a[2], a[3]),
        nr::JOB_CREATE => task::job_create(a[0], a[1], a[2]),
        nr::JOB_SET_LIMITS => task::job_set_limits(a[0], a[1], a[2], a[3], a[4]),
        nr::PROCESS_CREATE => task::process_create(a[0], a[1], a[2], a[3], a[4], a[5]),
        nr::PROCESS_START => task::process_start(a[0], a[1], a[2], a[3], a[4], a[5]),
        nr::TASK_KILL => task::task_kill(a[0]),
        nr::TASK_CREATE_EXCEPTION_CHANNEL => task::create_exception_channel(a[0], a[1], a[2]),
        nr::FUTEX_WAIT => wait::futex_wait(frame, a[0], a[1], a[2]),
        nr::FUTEX_WAKE => wait::futex_wake(a[0], a[1]),
        nr::DEBUGLOG_READ => debug::debuglog_read(a[0], a[1], a[2], a[3], a[4], a[5]),
        nr::CHANNEL_CALL => channel::call(frame, a[0], a[1], a[2], a[3], a[4], a[5]),
        nr::DEBUG_READ => debug::debug_read(a[0], a[1], a[2], a[3]),
        nr::SYSTEM_SHUTDOWN => debug::system_shutdown(a[0], a[1]),
        nr::RESOURCE_CREATE => resource::resource_create(a[0], a[1], a[2], a[3], a[4]),
        nr::VMO_CREATE_PHYSICAL => device::vmo_create_physical(a[0], a[1], a[2], a[3]),
        nr::INTERRUPT_CREATE => device::interrupt_create(a[0], a[1], a[2], a[3]),
        nr::INTERRUPT_BIND => device::interrupt_bind(a[0], a[1], a[2], a[3]),
        nr::INTERRUPT_WAIT => device::interrupt_wait(frame, a[0], a[1]),
        nr::INTERRUPT_ACK => device::interrupt_ack(a[0]),
        nr::INTERRUPT_TRIGGER => device::interrupt_trigger(a[0]),
        nr::INTERRUPT_GET_INFO => device::interrupt_get_info(a[0], a[1]),
        nr::SYSTEM_GET_PCI_ECAM => device::system_get_pci_ecam(a[0], a[1]),
        nr::SOCKET_CREATE => socket::create(a[0], a[1], a[2]),
        nr::SOCKET_WRITE => socket::write(a[0], a[1], a[2], a[3], a[4]),
        nr::SOCKET_READ => socket::read(a[0], a[1], a[2], a[3], a[4]),
        nr::SOCKET_SHUTDOWN => socket::shutdown(a[0], a[1]),
        nr::SOCKET_SET_THRESHOLD => socket::set_threshold(a[0], a[1], a[2]),
        nr::CHANNEL_RECV => channel::recv(frame, a[0], a[1], a[2], a[3], a[4], a[5]),
        nr::HANDLE_BIND_ESCROW => escrow::bind(a[0], a[1]),
        _ => Err(Status::BAD_SYSCALL),
    };
    match result {
        Ok(Flow::Done(value)) => frame.rax = value,
        Ok(Flow::Switched) => {}
        // `syscall` (0f 05) is two bytes long; `rax` still holds the
        // number.
        Ok(Flow::Restart) => frame.rip -= 2,
        Err(status) => frame.rax = status_raw(status),
    }
}

/// Whether a syscall can make the kernel allocate memory (objects, queued
/// messages and packets, VMO pages, page tables).
fn allocates(number: u64) -> bool {
    matches!(
        number,
        nr::HANDLE_DUPLICATE
            | nr::HANDLE_REPLACE
            | nr::EVENT_CREATE
            | nr::EVENTPAIR_CREATE
            | nr::CHANNEL_CREATE
            | nr::CHANNEL_WRITE
            | nr::CHANNEL_CALL
            | nr::CHANNEL_RECV
            | nr::THREAD_CREATE
            | nr::PORT_CREATE
            | nr::PORT_QUEUE
            | nr::OBJECT_WAIT_ASYNC
            | nr::OBJECT_WAIT_ONE
            | nr::OBJECT_WAIT_MANY
            | nr::TIMER_CREATE
            | nr::TIMER_SET
            | nr::VMO_CREATE
            | nr::VMO_WRITE
            | nr::VMO_CREATE_CONTIGUOUS
            | nr::VMAR_ALLOCATE
            | nr::VMAR_MAP
            | nr::JOB_CREATE
            | nr::PROCESS_CREATE
            | nr::TASK_CREATE_EXCEPTION_CHANNEL
            | nr::FUTEX_WAIT
            | nr::PORT_WAIT
            | nr::NANOSLEEP
            | nr::RESOURCE_CREATE
            | nr::SOCKET_CREATE
            | nr::SOCKET_WRITE
    )
}

/// Finishes the syscall a woken thread was blocked in; `frame` is that
/// thread's, and its address space is active.
pub fn complete_wait(wait: Wait, reason: WakeReason, frame: &mut TrapFrame) {
    frame.rax = match wait::complete(wait, reason) {
        Ok(()) => 0,
        Err(status) => status_raw(status),
    };
}
