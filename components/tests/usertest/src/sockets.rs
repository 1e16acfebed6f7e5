//! socket_create, socket_write, socket_read, socket_shutdown: streams and
//! datagrams, full buffers, closed peers, shutdown both ways, sockets
//! carried through channels and across processes, the checks on every
//! argument, and a job that fills sockets stopping at its own limit.

use crate::{check, expect_status, raw, step, Suite};
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use zx::numbers as nr;
use zx::{
    processargs, AsHandleRef, Channel, Event, Job, MessageBuf, ObjectType, Rights, Signals, Socket,
    SocketKind, SocketThreshold, Status, SOCKET_MAX_BUFFER, SOCKET_MAX_DATAGRAMS,
};

/// A kernel address and an unmapped user one.
const KERNEL_ADDRESS: u64 = 0xffff_8000_0000_0000;
const UNMAPPED: u64 = 0x1000;

/// Every socket signal, for reading an end's state.
fn socket_signals() -> Signals {
    Signals::SOCKET_READABLE
        | Signals::SOCKET_WRITABLE
        | Signals::PEER_CLOSED
        | Signals::SOCKET_PEER_WRITE_DISABLED
        | Signals::SOCKET_WRITE_DISABLED
        | Signals::SOCKET_READ_THRESHOLD
        | Signals::SOCKET_WRITE_THRESHOLD
}

/// The socket signals `socket` has now.
fn signals(socket: &Socket) -> Signals {
    socket
        .wait_one(socket_signals(), 0)
        .unwrap_or(Signals::empty())
}

fn expect_signals(socket: &Socket, expected: Signals, what: &str) -> crate::Outcome {
    let actual = signals(socket);
    check(
        actual == expected,
        &format!("{what}: signals {actual:?}, expected {expected:?}"),
    )
}

fn expect_err<T: core::fmt::Debug>(result: Result<T, Status>, expected: Status) -> crate::Outcome {
    expect_status(result.map(drop), expected)
}

fn read_vec(socket: &Socket, max: usize) -> Result<Vec<u8>, Status> {
    let mut buffer = vec![0u8; max];
    let count = socket.read(&mut buffer)?;
    buffer.truncate(count);
    Ok(buffer)
}

/// `socket_write` with raw arguments.
fn raw_write(handle: u32, options: u64, buffer: u64, len: u64, actual: u64) -> Result<(), Status> {
    raw(
        nr::SOCKET_WRITE,
        [handle as u64, options, buffer, len, actual, 0, 0, 0],
    )
}

/// `socket_read` with raw arguments.
fn raw_read(handle: u32, options: u64, buffer: u64, len: u64, actual: u64) -> Result<(), Status> {
    raw(
        nr::SOCKET_READ,
        [handle as u64, options, buffer, len, actual, 0, 0, 0],
    )
}

