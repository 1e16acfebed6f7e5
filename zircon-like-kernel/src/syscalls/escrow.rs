//! `handle_bind_escrow` (the bindings themselves: `object/escrow.rs`).

use super::{handle_arg, ok, SysResult};
use crate::object::channel::Channel;
use crate::sched::current_process;
use zx_abi::{Rights, Status};

pub fn bind(raw_handle: u64, raw_escrow: u64) -> SysResult {
    let value = handle_arg(raw_handle)?;
    let escrow_value = handle_arg(raw_escrow)?;
    let process = current_process();
    let rights = process.with_handle(value, |handle| handle.rights())?;
    let escrow = process.object::<Channel>(escrow_value, Rights::WRITE)?;
    if !rights.contains(Rights::TRANSFER) {
        return Err(Status::ACCESS_DENIED);
    }
    if value == escrow_value {
        return Err(Status::INVALID_ARGS);
    }
    process.bind_escrow(value, escrow)?;
    ok()
}
