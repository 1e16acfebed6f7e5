//! `channel_create`, `channel_write`, `channel_read`, `channel_call` and
//! the receive fastpath `channel_recv`.

use super::object::install_pair;
use super::{handle_arg, ok, SysResult};
use crate::mem::user_ptr::{UserOut, UserSlice};
use crate::object::channel::{Channel, Kept, Message, ReadError};
use crate::object::fastpath::{self, Bounced, Origin, Payload};
use crate::object::{Handle, KernelObject, ObjectCharge};
use crate::sched::current_process;
use alloc::sync::Arc;
use alloc::vec::Vec;
use zerocopy::IntoBytes;
use zx_abi::{
    HandleValue, Rights, Status, CHANNEL_BIND_RECEIVED, CHANNEL_MAX_MSG_BYTES,
    CHANNEL_MAX_MSG_HANDLES,
};

pub fn create(options: u64, out0: u64, out1: u64) -> SysResult {
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let out0 = UserOut::<HandleValue>::required(out0)?;
    let out1 = UserOut::<HandleValue>::required(out1)?;
    // Each endpoint with the room its tables keep at rest.
    let charges = (
        ObjectCharge::for_new::<Channel>(crate::object::channel::KEPT_ROOM)?,
        ObjectCharge::for_new::<Channel>(crate::object::channel::KEPT_ROOM)?,
    );
    let (a, b) = Channel::create();
    a.base().hold(charges.0);
    b.base().hold(charges.1);
    install_pair(
        &current_process(),
        Handle::new(a, Rights::DEFAULT_CHANNEL),
        Handle::new(b, Rights::DEFAULT_CHANNEL),
        out0,
        out1,
    )
}

#[inline]
fn read_handle_values(address: u64, count: usize) -> Result<Vec<HandleValue>, Status> {
    if count == 0 {
        return Ok(Vec::new()); // most messages carry none
    }
    read_handle_values_slow(address, count)
}

fn read_handle_values_slow(address: u64, count: usize) -> Result<Vec<HandleValue>, Status> {
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
    let process = current_process();
    let (channel, message) = build_message(
        &process,
        raw,
        Rights::WRITE,
        options,
        [bytes, num_bytes, handles, num_handles],
    )?;
    match channel.write(message) {
        Ok(()) => ok(),
        Err((status, message)) => {
            drop(message);
            Err(status)
        }
    }
}