pub fn run(suite: &mut Suite) {
    thresholds(suite);
    suite.run("socket.stream_round_trip", || {
        let (a, b) = step(Socket::create(SocketKind::Stream), "create")?;
        expect_signals(&a, Signals::SOCKET_WRITABLE, "new end")?;
        check(step(a.write(b"hello"), "write")? == 5, "short write")?;
        check(step(a.write(b" world"), "write")? == 6, "short write")?;
        expect_signals(
            &b,
            Signals::SOCKET_WRITABLE | Signals::SOCKET_READABLE,
            "reader",
        )?;
        // A stream joins writes and splits them as the reader asks.
        check(step(read_vec(&b, 3), "read")? == b"hel", "first part")?;
        check(step(read_vec(&b, 64), "read")? == b"lo world", "rest")?;
        expect_signals(&b, Signals::SOCKET_WRITABLE, "drained")?;
        expect_err(b.read(&mut [0; 4]), Status::SHOULD_WAIT)?;
        // And the other way.
        step(b.write(b"back"), "write back")?;
        check(step(read_vec(&a, 64), "read back")? == b"back", "back")
    });
    suite.run("socket.stream_peek_and_empty_calls", || {
        let (a, b) = step(Socket::create(SocketKind::Stream), "create")?;
        check(step(a.write(&[]), "empty write")? == 0, "empty write")?;
        expect_err(b.read(&mut [0; 4]), Status::SHOULD_WAIT)?;
        step(a.write(b"abcdef"), "write")?;
        let mut buffer = [0u8; 4];
        check(step(b.peek(&mut buffer), "peek")? == 4, "peek count")?;
        check(&buffer == b"abcd", "peeked bytes")?;
        check(step(b.read(&mut []), "empty read")? == 0, "empty read")?;
        check(
            step(read_vec(&b, 64), "read")? == b"abcdef",
            "peek took bytes",
        )
    });
    suite.run("socket.stream_wraps_around", || {
        // Writes and reads of odd sizes walk the ring past its end.
        let (a, b) = step(Socket::create(SocketKind::Stream), "create")?;
        let mut next = 0u8;
        let mut expected = 0u8;
        for round in 0..200usize {
            let size = 1000 + round * 37 % 3000;
            let chunk: Vec<u8> = (0..size)
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            check(step(a.write(&chunk), "write")? == size, "short write")?;
            let got = step(read_vec(&b, size), "read")?;
            for byte in got {
                expected = expected.wrapping_add(1);
                check(byte == expected, "bytes out of order")?;
            }
        }
        Ok(())
    });
    suite.run(
        "socket.stream_order_kept_while_the_ring_grows_and_shrinks",
        || {
            // Fill the ring, then drain it in large reads and small writes: the
            // storage doubles, then halves as it empties, keeping the order.
            let (a, b) = step(Socket::create(SocketKind::Stream), "create")?;
            let byte = |i: usize| (i % 251) as u8;
            let mut written = 0;
            let mut read = 0;
            let pattern =
                |from: usize, len: usize| (from..from + len).map(byte).collect::<Vec<u8>>();
            while written < SOCKET_MAX_BUFFER {
                written += step(a.write(&pattern(written, 5000)), "fill")?;
            }
            for round in 0..200 {
                let got = match read_vec(&b, 7000) {
                    Ok(got) => got,
                    Err(Status::SHOULD_WAIT) => break,
                    Err(status) => return Err(format!("read: {status:?}")),
                };
                check(got == pattern(read, got.len()), "bytes out of order")?;
                read += got.len();
                if round % 3 == 0 {
                    written += step(a.write(&pattern(written, 3000)), "write")?;
                }
            }
            check(read == written, &format!("read {read} of {written}"))
        },
    );
    suite.run("socket.datagram_boundaries", || {
        let (a, b) = step(Socket::create(SocketKind::Datagram), "create")?;
        step(a.write(b"ab"), "write")?;
        step(a.write(b"cde"), "write")?;
        step(a.write(b"f"), "write")?;
        check(step(read_vec(&b, 64), "read")? == b"ab", "first datagram")?;
        check(step(read_vec(&b, 64), "read")? == b"cde", "second datagram")?;
        check(step(read_vec(&b, 64), "read")? == b"f", "third datagram")?;
        expect_err(b.read(&mut [0; 4]), Status::SHOULD_WAIT)
    });
    suite.run("socket.datagram_truncated_by_short_read", || {
        let (a, b) = step(Socket::create(SocketKind::Datagram), "create")?;
        step(a.write(b"0123456789"), "write")?;
        step(a.write(b"next"), "write")?;
        let mut buffer = [0u8; 4];
        check(step(b.peek(&mut buffer), "peek")? == 4, "peek count")?;
        check(step(read_vec(&b, 4), "read")? == b"0123", "truncated")?;
        // The rest of the datagram is gone.
        check(step(read_vec(&b, 64), "read")? == b"next", "next datagram")?;
        expect_signals(&b, Signals::SOCKET_WRITABLE, "drained")
    });
    suite.run("socket.datagram_bad_sizes", || {
        let (a, _b) = step(Socket::create(SocketKind::Datagram), "create")?;
        expect_err(a.write(&[]), Status::INVALID_ARGS)?;
        let big = vec![1u8; SOCKET_MAX_BUFFER + 1];
        expect_err(a.write(&big), Status::OUT_OF_RANGE)
    });
    suite.run("socket.stream_full_should_wait_then_writable", || {
        let (a, b) = step(Socket::create(SocketKind::Stream), "create")?;
        let chunk = vec![7u8; 60 * 1024];
        let mut total = 0;
        loop {
            match a.write(&chunk) {
                Ok(written) => total += written,
                Err(Status::SHOULD_WAIT) => break,
                Err(status) => return Err(format!("write: {status:?}")),
            }
        }
        check(
            total == SOCKET_MAX_BUFFER,
            &format!("buffered {total} bytes"),
        )?;
        expect_signals(&a, Signals::empty(), "full writer")?;
        check(step(b.read(&mut [0; 1000]), "read")? == 1000, "read")?;
        expect_signals(&a, Signals::SOCKET_WRITABLE, "writer after a read")?;
        // Only what fits is taken: a partial write.
        check(
            step(a.write(&chunk), "write")? == 1000,
            "partial write took more than the room",
        )?;
        expect_err(a.write(b"x"), Status::SHOULD_WAIT)
    });
    suite.run("socket.datagram_full_should_wait_then_writable", || {
        let (a, b) = step(Socket::create(SocketKind::Datagram), "create")?;
        let datagram = vec![9u8; SOCKET_MAX_BUFFER / 4];
        for _ in 0..4 {
            step(a.write(&datagram), "write")?;
        }
        expect_err(a.write(b"x"), Status::SHOULD_WAIT)?;
        expect_signals(&a, Signals::empty(), "full writer")?;
        check(step(b.read(&mut [0; 16]), "read")? == 16, "truncated read")?;
        expect_signals(&a, Signals::SOCKET_WRITABLE, "writer after a read")?;
        // A datagram is taken whole or not at all.
        let bigger = vec![9u8; SOCKET_MAX_BUFFER / 4 + 1];
        expect_err(a.write(&bigger), Status::SHOULD_WAIT)?;
        step(a.write(&datagram), "write")?;
        Ok(())
    });
    suite.run("socket.datagram_count_bound", || {
        let (a, b) = step(Socket::create(SocketKind::Datagram), "create")?;
        for _ in 0..SOCKET_MAX_DATAGRAMS {
            step(a.write(b"d"), "write")?;
        }
        expect_err(a.write(b"d"), Status::SHOULD_WAIT)?;
        step(b.read(&mut [0; 1]), "read")?;
        step(a.write(b"d"), "write after a read")?;
        Ok(())
    });
    suite.run("socket.peer_closed", || {
        let (a, b) = step(Socket::create(SocketKind::Stream), "create")?;
        step(b.write(b"left"), "write")?;
        drop(b);
        expect_signals(
            &a,
            Signals::PEER_CLOSED | Signals::SOCKET_READABLE,
            "after the close",
        )?;
        expect_err(a.write(b"x"), Status::PEER_CLOSED)?;
        // What was buffered can still be read.
        check(step(read_vec(&a, 64), "read")? == b"left", "buffered")?;
        expect_err(a.read(&mut [0; 4]), Status::PEER_CLOSED)
    });
    suite.run("socket.close_drops_buffered_bytes", || {
        // Closing the reader drops what it had buffered; the writer sees
        // PEER_CLOSED and loses SOCKET_WRITABLE.
        let (a, b) = step(Socket::create(SocketKind::Datagram), "create")?;
        step(a.write(&[1; 1000]), "write")?;
        drop(b);
        expect_signals(&a, Signals::PEER_CLOSED, "writer after the close")?;
        expect_err(a.write(b"x"), Status::PEER_CLOSED)
    });
    suite.run("socket.shutdown_write", || {
        let (a, b) = step(Socket::create(SocketKind::Stream), "create")?;
        step(a.write(b"last"), "write")?;
        step(a.shutdown(true, false), "shutdown")?;
        expect_signals(&a, Signals::SOCKET_WRITE_DISABLED, "shut end")?;
        expect_signals(
            &b,
            Signals::SOCKET_WRITABLE
                | Signals::SOCKET_READABLE
                | Signals::SOCKET_PEER_WRITE_DISABLED,
            "peer",
        )?;
        expect_err(a.write(b"x"), Status::BAD_STATE)?;
        check(step(read_vec(&b, 64), "read")? == b"last", "buffered")?;
        expect_err(b.read(&mut [0; 4]), Status::BAD_STATE)?;
        // The other direction still works.
        step(b.write(b"reply"), "reply")?;
        check(step(read_vec(&a, 64), "read")? == b"reply", "reply")?;
        // Again is nothing.
        step(a.shutdown(true, false), "shutdown again")
    });
    suite.run("socket.shutdown_read", || {
        let (a, b) = step(Socket::create(SocketKind::Datagram), "create")?;
        step(b.write(b"queued"), "write")?;
        step(a.shutdown(false, true), "shutdown")?;
        expect_signals(
            &a,
            Signals::SOCKET_WRITABLE
                | Signals::SOCKET_READABLE
                | Signals::SOCKET_PEER_WRITE_DISABLED,
            "shut end",
        )?;
        expect_signals(&b, Signals::SOCKET_WRITE_DISABLED, "peer")?;
        expect_err(b.write(b"x"), Status::BAD_STATE)?;
        check(step(read_vec(&a, 64), "read")? == b"queued", "buffered")?;
        expect_err(a.read(&mut [0; 4]), Status::BAD_STATE)?;
        step(a.write(b"still"), "write the other way")?;
        check(step(read_vec(&b, 64), "read")? == b"still", "other way")?;
        // Both at once, on the other end.
        step(b.shutdown(true, true), "both")?;
        expect_err(a.write(b"x"), Status::BAD_STATE)
    });
    suite.run("socket.handle_info_and_rights", || {
        let (a, b) = step(Socket::create(SocketKind::Stream), "create")?;
        let info = step(a.basic_info(), "info")?;
        check(info.object_type == ObjectType::Socket as u32, "type")?;
        check(info.rights == Rights::DEFAULT_SOCKET.bits(), "rights")?;
        let peer = step(b.basic_info(), "peer info")?;
        check(info.related_koid == peer.koid, "related koid")
    });
    suite.run("socket.carried_through_a_channel", || {
        // An end travels in a message with its buffered bytes.
        let (a, b) = step(Socket::create(SocketKind::Stream), "create")?;
        step(a.write(b"in transit"), "write")?;
        let (c0, c1) = step(Channel::create(), "channel")?;
        step(c0.write(b"", vec![b.into_handle()]), "send")?;
        let mut message = MessageBuf::default();
        step(c1.read(&mut message), "receive")?;
        let b = Socket::from_handle(message.handles.pop().ok_or("no handle")?);
        check(step(read_vec(&b, 64), "read")? == b"in transit", "bytes")?;
        step(b.write(b"ok"), "write back")?;
        check(step(read_vec(&a, 64), "read")? == b"ok", "back")
    });
    errors(suite);
}

