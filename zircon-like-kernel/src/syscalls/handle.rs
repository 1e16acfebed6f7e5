//! `handle_close`, `handle_duplicate`, `handle_replace`.

use super::{handle_arg, ok, SysResult};
use crate::mem::user_ptr::UserOut;
use crate::sched::current_process;
use zx_abi::{HandleValue, Rights, Status, HANDLE_INVALID};

pub fn close(raw: u64) -> SysResult {
    let value = handle_arg(raw)?;
    if value == HANDLE_INVALID {
        return ok();
    }
    let handle = current_process().take_handle(value)?;
    // Closing an outside handle to an endpoint in flight may leave a
    // channel cycle unreachable: the collector should look again.
    if handle.object().object_type() == zx_abi::ObjectType::Channel {
        if let Some(channel) = handle.downcast::<crate::object::channel::Channel>() {
            if channel.in_flight().carried() {
                crate::object::inflight::note_change();
            }
        }
    }
    drop(handle);
    ok()
}

/// The rights a duplicate or replacement gets: `SAME_RIGHTS`, or a subset.
fn derived_rights(original: Rights, requested: u64) -> Result<Rights, Status> {
    let requested = u32::try_from(requested).map_err(|_| Status::INVALID_ARGS)?;
    let requested = Rights::from_bits(requested).ok_or(Status::INVALID_ARGS)?;
    if requested == Rights::SAME_RIGHTS {
        return Ok(original);
    }
    if !original.contains(requested) || requested.contains(Rights::SAME_RIGHTS) {
        return Err(Status::INVALID_ARGS);
    }
    Ok(requested)
}

pub fn duplicate(raw: u64, rights: u64, out: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let out = UserOut::<HandleValue>::required(out)?;
    let process = current_process();
    let new = process.with_handle(value, |handle| {
        if !handle.rights().contains(Rights::DUPLICATE) {
            return Err(Status::ACCESS_DENIED);
        }
        Ok(handle.duplicate(derived_rights(handle.rights(), rights)?))
    })??;
    let new_value = process.add_handle(new)?;
    if let Err(status) = out.write(&new_value) {
        drop(process.take_handle(new_value));
        return Err(status);
    }
    ok()
}

pub fn replace(raw: u64, rights: u64, out: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let out = UserOut::<HandleValue>::required(out)?;
    let process = current_process();
    let new = process.with_handle(value, |handle| {
        Ok::<_, Status>(handle.duplicate(derived_rights(handle.rights(), rights)?))
    })??;
    // The new handle exists before the old one goes, so the object never
    // sees zero handles.
    drop(process.take_handle(value)?);
    let new_value = process.add_handle(new)?;
    if let Err(status) = out.write(&new_value) {
        drop(process.take_handle(new_value));
        return Err(status);
    }
    ok()
}
