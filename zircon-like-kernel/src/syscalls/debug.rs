//! `debug_write`.

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