fn errors(suite: &mut Suite) {
    suite.run("socket_create.bad_options", || {
        expect_err(Socket::create_raw(2), Status::INVALID_ARGS)?;
        expect_err(Socket::create_raw(u32::MAX), Status::INVALID_ARGS)
    });
    suite.run("socket_create.bad_out_pointer", || {
        let mut a = 0u32;
        expect_status(
            raw(
                nr::SOCKET_CREATE,
                [0, &mut a as *mut u32 as u64, KERNEL_ADDRESS, 0, 0, 0, 0, 0],
            ),
            Status::INVALID_ARGS,
        )?;
        expect_status(
            raw(nr::SOCKET_CREATE, [0, 0, UNMAPPED, 0, 0, 0, 0, 0]),
            Status::INVALID_ARGS,
        )
    });
    suite.run("socket.bad_handle", || {
        let bytes = b"x";
        let mut actual = 0u64;
        let actual = &mut actual as *mut u64 as u64;
        expect_status(
            raw_write(0x6666_6667, 0, bytes.as_ptr() as u64, 1, actual),
            Status::BAD_HANDLE,
        )?;
        let mut buffer = [0u8; 4];
        expect_status(
            raw_read(0x6666_6667, 0, buffer.as_mut_ptr() as u64, 4, actual),
            Status::BAD_HANDLE,
        )?;
        expect_status(
            raw(nr::SOCKET_SHUTDOWN, [0x6666_6667, 1, 0, 0, 0, 0, 0, 0]),
            Status::BAD_HANDLE,
        )?;
        expect_status(
            raw(nr::SOCKET_WRITE, [1 << 40, 0, 0, 0, 0, 0, 0, 0]),
            Status::BAD_HANDLE,
        )
    });
    suite.run("socket.wrong_type", || {
        let event = step(Event::create(), "event")?;
        let (c0, _c1) = step(Channel::create(), "channel")?;
        let mut buffer = [0u8; 4];
        for handle in [event.raw_handle(), c0.raw_handle()] {
            expect_status(
                raw_write(handle, 0, buffer.as_ptr() as u64, 1, 0),
                Status::WRONG_TYPE,
            )?;
            expect_status(
                raw_read(handle, 0, buffer.as_mut_ptr() as u64, 4, 0),
                Status::WRONG_TYPE,
            )?;
            expect_status(
                raw(nr::SOCKET_SHUTDOWN, [handle as u64, 1, 0, 0, 0, 0, 0, 0]),
                Status::WRONG_TYPE,
            )?;
        }
        Ok(())
    });
    suite.run("socket.missing_rights", || {
        let (a, b) = step(Socket::create(SocketKind::Stream), "create")?;
        step(b.write(b"data"), "write")?;
        let no_write = Socket::from_handle(step(
            a.handle().duplicate(Rights::DEFAULT_SOCKET - Rights::WRITE),
            "duplicate",
        )?);
        let no_read = Socket::from_handle(step(
            a.handle().duplicate(Rights::DEFAULT_SOCKET - Rights::READ),
            "duplicate",
        )?);
        expect_err(no_write.write(b"x"), Status::ACCESS_DENIED)?;
        expect_status(no_write.shutdown(true, false), Status::ACCESS_DENIED)?;
        expect_err(no_read.read(&mut [0; 4]), Status::ACCESS_DENIED)?;
        // Nothing happened: the data is still there, writes still work.
        check(step(read_vec(&no_write, 64), "read")? == b"data", "data")?;
        step(no_read.write(b"y"), "write")?;
        Ok(())
    });
    suite.run("socket.bad_options", || {
        let (a, b) = step(Socket::create(SocketKind::Stream), "create")?;
        let handle = a.raw_handle();
        let buffer = [0u8; 4];
        expect_status(
            raw_write(handle, 1, buffer.as_ptr() as u64, 1, 0),
            Status::INVALID_ARGS,
        )?;
        step(b.write(b"data"), "write")?;
        let mut into = [0u8; 4];
        for options in [1u64, 2, 4, 16, 1 << 32] {
            expect_status(
                raw_read(handle, options, into.as_mut_ptr() as u64, 4, 0),
                Status::INVALID_ARGS,
            )?;
        }
        expect_status(
            raw(nr::SOCKET_SHUTDOWN, [handle as u64, 4, 0, 0, 0, 0, 0, 0]),
            Status::INVALID_ARGS,
        )?;
        check(step(read_vec(&a, 64), "read")? == b"data", "data survived")
    });
    suite.run("socket.bad_pointers", || {
        let (a, b) = step(Socket::create(SocketKind::Stream), "create")?;
        let handle = a.raw_handle();
        let mut actual = 0u64;
        let actual_ptr = &mut actual as *mut u64 as u64;
        for buffer in [KERNEL_ADDRESS, UNMAPPED, u64::MAX - 2] {
            expect_status(
                raw_write(handle, 0, buffer, 16, actual_ptr),
                Status::INVALID_ARGS,
            )?;
        }
        // A bad `actual` leaves the socket untouched.
        let bytes = *b"abcd";
        expect_status(
            raw_write(handle, 0, bytes.as_ptr() as u64, 4, KERNEL_ADDRESS),
            Status::INVALID_ARGS,
        )?;
        expect_status(
            raw_write(handle, 0, bytes.as_ptr() as u64, 4, UNMAPPED),
            Status::INVALID_ARGS,
        )?;
        expect_err(b.read(&mut [0; 4]), Status::SHOULD_WAIT)?;
        // Reads into bad memory take nothing.
        step(a.write(b"kept"), "write")?;
        let reader = b.raw_handle();
        for buffer in [KERNEL_ADDRESS, UNMAPPED] {
            expect_status(
                raw_read(reader, 0, buffer, 4, actual_ptr),
                Status::INVALID_ARGS,
            )?;
        }
        let mut into = [0u8; 4];
        expect_status(
            raw_read(reader, 0, into.as_mut_ptr() as u64, 4, UNMAPPED),
            Status::INVALID_ARGS,
        )?;
        check(step(read_vec(&b, 64), "read")? == b"kept", "data survived")?;
        // And the same for a datagram socket.
        let (c, d) = step(Socket::create(SocketKind::Datagram), "create")?;
        expect_status(
            raw_write(c.raw_handle(), 0, UNMAPPED, 16, 0),
            Status::INVALID_ARGS,
        )?;
        step(c.write(b"dgram"), "write")?;
        expect_status(
            raw_read(d.raw_handle(), 0, UNMAPPED, 16, 0),
            Status::INVALID_ARGS,
        )?;
        check(
            step(read_vec(&d, 64), "read")? == b"dgram",
            "datagram survived",
        )
    });
}

