//! A child process for the in-guest tests: echoes every message that
//! arrives on its first user start-up handle (a channel), adding one to the
//! little-endian number it carries, until the peer closes; then exits with
//! the number of messages echoed. Arguments change the behaviour: `mirror`
//! echoes the bytes unchanged (for round-trip benchmarks), `spin` waits
//! forever (for kill tests), `exit` exits at once (for process-creation
//! benchmarks), `take-one` reads one request with `channel_recv` and exits
//! without answering it (for the reply-record tests).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use zx::{processargs, AsHandleRef, Channel, MessageBuf, Signals};

zx_runtime::entry!(main);

fn main() -> i64 {
    let has = |flag: &str| zx_runtime::args().iter().any(|arg| arg == flag);
    if has("exit") {
        return 0;
    }
    let mirror = has("mirror");
    if has("spin") {
        loop {
            let _ = zx::nanosleep(zx::TIME_INFINITE);
        }
    }
    let Some(handle) = zx_runtime::take_startup_handle(processargs::USER_BASE) else {
        return -1;
    };
    let channel = Channel::from_handle(handle);
    if has("take-one") {
        // Reads one request through `channel_recv` and never answers it:
        // sends the endpoint back on its second start-up handle and exits
        // (the kernel must put the request back on the endpoint).
        let Some(back) = zx_runtime::take_startup_handle(processargs::USER_BASE + 1) else {
            return -1;
        };
        let mut request = MessageBuf::default();
        if channel.recv(None, &mut request, zx::TIME_INFINITE).is_err() {
            return -2;
        }
        let back = Channel::from_handle(back);
        if back
            .write(b"endpoint", alloc::vec![channel.into_handle()])
            .is_err()
        {
            return -3;
        }
        return request.bytes.len() as i64;
    }
    if has("take-many") {
        return take_many(channel);
    }
    let mut echoed = 0;
    if mirror {
        // The server loop of the call fastpath: reply and wait for the
        // next request in one `channel_recv`. Two buffers take turns: the
        // request just received is the reply sent back.
        let mut buffers = [MessageBuf::default(), MessageBuf::default()];
        let mut replying = false;
        let mut turn = 0;
        loop {
            let [first, second] = &mut buffers;
            let (current, next) = if turn == 0 {
                (first, second)
            } else {
                (second, first)
            };
            let answer =
                replying.then(|| (&current.bytes[..], core::mem::take(&mut current.handles)));
            if channel.recv(answer, next, zx::TIME_INFINITE).is_err() {
                return echoed; // the peer closed and the queue is empty
            }
            if replying {
                echoed += 1;
            }
            replying = true;
            turn ^= 1;
        }
    }
    loop {
        if channel
            .wait_one(
                Signals::CHANNEL_READABLE | Signals::PEER_CLOSED,
                zx::TIME_INFINITE,
            )
            .is_err()
        {
            return -2;
        }
        let mut message = MessageBuf::default();
        if channel.read(&mut message).is_err() {
            return echoed; // the peer closed and the queue is empty
        }
        let written = if mirror {
            channel.write(&message.bytes, message.handles)
        } else {
            let mut number = [0u8; 8];
            let len = message.bytes.len().min(8);
            number[..len].copy_from_slice(&message.bytes[..len]);
            let reply = u64::from_le_bytes(number) + 1;
            channel.write(&reply.to_le_bytes(), message.handles)
        };
        if written.is_err() {
            return echoed;
        }
        echoed += 1;
    }
}

/// The answer to a request in `take-many` mode: its bytes after the txid,
/// reversed, then `!`.
fn answer_to(request: &[u8]) -> alloc::vec::Vec<u8> {
    let mut reply = request.to_vec();
    reply[4..].reverse();
    reply.push(b'!');
    reply
}

/// `take-many N`: reads every request that comes (the first within a
/// second, the others within 20 ms of the one before), answers mode 0:
/// none, 1: the newest, 2: the oldest, 3: all but the middle one, newest
/// first; sends the endpoint back on its second start-up handle and
/// exits with how many it answered, holding the others unanswered.
fn take_many(channel: Channel) -> i64 {
    let mode = zx_runtime::args()
        .iter()
        .filter_map(|arg| arg.parse::<u32>().ok())
        .next()
        .unwrap_or(0);
    let Some(back) = zx_runtime::take_startup_handle(processargs::USER_BASE + 1) else {
        return -1;
    };
    let mut requests = alloc::vec::Vec::new();
    let mut deadline = zx::deadline_after(1_000_000_000);
    loop {
        let mut request = MessageBuf::default();
        if channel.recv(None, &mut request, deadline).is_err() {
            break;
        }
        if request.bytes.len() < 12 {
            return -4;
        }
        requests.push(request.bytes);
        deadline = zx::deadline_after(20_000_000);
    }
    let count = requests.len();
    let picks: alloc::vec::Vec<usize> = match (mode, count) {
        (_, 0) | (0, _) => alloc::vec![],
        (1, _) => alloc::vec![count - 1],
        (2, _) => alloc::vec![0],
        _ => (0..count).rev().filter(|&i| i != count / 2).collect(),
    };
    for &i in &picks {
        if channel
            .write(&answer_to(&requests[i]), alloc::vec![])
            .is_err()
        {
            return -5;
        }
    }
    let back = Channel::from_handle(back);
    // The endpoint goes back in a message: this process ends holding the
    // unanswered requests' records.
    if back
        .write(b"endpoint", alloc::vec![channel.into_handle()])
        .is_err()
    {
        return -3;
    }
    picks.len() as i64
}
