//! `process_exit`, `thread_create`, `thread_start`, `thread_exit`.

use super::{handle_arg, Flow, SysResult};
use crate::arch::x86_64::trap::TrapFrame;
use crate::mem::user_ptr::{UserOut, UserSlice};
use crate::object::process::{Outcome, Process};
use crate::object::thread::{Thread, ThreadState};
use crate::object::{Handle, KernelObject};
use crate::sched;
use alloc::string::String;
use zx_abi::{HandleValue, Rights, Signals, Status, MAX_NAME_LEN, USER_ADDRESS_LIMIT};

pub fn process_exit(frame: &mut TrapFrame, code: i64) -> SysResult {
    let process = sched::current_process();
    process.end(Outcome::Exited(code));
    sched::abandon_current(frame);
    Ok(Flow::Switched)
}

pub fn thread_create(raw: u64, name: u64, name_len: u64, options: u64, out: u64) -> SysResult {
    let value = handle_arg(raw)?;
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let name_len = usize::try_from(name_len)
        .map_err(|_| Status::INVALID_ARGS)?
        .min(MAX_NAME_LEN);
    let name = UserSlice::new(name, name_len)?.read_to_vec()?;
    let name = String::from_utf8_lossy(&name).into_owned();
    let out = UserOut::<HandleValue>::required(out)?;
    let caller = sched::current_process();
    let target = caller.object::<Process>(value, Rights::MANAGE_THREAD)?;
    let thread = Thread::new(&target, &name);
    target.add_thread(&thread)?;
    let handle_value = caller.add_handle(Handle::new(thread, Rights::DEFAULT_THREAD))?;
    if let Err(status) = out.write(&handle_value) {
        drop(caller.take_handle(handle_value));
        return Err(status);
    }
    Ok(Flow::Done(0))
}

pub fn thread_start(raw: u64, entry: u64, stack: u64, arg1: u64, arg2: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let thread = sched::current_process().object::<Thread>(value, Rights::MANAGE_THREAD)?;
    if entry == 0 || entry >= USER_ADDRESS_LIMIT || stack > USER_ADDRESS_LIMIT {
        return Err(Status::INVALID_ARGS);
    }
    if thread.process.outcome().is_some() {
        return Err(Status::BAD_STATE);
    }
    {
        let mut inner = thread.inner.lock();
        if inner.state != ThreadState::New {
            return Err(Status::BAD_STATE);
        }
        let mut frame = TrapFrame::new_user(entry, stack, arg1);
        frame.rsi = arg2;
        *inner.frame = frame;
    }
    thread
        .base()
        .update_signals(Signals::empty(), Signals::THREAD_RUNNING);
    sched::make_runnable(&thread);
    Ok(Flow::Done(0))
}

pub fn thread_exit(frame: &mut TrapFrame) -> SysResult {
    let thread = sched::current().ok_or(Status::INTERNAL)?;
    thread.mark_dead();
    let process = alloc::sync::Arc::clone(&thread.process);
    process.thread_exited(&thread);
    drop(thread);
    sched::abandon_current(frame);
    Ok(Flow::Switched)
}
