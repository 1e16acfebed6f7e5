//! channel_create, channel_write, channel_read: messages, handles moving
//! between processes' tables, limits, closed peers, and an endpoint that
//! travels with its queue.

use crate::{check, expect_status, raw, step, Suite};
use alloc::vec;
use alloc::vec::Vec;
use zx::numbers as nr;
use zx::{AsHandleRef, Channel, Event, Handle, MessageBuf, Rights, Signals, Status};

fn read(channel: &Channel) -> Result<MessageBuf, Status> {
    let mut buffer = MessageBuf::default();
    channel.read(&mut buffer)?;
    Ok(buffer)
}

pub fn run(suite: &mut Suite) {
    suite.run("channel_create.bad_options", || {
        let (mut a, mut b) = (0u32, 0u32);
        expect_status(
            raw(
                nr::CHANNEL_CREATE,
                [
                    1,
                    &mut a as *mut u32 as u64,
                    &mut b as *mut u32 as u64,
                    0,
                    0,
                    0,
                    0,
                    0,
                ],
            ),
            Status::INVALID_ARGS,
        )
    });
    suite.run("channel_create.bad_out_pointer", || {
        let mut a = 0u32;
        expect_status(
            raw(
                nr::CHANNEL_CREATE,
                [0, &mut a as *mut u32 as u64, 8, 0, 0, 0, 0, 0],
            ),
            Status::INVALID_ARGS,
        )
    });
    suite.run("channel.write_read_bytes", || {
        let (a, b) = step(Channel::create(), "create")?;
        step(a.write(b"hello", vec![]), "write")?;
        let message = step(read(&b), "read")?;
        check(
            message.bytes == b"hello" && message.handles.is_empty(),
            "wrong message",
        )
    });
    suite.run("channel.order_preserved", || {
        let (a, b) = step(Channel::create(), "create")?;
        for i in 0..10u8 {
            step(a.write(&[i; 3], vec![]), "write")?;
        }
        for i in 0..10u8 {
            let message = step(read(&b), "read")?;
            check(message.bytes == [i; 3], "out of order")?;
        }
        Ok(())
    });
    suite.run("channel.readable_signal", || {
        let (a, b) = step(Channel::create(), "create")?;
        expect_status(
            b.wait_one(Signals::CHANNEL_READABLE, 0).map(drop),
            Status::TIMED_OUT,
        )?;
        step(a.write(b"x", vec![]), "write")?;
        let observed = step(b.wait_one(Signals::CHANNEL_READABLE, 0), "wait")?;
        check(
            observed.contains(Signals::CHANNEL_READABLE | Signals::CHANNEL_WRITABLE),
            "not readable",
        )?;
        step(read(&b), "read")?;
        expect_status(
            b.wait_one(Signals::CHANNEL_READABLE, 0).map(drop),
            Status::TIMED_OUT,
        )
    });
    suite.run("channel_read.should_wait", || {
        let (_a, b) = step(Channel::create(), "create")?;
        expect_status(read(&b).map(drop), Status::SHOULD_WAIT)
    });
    suite.run("channel_read.buffer_too_small_keeps_message", || {
        let (a, b) = step(Channel::create(), "create")?;
        step(a.write(&[7; 100], vec![]), "write")?;
        let mut small = [0u8; 10];
        let mut needed = (0, 0);
        expect_status(
            b.read_raw(&mut small, &mut [], &mut needed).map(drop),
            Status::BUFFER_TOO_SMALL,
        )?;
        check(needed == (100, 0), "sizes not reported")?;
        let message = step(read(&b), "read")?;
        check(message.bytes.len() == 100, "message lost")
    });
    suite.run("channel_read.bad_buffer_keeps_message", || {
        let (a, b) = step(Channel::create(), "create")?;
        step(a.write(&[1; 16], vec![]), "write")?;
        // A user address that is unmapped: the copy faults after the
        // message was taken, and the kernel must put it back.
        let args = [b.raw_handle() as u64, 0, 0x1000_0000, 0, 64, 0, 0, 0];
        expect_status(raw(nr::CHANNEL_READ, args), Status::INVALID_ARGS)?;
        let message = step(read(&b), "read")?;
        check(message.bytes == [1; 16], "message lost")
    });
    suite.run("channel_write.max_size_ok", || {
        let (a, b) = step(Channel::create(), "create")?;
        let big = vec![0xabu8; zx::CHANNEL_MAX_MSG_BYTES];
        step(a.write(&big, vec![]), "write")?;
        let message = step(read(&b), "read")?;
        check(message.bytes == big, "64 KiB message corrupted")
    });
    suite.run("channel_write.too_large", || {
        let (a, _b) = step(Channel::create(), "create")?;
        let big = vec![0u8; zx::CHANNEL_MAX_MSG_BYTES + 1];
        expect_status(a.write(&big, vec![]), Status::OUT_OF_RANGE)
    });
    suite.run("channel_write.max_handles_ok", || {
        let (a, b) = step(Channel::create(), "create")?;
        let handles: Vec<Handle> = (0..64)
            .map(|_| Event::create().map(Event::into_handle))
            .collect::<Result<_, _>>()
            .map_err(|s| alloc::format!("{s:?}"))?;
        step(a.write(b"many", handles), "write")?;
        let message = step(read(&b), "read")?;
        check(message.handles.len() == 64, "handles lost")
    });
    suite.run("channel_write.too_many_handles", || {
        let (a, _b) = step(Channel::create(), "create")?;
        let values = [0u32; 65];
        let args = [
            a.raw_handle() as u64,
            0,
            0,
            0,
            values.as_ptr() as u64,
            65,
            0,
            0,
        ];
        expect_status(raw(nr::CHANNEL_WRITE, args), Status::OUT_OF_RANGE)
    });
    suite.run("channel_write.handles_move", || {
        let (a, b) = step(Channel::create(), "create")?;
        let event = step(Event::create(), "create")?;
        let koid = step(event.basic_info(), "info")?.koid;
        let value = event.raw_handle();
        step(a.write(b"", vec![event.into_handle()]), "write")?;
        expect_status(
            zx::HandleRef(value).signal(Signals::empty(), Signals::USER_0),
            Status::BAD_HANDLE,
        )?;
        let message = step(read(&b), "read")?;
        let received = message.handles.first().ok_or("no handle")?;
        check(
            step(received.basic_info(), "info")?.koid == koid,
            "a different object arrived",
        )
    });
    suite.run("channel_write.own_handle", || {
        let (a, _b) = step(Channel::create(), "create")?;
        let value = a.raw_handle();
        let args = [value as u64, 0, 0, 0, &value as *const u32 as u64, 1, 0, 0];
        expect_status(raw(nr::CHANNEL_WRITE, args), Status::NOT_SUPPORTED)?;
        // The channel handle itself is not consumed.
        step(a.basic_info(), "channel handle still valid").map(drop)
    });
    suite.run("channel_write.peer_endpoint", || {
        // An endpoint queued on its own peer would keep itself alive.
        let (a, b) = step(Channel::create(), "create")?;
        expect_status(a.write(b"", vec![b.into_handle()]), Status::NOT_SUPPORTED)
    });
    suite.run("channel_write.no_transfer_right", || {
        let (a, _b) = step(Channel::create(), "create")?;
        let event = step(Event::create(), "create")?;
        let weak = step(event.handle().duplicate(Rights::WAIT), "duplicate")?;
        expect_status(a.write(b"", vec![weak]), Status::ACCESS_DENIED)
    });
    suite.run("channel_write.bad_handle_in_list_consumes_all", || {
        let (a, _b) = step(Channel::create(), "create")?;
        let event = step(Event::create(), "create")?;
        let value = event.raw_handle();
        let values = [value, 0x4242_4243];
        let args = [
            a.raw_handle() as u64,
            0,
            0,
            0,
            values.as_ptr() as u64,
            2,
            0,
            0,
        ];
        expect_status(raw(nr::CHANNEL_WRITE, args), Status::BAD_HANDLE)?;
        core::mem::forget(event);
        expect_status(
            zx::HandleRef(value).signal(Signals::empty(), Signals::USER_0),
            Status::BAD_HANDLE,
        )
    });
    suite.run("channel_write.bad_bytes_pointer", || {
        let (a, _b) = step(Channel::create(), "create")?;
        let args = [
            a.raw_handle() as u64,
            0,
            0xffff_8000_0000_0000,
            16,
            0,
            0,
            0,
            0,
        ];
        expect_status(raw(nr::CHANNEL_WRITE, args), Status::INVALID_ARGS)
    });
    suite.run("channel_write.no_write_right", || {
        let (a, _b) = step(Channel::create(), "create")?;
        let read_only = Channel::from_handle(step(
            a.into_handle().replace(Rights::READ | Rights::WAIT),
            "replace",
        )?);
        expect_status(read_only.write(b"x", vec![]), Status::ACCESS_DENIED)
    });
    suite.run("channel_write.wrong_type", || {
        let event = step(Event::create(), "create")?;
        let args = [event.raw_handle() as u64, 0, 0, 0, 0, 0, 0, 0];
        expect_status(raw(nr::CHANNEL_WRITE, args), Status::WRONG_TYPE)
    });
    suite.run("channel_write.peer_closed", || {
        let (a, b) = step(Channel::create(), "create")?;
        drop(b);
        let observed = step(a.wait_one(Signals::PEER_CLOSED, 0), "wait")?;
        check(
            !observed.contains(Signals::CHANNEL_WRITABLE),
            "still writable",
        )?;
        expect_status(a.write(b"x", vec![]), Status::PEER_CLOSED)
    });
    suite.run("channel_read.drains_after_peer_closed", || {
        let (a, b) = step(Channel::create(), "create")?;
        step(a.write(b"last words", vec![]), "write")?;
        drop(a);
        let message = step(read(&b), "read")?;
        check(message.bytes == b"last words", "queued message lost")?;
        expect_status(read(&b).map(drop), Status::PEER_CLOSED)
    });
    suite.run("channel.endpoint_travels_with_its_queue", || {
        // The property hot-swap is built on: an endpoint moved through
        // another channel keeps the messages queued on it.
        let (client, server) = step(Channel::create(), "create")?;
        let (carrier_in, carrier_out) = step(Channel::create(), "create")?;
        step(client.write(b"request 1", vec![]), "write")?;
        step(client.write(b"request 2", vec![]), "write")?;
        step(
            carrier_in.write(b"here is the server end", vec![server.into_handle()]),
            "move",
        )?;
        step(client.write(b"request 3", vec![]), "write while in transit")?;
        let mut message = step(read(&carrier_out), "read")?;
        let server = Channel::from_handle(message.handles.pop().ok_or("no handle")?);
        for expected in [&b"request 1"[..], b"request 2", b"request 3"] {
            check(
                step(read(&server), "read")?.bytes == expected,
                "lost or reordered",
            )?;
        }
        step(server.write(b"reply", vec![]), "reply")?;
        check(
            step(read(&client), "read reply")?.bytes == b"reply",
            "reply lost",
        )
    });
}
