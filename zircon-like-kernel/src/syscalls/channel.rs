//! `channel_create`, `channel_write`, `channel_read`.

use super::object::install_pair;
use super::{handle_arg, ok, SysResult};
use crate::mem::user_ptr::{UserOut, UserSlice};
use crate::object::channel::{Channel, Message, ReadError};
use crate::object::Handle;
use crate::sched::current_process;
use alloc::vec::Vec;
use zerocopy::IntoBytes;
use zx_abi::{HandleValue, Rights, Status, CHANNEL_MAX_MSG_BYTES, CHANNEL_MAX_MSG_HANDLES};

pub fn create(options: u64, out0: u64, out1: u64) -> SysResult {
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let out0 = UserOut::<HandleValue>::required(out0)?;
    let out1 = UserOut::<HandleValue>::required(out1)?;
    let (a, b) = Channel::create();
    install_pair(
        &current_process(),
        Handle::new(a, Rights::DEFAULT_CHANNEL),
        Handle::new(b, Rights::DEFAULT_CHANNEL),
        out0,
        out1,
    )
}

fn read_handle_values(address: u64, count: usize) -> Result<Vec<HandleValue>, Status> {
    let bytes = UserSlice::new(address, count * 4)?.read_to_vec()?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

pub fn write(
    raw: u64,
    options: u64,
    bytes: u64,
    num_bytes: u64,
    handles: u64,
    num_handles: u64,
) -> SysResult {
    let num_handles = usize::try_from(num_handles).map_err(|_| Status::OUT_OF_RANGE)?;
    if num_handles > CHANNEL_MAX_MSG_HANDLES {
        return Err(Status::OUT_OF_RANGE);
    }
    // The handles are consumed by the call whatever happens next (as in
    // Zircon): take them out of the table first. The channel's own handle
    // is never taken: a channel cannot carry itself.
    let values = read_handle_values(handles, num_handles)?;
    let carries_itself = values.iter().any(|&v| u64::from(v) == raw);
    let process = current_process();
    let mut taken = Vec::with_capacity(values.len());
    let mut bad_handle = false;
    for value in values.iter().filter(|&&v| u64::from(v) != raw) {
        match process.take_handle(*value) {
            Ok(handle) => taken.push(handle),
            Err(_) => bad_handle = true,
        }
    }
    let result = (|| {
        let value = handle_arg(raw)?;
        let channel = process.object::<Channel>(value, Rights::WRITE)?;
        if options != 0 {
            return Err(Status::INVALID_ARGS);
        }
        if carries_itself {
            return Err(Status::NOT_SUPPORTED);
        }
        if bad_handle {
            return Err(Status::BAD_HANDLE);
        }
        let num_bytes = usize::try_from(num_bytes).map_err(|_| Status::OUT_OF_RANGE)?;
        if num_bytes > CHANNEL_MAX_MSG_BYTES {
            return Err(Status::OUT_OF_RANGE);
        }
        for handle in &taken {
            if !handle.rights().contains(Rights::TRANSFER) {
                return Err(Status::ACCESS_DENIED);
            }
        }
        let bytes = UserSlice::new(bytes, num_bytes)?.read_to_vec()?;
        Ok((channel, bytes))
    })();
    let (channel, bytes) = match result {
        Ok(decoded) => decoded,
        Err(status) => {
            drop(taken);
            return Err(status);
        }
    };
    let message = match Message::new(bytes, taken) {
        Ok(message) => message,
        Err((status, handles)) => {
            drop(handles);
            return Err(status);
        }
    };
    match channel.write(message) {
        Ok(()) => ok(),
        Err((status, message)) => {
            drop(message);
            Err(status)
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub fn read(
    raw: u64,
    options: u64,
    bytes: u64,
    handles: u64,
    num_bytes: u64,
    num_handles: u64,
    actual_bytes: u64,
    actual_handles: u64,
) -> SysResult {
    let value = handle_arg(raw)?;
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let num_bytes = usize::try_from(num_bytes).map_err(|_| Status::INVALID_ARGS)?;
    let num_handles = usize::try_from(num_handles).map_err(|_| Status::INVALID_ARGS)?;
    let byte_buffer = UserSlice::new(bytes, num_bytes)?;
    let handle_buffer = UserSlice::new(
        handles,
        num_handles.checked_mul(4).ok_or(Status::INVALID_ARGS)?,
    )?;
    let actual_bytes = UserOut::<u32>::optional(actual_bytes)?;
    let actual_handles = UserOut::<u32>::optional(actual_handles)?;
    let process = current_process();
    let channel = process.object::<Channel>(value, Rights::READ)?;
    let mut message = match channel.read(num_bytes, num_handles) {
        Ok(message) => message,
        Err(ReadError::ShouldWait) => return Err(Status::SHOULD_WAIT),
        Err(ReadError::PeerClosed) => return Err(Status::PEER_CLOSED),
        Err(ReadError::TooSmall { bytes, handles }) => {
            actual_bytes.write(&(bytes as u32))?;
            actual_handles.write(&(handles as u32))?;
            return Err(Status::BUFFER_TOO_SMALL);
        }
    };
    // Copy the bytes first: if the buffer faults, the message goes back to
    // the front of the queue and nothing is lost.
    if let Err(status) = byte_buffer.write(message.bytes()) {
        channel.unread(message);
        return Err(status);
    }
    let (byte_count, handle_count) = (message.bytes().len() as u32, message.handles.len() as u32);
    let handles = core::mem::take(&mut message.handles);
    drop(message);
    let mut values = Vec::with_capacity(handles.len());
    for handle in handles {
        match process.add_handle(handle) {
            Ok(value) => values.push(value),
            Err(status) => {
                // The table is full: the remaining handles of the message
                // are closed, as when a process dies holding them.
                for value in values {
                    drop(process.take_handle(value));
                }
                return Err(status);
            }
        }
    }
    handle_buffer.write(values.as_bytes())?;
    actual_bytes.write(&byte_count)?;
    actual_handles.write(&handle_count)?;
    ok()
}
