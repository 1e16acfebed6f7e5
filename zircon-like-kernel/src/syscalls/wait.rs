//! `object_wait_one`, `object_wait_many`, `nanosleep`, and finishing a wait
//! after the thread is woken.

use super::{handle_arg, ok, Flow, SysResult};
use crate::mem::user_ptr::{read_value, UserOut, UserSlice};
use crate::object::thread::{Wait, WaitKind, WakeReason};
use crate::object::{KernelObject, ObserveError, Observer, ObserverTarget};
use crate::sched;
use alloc::sync::Arc;
use alloc::vec::Vec;
use zerocopy::IntoBytes;
use zx_abi::{PortPacket, Rights, Signals, Status, Time, WaitItem, WAIT_MANY_MAX_ITEMS};

fn now() -> Time {
    crate::clock::monotonic_nanos() as Time
}

pub fn wait_one(
    frame: &mut crate::arch::x86_64::trap::TrapFrame,
    raw: u64,
    signals: u64,
    deadline: u64,
    observed: u64,
) -> SysResult {
    let value = handle_arg(raw)?;
    let trigger =
        Signals::from_bits_retain(u32::try_from(signals).map_err(|_| Status::INVALID_ARGS)?);
    let deadline = deadline as Time;
    let observed_out = UserOut::<u32>::optional(observed)?;
    let thread = sched::current().ok_or(Status::INTERNAL)?;
    let object = thread.process.any_object(value, Rights::WAIT)?;
    let token = sched::new_token();
    let observer = Observer {
        target: ObserverTarget::Thread {
            thread: Arc::downgrade(&thread),
            token,
            index: 0,
        },
        trigger,
    };
    match object.base().observe(observer) {
        Ok(()) => {}
        Err((ObserveError::Satisfied(current), _)) => {
            observed_out.write(&current.bits())?;
            return ok();
        }
        Err((error, _)) => return Err(error.status()),
    }
    if deadline <= now() {
        object.base().forget(token);
        observed_out.write(&object.base().signals().bits())?;
        return Err(Status::TIMED_OUT);
    }
    drop(thread);
    sched::block_current(
        frame,
        Wait {
            token,
            kind: WaitKind::One {
                object,
                value,
                observed,
            },
            deadline,
        },
    );
    Ok(Flow::Switched)
}

pub fn wait_many(
    frame: &mut crate::arch::x86_64::trap::TrapFrame,
    items: u64,
    count: u64,
    deadline: u64,
) -> SysResult {
    let count = usize::try_from(count).map_err(|_| Status::OUT_OF_RANGE)?;
    if count > WAIT_MANY_MAX_ITEMS {
        return Err(Status::OUT_OF_RANGE);
    }
    let deadline = deadline as Time;
    let slice = UserSlice::new(items, count * core::mem::size_of::<WaitItem>())?;
    let thread = sched::current().ok_or(Status::INTERNAL)?;
    let mut objects: Vec<Arc<dyn KernelObject>> = Vec::with_capacity(count);
    let mut triggers = Vec::with_capacity(count);
    let mut values = Vec::with_capacity(count);
    for index in 0..count {
        let item: WaitItem = read_value(items + (index * core::mem::size_of::<WaitItem>()) as u64)?;
        objects.push(thread.process.any_object(item.handle, Rights::WAIT)?);
        values.push(item.handle);
        triggers.push(Signals::from_bits_retain(item.wait_for));
    }
    let token = sched::new_token();
    let mut satisfied = false;
    for (index, (object, trigger)) in objects.iter().zip(&triggers).enumerate() {
        let observer = Observer {
            target: ObserverTarget::Thread {
                thread: Arc::downgrade(&thread),
                token,
                index,
            },
            trigger: *trigger,
        };
        match object.base().observe(observer) {
            Ok(()) => {}
            Err((ObserveError::Satisfied(_), _)) => {
                satisfied = true;
                break;
            }
            Err((error, _)) => {
                for object in &objects {
                    object.base().forget(token);
                }
                return Err(error.status());
            }
        }
    }
    if satisfied || deadline <= now() {
        finish_many(&objects, token, slice)?;
        return if satisfied {
            ok()
        } else {
            Err(Status::TIMED_OUT)
        };
    }
    drop(thread);
    sched::block_current(
        frame,
        Wait {
            token,
            kind: WaitKind::Many {
                objects,
                values,
                items,
            },
            deadline,
        },
    );
    Ok(Flow::Switched)
}

