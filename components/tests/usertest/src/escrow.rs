//! `handle_bind_escrow`: a bound handle survives its process's end (exit
//! or kill) by moving into a message on the escrow channel, with what is
//! queued on it; an unbound, closed or undeliverable one is closed; bad
//! arguments and the per-process limit.

use crate::{check, expect_status, raw, step, Suite};
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use zx::numbers as nr;
use zx::{
    handle_bind_escrow, AsHandleRef, Channel, Event, Handle, Job, MessageBuf, Rights, Signals,
    Status, CHANNEL_BIND_RECEIVED, HANDLE_ESCROW_MAX_BINDINGS,
};

const SECOND: i64 = 1_000_000_000;

/// Whether `channel`'s peer is closed, now.
pub(crate) fn peer_closed(channel: &Channel) -> bool {
    channel.wait_one(Signals::PEER_CLOSED, 0).is_ok()
}

pub fn run(suite: &mut Suite) {
    suite.run("handle_bind_escrow.bad_arguments", || {
        let (escrow, _peer) = step(Channel::create(), "channel")?;
        let event = step(Event::create(), "event")?;
        expect_status(
            raw(
                nr::HANDLE_BIND_ESCROW,
                [0x6666_6667, escrow.raw_handle() as u64, 0, 0, 0, 0, 0, 0],
            ),
            Status::BAD_HANDLE,
        )?;
        expect_status(
            raw(
                nr::HANDLE_BIND_ESCROW,
                [event.raw_handle() as u64, 0x6666_6667, 0, 0, 0, 0, 0, 0],
            ),
            Status::BAD_HANDLE,
        )?;
        let not_a_channel = step(Event::create(), "event")?;
        expect_status(
            raw(
                nr::HANDLE_BIND_ESCROW,
                [
                    event.raw_handle() as u64,
                    not_a_channel.raw_handle() as u64,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                ],
            ),
            Status::WRONG_TYPE,
        )?;
        let (other, _other_peer) = step(Channel::create(), "channel")?;
        let read_only = Channel::from_handle(step(
            other.into_handle().replace(Rights::READ | Rights::TRANSFER),
            "replace",
        )?);
        expect_status(
            handle_bind_escrow(&event, &read_only),
            Status::ACCESS_DENIED,
        )?;
        let kept = step(event.handle().duplicate(Rights::SAME_RIGHTS), "dup")?;
        let untransferable = step(kept.replace(Rights::SIGNAL | Rights::WAIT), "replace")?;
        expect_status(
            handle_bind_escrow(&untransferable, &escrow),
            Status::ACCESS_DENIED,
        )?;
        expect_status(handle_bind_escrow(&escrow, &escrow), Status::INVALID_ARGS)?;
        // A good binding, made twice (the second replaces the first).
        step(handle_bind_escrow(&event, &escrow), "bind")?;
        step(handle_bind_escrow(&event, &escrow), "bind again")
    });

    suite.run("handle_bind_escrow.limit_per_process", || {
        let (escrow, peer) = step(Channel::create(), "channel")?;
        let mut bound: Vec<Event> = Vec::new();
        for i in 0..HANDLE_ESCROW_MAX_BINDINGS {
            let event = step(Event::create(), "event")?;
            step(handle_bind_escrow(&event, &escrow), &format!("bind {i}"))?;
            bound.push(event);
        }
        let one_more = step(Event::create(), "event")?;
        expect_status(handle_bind_escrow(&one_more, &escrow), Status::NO_RESOURCES)?;
        // Binding a bound handle again needs no new slot.
        step(
            handle_bind_escrow(&bound[0], &escrow),
            "rebind at the limit",
        )?;
        // A handle that leaves the process frees its slot.
        drop(bound.pop());
        step(handle_bind_escrow(&one_more, &escrow), "bind after a close")?;
        // Nothing is escrowed while the process lives.
        check(
            peer.wait_one(Signals::CHANNEL_READABLE, 0).is_err(),
            "the escrow received something from a live process",
        )
    });

    suite.run("channel_bind_received.bad_arguments", || {
        let (a, b) = step(Channel::create(), "channel")?;
        let mut reply = MessageBuf::default();
        // Not bound: refused before anything is written.
        expect_status(
            a.call_etc(
                CHANNEL_BIND_RECEIVED,
                b"\0\0\0\0take",
                vec![],
                zx::deadline_after(SECOND),
                &mut reply,
            ),
            Status::BAD_STATE,
        )?;
        check(
            b.wait_one(Signals::CHANNEL_READABLE, 0).is_err(),
            "a refused bound call wrote its request",
        )?;
        expect_status(
            a.call_etc(
                CHANNEL_BIND_RECEIVED << 1,
                b"\0\0\0\0take",
                vec![],
                zx::deadline_after(SECOND),
                &mut reply,
            ),
            Status::INVALID_ARGS,
        )?;
        step(b.write(b"queued", vec![]), "write")?;
        let mut bytes = [0u8; 64];
        let mut handles = [0u32; 4];
        let mut needed = (0, 0);
        expect_status(
            a.read_raw_etc(CHANNEL_BIND_RECEIVED, &mut bytes, &mut handles, &mut needed)
                .map(drop),
            Status::BAD_STATE,
        )?;
        expect_status(
            a.read_raw_etc(
                CHANNEL_BIND_RECEIVED | 1,
                &mut bytes,
                &mut handles,
                &mut needed,
            )
            .map(drop),
            Status::INVALID_ARGS,
        )?;
        let (n, _) = step(
            a.read_raw_etc(0, &mut bytes, &mut handles, &mut needed),
            "the message is still queued",
        )?;
        check(&bytes[..n] == b"queued", "the refused reads took nothing")
    });

    suite.run(
        "channel_bind_received.read_binds_and_respects_the_limit",
        || {
            let (escrow, escrow_peer) = step(Channel::create(), "escrow")?;
            let (a, b) = step(Channel::create(), "channel")?;
            step(handle_bind_escrow(&a, &escrow), "bind the endpoint")?;
            let event = step(Event::create(), "event")?;
            let koid = step(event.basic_info(), "info")?.koid;
            step(b.write(b"one", vec![event.into_handle()]), "write")?;
            let mut bytes = [0u8; 64];
            let mut handles = [0u32; 4];
            let mut needed = (0, 0);
            let (_, count) = step(
                a.read_raw_etc(CHANNEL_BIND_RECEIVED, &mut bytes, &mut handles, &mut needed),
                "bound read",
            )?;
            check(count == 1, "one handle received")?;
            let received = Event::from_handle(Handle::from_raw(handles[0]));
            check(
                step(received.basic_info(), "info")?.koid == koid,
                "the event arrived",
            )?;
            // It is bound: the endpoint and it hold two of the bindings.
            let mut more: Vec<Event> = Vec::new();
            for i in 2..HANDLE_ESCROW_MAX_BINDINGS {
                let event = step(Event::create(), "event")?;
                step(handle_bind_escrow(&event, &escrow), &format!("bind {i}"))?;
                more.push(event);
            }
            let one_more = step(Event::create(), "event")?;
            expect_status(handle_bind_escrow(&one_more, &escrow), Status::NO_RESOURCES)?;
            // At the limit a bound read of a message with a handle is refused
            // and the message stays queued, whole.
            step(b.write(b"two", vec![one_more.into_handle()]), "write")?;
            expect_status(
                a.read_raw_etc(CHANNEL_BIND_RECEIVED, &mut bytes, &mut handles, &mut needed)
                    .map(drop),
                Status::NO_RESOURCES,
            )?;
            // One binding freed: now it fits.
            drop(more.pop());
            let (n, count) = step(
                a.read_raw_etc(CHANNEL_BIND_RECEIVED, &mut bytes, &mut handles, &mut needed),
                "bound read after a close",
            )?;
            check(
                &bytes[..n] == b"two" && count == 1,
                "the message was kept whole",
            )?;
            drop(Handle::from_raw(handles[0]));
            // Nothing is escrowed while the process lives.
            check(
                escrow_peer.wait_one(Signals::CHANNEL_READABLE, 0).is_err(),
                "the escrow received something from a live process",
            )
        },
    );
}