/// Decodes a message to write on `raw` (which needs `rights`): takes its
/// handles out of the table (consumed whatever happens next, as in
/// Zircon), copies its bytes and charges it to the writer's job.
/// `options` must be 0 (checked where `channel_write` always has);
/// `message` is (bytes, byte count, handles, handle count).
fn build_message(
    process: &Arc<crate::object::process::Process>,
    raw: u64,
    rights: Rights,
    options: u64,
    message: [u64; 4],
) -> Result<(Arc<Channel>, Message), Status> {
    let [bytes, num_bytes, handles, num_handles] = message;
    let num_handles = usize::try_from(num_handles).map_err(|_| Status::OUT_OF_RANGE)?;
    if num_handles > CHANNEL_MAX_MSG_HANDLES {
        return Err(Status::OUT_OF_RANGE);
    }
    // The handles are consumed by the call whatever happens next (as in
    // Zircon): take them out of the table first. The channel's own handle
    // is never taken: a channel cannot carry itself.
    let values = read_handle_values(handles, num_handles)?;
    let carries_itself = values.iter().any(|&v| u64::from(v) == raw);
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
        let channel = process.object::<Channel>(value, rights)?;
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
        check_carried(&channel, &taken)?;
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
    match Message::new(bytes, taken, Some(&process.job.account)) {
        Ok(message) => Ok((channel, message)),
        Err((status, handles)) => {
            drop(handles);
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
    let bind = match options {
        0 => false,
        o if o == u64::from(CHANNEL_BIND_RECEIVED) => true,
        _ => return Err(Status::INVALID_ARGS),
    };
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
    let escrow = match bind {
        true => Some(process.escrow_of(value).ok_or(Status::BAD_STATE)?),
        false => None,
    };
    let message = match channel.read(num_bytes, num_handles) {
        Ok(message) => message,
        Err(ReadError::ShouldWait) => return Err(Status::SHOULD_WAIT),
        Err(ReadError::PeerClosed) => return Err(Status::PEER_CLOSED),
        Err(ReadError::TooSmall { bytes, handles }) => {
            actual_bytes.write(&(bytes as u32))?;
            actual_handles.write(&(handles as u32))?;
            return Err(Status::BUFFER_TOO_SMALL);
        }
    };
    // Copy the bytes, check the handle buffer and make room in the handle
    // table first: if any of that fails, the message goes back to the
    // front of the queue and nothing is lost.
    let probed = match message.handles().len() {
        0 => Ok(()),
        count => handle_buffer
            .write(&[0u8; 4 * CHANNEL_MAX_MSG_HANDLES][..4 * count])
            .and_then(|()| process.reserve_handles(count)),
    };
    if let Err(status) = probed.and_then(|()| byte_buffer.write(message.bytes())) {
        channel.unread(message);
        return Err(status);
    }
    if let Some(escrow) = escrow {
        install_bound(
            &process,
            &channel,
            message,
            &escrow,
            handle_buffer,
            actual_bytes,
            actual_handles,
        )?;
        return ok();
    }
    install(
        &process,
        message,
        handle_buffer,
        actual_bytes,
        actual_handles,
    )?;
    ok()
}

/// `channel_recv(handle, options, deadline, *args, *actual_bytes,
/// *actual_handles)`: the receive fastpath. With `CHANNEL_RECV_REPLY`,
/// first writes the message `args.write_*` describes (a reply: it goes
/// straight to its waiting caller); then reads the next message into
/// `args.read_*`, waiting inside the receive until `deadline` if none is
/// queued. A request it reads keeps a reply record until it is answered.
/// With `CHANNEL_RECV_RETURN`, hands the unanswered request whose txid is
/// the first four bytes of `args.write_bytes` back to the front of the
/// queue, and reads nothing.
pub fn recv(
    frame: &mut crate::arch::x86_64::trap::TrapFrame,
    raw: u64,
    options: u64,
    deadline: u64,
    args: u64,
    actual_bytes: u64,
    actual_handles: u64,
) -> SysResult {
    use zx_abi::{CHANNEL_RECV_REPLY, CHANNEL_RECV_RETURN};
    let value = handle_arg(raw)?;
    let options = u32::try_from(options).map_err(|_| Status::INVALID_ARGS)?;
    if options & !(CHANNEL_RECV_REPLY | CHANNEL_RECV_RETURN) != 0
        || options == CHANNEL_RECV_REPLY | CHANNEL_RECV_RETURN
    {
        return Err(Status::INVALID_ARGS);
    }
    let args: zx_abi::ChannelCallArgs = crate::mem::user_ptr::read_value(args)?;
    let process = current_process();
    if options == CHANNEL_RECV_RETURN {
        let channel = process.object::<Channel>(value, Rights::READ)?;
        if args.write_num_bytes < 4 {
            return Err(Status::INVALID_ARGS);
        }
        let txid: u32 = crate::mem::user_ptr::read_value(args.write_bytes)?;
        return if channel.return_request(txid, process.koid().0) {
            ok()
        } else {
            Err(Status::NOT_FOUND)
        };
    }
    let buffers = [
        args.read_bytes,
        args.read_handles,
        args.read_num_bytes as u64,
        args.read_num_handles as u64,
        actual_bytes,
        actual_handles,
    ];
    UserSlice::new(args.read_bytes, args.read_num_bytes as usize)?;
    UserSlice::new(args.read_handles, (args.read_num_handles as usize) * 4)?;
    UserOut::<u32>::optional(actual_bytes)?;
    UserOut::<u32>::optional(actual_handles)?;
    // The copy-once fastpath for the reply: no handles, to a caller the
    // CPU switches straight back to.
    if options == CHANNEL_RECV_REPLY && args.write_num_handles == 0 {
        let channel = process.object_inlined::<Channel>(value, Rights::READ | Rights::WRITE)?;
        if let Some(caller) = reply_fast(&channel, &args, deadline)? {
            return wait_in_recv(frame, channel, value, buffers, deadline, Some(caller));
        }
    }
    // The thread the reply was handed to, to switch to if this one waits.
    let mut woken = None;
    let channel = if options == CHANNEL_RECV_REPLY {
        let (channel, message) = build_message(
            &process,
            raw,
            Rights::READ | Rights::WRITE,
            0,
            [
                args.write_bytes,
                args.write_num_bytes as u64,
                args.write_handles,
                args.write_num_handles as u64,
            ],
        )?;
        match channel.write_direct(message, true) {
            Ok(thread) => woken = thread,
            Err((status, message)) => {
                drop(message);
                return Err(status);
            }
        }
        channel
    } else {
        process.object::<Channel>(value, Rights::READ)?
    };
    match receive_now(&process, &channel, buffers) {
        Err(Status::SHOULD_WAIT) => {}
        result => {
            run_woken(woken);
            return result.map(|()| super::Flow::Done(0));
        }
    }
    wait_in_recv(frame, channel, value, buffers, deadline, woken)
}

/// Makes a thread a reply was handed to runnable (this one does not wait
/// after all).
fn run_woken(woken: Option<Arc<crate::object::thread::Thread>>) {
    if let Some(thread) = woken {
        // Bytes in the bounce buffer would not survive this trap.
        let writer = current_process();
        fastpath::settle(&thread, Some(&writer.job.account));
        crate::sched::make_runnable(&thread);
    }
}

/// Whether `deadline` has passed; an infinite one (the usual one of a
/// server's `channel_recv`) never does, and costs no clock read.
#[inline]
fn passed(deadline: zx_abi::Time) -> bool {
    deadline != zx_abi::TIME_INFINITE && deadline <= crate::clock::monotonic_nanos() as zx_abi::Time
}

/// Blocks the running thread in `channel_recv` on `channel` (nothing is
/// queued), switching to `woken` (a caller just handed its reply) if any.
fn wait_in_recv(
    frame: &mut crate::arch::x86_64::trap::TrapFrame,
    channel: Arc<Channel>,
    value: zx_abi::HandleValue,
    buffers: [u64; 6],
    deadline: u64,
    woken: Option<Arc<crate::object::thread::Thread>>,
) -> SysResult {
    let deadline = deadline as zx_abi::Time;
    if passed(deadline) {
        run_woken(woken);
        return Err(Status::TIMED_OUT);
    }
    let token = crate::sched::new_token();
    // The running thread, borrowed (no reference-count round trip).
    match crate::sched::with_current(|thread| channel.add_receiver(thread, token)) {
        Some(Ok(())) => {}
        Some(Err(status)) => {
            run_woken(woken);
            return Err(status);
        }
        None => {
            run_woken(woken);
            return Err(Status::INTERNAL);
        }
    }
    let wait = crate::object::thread::Wait {
        token,
        kind: crate::object::thread::WaitKind::Recv {
            channel,
            value,
            request: None,
            buffers,
        },
        deadline,
    };
    match woken {
        Some(next) => crate::sched::block_current_and_switch(frame, wait, next),
        None => crate::sched::block_current(frame, wait),
    }
    Ok(super::Flow::Switched)
}

/// The copy-once fastpath of a `channel_recv` reply (`object/fastpath.rs`):
/// if `args.write_*` (no handles) answers a call whose caller takes it
/// directly (`sched::deliver_direct`) and this thread will wait next
/// (nothing queued, deadline ahead), copies the reply into the bounce
/// buffer and hands it to the caller; returns the caller to switch to.
/// `None`: take the ordinary path.
fn reply_fast(
    channel: &Arc<Channel>,
    args: &zx_abi::ChannelCallArgs,
    deadline: u64,
) -> Result<Option<Arc<crate::object::thread::Thread>>, Status> {
    let len = args.write_num_bytes as usize;
    if !(4..=CHANNEL_MAX_MSG_BYTES).contains(&len) {
        return Ok(None);
    }
    let Ok(txid) = crate::mem::user_ptr::read_value::<u32>(args.write_bytes) else {
        return Ok(None);
    };
    if txid & 0x8000_0000 == 0 {
        return Ok(None);
    }
    let Some(peer) = channel.live_peer() else {
        return Ok(None);
    };
    if passed(deadline as zx_abi::Time) || !channel.queue_is_empty() {
        return Ok(None);
    }
    let Some((waiting, caller_token)) = peer.take_call(txid) else {
        return Ok(None);
    };
    let Some(caller) = waiting.upgrade() else {
        peer.restore_call(txid, waiting, caller_token);
        return Ok(None);
    };
    if let Err(status) = fastpath::fill(args.write_bytes, len, None) {
        peer.restore_call(txid, waiting, caller_token);
        return Err(status);
    }
    fastpath::hand_over(caller_token);
    let bounced = Bounced { origin: None };
    match crate::sched::deliver_direct(&caller, caller_token, len, false, bounced) {
        Ok(()) => {
            // The request is answered.
            channel.forget_record(txid);
            Ok(Some(caller))
        }
        Err(_) => {
            fastpath::release(caller_token);
            peer.restore_call(txid, waiting, caller_token);
            Ok(None)
        }
    }
}

/// Reads the first queued message into `buffers` (see [`recv`]);
/// `SHOULD_WAIT` if none is queued and the peer is open.
fn receive_now(
    process: &Arc<crate::object::process::Process>,
    channel: &Arc<Channel>,
    buffers: [u64; 6],
) -> Result<(), Status> {
    let [_, _, num_bytes, num_handles, actual_bytes, actual_handles] = buffers;
    match channel.read(num_bytes as usize, num_handles as usize) {
        Ok(message) => deliver(process, channel, message, buffers),
        Err(ReadError::ShouldWait) => Err(Status::SHOULD_WAIT),
        Err(ReadError::PeerClosed) => Err(Status::PEER_CLOSED),
        Err(ReadError::TooSmall { bytes, handles }) => {
            UserOut::<u32>::optional(actual_bytes)?.write(&(bytes as u32))?;
            UserOut::<u32>::optional(actual_handles)?.write(&(handles as u32))?;
            Err(Status::BUFFER_TOO_SMALL)
        }
    }
}

/// Gives `message`, taken from `channel` for a `channel_recv`, to the
/// reader: bytes and handles into `buffers`, and a reply record if it is
/// a request. If it cannot (too small, bad buffers, full handle table),
/// the message goes back to the endpoint and nothing is lost.
fn deliver(
    process: &Arc<crate::object::process::Process>,
    channel: &Arc<Channel>,
    mut message: Message,
    buffers: [u64; 6],
) -> Result<(), Status> {
    let [bytes, handles, num_bytes, num_handles, actual_bytes, actual_handles] = buffers;
    let byte_count = message.bytes().len();
    let handle_count = message.handles().len();
    let checked = (|| {
        let actual_bytes = UserOut::<u32>::optional(actual_bytes)?;
        let actual_handles = UserOut::<u32>::optional(actual_handles)?;
        if byte_count as u64 > num_bytes || handle_count as u64 > num_handles {
            actual_bytes.write(&(byte_count as u32))?;
            actual_handles.write(&(handle_count as u32))?;
            return Err(Status::BUFFER_TOO_SMALL);
        }
        let handle_buffer = UserSlice::new(handles, num_handles as usize * 4)?;
        if handle_count > 0 {
            handle_buffer.write(&[0u8; 4 * CHANNEL_MAX_MSG_HANDLES][..4 * handle_count])?;
            process.reserve_handles(handle_count)?;
        }
        UserSlice::new(bytes, num_bytes as usize)?.write(message.bytes())?;
        Ok((handle_buffer, actual_bytes, actual_handles))
    })();
    let (handle_buffer, actual_bytes, actual_handles) = match checked {
        Ok(checked) => checked,
        Err(status) => {
            channel.give_back(message);
            return Err(status);
        }
    };
    let taken = message.take_handles();
    let txid = crate::object::channel::call_txid(message.bytes());
    // A request's handles are recorded by koid, so that they can go back
    // with it if its reader ends without answering (and still holds them).
    let mut koids = Vec::new();
    if txid.is_some() && !taken.is_empty() && koids.try_reserve_exact(taken.len()).is_ok() {
        koids.extend(taken.iter().map(|h| h.object().base().koid().0));
    }
    let recorded = match txid {
        Some(txid) => match channel.keep_record(txid, process.koid().0, Kept::Message(message)) {
            Ok(()) => {
                process.note_served(channel);
                true
            }
            Err(kept) => {
                drop(kept);
                false
            }
        },
        None => {
            drop(message);
            false
        }
    };
    let values = install_handles(
        process,
        taken,
        handle_buffer,
        actual_bytes,
        actual_handles,
        byte_count as u32,
    )?;
    if let Some(txid) = txid.filter(|_| recorded && !koids.is_empty()) {
        if koids.len() == values.len() {
            channel.note_taken(txid, process.koid().0, &values, &koids);
        }
    }
    Ok(())
}

/// Finishes a `channel_recv` for the woken reader.
///
/// `request` is the wait's slot, taken from in place (the wait is not
/// moved: see `complete_wait`).
pub fn complete_recv(
    channel: &Arc<Channel>,
    request: &mut Option<Payload>,
    buffers: [u64; 6],
    token: u64,
    ending: Result<(), Status>,
) -> Result<(), Status> {
    let process = current_process();
    match request {
        Some(Payload::Bounced(bounced)) => {
            // Only its origin is moved out, not the whole payload.
            let bounced = Bounced {
                origin: bounced.origin.take(),
            };
            *request = None;
            deliver_bounced(&process, channel, bounced, buffers, token)
        }
        Some(Payload::Queued(_)) => match request.take() {
            Some(Payload::Queued(message)) => deliver(&process, channel, message, buffers),
            _ => Err(Status::INTERNAL),
        },
        None => {
            channel.remove_receiver(token);
            ending?;
            // Woken because the peer closed: drain what is queued first.
            receive_now(&process, channel, buffers)
        }
    }
}

/// [`deliver`] for a request that came by the fastpath: from the bounce
/// buffer into the reader's (it fits: `sched::deliver_direct`), and a reply
/// record that keeps no bytes (the caller's buffer holds them). If it
/// cannot be delivered, it goes back to the endpoint as a queued message.
fn deliver_bounced(
    process: &Arc<crate::object::process::Process>,
    channel: &Arc<Channel>,
    bounced: Bounced,
    buffers: [u64; 6],
    token: u64,
) -> Result<(), Status> {
    let [bytes, _, num_bytes, _, actual_bytes, actual_handles] = buffers;
    let copied = (|| {
        let actual_bytes = UserOut::<u32>::optional(actual_bytes)?;
        let actual_handles = UserOut::<u32>::optional(actual_handles)?;
        let len = fastpath::copy_out(token, bytes, num_bytes as usize)?;
        actual_bytes.write(&(len as u32))?;
        actual_handles.write(&0)?;
        Ok(())
    })();
    if let Err(status) = copied {
        if let Some(message) = bounced.into_message(token, None, channel) {
            channel.give_back(message);
        }
        return Err(status);
    }
    fastpath::release(token);
    if let Some(origin) = bounced.origin {
        if channel
            .keep_record(origin.txid, process.koid().0, Kept::Caller(origin))
            .is_ok()
        {
            process.note_served(channel);
        }
    }
    Ok(())
}

/// Checks the handles a message would carry: each needs `TRANSFER`, and
/// none may be the channel's other end (an endpoint queued on its own peer
/// would keep itself and its queue alive forever).
#[inline]
fn check_carried(channel: &Channel, handles: &[Handle]) -> Result<(), Status> {
    if handles.is_empty() {
        return Ok(());
    }
    check_carried_slow(channel, handles)
}

fn check_carried_slow(channel: &Channel, handles: &[Handle]) -> Result<(), Status> {
    let peer = channel.peer().map(|peer| peer.base().koid());
    for handle in handles {
        if Some(handle.object().base().koid()) == peer {
            return Err(Status::NOT_SUPPORTED);
        }
        if !handle.rights().contains(Rights::TRANSFER) {
            return Err(Status::ACCESS_DENIED);
        }
    }
    Ok(())
}

/// Hands a received message's handles to `process` and writes their values
/// and the sizes (the bytes are already copied).
fn install(
    process: &crate::object::process::Process,
    mut message: Message,
    handle_buffer: UserSlice,
    actual_bytes: UserOut<u32>,
    actual_handles: UserOut<u32>,
) -> Result<(), Status> {
    let byte_count = message.bytes().len() as u32;
    let handles = message.take_handles();
    drop(message);
    install_handles(
        process,
        handles,
        handle_buffer,
        actual_bytes,
        actual_handles,
        byte_count,
    )
    .map(drop)
}

/// Hands received handles to `process` and writes their values and the
/// sizes (the bytes are already copied); the values.
fn install_handles(
    process: &crate::object::process::Process,
    handles: Vec<Handle>,
    handle_buffer: UserSlice,
    actual_bytes: UserOut<u32>,
    actual_handles: UserOut<u32>,
    byte_count: u32,
) -> Result<Vec<HandleValue>, Status> {
    let handle_count = handles.len() as u32;
    if handles.is_empty() {
        actual_bytes.write(&byte_count)?;
        actual_handles.write(&0)?;
        return Ok(Vec::new());
    }
    let mut values = Vec::with_capacity(handles.len());
    for handle in handles {
        match process.add_handle(handle) {
            Ok(value) => values.push(value),
            Err(status) => {
                // The table is full: the message's handles are closed, as
                // when a process dies holding them.
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
    Ok(values)
}

/// [`install`] for `CHANNEL_BIND_RECEIVED`: the handles go into the table
/// already bound to `escrow` (`Process::add_handles_bound`); if they cannot,
/// the message goes back to the front of `channel`'s queue, whole. The
/// bytes are already copied and `handle_buffer` was found writable.
fn install_bound(
    process: &crate::object::process::Process,
    channel: &Channel,
    mut message: Message,
    escrow: &Arc<Channel>,
    handle_buffer: UserSlice,
    actual_bytes: UserOut<u32>,
    actual_handles: UserOut<u32>,
) -> Result<(), Status> {
    let byte_count = message.bytes().len() as u32;
    let values = match process.add_handles_bound(&mut message, escrow) {
        Ok(values) => values,
        Err(status) => {
            channel.put_back(message);
            return Err(status);
        }
    };
    drop(message);
    // The handles are held and bound: a fault writing their values loses
    // nothing (the process's end escrows them).
    handle_buffer.write(values.as_bytes())?;
    actual_bytes.write(&byte_count)?;
    actual_handles.write(&(values.len() as u32))?;
    Ok(())
}

/// `channel_call(handle, options, deadline, *args, *actual_bytes,
/// *actual_handles)`: writes a message whose first four bytes the kernel
/// replaces with a fresh transaction id, then waits for the reply that
/// carries the same id (other messages stay queued).
pub fn call(
    frame: &mut crate::arch::x86_64::trap::TrapFrame,
    raw: u64,
    options: u64,
    deadline: u64,
    args: u64,
    actual_bytes: u64,
    actual_handles: u64,
) -> SysResult {
    let args: zx_abi::ChannelCallArgs = crate::mem::user_ptr::read_value(args)?;
    let write_num_handles = args.write_num_handles as usize;
    if write_num_handles > CHANNEL_MAX_MSG_HANDLES {
        return Err(Status::OUT_OF_RANGE);
    }
    // Handles are consumed whatever happens next, as with channel_write.
    let values = read_handle_values(args.write_handles, write_num_handles)?;
    let process = current_process();
    let mut taken = Vec::with_capacity(values.len());
    let mut bad_handle = false;
    let carries_itself = values.iter().any(|&v| u64::from(v) == raw);
    for value in values.iter().filter(|&&v| u64::from(v) != raw) {
        match process.take_handle(*value) {
            Ok(handle) => taken.push(handle),
            Err(_) => bad_handle = true,
        }
    }
    let decoded = (|| {
        let value = handle_arg(raw)?;
        let channel = process.object_inlined::<Channel>(value, Rights::READ | Rights::WRITE)?;
        let bind = match options {
            0 => false,
            o if o == u64::from(CHANNEL_BIND_RECEIVED) => {
                // Bound now; the reply finds its escrow when it arrives.
                process.escrow_of(value).ok_or(Status::BAD_STATE)?;
                true
            }
            _ => return Err(Status::INVALID_ARGS),
        };
        if carries_itself {
            return Err(Status::NOT_SUPPORTED);
        }
        if bad_handle {
            return Err(Status::BAD_HANDLE);
        }
        let num_bytes = args.write_num_bytes as usize;
        if num_bytes > CHANNEL_MAX_MSG_BYTES {
            return Err(Status::OUT_OF_RANGE);
        }
        if num_bytes < 4 {
            return Err(Status::INVALID_ARGS); // no room for the txid
        }
        check_carried(&channel, &taken)?;
        UserSlice::new(args.read_bytes, args.read_num_bytes as usize)?;
        UserSlice::new(args.read_handles, (args.read_num_handles as usize) * 4)?;
        UserOut::<u32>::optional(actual_bytes)?;
        UserOut::<u32>::optional(actual_handles)?;
        Ok((channel, num_bytes, bind))
    })();
    let (channel, num_bytes, bind) = match decoded {
        Ok(decoded) => decoded,
        Err(status) => {
            drop(taken);
            return Err(status);
        }
    };
    let txid = crate::object::channel::new_call_txid();
    let thread = crate::sched::current().ok_or(Status::INTERNAL)?;
    let token = crate::sched::new_token();
    let buffers = [
        args.read_bytes,
        args.read_handles,
        args.read_num_bytes as u64,
        args.read_num_handles as u64,
        actual_bytes,
        actual_handles,
    ];
    let wait = |channel| crate::object::thread::Wait {
        token,
        kind: crate::object::thread::WaitKind::Call {
            channel,
            value: raw as zx_abi::HandleValue,
            reply: None,
            bind,
            buffers,
        },
        deadline: deadline as zx_abi::Time,
    };
    // The copy-once fastpath: no handles, and a receiver the CPU switches
    // to waits on the peer.
    if taken.is_empty() {
        let origin = Origin {
            token,
            address: args.write_bytes,
            len: num_bytes as u32,
            txid,
        };
        if let Some(receiver) = call_fast(&channel, &thread, origin)? {
            drop(thread);
            crate::sched::block_current_and_switch(frame, wait(channel), receiver);
            return Ok(super::Flow::Switched);
        }
    }
    let mut bytes = UserSlice::new(args.write_bytes, num_bytes)?.read_to_vec()?;
    bytes[..4].copy_from_slice(&txid.to_le_bytes());
    let message =
        Message::new(bytes, taken, Some(&process.job.account)).map_err(|(status, _)| status)?;
    channel.add_call(txid, &thread, token);
    // A receiver waiting on the peer gets the request directly, and the
    // CPU with it.
    let receiver = match channel.write_direct(message, true) {
        Ok(receiver) => receiver,
        Err((status, message)) => {
            channel.remove_call(token);
            drop(message);
            return Err(status);
        }
    };
    drop(thread);
    match receiver {
        Some(next) => crate::sched::block_current_and_switch(frame, wait(channel), next),
        None => crate::sched::block_current(frame, wait(channel)),
    }
    Ok(super::Flow::Switched)
}

/// The copy-once fastpath of [`call`] (`object/fastpath.rs`): if a thread
/// waiting in `channel_recv` on the peer takes the request directly (see
/// `sched::deliver_direct`), copies the request into the bounce buffer,
/// hands it over and registers the call; returns the receiver to switch
/// to. `None`: take the ordinary path.
fn call_fast(
    channel: &Arc<Channel>,
    thread: &Arc<crate::object::thread::Thread>,
    origin: Origin,
) -> Result<Option<Arc<crate::object::thread::Thread>>, Status> {
    let Some(peer) = channel.live_peer() else {
        return Ok(None);
    };
    if !peer.has_receivers() {
        return Ok(None);
    }
    let len = origin.len as usize;
    fastpath::fill(origin.address, len, Some(origin.txid))?;
    let Some((waiting, receiver_token)) = peer.pop_receiver() else {
        return Ok(None);
    };
    let Some(receiver) = waiting.upgrade() else {
        peer.restore_receiver(waiting, receiver_token);
        return Ok(None);
    };
    fastpath::hand_over(receiver_token);
    let (txid, token) = (origin.txid, origin.token);
    let bounced = Bounced {
        origin: Some(origin),
    };
    match crate::sched::deliver_direct(&receiver, receiver_token, len, true, bounced) {
        Ok(()) => {
            channel.add_call(txid, thread, token);
            Ok(Some(receiver))
        }
        Err(_) => {
            fastpath::release(receiver_token);
            peer.restore_receiver(waiting, receiver_token);
            Ok(None)
        }
    }
}

/// Finishes a `channel_call` for the woken caller.
///
/// `reply` is the wait's slot, taken from in place (see [`complete_recv`]).
pub fn complete_call(
    channel: &Channel,
    reply: &mut Option<Payload>,
    buffers: [u64; 6],
    token: u64,
    ending: Result<(), Status>,
    bind: Option<zx_abi::HandleValue>,
) -> Result<(), Status> {
    let message = match reply {
        None => {
            channel.remove_call(token);
            // Timed out, canceled, or woken because the peer closed.
            ending?;
            return Err(Status::PEER_CLOSED);
        }
        Some(Payload::Bounced(_)) => return complete_call_bounced(buffers, token),
        Some(Payload::Queued(_)) => match reply.take() {
            Some(Payload::Queued(message)) => message,
            _ => return Err(Status::INTERNAL),
        },
    };
    if let Some(value) = bind {
        // The escrow the calling handle is bound to now (it was when the
        // call began); if that binding ended meanwhile, the reply waits.
        let Some(escrow) = current_process().escrow_of(value) else {
            channel.put_back(message);
            return Err(Status::BAD_STATE);
        };
        return complete_call_bound(channel, message, buffers, &escrow);
    }
    let [bytes, handles, num_bytes, num_handles, actual_bytes, actual_handles] = buffers;
    let actual_bytes = UserOut::<u32>::optional(actual_bytes)?;
    let actual_handles = UserOut::<u32>::optional(actual_handles)?;
    if message.bytes().len() as u64 > num_bytes || message.handles().len() as u64 > num_handles {
        actual_bytes.write(&(message.bytes().len() as u32))?;
        actual_handles.write(&(message.handles().len() as u32))?;
        return Err(Status::BUFFER_TOO_SMALL);
    }
    UserSlice::new(bytes, num_bytes as usize)?.write(message.bytes())?;
    let handle_buffer = UserSlice::new(handles, num_handles as usize * 4)?;
    install(
        &current_process(),
        message,
        handle_buffer,
        actual_bytes,
        actual_handles,
    )
}

/// [`complete_call`] with `CHANNEL_BIND_RECEIVED`: the reply's handles are
/// added bound to `escrow`; a reply that cannot be taken so (buffers too
/// small or not writable, table full, too many bindings) goes back to the
/// front of the caller's endpoint's queue, whole, rather than closing.
fn complete_call_bound(
    channel: &Channel,
    message: Message,
    buffers: [u64; 6],
    escrow: &Arc<Channel>,
) -> Result<(), Status> {
    let [bytes, handles, num_bytes, num_handles, actual_bytes, actual_handles] = buffers;
    let count = message.handles().len();
    let checked = (|| {
        let actual_bytes = UserOut::<u32>::optional(actual_bytes)?;
        let actual_handles = UserOut::<u32>::optional(actual_handles)?;
        if message.bytes().len() as u64 > num_bytes || count as u64 > num_handles {
            actual_bytes.write(&(message.bytes().len() as u32))?;
            actual_handles.write(&(count as u32))?;
            return Err(Status::BUFFER_TOO_SMALL);
        }
        let handle_buffer = UserSlice::new(handles, num_handles as usize * 4)?;
        if count > 0 {
            handle_buffer.write(&[0u8; 4 * CHANNEL_MAX_MSG_HANDLES][..4 * count])?;
        }
        UserSlice::new(bytes, num_bytes as usize)?.write(message.bytes())?;
        Ok((handle_buffer, actual_bytes, actual_handles))
    })();
    let (handle_buffer, actual_bytes, actual_handles) = match checked {
        Ok(checked) => checked,
        Err(status) => {
            channel.put_back(message);
            return Err(status);
        }
    };
    install_bound(
        &current_process(),
        channel,
        message,
        escrow,
        handle_buffer,
        actual_bytes,
        actual_handles,
    )
}

/// Finishes a `channel_call` whose reply came by the fastpath: from the
/// bounce buffer into the caller's (it fits: `sched::deliver_direct`).
fn complete_call_bounced(buffers: [u64; 6], token: u64) -> Result<(), Status> {
    let [bytes, _, num_bytes, _, actual_bytes, actual_handles] = buffers;
    let copied = fastpath::copy_out(token, bytes, num_bytes as usize);
    fastpath::release(token);
    let len = copied?;
    UserOut::<u32>::optional(actual_bytes)?.write(&(len as u32))?;
    UserOut::<u32>::optional(actual_handles)?.write(&0)?;
    Ok(())
}
