//! channel_recv, the receive fastpath (issue 18): a queued message is read
//! at once; a thread waits inside the receive and a `channel_call` hands
//! it the request directly; several receivers on one endpoint; timeouts;
//! a receiver killed while a message is handed to it; requests handed
//! back unanswered; a busy thread is not starved by a call/reply pair;
//! bad arguments.

use crate::{check, expect_status, raw, step, Suite};
use alloc::vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use zx::numbers as nr;
use zx::{AsHandleRef, Channel, Handle, MessageBuf, Process, Rights, Status};

const STACK_SIZE: usize = 16 * 1024;
const SECOND: i64 = 1_000_000_000;

#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);

static mut STACKS: [Stack; 4] = [const { Stack([0; STACK_SIZE]) }; 4];

/// Top of test stack `index`, as a new thread's `rsp` (8 below a 16-byte
/// boundary, as if its entry had been called).
fn stack_top(index: usize) -> usize {
    // SAFETY: only the address is taken; each stack is used by at most one
    // test thread at a time, and the tests run one after another.
    let base = unsafe { core::ptr::addr_of!(STACKS[index]) } as usize;
    base + STACK_SIZE - 8
}

/// Starts `entry(arg1, arg2)` on a new thread of this process, on test
/// stack `stack`.
pub(crate) fn spawn(
    name: &str,
    entry: extern "C" fn(u64, u64) -> !,
    stack: usize,
    arg1: u64,
    arg2: u64,
) -> Result<zx::Thread, alloc::string::String> {
    spawn_at(name, entry, stack_top(stack), arg1, arg2)
}

/// [`spawn`] with the new thread's `rsp` given (`top`: 8 below a 16-byte
/// boundary of a stack only this thread uses).
pub(crate) fn spawn_at(
    name: &str,
    entry: extern "C" fn(u64, u64) -> !,
    top: usize,
    arg1: u64,
    arg2: u64,
) -> Result<zx::Thread, alloc::string::String> {
    let process = Process::from_handle(Handle::from_raw(zx_runtime::process_self().0));
    let thread = process.create_thread(name);
    core::mem::forget(process); // borrowed from the runtime
    let thread = step(thread, "create thread")?;
    step(
        thread.start(entry as *const () as usize, top, arg1, arg2),
        "start thread",
    )?;
    Ok(thread)
}

pub(crate) fn join(thread: &zx::Thread) -> Result<(), alloc::string::String> {
    step(
        thread.wait_one(zx::Signals::TASK_TERMINATED, zx::deadline_after(5 * SECOND)),
        "join",
    )
    .map(|_| ())
}

/// The endpoint a test thread was given (owned by the test).
pub(crate) fn borrowed(raw: u64) -> core::mem::ManuallyDrop<Channel> {
    core::mem::ManuallyDrop::new(Channel::from_handle(Handle::from_raw(raw as u32)))
}

const ROUNDS: u64 = 500;

/// Serves `ROUNDS` calls on `channel` with `channel_recv`: each reply is
/// the request with its number (after the txid) plus one, sent in the
/// same syscall that waits for the next request.
extern "C" fn server(channel: u64, _unused: u64) -> ! {
    let channel = borrowed(channel);
    let mut request = MessageBuf::default();
    let mut reply = [0u8; 12];
    let mut replying = false;
    for _ in 0..=ROUNDS {
        let answer = replying.then(|| (&reply[..], vec![]));
        if channel
            .recv(answer, &mut request, zx::deadline_after(5 * SECOND))
            .is_err()
            || request.bytes.len() != 12
        {
            break;
        }
        let number = u64::from_le_bytes(request.bytes[4..12].try_into().unwrap_or([0; 8]));
        reply[..4].copy_from_slice(&request.bytes[..4]);
        reply[4..].copy_from_slice(&(number + 1).to_le_bytes());
        replying = true;
    }
    zx::thread_exit()
}

/// Which receiver answered (one bit per receiver).
static ANSWERED: AtomicU32 = AtomicU32::new(0);