/// The tests that start other processes.
pub fn run_with_processes(suite: &mut Suite, job: &Job, bootfs: &[u8]) {
    suite.run("socket.transfer_to_another_process", || {
        // The end goes through the process's bootstrap channel; the child
        // echoes until we shut down writing, then shuts down its own.
        let (mine, theirs) = step(Socket::create(SocketKind::Stream), "create")?;
        let child = crate::processes::start(
            job,
            bootfs,
            "bin/child-limits",
            &["bin/child-limits", "socket-echo"],
            vec![(processargs::USER_BASE, theirs.into_handle())],
        )?;
        let sent: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut received = Vec::new();
        let mut offset = 0;
        let deadline = zx::deadline_after(10_000_000_000);
        while received.len() < sent.len() {
            if offset < sent.len() {
                match mine.write(&sent[offset..]) {
                    Ok(written) => offset += written,
                    Err(Status::SHOULD_WAIT) => {}
                    Err(status) => return Err(format!("write: {status:?}")),
                }
            }
            let ready = if offset < sent.len() {
                Signals::SOCKET_READABLE | Signals::SOCKET_WRITABLE
            } else {
                Signals::SOCKET_READABLE
            };
            step(mine.wait_one(ready, deadline), "wait")?;
            match read_vec(&mine, 8192) {
                Ok(bytes) => received.extend_from_slice(&bytes),
                Err(Status::SHOULD_WAIT) => {}
                Err(status) => return Err(format!("read: {status:?}")),
            }
        }
        check(received == sent, "the echo differs")?;
        step(mine.shutdown(true, false), "shutdown")?;
        // The child returns the count only if its own shutdown worked.
        let echoed = crate::processes::wait_end(&child)?;
        check(
            echoed == sent.len() as i64,
            &format!("the child echoed {echoed}"),
        )?;
        expect_signals(
            &mine,
            Signals::SOCKET_PEER_WRITE_DISABLED
                | Signals::PEER_CLOSED
                | Signals::SOCKET_WRITE_DISABLED,
            "after the child",
        )?;
        expect_err(mine.read(&mut [0; 4]), Status::PEER_CLOSED)
    });
    for (mode, name) in [
        ("sockets", "socket.job_limit_stops_stream_writer"),
        ("datagrams", "socket.job_limit_stops_datagram_writer"),
    ] {
        suite.run(name, || {
            // A program in a job with 1 MiB for queued bytes fills sockets
            // it never reads: it stops at its job's limit, not the
            // kernel's, and this process keeps writing.
            let limited = step(job.create_child(), "job")?;
            step(limited.set_limits(0, 1 << 20, 0, 0), "limit")?;
            let filler = crate::processes::start(
                &limited,
                bootfs,
                "bin/child-limits",
                &["bin/child-limits", mode, "8"],
                vec![],
            )?;
            let kib = crate::processes::wait_end(&filler)?;
            check(
                (1024 - 64..=1024).contains(&kib),
                &format!("the filler buffered {kib} KiB before NO_MEMORY"),
            )?;
            let (a, b) = step(Socket::create(SocketKind::Stream), "create")?;
            let chunk = vec![1u8; 64 * 1024];
            step(a.write(&chunk), "a write in another job")?;
            check(step(read_vec(&b, chunk.len()), "read")? == chunk, "bytes")?;
            // The filler is gone and so are its charges: a fresh one in
            // the same job gets as far again.
            let again = crate::processes::start(
                &limited,
                bootfs,
                "bin/child-limits",
                &["bin/child-limits", mode, "8"],
                vec![],
            )?;
            let kib_again = crate::processes::wait_end(&again)?;
            check(
                kib_again == kib,
                &format!("the second filler buffered {kib_again} KiB, the first {kib}"),
            )
        });
    }
}

