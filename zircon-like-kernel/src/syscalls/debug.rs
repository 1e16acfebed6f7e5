//! `debug_write`, `debug_read`, `debuglog_read`, `system_shutdown`.

use super::{ok, SysResult};
use crate::mem::user_ptr::UserSlice;
use zx_abi::{Status, DEBUG_WRITE_MAX};

pub fn debug_write(address: u64, len: u64) -> SysResult {
    let len = usize::try_from(len).map_err(|_| Status::INVALID_ARGS)?;
    if len > DEBUG_WRITE_MAX {
        return Err(Status::INVALID_ARGS);
    }
    let source = UserSlice::new(address, len)?;
    let mut buffer = [0u8; DEBUG_WRITE_MAX];
    source.read(&mut buffer[..len])?;
    let writer = crate::sched::current_process().koid().0;
    crate::log::write_raw(writer, &buffer[..len]);
    ok()
}

pub fn debuglog_read(
    resource: u64,
    from: u64,
    buffer: u64,
    len: u64,
    actual: u64,
    next: u64,
) -> SysResult {
    super::resource::require_system(resource, zx_abi::RSRC_SYSTEM_DEBUGLOG)?;
    let len = usize::try_from(len)
        .map_err(|_| Status::INVALID_ARGS)?
        .min(DEBUG_WRITE_MAX);
    let destination = UserSlice::new(buffer, len)?;
    let actual = crate::mem::user_ptr::UserOut::<u64>::required(actual)?;
    let next = crate::mem::user_ptr::UserOut::<u64>::required(next)?;
    let mut bytes = [0u8; DEBUG_WRITE_MAX];
    let (count, after) = crate::log::read_history(from, &mut bytes[..len]);
    if count == 0 {
        next.write(&after)?;
        return Err(Status::SHOULD_WAIT);
    }
    destination.write(&bytes[..count])?;
    actual.write(&(count as u64))?;
    next.write(&after)?;
    ok()
}

pub fn debug_read(resource: u64, buffer: u64, len: u64, actual: u64) -> SysResult {
    super::resource::require_system(resource, zx_abi::RSRC_SYSTEM_DEBUG)?;
    let len = usize::try_from(len)
        .map_err(|_| Status::INVALID_ARGS)?
        .min(DEBUG_WRITE_MAX);
    let destination = UserSlice::new(buffer, len)?;
    let actual = crate::mem::user_ptr::UserOut::<u64>::required(actual)?;
    let mut bytes = [0u8; DEBUG_WRITE_MAX];
    let count = crate::log::peek_input(&mut bytes[..len]);
    if count == 0 {
        return Err(Status::SHOULD_WAIT);
    }
    // Taken only once delivered: a bad buffer loses no typed input.
    destination.write(&bytes[..count])?;
    actual.write(&(count as u64))?;
    crate::log::consume_input(count);
    ok()
}

pub fn system_shutdown(resource: u64, status: u64) -> SysResult {
    super::resource::require_system(resource, zx_abi::RSRC_SYSTEM_POWER)?;
    let status = status.min(99) as u8;
    let process = crate::sched::current_process();
    info!(
        "system_shutdown({}) by process {} (koid {})",
        status,
        process.name,
        process.koid()
    );
    crate::arch::x86_64::power::power_off(status)
}
