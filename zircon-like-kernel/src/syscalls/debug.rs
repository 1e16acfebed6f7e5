//! `debug_write`, `debuglog_read`.

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
    crate::log::write_raw(&buffer[..len]);
    ok()
}

pub fn debuglog_read(from: u64, buffer: u64, len: u64, actual: u64, next: u64) -> SysResult {
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