/// Whether `socket` has `signal` now.
fn has(socket: &Socket, signal: Signals) -> bool {
    signals(socket).contains(signal)
}

/// `socket_set_threshold`: read and write thresholds on streams and
/// datagrams, updated by writes, reads, shutdown and close, and its
/// checks.
fn thresholds(suite: &mut Suite) {
    use SocketThreshold::{Read, Write};
    suite.run("socket.read_threshold_follows_buffered_bytes", || {
        let (a, b) = step(Socket::create(SocketKind::Stream), "create")?;
        step(b.set_threshold(Read, 10), "set")?;
        check(!has(&b, Signals::SOCKET_READ_THRESHOLD), "set on empty")?;
        step(a.write(b"12345"), "write")?;
        check(!has(&b, Signals::SOCKET_READ_THRESHOLD), "5 of 10")?;
        step(a.write(b"67890"), "write")?;
        check(has(&b, Signals::SOCKET_READ_THRESHOLD), "10 of 10")?;
        // A peek takes nothing; a read below the threshold clears it.
        step(b.peek(&mut [0; 4]), "peek")?;
        check(has(&b, Signals::SOCKET_READ_THRESHOLD), "after peek")?;
        step(b.read(&mut [0; 1]), "read")?;
        check(!has(&b, Signals::SOCKET_READ_THRESHOLD), "9 of 10")?;
        // Lowering it raises the signal at once; 0 turns it off.
        step(b.set_threshold(Read, 9), "lower")?;
        check(has(&b, Signals::SOCKET_READ_THRESHOLD), "9 of 9")?;
        step(b.set_threshold(Read, 0), "off")?;
        check(!has(&b, Signals::SOCKET_READ_THRESHOLD), "off")?;
        // The writer's end never sees the reader's threshold.
        check(!has(&a, Signals::SOCKET_READ_THRESHOLD), "writer")?;
        // It stays readable past the peer's close.
        step(b.set_threshold(Read, 9), "again")?;
        drop(a);
        check(has(&b, Signals::SOCKET_READ_THRESHOLD), "peer closed")
    });
    suite.run("socket.write_threshold_follows_peer_room", || {
        let (a, b) = step(Socket::create(SocketKind::Stream), "create")?;
        step(a.set_threshold(Write, 100 * 1024), "set")?;
        check(has(&a, Signals::SOCKET_WRITE_THRESHOLD), "empty peer")?;
        let chunk = vec![3u8; SOCKET_MAX_BUFFER - 100 * 1024];
        step(a.write(&chunk), "write")?;
        check(
            has(&a, Signals::SOCKET_WRITE_THRESHOLD),
            "room == threshold",
        )?;
        step(a.write(b"x"), "write")?;
        check(!has(&a, Signals::SOCKET_WRITE_THRESHOLD), "one byte short")?;
        check(has(&a, Signals::SOCKET_WRITABLE), "still writable")?;
        step(b.read(&mut [0; 1]), "read")?;
        check(has(&a, Signals::SOCKET_WRITE_THRESHOLD), "room again")?;
        // Shutting writes down clears it for good.
        step(a.shutdown(true, false), "shutdown")?;
        check(!has(&a, Signals::SOCKET_WRITE_THRESHOLD), "after shutdown")?;
        step(a.set_threshold(Write, 1), "set after shutdown")?;
        check(
            !has(&a, Signals::SOCKET_WRITE_THRESHOLD),
            "set after shutdown",
        )
    });
    suite.run("socket.write_threshold_cleared_by_peer_close", || {
        let (a, b) = step(Socket::create(SocketKind::Stream), "create")?;
        step(a.set_threshold(Write, 1), "set")?;
        check(has(&a, Signals::SOCKET_WRITE_THRESHOLD), "set")?;
        // The reader shutting down reading is the same as the writer
        // shutting down writing.
        let (c, d) = step(Socket::create(SocketKind::Stream), "create")?;
        step(c.set_threshold(Write, 1), "set")?;
        step(d.shutdown(false, true), "shutdown read")?;
        check(
            !has(&c, Signals::SOCKET_WRITE_THRESHOLD),
            "peer stopped reading",
        )?;
        drop(b);
        check(!has(&a, Signals::SOCKET_WRITE_THRESHOLD), "peer closed")?;
        step(a.set_threshold(Write, 1), "set again")?;
        check(
            !has(&a, Signals::SOCKET_WRITE_THRESHOLD),
            "set on closed peer",
        )
    });
    suite.run("socket.datagram_thresholds_count_bytes", || {
        let (a, b) = step(Socket::create(SocketKind::Datagram), "create")?;
        step(b.set_threshold(Read, 6), "set read")?;
        step(a.set_threshold(Write, SOCKET_MAX_BUFFER - 5), "set write")?;
        step(a.write(b"abc"), "write")?;
        check(!has(&b, Signals::SOCKET_READ_THRESHOLD), "3 of 6")?;
        check(has(&a, Signals::SOCKET_WRITE_THRESHOLD), "room for 5 more")?;
        step(a.write(b"defg"), "write")?;
        check(has(&b, Signals::SOCKET_READ_THRESHOLD), "7 of 6")?;
        check(!has(&a, Signals::SOCKET_WRITE_THRESHOLD), "7 used")?;
        check(step(read_vec(&b, 64), "read")? == b"abc", "first")?;
        check(!has(&b, Signals::SOCKET_READ_THRESHOLD), "4 of 6")?;
        check(has(&a, Signals::SOCKET_WRITE_THRESHOLD), "4 used")
    });
    suite.run("socket.threshold_wakes_a_waiter", || {
        // A reader that waits for a whole record (the netstack's use).
        let (a, b) = step(Socket::create(SocketKind::Stream), "create")?;
        step(b.set_threshold(Read, 8), "set")?;
        step(a.write(b"1234"), "write")?;
        expect_err(
            b.wait_one(Signals::SOCKET_READ_THRESHOLD, 0),
            Status::TIMED_OUT,
        )?;
        step(a.write(b"5678"), "write")?;
        let seen = step(b.wait_one(Signals::SOCKET_READ_THRESHOLD, 0), "wait")?;
        check(seen.contains(Signals::SOCKET_READ_THRESHOLD), "woken")
    });
    suite.run("socket.threshold_checks", || {
        let (a, b) = step(Socket::create(SocketKind::Stream), "create")?;
        let handle = a.raw_handle();
        for options in [2u32, 3, 0x8000_0000] {
            expect_status(
                Socket::set_threshold_raw(handle, options, 1),
                Status::INVALID_ARGS,
            )?;
        }
        expect_status(
            Socket::set_threshold_raw(handle, 0, SOCKET_MAX_BUFFER as u64 + 1),
            Status::INVALID_ARGS,
        )?;
        expect_status(
            Socket::set_threshold_raw(handle, 1, u64::MAX),
            Status::INVALID_ARGS,
        )?;
        expect_status(
            raw(
                nr::SOCKET_SET_THRESHOLD,
                [handle as u64, 1 << 32, 1, 0, 0, 0, 0, 0],
            ),
            Status::INVALID_ARGS,
        )?;
        step(a.set_threshold(Read, SOCKET_MAX_BUFFER), "the largest")?;
        let no_property = Socket::from_handle(step(
            a.handle()
                .duplicate(Rights::DEFAULT_SOCKET - Rights::SET_PROPERTY),
            "duplicate",
        )?);
        expect_status(no_property.set_threshold(Read, 1), Status::ACCESS_DENIED)?;
        let event = step(Event::create(), "event")?;
        expect_status(
            Socket::set_threshold_raw(event.raw_handle(), 0, 1),
            Status::WRONG_TYPE,
        )?;
        expect_status(
            Socket::set_threshold_raw(0xdead_beef, 0, 1),
            Status::BAD_HANDLE,
        )?;
        // The largest threshold is not met by one byte, and no refused
        // call changed it.
        step(b.write(b"x"), "write")?;
        check(
            !has(&a, Signals::SOCKET_READ_THRESHOLD),
            "one byte met the largest threshold",
        )
    });
}