/// Receives one request on `channel` and answers it with its own `id`.
extern "C" fn one_shot(channel: u64, id: u64) -> ! {
    let channel = borrowed(channel);
    let mut request = MessageBuf::default();
    if channel
        .recv(None, &mut request, zx::deadline_after(5 * SECOND))
        .is_ok()
        && request.bytes.len() >= 4
    {
        ANSWERED.fetch_or(1 << id, Ordering::SeqCst);
        let mut reply = request.bytes[..4].to_vec();
        reply.push(id as u8);
        let _ = channel.write(&reply, vec![]);
    }
    zx::thread_exit()
}

/// Waits in a receive for `SECOND`s; records the status.
static RECV_STATUS: AtomicU64 = AtomicU64::new(0);

extern "C" fn waiting_receiver(channel: u64, _unused: u64) -> ! {
    let channel = borrowed(channel);
    let mut request = MessageBuf::default();
    let status = match channel.recv(None, &mut request, zx::deadline_after(5 * SECOND)) {
        Ok(()) => 0,
        Err(status) => status.0 as u32 as u64,
    };
    RECV_STATUS.store(status | 1 << 32, Ordering::SeqCst);
    zx::thread_exit()
}

/// Txids a returning server saw, first and second time.
static SEEN: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];

/// Receives a request, hands it back unanswered, receives it again and
/// answers it.
extern "C" fn returner(channel: u64, _unused: u64) -> ! {
    let channel = borrowed(channel);
    let mut request = MessageBuf::default();
    for (round, seen) in SEEN.iter().enumerate() {
        if channel
            .recv(None, &mut request, zx::deadline_after(5 * SECOND))
            .is_err()
            || request.bytes.len() < 4
        {
            break;
        }
        let txid = u32::from_le_bytes(request.bytes[..4].try_into().unwrap_or([0; 4]));
        seen.store(txid, Ordering::SeqCst);
        if round == 0 {
            if channel.return_request(txid).is_err() {
                break;
            }
        } else {
            let mut reply = request.bytes.clone();
            reply.extend_from_slice(b"-answered");
            let _ = channel.write(&reply, vec![]);
        }
    }
    zx::thread_exit()
}

static SPINS: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

/// Busy: counts until told to stop, never blocking.
extern "C" fn spinner(_unused: u64, _unused2: u64) -> ! {
    while !STOP.load(Ordering::SeqCst) {
        SPINS.fetch_add(1, Ordering::SeqCst);
    }
    zx::thread_exit()
}

/// Calls with a 12-byte request carrying `number`; returns the number in
/// the reply.
fn call_number(client: &Channel, number: u64) -> Result<u64, alloc::string::String> {
    let mut request = [0u8; 12];
    request[4..].copy_from_slice(&number.to_le_bytes());
    let mut reply = MessageBuf::default();
    step(
        client.call(&request, vec![], zx::deadline_after(5 * SECOND), &mut reply),
        "call",
    )?;
    check(reply.bytes.len() == 12, "reply has the wrong size")?;
    Ok(u64::from_le_bytes(
        reply.bytes[4..12].try_into().unwrap_or([0; 8]),
    ))
}

