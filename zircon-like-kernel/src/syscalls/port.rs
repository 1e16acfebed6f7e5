//! `port_create`, `port_queue`, `port_wait`, `object_wait_async`,
//! `timer_create`, `timer_set`, `timer_cancel`.

use super::{handle_arg, ok, Flow, SysResult};
use crate::arch::x86_64::trap::TrapFrame;
use crate::mem::user_ptr::{read_value, UserOut};
use crate::object::port::Port;
use crate::object::thread::{Wait, WaitKind};
use crate::object::timer::Timer;
use crate::object::{Handle, KernelObject, ObjectCharge, ObserveError, Observer, ObserverTarget};
use crate::sched::{self, current_process};
use alloc::sync::Arc;
use zx_abi::{
    HandleValue, PortPacket, Rights, Signals, Status, Time, CLOCK_MONOTONIC, PACKET_USER,
};

fn install(handle: Handle, out: UserOut<HandleValue>) -> SysResult {
    let process = current_process();
    let value = process.add_handle(handle)?;
    if let Err(status) = out.write(&value) {
        drop(process.take_handle(value));
        return Err(status);
    }
    ok()
}

pub fn port_create(options: u64, out: u64) -> SysResult {
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let out = UserOut::<HandleValue>::required(out)?;
    let account = Arc::clone(&current_process().job.memory);
    let charge = ObjectCharge::take(
        &account,
        (core::mem::size_of::<Port>() + 2 * core::mem::size_of::<usize>()) as u64,
    )?;
    let port = Port::new(Some(account));
    port.base().hold(charge);
    install(Handle::new(port, Rights::DEFAULT_PORT), out)
}

pub fn port_queue(raw: u64, packet: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let mut packet: PortPacket = read_value(packet)?;
    let port = current_process().object::<Port>(value, Rights::WRITE)?;
    // Only user packets can be queued by hand.
    packet.packet_type = PACKET_USER;
    port.queue(packet)?;
    ok()
}

pub fn port_wait(frame: &mut TrapFrame, raw: u64, deadline: u64, packet: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let deadline = deadline as Time;
    let out = UserOut::<PortPacket>::required(packet)?;
    let thread = sched::current().ok_or(Status::INTERNAL)?;
    let port = thread.process.object::<Port>(value, Rights::READ)?;
    if deadline <= crate::clock::monotonic_nanos() as Time {
        let received = port.try_take().ok_or(Status::TIMED_OUT)?;
        out.write(&received)?;
        return ok();
    }
    let token = sched::new_token();
    if let Some(received) = port.take_or_wait(&thread, token) {
        out.write(&received)?;
        return ok();
    }
    drop(thread);
    sched::block_current(
        frame,
        Wait {
            token,
            kind: WaitKind::Port {
                port,
                value,
                packet,
            },
            deadline,
        },
    );
    Ok(Flow::Switched)
}

pub fn wait_async(raw: u64, port: u64, key: u64, signals: u64, options: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let port_value = handle_arg(port)?;
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let trigger =
        Signals::from_bits_retain(u32::try_from(signals).map_err(|_| Status::INVALID_ARGS)?);
    let process = current_process();
    let object = process.any_object(value, Rights::WAIT)?;
    let port: Arc<Port> = process.object::<Port>(port_value, Rights::WRITE)?;
    // Room for the packet first: a full port refuses (SHOULD_WAIT).
    let slot = port.reserve()?;
    let observer = Observer {
        target: ObserverTarget::Port { slot, key },
        trigger,
    };
    match object.base().observe(observer) {
        Ok(()) => ok(),
        // Already satisfied: the packet is queued at once.
        Err((ObserveError::Satisfied(current), observer)) => {
            observer.notify(current);
            ok()
        }
        // Dropping the observer gives the room back.
        Err((error, _)) => Err(error.status()),
    }
}

pub fn timer_create(options: u64, clock: u64, out: u64) -> SysResult {
    if options != 0 || clock != CLOCK_MONOTONIC as u64 {
        return Err(Status::INVALID_ARGS);
    }
    let out = UserOut::<HandleValue>::required(out)?;
    let charge = ObjectCharge::for_new::<Timer>(0)?;
    let timer = Timer::new();
    timer.base().hold(charge);
    install(Handle::new(timer, Rights::DEFAULT_TIMER), out)
}

pub fn timer_set(raw: u64, deadline: u64, slack: u64) -> SysResult {
    let value = handle_arg(raw)?;
    if (slack as i64) < 0 {
        return Err(Status::OUT_OF_RANGE);
    }
    let timer = current_process().object::<Timer>(value, Rights::WRITE)?;
    timer.set(deadline as Time);
    ok()
}

pub fn timer_cancel(raw: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let timer = current_process().object::<Timer>(value, Rights::WRITE)?;
    timer.cancel();
    ok()
}
