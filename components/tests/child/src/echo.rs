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