/// A child that binds `bound` to a new escrow channel and then ends as
/// `how` says (`child-limits escrow HOW`); returns it, the manager's end
/// of the escrow, and the event it signals once bound.
pub(crate) fn start_child(
    job: &Job,
    bootfs: &[u8],
    how: &str,
    bound: Channel,
) -> Result<(zx_launch::Launched, Channel, Event), alloc::string::String> {
    let (manager_end, child_end) = step(Channel::create(), "escrow channel")?;
    let ready = step(Event::create(), "event")?;
    let ready_copy = step(ready.handle().duplicate(Rights::SAME_RIGHTS), "dup")?;
    let base = zx::processargs::USER_BASE;
    let child = crate::processes::start(
        job,
        bootfs,
        "bin/child-limits",
        &["bin/child-limits", "escrow", how],
        vec![
            (base, bound.into_handle()),
            (base + 1, child_end.into_handle()),
            (base + 2, ready_copy),
        ],
    )?;
    step(
        ready.wait_one(Signals::USER_0, zx::deadline_after(5 * SECOND)),
        "wait for the binding",
    )?;
    Ok((child, manager_end, ready))
}

/// Reads the escrowed endpoint from `escrow` and checks it still holds,
/// in order, what `client` had sent, and still works.
fn check_recovered(client: &Channel, escrow: &Channel) -> crate::Outcome {
    check(!peer_closed(client), "the client saw PEER_CLOSED")?;
    let mut message = MessageBuf::default();
    step(escrow.read(&mut message), "read the escrow")?;
    check(message.bytes.len() == 4, "the record is the handle's value")?;
    check(message.handles.len() == 1, "one handle escrowed")?;
    let server = Channel::from_handle(message.handles.pop().unwrap_or(Handle::invalid()));
    for expected in [&b"first"[..], b"second"] {
        let mut request = MessageBuf::default();
        step(server.read(&mut request), "read a queued request")?;
        check(request.bytes == expected, "queued requests kept, in order")?;
    }
    step(client.write(b"after", vec![]), "write after the move")?;
    let mut request = MessageBuf::default();
    step(server.read(&mut request), "read after the move")?;
    check(request.bytes == b"after", "the endpoint works")?;
    step(server.write(b"reply", vec![]), "reply")?;
    let mut reply = MessageBuf::default();
    step(client.read(&mut reply), "read the reply")?;
    check(reply.bytes == b"reply", "the client gets the reply")
}

