//! A child process for the in-guest tests: echoes every message that
//! arrives on its first user start-up handle (a channel), adding one to the
//! little-endian number it carries, until the peer closes; then exits with
//! the number of messages echoed. Arguments change the behaviour: `mirror`
//! echoes the bytes unchanged (for round-trip benchmarks), `spin` waits
//! forever (for kill tests), `exit` exits at once (for process-creation
//! benchmarks).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

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
    let mut echoed = 0;
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
