//! Tasks: `process_exit`, `thread_create`, `thread_start`, `thread_exit`,
//! `job_create`, `job_set_limits`, `process_create`, `process_start`,
//! `task_kill`, `task_create_exception_channel`.

use super::{handle_arg, Flow, SysResult};
use crate::arch::x86_64::trap::TrapFrame;
use crate::mem::user_ptr::{UserOut, UserSlice};
use crate::object::channel::Channel;
use crate::object::job::Job;
use crate::object::process::{Outcome, Process};
use crate::object::thread::{Thread, ThreadState};
use crate::object::{Handle, KernelObject, ObjectCharge};
use crate::sched;
use alloc::string::String;
use alloc::sync::Arc;
use zx_abi::{HandleValue, Rights, Signals, Status, MAX_NAME_LEN, USER_ADDRESS_LIMIT};

pub fn process_exit(code: i64) -> SysResult {
    let process = sched::current_process();
    process.end(Outcome::Exited(code));
    sched::abandon_current();
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
    let charge = ObjectCharge::for_new::<Thread>(
        core::mem::size_of::<crate::arch::x86_64::trap::TrapFrame>() + name.len(),
    )?;
    let thread = Thread::new(&target, &name)?;
    thread.base().hold(charge);
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
    if thread.process.outcome().is_some() || !thread.process.is_started() {
        // A process's first thread starts with `process_start`.
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

pub fn thread_exit() -> SysResult {
    let thread = sched::current().ok_or(Status::INTERNAL)?;
    thread.mark_dead();
    let process = alloc::sync::Arc::clone(&thread.process);
    process.thread_exited(&thread, true);
    drop(thread);
    sched::abandon_current();
    Ok(Flow::Switched)
}

pub fn job_create(raw: u64, options: u64, out: u64) -> SysResult {
    let value = handle_arg(raw)?;
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let out = UserOut::<HandleValue>::required(out)?;
    let process = sched::current_process();
    let parent = process.object::<Job>(value, Rights::MANAGE_JOB)?;
    let charge = ObjectCharge::for_new::<Job>(
        2 * core::mem::size_of::<crate::object::account::Account>()
            + core::mem::size_of::<crate::object::account::MemoryAccount>()
            + core::mem::size_of::<usize>(),
    )?;
    let child = parent.create_child()?;
    child.base().hold(charge);
    install(&process, Handle::new(child, Rights::DEFAULT_JOB), out)
}

pub fn job_set_limits(
    raw: u64,
    max_handles: u64,
    max_memory: u64,
    max_threads: u64,
    max_processes: u64,
) -> SysResult {
    let value = handle_arg(raw)?;
    let job = sched::current_process().object::<Job>(value, Rights::SET_POLICY)?;
    job.set_limits(max_handles, max_memory, max_threads, max_processes)?;
    Ok(Flow::Done(0))
}

fn install(process: &Process, handle: Handle, out: UserOut<HandleValue>) -> SysResult {
    let value = process.add_handle(handle)?;
    if let Err(status) = out.write(&value) {
        drop(process.take_handle(value));
        return Err(status);
    }
    Ok(Flow::Done(0))
}

pub fn process_create(
    raw: u64,
    name: u64,
    name_len: u64,
    options: u64,
    process_out: u64,
    vmar_out: u64,
) -> SysResult {
    let value = handle_arg(raw)?;
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let name_len = usize::try_from(name_len)
        .map_err(|_| Status::INVALID_ARGS)?
        .min(MAX_NAME_LEN);
    let name = UserSlice::new(name, name_len)?.read_to_vec()?;
    let name = String::from_utf8_lossy(&name).into_owned();
    let process_out = UserOut::<HandleValue>::required(process_out)?;
    let vmar_out = UserOut::<HandleValue>::required(vmar_out)?;
    let caller = sched::current_process();
    let job = caller.object::<Job>(value, Rights::MANAGE_PROCESS)?;
    let charge = ObjectCharge::for_new::<Process>(
        core::mem::size_of::<crate::object::vmar::Vmar>()
            + name.len()
            + core::mem::size_of::<usize>(),
    )?;
    let process = Process::new(&name, &job)?;
    process.base().hold(charge);
    let vmar = Arc::clone(process.root_vmar());
    let process_value = caller.add_handle(Handle::new(process.clone(), Rights::DEFAULT_PROCESS));
    let vmar_value = caller.add_handle(Handle::new(vmar, Rights::DEFAULT_VMAR));
    let written = match (process_value, vmar_value) {
        (Ok(p), Ok(v)) => process_out
            .write(&p)
            .and_then(|()| vmar_out.write(&v))
            .map(|()| (p, v)),
        (p, v) => Err(p.err().or(v.err()).unwrap_or(Status::NO_RESOURCES)),
    };
    if let Err(status) = written {
        for value in [process_value, vmar_value].into_iter().flatten() {
            drop(caller.take_handle(value));
        }
        // Never started: it ends at once.
        process.end(Outcome::Exited(0));
        return Err(status);
    }
    Ok(Flow::Done(0))
}

pub fn process_start(
    raw: u64,
    thread: u64,
    entry: u64,
    stack: u64,
    argument: u64,
    arg2: u64,
) -> SysResult {
    let value = handle_arg(raw)?;
    let thread_value = handle_arg(thread)?;
    let argument = handle_arg(argument)?;
    let caller = sched::current_process();
    let process = caller.object::<Process>(value, Rights::WRITE)?;
    let thread = caller.object::<Thread>(thread_value, Rights::WRITE)?;
    if !Arc::ptr_eq(&thread.process, &process) {
        return Err(Status::ACCESS_DENIED);
    }
    if entry == 0 || entry >= USER_ADDRESS_LIMIT || stack > USER_ADDRESS_LIMIT {
        return Err(Status::INVALID_ARGS);
    }
    if process.outcome().is_some() || thread.inner.lock().state != ThreadState::New {
        return Err(Status::BAD_STATE);
    }
    let transferable = caller.with_handle(argument, |h| h.rights().contains(Rights::TRANSFER))?;
    if !transferable {
        return Err(Status::ACCESS_DENIED);
    }
    if !process.mark_started() {
        return Err(Status::BAD_STATE);
    }
    // Decoded: now act. The argument handle moves into the new process.
    let handle = caller.take_handle(argument)?;
    let new_value = process.add_handle(handle)?;
    {
        let mut inner = thread.inner.lock();
        let mut frame = TrapFrame::new_user(entry, stack, new_value as u64);
        frame.rsi = arg2;
        *inner.frame = frame;
    }
    thread
        .base()
        .update_signals(Signals::empty(), Signals::THREAD_RUNNING);
    sched::make_runnable(&thread);
    Ok(Flow::Done(0))
}

pub fn task_kill(raw: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let caller = sched::current();
    let object = sched::current_process().any_object(value, Rights::DESTROY)?;
    let object_type = object.object_type();
    let any = object.into_any();
    match object_type {
        zx_abi::ObjectType::Process => {
            let process = any.downcast::<Process>().map_err(|_| Status::INTERNAL)?;
            process.end(Outcome::Exited(zx_abi::RETCODE_SYSCALL_KILL));
        }
        zx_abi::ObjectType::Job => {
            let job = any.downcast::<Job>().map_err(|_| Status::INTERNAL)?;
            job.kill();
        }
        zx_abi::ObjectType::Thread => {
            let thread = any.downcast::<Thread>().map_err(|_| Status::INTERNAL)?;
            let started = thread.inner.lock().state != ThreadState::New;
            if thread.mark_dead() {
                let process = Arc::clone(&thread.process);
                process.thread_exited(&thread, started);
            }
        }
        _ => return Err(Status::WRONG_TYPE),
    }
    // If the caller killed itself (its thread, process or job), switch away.
    let still_running = caller.is_some_and(|t| t.inner.lock().state != ThreadState::Dead);
    if !still_running {
        sched::abandon_current();
        return Ok(Flow::Switched);
    }
    Ok(Flow::Done(0))
}

pub fn create_exception_channel(raw: u64, options: u64, out: u64) -> SysResult {
    let value = handle_arg(raw)?;
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let out = UserOut::<HandleValue>::required(out)?;
    let caller = sched::current_process();
    let object = caller.any_object(
        value,
        Rights::INSPECT | Rights::DUPLICATE | Rights::TRANSFER,
    )?;
    let (kernel_end, user_end) = Channel::create();
    let kernel_end = Handle::new(kernel_end, Rights::DEFAULT_CHANNEL);
    match object.object_type() {
        zx_abi::ObjectType::Process => {
            let process = object
                .into_any()
                .downcast::<Process>()
                .map_err(|_| Status::INTERNAL)?;
            process.set_exception_channel(kernel_end)?;
        }
        zx_abi::ObjectType::Job => {
            let job = object
                .into_any()
                .downcast::<Job>()
                .map_err(|_| Status::INTERNAL)?;
            job.set_exception_channel(kernel_end)?;
        }
        _ => return Err(Status::WRONG_TYPE),
    }
    install(
        &caller,
        Handle::new(user_end, Rights::READ | Rights::WAIT | Rights::TRANSFER),
        out,
    )
}