/// The tests that start other processes.
pub fn run_with_processes(suite: &mut Suite, job: &Job, bootfs: &[u8]) {
    for (name, how) in [
        ("handle_bind_escrow.endpoint_survives_exit", "exit"),
        ("handle_bind_escrow.endpoint_survives_kill", "park"),
    ] {
        suite.run(name, || {
            let (client, server) = step(Channel::create(), "channel")?;
            step(client.write(b"first", vec![]), "write")?;
            step(client.write(b"second", vec![]), "write")?;
            let (child, escrow, _ready) = start_child(job, bootfs, how, server)?;
            if how == "park" {
                step(zx::task_kill(&child.process), "kill")?;
            }
            let code = crate::processes::wait_end(&child)?;
            if how == "exit" {
                check(code == 0, &format!("the child exited with {code}"))?;
            }
            check_recovered(&client, &escrow)
        });
    }

    suite.run("handle_bind_escrow.unanswered_request_comes_back", || {
        // The child reads a request through `channel_recv` (the kernel
        // keeps it until the reply) and is killed before answering: the
        // endpoint arrives on the escrow with the request back in front.
        let (client, server) = step(Channel::create(), "channel")?;
        let mut request = 0x8000_4321u32.to_le_bytes().to_vec();
        request.extend_from_slice(b"in flight");
        step(client.write(&request, vec![]), "write the request")?;
        step(client.write(b"queued", vec![]), "write another")?;
        let (child, escrow, _ready) = start_child(job, bootfs, "recv", server)?;
        step(zx::task_kill(&child.process), "kill")?;
        crate::processes::wait_end(&child)?;
        check(!peer_closed(&client), "the client saw PEER_CLOSED")?;
        let mut message = MessageBuf::default();
        step(escrow.read(&mut message), "read the escrow")?;
        let server = Channel::from_handle(message.handles.pop().ok_or("no endpoint escrowed")?);
        let mut again = MessageBuf::default();
        step(server.read(&mut again), "read the request again")?;
        check(
            again.bytes == request,
            "the unanswered request is back in front",
        )?;
        step(server.read(&mut again), "read the next")?;
        check(again.bytes == b"queued", "the queue behind it is intact")?;
        step(server.write(&request, vec![]), "answer")?;
        let mut answer = MessageBuf::default();
        step(client.read(&mut answer), "the answer")?;
        check(answer.bytes == request, "the client gets the answer")
    });

    for (name, how) in [
        (
            "handle_bind_escrow.unanswered_request_keeps_its_handles",
            "recv-keep",
        ),
        (
            "handle_bind_escrow.unanswered_request_without_the_handles_closed",
            "recv",
        ),
    ] {
        suite.run(name, || {
            // The request carries an event. A reader that still holds it
            // when it is killed gives it back with the request; one that
            // closed it gives the request back without it.
            let (client, server) = step(Channel::create(), "channel")?;
            let mut request = 0x8000_4322u32.to_le_bytes().to_vec();
            request.extend_from_slice(b"with a handle");
            let event = step(Event::create(), "event")?;
            let koid = step(event.basic_info(), "info")?.koid;
            step(
                client.write(&request, vec![event.into_handle()]),
                "write the request",
            )?;
            let (child, escrow, _ready) = start_child(job, bootfs, how, server)?;
            step(zx::task_kill(&child.process), "kill")?;
            crate::processes::wait_end(&child)?;
            check(!peer_closed(&client), "the client saw PEER_CLOSED")?;
            let mut message = MessageBuf::default();
            step(escrow.read(&mut message), "read the escrow")?;
            let server = Channel::from_handle(message.handles.pop().ok_or("no endpoint escrowed")?);
            let mut again = MessageBuf::default();
            step(server.read(&mut again), "read the request again")?;
            check(again.bytes == request, "the unanswered request is back")?;
            if how == "recv-keep" {
                check(
                    again.handles.len() == 1,
                    "the request came back without its handle",
                )?;
                let back = step(again.handles[0].basic_info(), "info")?;
                check(
                    back.koid == koid,
                    "the request came back with another object",
                )
            } else {
                check(
                    again.handles.is_empty(),
                    "a handle the reader closed came back",
                )
            }
        });
    }

    suite.run("handle_bind_escrow.closed_handle_is_not_escrowed", || {
        let (client, server) = step(Channel::create(), "channel")?;
        let (child, escrow, _ready) = start_child(job, bootfs, "close", server)?;
        let code = crate::processes::wait_end(&child)?;
        check(code == 0, &format!("the child exited with {code}"))?;
        check(peer_closed(&client), "the closed endpoint's peer is closed")?;
        let mut message = MessageBuf::default();
        expect_status(escrow.read(&mut message), Status::PEER_CLOSED)
    });

    for (name, how) in [
        ("channel_bind_received.handover_survives_exit", "take-exit"),
        ("channel_bind_received.handover_survives_kill", "take-park"),
    ] {
        suite.run(name, || {
            // The child's `Take`: a bound call; it is answered with a
            // server endpoint (two requests queued in it) and ends without
            // binding anything itself.
            let (manager, lifecycle) = step(Channel::create(), "lifecycle")?;
            let (client, server) = step(Channel::create(), "channel")?;
            step(client.write(b"first", vec![]), "write")?;
            step(client.write(b"second", vec![]), "write")?;
            let server_koid = step(server.basic_info(), "info")?.koid;
            let (child, escrow, ready) = start_child(job, bootfs, how, lifecycle)?;
            step(
                manager.wait_one(Signals::CHANNEL_READABLE, zx::deadline_after(5 * SECOND)),
                "wait for the call",
            )?;
            let mut take = MessageBuf::default();
            step(manager.read(&mut take), "read the call")?;
            check(take.bytes.len() >= 4, "the call has a txid")?;
            let mut answer = take.bytes[..4].to_vec();
            answer.extend_from_slice(b"handover");
            step(
                manager.write(&answer, vec![server.into_handle()]),
                "answer with the endpoint",
            )?;
            if how == "take-park" {
                step(
                    ready.wait_one(Signals::USER_1, zx::deadline_after(5 * SECOND)),
                    "wait for the child to hold the reply",
                )?;
                step(zx::task_kill(&child.process), "kill")?;
            }
            let code = crate::processes::wait_end(&child)?;
            if how == "take-exit" {
                check(code == 1, &format!("the child exited with {code}"))?;
            }
            check(!peer_closed(&client), "the client saw PEER_CLOSED")?;
            // Two records: the lifecycle channel and the endpoint.
            let mut found = None;
            let mut records = 0;
            loop {
                let mut message = MessageBuf::default();
                if escrow.read(&mut message).is_err() {
                    break;
                }
                records += 1;
                for handle in message.handles {
                    if handle.basic_info().is_ok_and(|i| i.koid == server_koid) {
                        found = Some(handle);
                    }
                }
            }
            check(records == 2, &format!("{records} records escrowed, not 2"))?;
            let found = found.ok_or("the endpoint handed over was not escrowed")?;
            let (recovered_escrow, recovered_peer) = step(Channel::create(), "channel")?;
            step(
                recovered_escrow.write(&0u32.to_le_bytes(), vec![found]),
                "re-wrap",
            )?;
            check_recovered(&client, &recovered_peer)
        });
    }

    suite.run("channel_bind_received.over_the_limit_loses_nothing", || {
        // The child holds HANDLE_ESCROW_MAX_BINDINGS bindings: its bound
        // call cannot take the reply's endpoint, so it fails with
        // NO_RESOURCES and the reply stays queued on its lifecycle
        // channel; when the child exits, the lifecycle channel reaches the
        // escrow with the reply, and the endpoint in it, still there.
        let (manager, lifecycle) = step(Channel::create(), "lifecycle")?;
        let (client, server) = step(Channel::create(), "channel")?;
        step(client.write(b"first", vec![]), "write")?;
        step(client.write(b"second", vec![]), "write")?;
        let (child, escrow, _ready) = start_child(job, bootfs, "take-full", lifecycle)?;
        step(
            manager.wait_one(Signals::CHANNEL_READABLE, zx::deadline_after(5 * SECOND)),
            "wait for the call",
        )?;
        let mut take = MessageBuf::default();
        step(manager.read(&mut take), "read the call")?;
        let mut answer = take.bytes[..4].to_vec();
        answer.extend_from_slice(b"handover");
        step(
            manager.write(&answer, vec![server.into_handle()]),
            "answer with the endpoint",
        )?;
        let code = crate::processes::wait_end(&child)?;
        check(
            code == 20_000 + i64::from(-Status::NO_RESOURCES.0),
            &format!("the child exited with {code}, not NO_RESOURCES"),
        )?;
        check(!peer_closed(&client), "the client saw PEER_CLOSED")?;
        // Among the escrowed handles, the lifecycle channel holds the reply.
        let mut reply = None;
        loop {
            let mut message = MessageBuf::default();
            if escrow.read(&mut message).is_err() {
                break;
            }
            for handle in message.handles {
                let channel = Channel::from_handle(handle);
                let mut queued = MessageBuf::default();
                if channel.read(&mut queued).is_ok() {
                    reply = Some(queued);
                }
            }
        }
        let mut reply = reply.ok_or("the reply was not on the escrowed lifecycle channel")?;
        check(reply.bytes == answer, "the reply came back whole")?;
        let server = reply.handles.pop().ok_or("the reply lost its endpoint")?;
        let (wrapper, wrapped) = step(Channel::create(), "channel")?;
        step(wrapper.write(&0u32.to_le_bytes(), vec![server]), "re-wrap")?;
        check_recovered(&client, &wrapped)
    });

    suite.run("handle_bind_escrow.undeliverable_is_closed", || {
        // The escrow's other end is gone when the child dies: the handle
        // is closed as if it were not bound, and nothing waits forever.
        let (client, server) = step(Channel::create(), "channel")?;
        let (child, escrow, _ready) = start_child(job, bootfs, "park", server)?;
        drop(escrow);
        step(zx::task_kill(&child.process), "kill")?;
        crate::processes::wait_end(&child)?;
        step(
            client.wait_one(Signals::PEER_CLOSED, zx::deadline_after(5 * SECOND)),
            "the client sees PEER_CLOSED",
        )
        .map(drop)
    });
}
