//! `vmo_*` and `vmar_*`: memory objects and address-space regions.

use super::{handle_arg, ok, Flow, SysResult};
use crate::arch::x86_64::trap::TrapFrame;
use crate::mem::phys_to_virt;
use crate::mem::user_ptr::{UserOut, UserSlice};
use crate::object::vmar::Vmar;
use crate::object::vmo::Vmo;
use crate::object::{Handle, KernelObject, ObjectCharge};
use crate::sched::current_process;
use paging::Access;
use zx_abi::{HandleValue, Rights, Status, VmOptions, VMO_RESIZABLE};

fn install(handle: Handle, out: UserOut<HandleValue>) -> Result<HandleValue, Status> {
    let process = current_process();
    let value = process.add_handle(handle)?;
    if let Err(status) = out.write(&value) {
        drop(process.take_handle(value));
        return Err(status);
    }
    Ok(value)
}

pub fn vmo_create(size: u64, options: u64, out: u64) -> SysResult {
    if options & !(VMO_RESIZABLE as u64) != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let out = UserOut::<HandleValue>::required(out)?;
    let charge = ObjectCharge::for_new::<Vmo>(0)?;
    let vmo = Vmo::new_paged(size, options & VMO_RESIZABLE as u64 != 0)?;
    vmo.base().hold(charge);
    vmo.charge_to(&current_process().job.memory)?;
    install(Handle::new(vmo, Rights::DEFAULT_VMO), out)?;
    ok()
}

pub fn vmo_create_contiguous(resource: u64, size: u64, options: u64, out: u64) -> SysResult {
    super::resource::require_system(resource, zx_abi::RSRC_SYSTEM_DMA)?;
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let out = UserOut::<HandleValue>::required(out)?;
    let vmo = Vmo::new_contiguous(size)?;
    vmo.charge_to(&current_process().job.memory)?;
    install(Handle::new(vmo, Rights::DEFAULT_VMO), out)?;
    ok()
}

/// Most bytes `vmo_read` and `vmo_write` copy in one pass with interrupts
/// off; a longer request goes on by restarting the syscall with its
/// arguments advanced ([`Flow::Restart`]), so other threads run between
/// passes.
const PASS_BYTES: u64 = 1 << 20;

/// Advances a `vmo_read`/`vmo_write` frame past the `done` bytes.
fn continue_copy(
    frame: &mut TrapFrame,
    buffer: u64,
    offset: u64,
    len: u64,
    done: u64,
) -> SysResult {
    frame.rsi = buffer + done;
    frame.rdx = offset + done;
    frame.r10 = len - done;
    Ok(Flow::Restart)
}

pub fn vmo_read(frame: &mut TrapFrame, raw: u64, buffer: u64, offset: u64, len: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let len_usize = usize::try_from(len).map_err(|_| Status::OUT_OF_RANGE)?;
    let destination = UserSlice::new(buffer, len_usize)?;
    let vmo = current_process().object::<Vmo>(value, Rights::READ)?;
    vmo.check_range(offset, len)?;
    let pass = len.min(PASS_BYTES);
    let zeros = [0u8; 4096];
    vmo.for_each_chunk(offset, pass, false, |page, in_page, chunk, done| {
        let target = UserSlice::new(destination.address() + done as u64, chunk)?;
        match page {
            // SAFETY: the frame is committed to the VMO (which the caller
            // holds) and reachable through the direct map; the chunk stays
            // inside the page.
            Some(page) => target.write(unsafe {
                core::slice::from_raw_parts(phys_to_virt(page.addr() + in_page as u64), chunk)
            }),
            None => target.write(&zeros[..chunk]),
        }
    })?;
    if pass < len {
        return continue_copy(frame, buffer, offset, len, pass);
    }
    ok()
}

pub fn vmo_write(frame: &mut TrapFrame, raw: u64, buffer: u64, offset: u64, len: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let len_usize = usize::try_from(len).map_err(|_| Status::OUT_OF_RANGE)?;
    let source = UserSlice::new(buffer, len_usize)?;
    let vmo = current_process().object::<Vmo>(value, Rights::WRITE)?;
    vmo.check_range(offset, len)?;
    let pass = len.min(PASS_BYTES);
    vmo.for_each_chunk(offset, pass, true, |page, in_page, chunk, done| {
        let page = page.ok_or(Status::INTERNAL)?;
        // SAFETY: as in vmo_read; the kernel buffer is the committed page.
        let page = unsafe {
            core::slice::from_raw_parts_mut(phys_to_virt(page.addr() + in_page as u64), chunk)
        };
        UserSlice::new(source.address() + done as u64, chunk)?.read(page)
    })?;
    if pass < len {
        return continue_copy(frame, buffer, offset, len, pass);
    }
    ok()
}

pub fn vmo_get_size(raw: u64, out: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let out = UserOut::<u64>::required(out)?;
    let vmo = current_process().object::<Vmo>(value, Rights::GET_PROPERTY)?;
    out.write(&vmo.size())?;
    ok()
}

pub fn vmo_set_size(raw: u64, size: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let vmo = current_process().object::<Vmo>(value, Rights::WRITE)?;
    vmo.set_size(size)?;
    ok()
}

pub fn vmo_get_physical(raw: u64, offset: u64, out: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let out = UserOut::<u64>::required(out)?;
    let vmo = current_process().object::<Vmo>(value, Rights::INSPECT)?;
    out.write(&vmo.physical_address(offset)?)?;
    ok()
}