pub fn run(suite: &mut Suite) {
    suite.run("channel_recv.reads_queued_message", || {
        let (a, b) = step(Channel::create(), "create")?;
        let (event, _other) = step(zx::EventPair::create(), "eventpair")?;
        step(a.write(b"hello", vec![event.into_handle()]), "write")?;
        let mut message = MessageBuf::default();
        step(b.recv(None, &mut message, 0), "recv")?;
        check(message.bytes == b"hello", "wrong bytes")?;
        check(message.handles.len() == 1, "the handle did not arrive")?;
        // Nothing queued: a past deadline times out at once.
        expect_status(b.recv(None, &mut message, 0), Status::TIMED_OUT)
    });
    suite.run("channel_recv.too_small_stays_queued", || {
        let (a, b) = step(Channel::create(), "create")?;
        step(a.write(b"0123456789", vec![]), "write")?;
        let mut needed = (0, 0);
        let mut small = [0u8; 4];
        let result = b.recv_raw(None, &mut small, &mut [], 0, &mut needed);
        expect_status(result.map(|_| ()), Status::BUFFER_TOO_SMALL)?;
        check(needed == (10, 0), "sizes not reported")?;
        let mut message = MessageBuf::default();
        step(b.read(&mut message), "read")?;
        check(message.bytes == b"0123456789", "the message was lost")
    });
    suite.run("channel_recv.call_round_trips", || {
        let (client, server_end) = step(Channel::create(), "create")?;
        let thread = spawn("server", server, 0, server_end.raw_handle() as u64, 0)?;
        for number in 0..ROUNDS {
            let reply = call_number(&client, number)?;
            check(reply == number + 1, "wrong reply")?;
        }
        // The server now waits inside the receive: closing our end wakes
        // it with PEER_CLOSED.
        drop(client);
        join(&thread)?;
        drop(server_end);
        Ok(())
    });
    suite.run("channel_recv.several_receivers", || {
        let (client, server_end) = step(Channel::create(), "create")?;
        ANSWERED.store(0, Ordering::SeqCst);
        let raw_end = server_end.raw_handle() as u64;
        let threads = [
            spawn("receiver 0", one_shot, 0, raw_end, 0)?,
            spawn("receiver 1", one_shot, 1, raw_end, 1)?,
            spawn("receiver 2", one_shot, 2, raw_end, 2)?,
        ];
        // Let all three wait inside the receive.
        step(zx::nanosleep(zx::deadline_after(20_000_000)), "sleep")?;
        let mut ids = 0u32;
        for _ in 0..3 {
            let mut reply = MessageBuf::default();
            step(
                client.call(&[0; 4], vec![], zx::deadline_after(5 * SECOND), &mut reply),
                "call",
            )?;
            check(reply.bytes.len() == 5, "wrong reply")?;
            ids |= 1 << reply.bytes[4];
        }
        for thread in &threads {
            join(thread)?;
        }
        check(ids == 0b111, "each receiver should answer one call")?;
        check(
            ANSWERED.load(Ordering::SeqCst) == 0b111,
            "a receiver got no request",
        )?;
        drop(server_end);
        Ok(())
    });
    suite.run("channel_recv.times_out_and_unregisters", || {
        let (a, b) = step(Channel::create(), "create")?;
        let mut message = MessageBuf::default();
        let start = zx::clock_get_monotonic().into_nanos();
        expect_status(
            b.recv(None, &mut message, zx::deadline_after(30_000_000)),
            Status::TIMED_OUT,
        )?;
        let waited = zx::clock_get_monotonic().into_nanos() - start;
        check(waited >= 30_000_000, "returned before the deadline")?;
        // The timed-out receiver is gone: a write is queued, not lost.
        step(a.write(b"later", vec![]), "write")?;
        step(b.read(&mut message), "read")?;
        check(message.bytes == b"later", "the message was lost")
    });
    suite.run("channel_recv.peer_closed_while_waiting", || {
        let (a, b) = step(Channel::create(), "create")?;
        RECV_STATUS.store(0, Ordering::SeqCst);
        let thread = spawn("receiver", waiting_receiver, 0, b.raw_handle() as u64, 0)?;
        step(zx::nanosleep(zx::deadline_after(20_000_000)), "sleep")?;
        drop(a);
        join(&thread)?;
        let status = RECV_STATUS.load(Ordering::SeqCst);
        check(status >> 32 == 1, "the receiver did not finish")?;
        check(
            status as u32 as i32 == Status::PEER_CLOSED.0,
            "expected PEER_CLOSED",
        )
    });
    suite.run("channel_recv.killed_receiver_loses_nothing", || {
        let (a, b) = step(Channel::create(), "create")?;
        RECV_STATUS.store(0, Ordering::SeqCst);
        let thread = spawn("receiver", waiting_receiver, 0, b.raw_handle() as u64, 0)?;
        step(zx::nanosleep(zx::deadline_after(20_000_000)), "sleep")?;
        // The write hands the message to the waiting receiver (which is
        // runnable, not yet running); killing it now must put the message
        // back.
        step(a.write(b"handed over", vec![]), "write")?;
        step(zx::task_kill(&thread), "kill")?;
        join(&thread)?;
        check(
            RECV_STATUS.load(Ordering::SeqCst) == 0,
            "the receiver ran before it was killed",
        )?;
        let mut message = MessageBuf::default();
        step(b.read(&mut message), "read")?;
        check(message.bytes == b"handed over", "the message was lost")
    });
    suite.run("channel_recv.returned_request_is_read_again", || {
        let (client, server_end) = step(Channel::create(), "create")?;
        SEEN[0].store(0, Ordering::SeqCst);
        SEEN[1].store(0, Ordering::SeqCst);
        let thread = spawn("returner", returner, 0, server_end.raw_handle() as u64, 0)?;
        let mut reply = MessageBuf::default();
        step(
            client.call(
                b"\0\0\0\0ask",
                vec![],
                zx::deadline_after(5 * SECOND),
                &mut reply,
            ),
            "call",
        )?;
        join(&thread)?;
        check(&reply.bytes[4..] == b"ask-answered", "wrong reply")?;
        let (first, second) = (
            SEEN[0].load(Ordering::SeqCst),
            SEEN[1].load(Ordering::SeqCst),
        );
        check(
            first != 0 && first == second,
            "the same request should come back",
        )?;
        // It was answered: nothing left to hand back.
        expect_status(server_end.return_request(first), Status::NOT_FOUND)
    });
    suite.run("channel_recv.busy_thread_not_starved", || {
        // A call/reply pair switching directly runs on one time slice:
        // a busy thread of the same priority still gets the CPU.
        let (client, server_end) = step(Channel::create(), "create")?;
        SPINS.store(0, Ordering::SeqCst);
        STOP.store(false, Ordering::SeqCst);
        let busy = spawn("spinner", spinner, 1, 0, 0)?;
        let thread = spawn("server", server, 0, server_end.raw_handle() as u64, 0)?;
        let start = zx::clock_get_monotonic().into_nanos();
        let mut number = 0;
        while number < ROUNDS && zx::clock_get_monotonic().into_nanos() - start < 2 * SECOND {
            number = call_number(&client, number)?;
        }
        let spins = SPINS.load(Ordering::SeqCst);
        STOP.store(true, Ordering::SeqCst);
        drop(client);
        join(&thread)?;
        join(&busy)?;
        drop(server_end);
        check(number == ROUNDS, "calls did not finish")?;
        check(spins > 0, "the busy thread never ran")
    });
    suite.run("channel_recv.bad_arguments", || {
        let (a, b) = step(Channel::create(), "create")?;
        let args = zx::ChannelCallArgs::default();
        let args_ptr = &args as *const _ as u64;
        let raw_b = b.raw_handle() as u64;
        expect_status(
            raw(nr::CHANNEL_RECV, [raw_b, 3, 0, args_ptr, 0, 0, 0, 0]),
            Status::INVALID_ARGS,
        )?;
        expect_status(
            raw(nr::CHANNEL_RECV, [raw_b, 4, 0, args_ptr, 0, 0, 0, 0]),
            Status::INVALID_ARGS,
        )?;
        expect_status(
            raw(nr::CHANNEL_RECV, [raw_b, 0, 0, 8, 0, 0, 0, 0]),
            Status::INVALID_ARGS,
        )?;
        expect_status(
            raw(nr::CHANNEL_RECV, [0x1234_5678, 0, 0, args_ptr, 0, 0, 0, 0]),
            Status::BAD_HANDLE,
        )?;
        let event = step(zx::Event::create(), "event")?;
        expect_status(
            raw(
                nr::CHANNEL_RECV,
                [event.raw_handle() as u64, 0, 0, args_ptr, 0, 0, 0, 0],
            ),
            Status::WRONG_TYPE,
        )?;
        let (_c, d) = step(Channel::create(), "create")?;
        let write_only = step(d.into_handle().replace(Rights::WRITE), "replace")?;
        expect_status(
            raw(
                nr::CHANNEL_RECV,
                [write_only.raw_handle() as u64, 0, 0, args_ptr, 0, 0, 0, 0],
            ),
            Status::ACCESS_DENIED,
        )?;
        // Handing back a request nobody read.
        expect_status(b.return_request(0x8000_0001), Status::NOT_FOUND)?;
        drop(a);
        let mut message = MessageBuf::default();
        expect_status(b.recv(None, &mut message, 0), Status::PEER_CLOSED)
    });
}
