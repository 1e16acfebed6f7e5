//! `resource_create`, and the check every privileged call makes.

use super::{handle_arg, ok, SysResult};
use crate::mem::user_ptr::UserOut;
use crate::object::resource::Resource;
use crate::object::Handle;
use crate::sched::current_process;
use zx_abi::{HandleValue, Rights, Status};

/// Checks that `raw` names a resource of the calling process that grants
/// the system service `which` (`RSRC_SYSTEM_*`).
pub fn require_system(raw: u64, which: u64) -> Result<(), Status> {
    let value = handle_arg(raw)?;
    let resource = current_process().object::<Resource>(value, Rights::empty())?;
    resource.check_system(which)
}

pub fn resource_create(raw: u64, kind: u64, base: u64, size: u64, out: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let kind = u32::try_from(kind).map_err(|_| Status::INVALID_ARGS)?;
    let out = UserOut::<HandleValue>::required(out)?;
    let process = current_process();
    let parent = process.object::<Resource>(value, Rights::WRITE)?;
    let child = parent.narrow(kind, base, size)?;
    let child_value = process.add_handle(Handle::new(child, Rights::DEFAULT_RESOURCE))?;
    if let Err(status) = out.write(&child_value) {
        drop(process.take_handle(child_value));
        return Err(status);
    }
    ok()
}
