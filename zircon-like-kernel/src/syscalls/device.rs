//! Syscalls for drivers: `vmo_create_physical`, `interrupt_*` and
//! `system_get_pci_ecam`. Each needs a resource of the right kind covering
//! what it touches (checked first); see `object/interrupt.rs` and the
//! physical backing of `object/vmo.rs`.

use super::{handle_arg, ok, Flow, SysResult};
use crate::arch::x86_64::trap::TrapFrame;
use crate::mem::user_ptr::UserOut;
use crate::object::interrupt::Interrupt;
use crate::object::port::Port;
use crate::object::resource::Resource;
use crate::object::vmo::Vmo;
use crate::object::Handle;
use crate::sched::current_process;
use pmm::{RegionKind, FRAME_SIZE};
use zx_abi::{
    HandleValue, InterruptInfo, PciEcam, Rights, Signals, Status, RSRC_KIND_IRQ, RSRC_KIND_MMIO,
};

/// Bytes of configuration space per bus (32 devices × 8 functions × 4 KiB).
const ECAM_BUS_BYTES: u64 = 1 << 20;

fn resource(raw: u64) -> Result<alloc::sync::Arc<Resource>, Status> {
    current_process().object::<Resource>(handle_arg(raw)?, Rights::empty())
}

fn install(handle: Handle, out: UserOut<HandleValue>) -> SysResult {
    let process = current_process();
    let value = process.add_handle(handle)?;
    if let Err(status) = out.write(&value) {
        drop(process.take_handle(value));
        return Err(status);
    }
    ok()
}

/// Whether `[start, end)` touches RAM the kernel manages or a device the
/// kernel drives.
fn kernel_owned(start: u64, end: u64) -> bool {
    let ram = crate::BOOT_INFO.get().is_none_or(|boot| {
        boot.regions()
            .iter()
            .filter(|region| region.kind == RegionKind::Usable)
            .any(|region| region.start < end && start < region.end())
    });
    let devices = crate::platform::devices().is_some_and(|devices| {
        devices
            .kernel_owned
            .iter()
            .any(|&page| page < end && start < page + FRAME_SIZE)
    });
    ram || devices
}

/// Rejects a pending allocation when memory is down to the reserve (as
/// the dispatcher does for the older allocating calls).
fn check_reserve() -> Result<(), Status> {
    if crate::mem::frames::below_reserve() {
        return Err(Status::NO_MEMORY);
    }
    Ok(())
}

pub fn vmo_create_physical(raw: u64, paddr: u64, size: u64, out: u64) -> SysResult {
    let resource = resource(raw)?;
    let end = paddr.checked_add(size).ok_or(Status::INVALID_ARGS)?;
    if size == 0 || !paddr.is_multiple_of(FRAME_SIZE) || !size.is_multiple_of(FRAME_SIZE) {
        return Err(Status::INVALID_ARGS);
    }
    resource.check(RSRC_KIND_MMIO, paddr, size)?;
    if kernel_owned(paddr, end) {
        return Err(Status::INVALID_ARGS);
    }
    let out = UserOut::<HandleValue>::required(out)?;
    check_reserve()?;
    let vmo = Vmo::new_physical(paddr, size)?;
    install(Handle::new(vmo, Rights::DEFAULT_PHYSICAL_VMO), out)
}

pub fn interrupt_create(raw: u64, vector: u64, options: u64, out: u64) -> SysResult {
    let resource = resource(raw)?;
    let vector = u32::try_from(vector).map_err(|_| Status::OUT_OF_RANGE)?;
    let kind = u32::try_from(options).map_err(|_| Status::INVALID_ARGS)?;
    resource.check(RSRC_KIND_IRQ, vector as u64, 1)?;
    let out = UserOut::<HandleValue>::required(out)?;
    check_reserve()?;
    let interrupt = Interrupt::new(vector, kind)?;
    install(Handle::new(interrupt, Rights::DEFAULT_INTERRUPT), out)
}

pub fn interrupt_bind(raw: u64, port: u64, key: u64, options: u64) -> SysResult {
    let process = current_process();
    let interrupt = process.object::<Interrupt>(handle_arg(raw)?, Rights::READ)?;
    let port = process.object::<Port>(handle_arg(port)?, Rights::WRITE)?;
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    interrupt.bind(&port, key)?;
    ok()
}

pub fn interrupt_wait(frame: &mut TrapFrame, raw: u64, deadline: u64) -> SysResult {
    // Checked here so that another type is WRONG_TYPE, not a signal wait.
    current_process().object::<Interrupt>(handle_arg(raw)?, Rights::WAIT)?;
    super::wait::wait_one(
        frame,
        raw,
        Signals::INTERRUPT_SIGNALED.bits() as u64,
        deadline,
        0,
    )
}

pub fn interrupt_ack(raw: u64) -> SysResult {
    let interrupt = current_process().object::<Interrupt>(handle_arg(raw)?, Rights::WRITE)?;
    interrupt.ack();
    ok()
}

pub fn interrupt_trigger(raw: u64) -> SysResult {
    let interrupt = current_process().object::<Interrupt>(handle_arg(raw)?, Rights::SIGNAL)?;
    if !interrupt.is_virtual() {
        return Err(Status::BAD_STATE);
    }
    interrupt.fire();
    Ok(Flow::Done(0))
}

pub fn interrupt_get_info(raw: u64, out: u64) -> SysResult {
    let interrupt = current_process().object::<Interrupt>(handle_arg(raw)?, Rights::INSPECT)?;
    let out = UserOut::<InterruptInfo>::required(out)?;
    out.write(&interrupt.info())?;
    ok()
}

pub fn system_get_pci_ecam(raw: u64, out: u64) -> SysResult {
    let resource = resource(raw)?;
    let out = UserOut::<PciEcam>::required(out)?;
    let ecam = crate::platform::devices()
        .and_then(|devices| devices.pci_ecam)
        .ok_or(Status::NOT_FOUND)?;
    resource.check(RSRC_KIND_MMIO, ecam.base, ECAM_BUS_BYTES)?;
    out.write(&PciEcam {
        base: ecam.base,
        segment: ecam.segment as u32,
        bus_start: ecam.bus_start as u32,
        bus_end: ecam.bus_end as u32,
        reserved: 0,
    })?;
    ok()
}