/// Decodes `vmar_*` options into (access, specific) and checks them against
/// the VMAR handle's rights.
fn decode_options(
    options: u64,
    allowed: &[VmOptions],
    rights: Rights,
) -> Result<(Access, bool), Status> {
    let options = u32::try_from(options).map_err(|_| Status::INVALID_ARGS)?;
    let options = VmOptions::from_bits(options).ok_or(Status::INVALID_ARGS)?;
    let permitted = allowed.iter().fold(VmOptions::empty(), |all, o| all | *o);
    if !permitted.contains(options) {
        return Err(Status::INVALID_ARGS);
    }
    let access = Access {
        write: options.contains(VmOptions::PERM_WRITE),
        execute: options.contains(VmOptions::PERM_EXECUTE),
        ..Access::READ
    };
    let needed = [
        (VmOptions::PERM_READ, Rights::READ),
        (VmOptions::PERM_WRITE, Rights::WRITE),
        (VmOptions::PERM_EXECUTE, Rights::EXECUTE),
    ];
    for (option, right) in needed {
        if options.contains(option) && !rights.contains(right) {
            return Err(Status::ACCESS_DENIED);
        }
    }
    Ok((access, options.contains(VmOptions::SPECIFIC)))
}

const PERMS: [VmOptions; 3] = [
    VmOptions::PERM_READ,
    VmOptions::PERM_WRITE,
    VmOptions::PERM_EXECUTE,
];

pub fn vmar_allocate(
    raw: u64,
    options: u64,
    offset: u64,
    size: u64,
    child_out: u64,
    address_out: u64,
) -> SysResult {
    let value = handle_arg(raw)?;
    let child_out = UserOut::<HandleValue>::required(child_out)?;
    let address_out = UserOut::<u64>::required(address_out)?;
    let process = current_process();
    let rights = process.with_handle(value, |h| h.rights())?;
    let parent = process.object::<Vmar>(value, Rights::empty())?;
    let allowed = [
        VmOptions::SPECIFIC,
        VmOptions::CAN_MAP_SPECIFIC,
        VmOptions::CAN_MAP_READ,
        VmOptions::CAN_MAP_WRITE,
        VmOptions::CAN_MAP_EXECUTE,
    ];
    let bits = VmOptions::from_bits(u32::try_from(options).map_err(|_| Status::INVALID_ARGS)?)
        .ok_or(Status::INVALID_ARGS)?;
    decode_options(options, &allowed, rights)?;
    // The child's handle can map at most what the flags ask and the parent
    // allows.
    let mut child_rights = Rights::BASIC;
    for (flag, right) in [
        (VmOptions::CAN_MAP_READ, Rights::READ),
        (VmOptions::CAN_MAP_WRITE, Rights::WRITE),
        (VmOptions::CAN_MAP_EXECUTE, Rights::EXECUTE),
    ] {
        if bits.contains(flag) {
            if !rights.contains(right) {
                return Err(Status::ACCESS_DENIED);
            }
            child_rights |= right;
        }
    }
    let at = bits.contains(VmOptions::SPECIFIC).then_some(offset);
    let child = parent.allocate(at, size)?;
    let start = child.start();
    let child_value = install(Handle::new(child.clone(), child_rights), child_out)?;
    if let Err(status) = address_out.write(&start) {
        drop(process.take_handle(child_value));
        // Gives the range back to the parent too.
        let _ = parent.unmap(start, size);
        return Err(status);
    }
    ok()
}

pub fn vmar_map(
    raw: u64,
    options: u64,
    vmar_offset: u64,
    vmo: u64,
    vmo_offset: u64,
    len: u64,
    out: u64,
) -> SysResult {
    let value = handle_arg(raw)?;
    let vmo_value = handle_arg(vmo)?;
    let out = UserOut::<u64>::required(out)?;
    let process = current_process();
    let vmar_rights = process.with_handle(value, |h| h.rights())?;
    let vmar = process.object::<Vmar>(value, Rights::empty())?;
    let mut allowed = PERMS.to_vec();
    allowed.push(VmOptions::SPECIFIC);
    let (access, specific) = decode_options(options, &allowed, vmar_rights)?;
    let mut needed = Rights::MAP | Rights::READ;
    if access.write {
        needed |= Rights::WRITE;
    }
    if access.execute {
        needed |= Rights::EXECUTE;
    }
    let vmo_rights = process.with_handle(vmo_value, |h| h.rights())?;
    let vmo = process.object::<Vmo>(vmo_value, needed)?;
    // What `vmar_protect` may later grant: the VMO handle's rights.
    let max_access = Access {
        write: vmo_rights.contains(Rights::WRITE),
        execute: vmo_rights.contains(Rights::EXECUTE),
        ..Access::READ
    };
    let address = vmar.map(
        specific.then_some(vmar_offset),
        vmo,
        vmo_offset,
        len,
        access,
        max_access,
    )?;
    if let Err(status) = out.write(&address) {
        let _ = vmar.unmap(address, len);
        return Err(status);
    }
    ok()
}

pub fn vmar_unmap(raw: u64, address: u64, len: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let vmar = current_process().object::<Vmar>(value, Rights::empty())?;
    vmar.unmap(address, len)?;
    ok()
}

pub fn vmar_protect(raw: u64, options: u64, address: u64, len: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let process = current_process();
    let rights = process.with_handle(value, |h| h.rights())?;
    let vmar = process.object::<Vmar>(value, Rights::empty())?;
    let (access, _) = decode_options(options, &PERMS, rights)?;
    vmar.protect(address, len, access)?;
    ok()
}