/// Removes a multi-wait's observers and writes every item's signals.
fn finish_many(
    objects: &[Arc<dyn KernelObject>],
    token: u64,
    slice: UserSlice,
) -> Result<(), Status> {
    let mut records = Vec::with_capacity(objects.len());
    for object in objects {
        object.base().forget(token);
        records.push(object.base().signals().bits());
    }
    for (index, pending) in records.into_iter().enumerate() {
        let offset = index * core::mem::size_of::<WaitItem>() + 8;
        let field = UserSlice::new(slice.address() + offset as u64, 4)?;
        field.write(pending.as_bytes())?;
    }
    Ok(())
}

pub fn nanosleep(frame: &mut crate::arch::x86_64::trap::TrapFrame, deadline: u64) -> SysResult {
    let deadline = deadline as Time;
    if deadline <= now() {
        return ok();
    }
    let token = sched::new_token();
    sched::block_current(
        frame,
        Wait {
            token,
            kind: WaitKind::Sleep,
            deadline,
        },
    );
    Ok(Flow::Switched)
}

/// Finishes a wait for the thread that was woken.
pub fn complete(wait: &mut Wait, reason: WakeReason) -> Result<(), Status> {
    let timed_out = reason == WakeReason::TimedOut;
    // How the wait ends when nothing it waited for came.
    let ending = match reason {
        WakeReason::TimedOut => Err(Status::TIMED_OUT),
        WakeReason::Canceled => Err(Status::CANCELED),
        _ => Ok(()),
    };
    let token = wait.token;
    match &mut wait.kind {
        WaitKind::One {
            object, observed, ..
        } => {
            object.base().forget(token);
            let signals = match reason {
                WakeReason::Signaled { observed, .. } => observed,
                _ => object.base().signals(),
            };
            UserOut::<u32>::optional(*observed)?.write(&signals.bits())?;
        }
        WaitKind::Many { objects, items, .. } => {
            let slice = UserSlice::new(*items, objects.len() * core::mem::size_of::<WaitItem>())?;
            finish_many(objects, token, slice)?;
        }
        WaitKind::Sleep => return Ok(()),
        WaitKind::Call {
            channel,
            reply,
            buffers,
            value,
            bind,
            ..
        } => {
            let bind = bind.then_some(*value);
            return super::channel::complete_call(channel, reply, *buffers, token, ending, bind);
        }
        WaitKind::Recv {
            channel,
            request,
            buffers,
            ..
        } => {
            return super::channel::complete_recv(channel, request, *buffers, token, ending);
        }
        WaitKind::Futex { key } => {
            if timed_out {
                crate::object::futex::remove(*key, token);
            }
        }
        WaitKind::Port { port, packet, .. } => {
            if let WakeReason::Packet(received) = reason {
                return UserOut::<PortPacket>::required(*packet)?.write(&received);
            }
            port.remove_waiter(token);
        }
    }
    ending
}

pub fn futex_wait(
    frame: &mut crate::arch::x86_64::trap::TrapFrame,
    address: u64,
    current: u64,
    deadline: u64,
) -> SysResult {
    if !address.is_multiple_of(4) {
        return Err(Status::INVALID_ARGS);
    }
    let current = u32::try_from(current).map_err(|_| Status::INVALID_ARGS)?;
    let value: u32 = read_value(address)?;
    if value != current {
        return Err(Status::BAD_STATE);
    }
    let deadline = deadline as Time;
    if deadline <= now() {
        return Err(Status::TIMED_OUT);
    }
    let thread = sched::current().ok_or(Status::INTERNAL)?;
    let key = (thread.process.koid().0, address);
    let token = sched::new_token();
    crate::object::futex::enqueue(key, &thread, token);
    drop(thread);
    sched::block_current(
        frame,
        Wait {
            token,
            kind: WaitKind::Futex { key },
            deadline,
        },
    );
    Ok(Flow::Switched)
}

pub fn futex_wake(address: u64, count: u64) -> SysResult {
    if !address.is_multiple_of(4) || address >= zx_abi::USER_ADDRESS_LIMIT {
        return Err(Status::INVALID_ARGS);
    }
    let key = (sched::current_process().koid().0, address);
    crate::object::futex::wake(key, u32::try_from(count).unwrap_or(u32::MAX));
    ok()
}
