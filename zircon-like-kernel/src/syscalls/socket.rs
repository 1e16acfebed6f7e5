//! `socket_create`, `socket_write`, `socket_read`, `socket_shutdown`,
//! `socket_set_threshold`.

use super::object::install_pair;
use super::{handle_arg, ok, SysResult};
use crate::mem::user_ptr::{UserOut, UserSlice};
use crate::object::socket::{Socket, SocketKind, Threshold};
use crate::object::{Handle, KernelObject, ObjectCharge};
use crate::sched::current_process;
use zx_abi::{
    HandleValue, Rights, Status, SOCKET_DATAGRAM, SOCKET_PEEK, SOCKET_SHUTDOWN_READ,
    SOCKET_SHUTDOWN_WRITE, SOCKET_STREAM, SOCKET_THRESHOLD_READ, SOCKET_THRESHOLD_WRITE,
};

pub fn create(options: u64, out0: u64, out1: u64) -> SysResult {
    let kind = match u32::try_from(options) {
        Ok(SOCKET_STREAM) => SocketKind::Stream,
        Ok(SOCKET_DATAGRAM) => SocketKind::Datagram,
        _ => return Err(Status::INVALID_ARGS),
    };
    let out0 = UserOut::<HandleValue>::required(out0)?;
    let out1 = UserOut::<HandleValue>::required(out1)?;
    let charges = (
        ObjectCharge::for_new::<Socket>(0)?,
        ObjectCharge::for_new::<Socket>(0)?,
    );
    let (a, b) = Socket::create(kind);
    a.base().hold(charges.0);
    b.base().hold(charges.1);
    install_pair(
        &current_process(),
        Handle::new(a, Rights::DEFAULT_SOCKET),
        Handle::new(b, Rights::DEFAULT_SOCKET),
        out0,
        out1,
    )
}

/// Copies `source`, starting `offset` bytes in, into `destination`.
fn copy_in(source: UserSlice, offset: usize, destination: &mut [u8]) -> Result<(), Status> {
    if destination.is_empty() {
        return Ok(());
    }
    UserSlice::new(source.address() + offset as u64, destination.len())?.read(destination)
}

/// Copies `data` to `destination`, starting `offset` bytes in.
fn copy_out(destination: UserSlice, offset: usize, data: &[u8]) -> Result<(), Status> {
    if data.is_empty() {
        return Ok(());
    }
    UserSlice::new(destination.address() + offset as u64, data.len())?.write(data)
}

pub fn write(raw: u64, options: u64, buffer: u64, size: u64, actual: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let process = current_process();
    let socket = process.object::<Socket>(value, Rights::WRITE)?;
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let size = usize::try_from(size).map_err(|_| Status::INVALID_ARGS)?;
    let source = UserSlice::new(buffer, size)?;
    let actual = UserOut::<u64>::optional(actual)?;
    let account = &process.job.account;
    // The count is reported before the bytes are committed, so a bad
    // `actual` pointer leaves the socket untouched.
    let attempt = || {
        socket.write(size, account, |first, second| {
            actual.write(&((first.len() + second.len()) as u64))?;
            copy_in(source, 0, first)?;
            copy_in(source, first.len(), second)
        })
    };
    match attempt() {
        Err(Status::NO_MEMORY) => {
            // Unreachable channel cycles may hold what the job is missing.
            crate::object::inflight::collect_if_changed();
            crate::object::run_deferred();
            attempt()?;
        }
        result => {
            result?;
        }
    }
    ok()
}

pub fn read(raw: u64, options: u64, buffer: u64, size: u64, actual: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let process = current_process();
    let socket = process.object::<Socket>(value, Rights::READ)?;
    let peek = match u32::try_from(options) {
        Ok(0) => false,
        Ok(SOCKET_PEEK) => true,
        _ => return Err(Status::INVALID_ARGS),
    };
    let size = usize::try_from(size).map_err(|_| Status::INVALID_ARGS)?;
    let destination = UserSlice::new(buffer, size)?;
    let actual = UserOut::<u64>::optional(actual)?;
    socket
        .read(size, peek, |first, second| {
            copy_out(destination, 0, first)?;
            copy_out(destination, first.len(), second)?;
            actual.write(&((first.len() + second.len()) as u64))
        })
        .map_err(|error| error.status())?;
    ok()
}

pub fn shutdown(raw: u64, options: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let socket = current_process().object::<Socket>(value, Rights::WRITE)?;
    let options = u32::try_from(options).map_err(|_| Status::INVALID_ARGS)?;
    if options & !(SOCKET_SHUTDOWN_WRITE | SOCKET_SHUTDOWN_READ) != 0 {
        return Err(Status::INVALID_ARGS);
    }
    socket.shutdown(
        options & SOCKET_SHUTDOWN_WRITE != 0,
        options & SOCKET_SHUTDOWN_READ != 0,
    );
    ok()
}

pub fn set_threshold(raw: u64, options: u64, threshold: u64) -> SysResult {
    let value = handle_arg(raw)?;
    let socket = current_process().object::<Socket>(value, Rights::SET_PROPERTY)?;
    let which = match u32::try_from(options) {
        Ok(SOCKET_THRESHOLD_READ) => Threshold::Read,
        Ok(SOCKET_THRESHOLD_WRITE) => Threshold::Write,
        _ => return Err(Status::INVALID_ARGS),
    };
    let threshold = usize::try_from(threshold).map_err(|_| Status::INVALID_ARGS)?;
    socket.set_threshold(which, threshold)?;
    ok()
}
