//! `object_get_info`, `object_signal`, `object_signal_peer`,
//! `event_create`, `eventpair_create`.

use super::{handle_arg, ok, SysResult};
use crate::mem::user_ptr::{UserOut, UserSlice};
use crate::object::event::Event;
use crate::object::eventpair::EventPair;
use crate::object::process::{Outcome, Process};
use crate::object::{Handle, KernelObject, ObjectCharge};
use crate::sched::current_process;
use zerocopy::IntoBytes;
use zx_abi::info::{self, HandleBasic, ProcessResources, ProcessState};
use zx_abi::{HandleValue, Rights, Signals, Status};

pub fn get_info(
    raw: u64,
    topic: u64,
    buffer: u64,
    buffer_size: u64,
    actual: u64,
    avail: u64,
) -> SysResult {
    let value = handle_arg(raw)?;
    let buffer_size = usize::try_from(buffer_size).map_err(|_| Status::INVALID_ARGS)?;
    let buffer = UserSlice::new(buffer, buffer_size)?;
    let actual = UserOut::<u64>::optional(actual)?;
    let avail = UserOut::<u64>::optional(avail)?;
    let process = current_process();
    let topic = u32::try_from(topic).map_err(|_| Status::INVALID_ARGS)?;
    let record: alloc::vec::Vec<u8> = match topic {
        info::HANDLE_BASIC => {
            let basic = process.with_handle(value, |handle| {
                let object = handle.object();
                HandleBasic {
                    koid: object.base().koid().0,
                    rights: handle.rights().bits(),
                    object_type: object.object_type() as u32,
                    related_koid: object.peer().map_or(0, |peer| peer.base().koid().0),
                    reserved: 0,
                }
            })?;
            basic.as_bytes().into()
        }
        info::PROCESS_RESOURCES => {
            let target = process.object::<Process>(value, Rights::INSPECT)?;
            let resources = ProcessResources {
                handle_count: target.handle_count() as u64,
                thread_count: target.live_threads() as u64,
                mapped_bytes: target.mapped_bytes(),
            };
            resources.as_bytes().into()
        }
        info::PROCESS_STATE => {
            let target = process.object::<Process>(value, Rights::INSPECT)?;
            let outcome = target.outcome();
            let mut flags = 0;
            if target.is_started() {
                flags |= info::PROCESS_STARTED;
            }
            if outcome.is_some() {
                flags |= info::PROCESS_EXITED;
            }
            let return_code = match outcome {
                Some(Outcome::Exited(code)) => code,
                Some(Outcome::Killed) => zx_abi::RETCODE_EXCEPTION_KILL,
                None => 0,
            };
            ProcessState {
                return_code,
                flags,
                reserved: 0,
            }
            .as_bytes()
            .into()
        }
        info::KMEM_STATS => {
            super::resource::require_system(raw, zx_abi::RSRC_SYSTEM_DEBUG)?;
            let heap = crate::mem::heap::stats();
            let page = pmm::FRAME_SIZE;
            info::KmemStats {
                total_bytes: crate::mem::frames::total_frames() * page,
                free_bytes: crate::mem::frames::free_frames() * page,
                heap_bytes: (heap.total() + crate::mem::heap::table_pages()) as u64 * page,
                heap_free_bytes: heap.cached_pages as u64 * page,
            }
            .as_bytes()
            .into()
        }
        info::CPU_STATS => {
            super::resource::require_system(raw, zx_abi::RSRC_SYSTEM_DEBUG)?;
            info::CpuStats {
                idle_ticks: crate::idle_time::total(),
                reserved: 0,
            }
            .as_bytes()
            .into()
        }
        _ => return Err(Status::INVALID_ARGS),
    };
    actual.write(&if buffer_size >= record.len() { 1 } else { 0 })?;
    avail.write(&1)?;
    if buffer_size < record.len() {
        return Err(Status::BUFFER_TOO_SMALL);
    }
    buffer.write(&record)?;
    ok()
}

fn masks(clear: u64, set: u64) -> Result<(Signals, Signals), Status> {
    let clear = u32::try_from(clear).map_err(|_| Status::INVALID_ARGS)?;
    let set = u32::try_from(set).map_err(|_| Status::INVALID_ARGS)?;
    Ok((
        Signals::from_bits_retain(clear),
        Signals::from_bits_retain(set),
    ))
}

pub fn signal(raw: u64, clear: u64, set: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let (clear, set) = masks(clear, set)?;
    let object = current_process().any_object(value, Rights::SIGNAL)?;
    let allowed = object.signalable();
    if !allowed.contains(clear | set) {
        return Err(Status::INVALID_ARGS);
    }
    object.base().update_signals(clear, set);
    ok()
}

pub fn signal_peer(raw: u64, clear: u64, set: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let (clear, set) = masks(clear, set)?;
    let object = current_process().any_object(value, Rights::SIGNAL_PEER)?;
    if object.object_type() != zx_abi::ObjectType::EventPair
        && object.object_type() != zx_abi::ObjectType::Channel
    {
        return Err(Status::NOT_SUPPORTED);
    }
    let allowed = match object.object_type() {
        zx_abi::ObjectType::EventPair => Signals::USER_ALL | Signals::EVENT_SIGNALED,
        _ => Signals::USER_ALL,
    };
    if !allowed.contains(clear | set) {
        return Err(Status::INVALID_ARGS);
    }
    let peer = object.peer().ok_or(Status::PEER_CLOSED)?;
    if peer.base().handle_count() == 0 {
        return Err(Status::PEER_CLOSED);
    }
    peer.base().update_signals(clear, set);
    ok()
}

pub fn event_create(options: u64, out: u64) -> SysResult {
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let out = UserOut::<HandleValue>::required(out)?;
    let charge = ObjectCharge::for_new::<Event>(0)?;
    let event = Event::new();
    event.base().hold(charge);
    let process = current_process();
    let value = process.add_handle(Handle::new(event, Rights::DEFAULT_EVENT))?;
    if let Err(status) = out.write(&value) {
        drop(process.take_handle(value));
        return Err(status);
    }
    ok()
}

pub fn eventpair_create(options: u64, out0: u64, out1: u64) -> SysResult {
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let out0 = UserOut::<HandleValue>::required(out0)?;
    let out1 = UserOut::<HandleValue>::required(out1)?;
    let charges = (
        ObjectCharge::for_new::<EventPair>(0)?,
        ObjectCharge::for_new::<EventPair>(0)?,
    );
    let (a, b) = EventPair::create();
    a.base().hold(charges.0);
    b.base().hold(charges.1);
    let process = current_process();
    install_pair(
        &process,
        Handle::new(a, Rights::DEFAULT_EVENTPAIR),
        Handle::new(b, Rights::DEFAULT_EVENTPAIR),
        out0,
        out1,
    )
}

/// Adds two new handles and writes their values, or adds neither.
pub fn install_pair(
    process: &Process,
    a: Handle,
    b: Handle,
    out0: UserOut<HandleValue>,
    out1: UserOut<HandleValue>,
) -> SysResult {
    let first = process.add_handle(a)?;
    let second = match process.add_handle(b) {
        Ok(second) => second,
        Err(status) => {
            drop(process.take_handle(first));
            return Err(status);
        }
    };
    if let Err(status) = out0.write(&first).and_then(|()| out1.write(&second)) {
        drop(process.take_handle(first));
        drop(process.take_handle(second));
        return Err(status);
    }
    ok()
}
