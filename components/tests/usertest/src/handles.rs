//! handle_close, handle_duplicate, handle_replace, object_get_info,
//! object_signal, object_signal_peer, event and event pair creation.

use crate::{check, expect_status, raw, step, Suite};
use zx::numbers as nr;
use zx::{
    info, AsHandleRef, Event, EventPair, Handle, ObjectType, Process, Rights, Signals, Status,
};

fn process() -> Process {
    Process::from_handle(Handle::from_raw(zx_runtime::process_self().0))
}

fn handle_count() -> u64 {
    let process = process();
    let count = process.resources().map(|r| r.handle_count).unwrap_or(0);
    core::mem::forget(process); // borrowed, not owned
    count
}

pub fn run(suite: &mut Suite) {
    suite.run("handle_close.ok", || {
        let event = step(Event::create(), "create")?;
        expect_status(event.into_handle().close(), Status::OK)
    });
    suite.run("handle_close.invalid_handle_is_ok", || {
        expect_status(Handle::invalid().close(), Status::OK)
    });
    suite.run("handle_close.bad_handle", || {
        expect_status(Handle::from_raw(0x1234_5677).close(), Status::BAD_HANDLE)
    });
    suite.run("handle_close.stale_value", || {
        let event = step(Event::create(), "create")?;
        let value = event.raw_handle();
        step(event.into_handle().close(), "close")?;
        expect_status(Handle::from_raw(value).close(), Status::BAD_HANDLE)
    });
    suite.run("handle_close.huge_value", || {
        expect_status(
            raw(nr::HANDLE_CLOSE, [1 << 40, 0, 0, 0, 0, 0, 0, 0]),
            Status::BAD_HANDLE,
        )
    });

    suite.run("handle_duplicate.same_rights", || {
        let event = step(Event::create(), "create")?;
        let copy = step(event.handle().duplicate(Rights::SAME_RIGHTS), "duplicate")?;
        let (a, b) = (
            step(event.basic_info(), "info")?,
            step(copy.basic_info(), "info")?,
        );
        check(
            a.koid == b.koid && a.rights == b.rights && copy.raw_handle() != event.raw_handle(),
            "not the same object",
        )
    });
    suite.run("handle_duplicate.fewer_rights", || {
        let event = step(Event::create(), "create")?;
        let copy = step(
            event.handle().duplicate(Rights::WAIT | Rights::DUPLICATE),
            "duplicate",
        )?;
        let info = step(copy.basic_info(), "info")?;
        check(
            info.rights == (Rights::WAIT | Rights::DUPLICATE).bits(),
            "rights did not shrink",
        )
    });
    suite.run("handle_duplicate.more_rights", || {
        let event = step(Event::create(), "create")?;
        let weak = step(
            event.handle().duplicate(Rights::DUPLICATE | Rights::WAIT),
            "duplicate",
        )?;
        expect_status(
            weak.duplicate(Rights::DUPLICATE | Rights::WAIT | Rights::SIGNAL)
                .map(drop),
            Status::INVALID_ARGS,
        )
    });
    suite.run("handle_duplicate.unknown_rights_bits", || {
        let event = step(Event::create(), "create")?;
        let bits = 1u64 << 30;
        let mut out = 0u32;
        expect_status(
            raw(
                nr::HANDLE_DUPLICATE,
                [
                    event.raw_handle() as u64,
                    bits,
                    &mut out as *mut u32 as u64,
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
    suite.run("handle_duplicate.no_duplicate_right", || {
        let (a, _b) = step(zx::Channel::create(), "create")?;
        expect_status(
            a.handle().duplicate(Rights::SAME_RIGHTS).map(drop),
            Status::ACCESS_DENIED,
        )
    });
    suite.run("handle_duplicate.bad_handle", || {
        expect_status(
            Handle::from_raw(0x7777_7777)
                .duplicate(Rights::SAME_RIGHTS)
                .map(core::mem::forget),
            Status::BAD_HANDLE,
        )
    });
    suite.run("handle_duplicate.bad_out_pointer_leaks_nothing", || {
        let event = step(Event::create(), "create")?;
        let before = handle_count();
        let result = raw(
            nr::HANDLE_DUPLICATE,
            [
                event.raw_handle() as u64,
                Rights::SAME_RIGHTS.bits() as u64,
                0xffff_8000_0000_0000,
                0,
                0,
                0,
                0,
                0,
            ],
        );
        expect_status(result, Status::INVALID_ARGS)?;
        check(handle_count() == before, "a handle leaked")
    });

    suite.run("handle_replace.ok", || {
        let event = step(Event::create(), "create")?;
        let old = event.raw_handle();
        let koid = step(event.basic_info(), "info")?.koid;
        let new = step(event.into_handle().replace(Rights::WAIT), "replace")?;
        let info = step(new.basic_info(), "info")?;
        check(
            info.koid == koid && info.rights == Rights::WAIT.bits(),
            "wrong replacement",
        )?;
        expect_status(Handle::from_raw(old).close(), Status::BAD_HANDLE)
    });
    suite.run("handle_replace.more_rights_keeps_old", || {
        let event = step(Event::create(), "create")?;
        let weak = step(event.handle().duplicate(Rights::WAIT), "duplicate")?;
        let value = weak.raw_handle();
        let mut out = 0u32;
        let result = raw(
            nr::HANDLE_REPLACE,
            [
                value as u64,
                Rights::all().bits() as u64 & !(1 << 31),
                &mut out as *mut u32 as u64,
                0,
                0,
                0,
                0,
                0,
            ],
        );
        expect_status(result, Status::INVALID_ARGS)?;
        step(weak.basic_info(), "old handle still valid").map(drop)
    });
    suite.run("handle_replace.bad_handle", || {
        expect_status(
            Handle::from_raw(0x0bad_0bad)
                .replace(Rights::SAME_RIGHTS)
                .map(drop),
            Status::BAD_HANDLE,
        )
    });

    suite.run("object_get_info.handle_basic", || {
        let event = step(Event::create(), "create")?;
        let info = step(event.basic_info(), "info")?;
        check(
            info.koid >= 1024
                && info.object_type == ObjectType::Event as u32
                && info.rights == Rights::DEFAULT_EVENT.bits(),
            "wrong basic info",
        )
    });
    suite.run("object_get_info.related_koid", || {
        let (a, b) = step(zx::Channel::create(), "create")?;
        let (ia, ib) = (step(a.basic_info(), "info")?, step(b.basic_info(), "info")?);
        check(
            ia.related_koid == ib.koid && ib.related_koid == ia.koid,
            "peers do not name each other",
        )
    });
    suite.run("object_get_info.buffer_too_small", || {
        let event = step(Event::create(), "create")?;
        let mut small = [0u8; 8];
        let result = raw(
            nr::OBJECT_GET_INFO,
            [
                event.raw_handle() as u64,
                info::HANDLE_BASIC as u64,
                small.as_mut_ptr() as u64,
                8,
                0,
                0,
                0,
                0,
            ],
        );
        expect_status(result, Status::BUFFER_TOO_SMALL)
    });
    suite.run("object_get_info.bad_topic", || {
        let event = step(Event::create(), "create")?;
        let mut buffer = [0u8; 64];
        let result = raw(
            nr::OBJECT_GET_INFO,
            [
                event.raw_handle() as u64,
                0xdead,
                buffer.as_mut_ptr() as u64,
                64,
                0,
                0,
                0,
                0,
            ],
        );
        expect_status(result, Status::INVALID_ARGS)
    });
    suite.run("object_get_info.wrong_type", || {
        let event = step(Event::create(), "create")?;
        let mut buffer = [0u8; 64];
        let result = raw(
            nr::OBJECT_GET_INFO,
            [
                event.raw_handle() as u64,
                info::PROCESS_RESOURCES as u64,
                buffer.as_mut_ptr() as u64,
                64,
                0,
                0,
                0,
                0,
            ],
        );
        expect_status(result, Status::WRONG_TYPE)
    });
    suite.run("object_get_info.bad_buffer", || {
        let event = step(Event::create(), "create")?;
        let result = raw(
            nr::OBJECT_GET_INFO,
            [
                event.raw_handle() as u64,
                info::HANDLE_BASIC as u64,
                0xffff_ffff_8000_0000,
                32,
                0,
                0,
                0,
                0,
            ],
        );
        expect_status(result, Status::INVALID_ARGS)
    });
    suite.run("object_get_info.process_resources", || {
        let before = handle_count();
        let event = step(Event::create(), "create")?;
        let during = handle_count();
        drop(event);
        let after = handle_count();
        let process = process();
        let threads = process.resources().map(|r| r.thread_count);
        let mapped = process.resources().map(|r| r.mapped_bytes);
        core::mem::forget(process);
        check(
            during == before + 1 && after == before,
            "handle counts do not follow",
        )?;
        check(
            threads == Ok(1) && mapped.unwrap_or(0) > 64 * 1024,
            "thread or memory counts wrong",
        )
    });

    suite.run("object_signal.event", || {
        let event = step(Event::create(), "create")?;
        step(
            event.signal(Signals::empty(), Signals::EVENT_SIGNALED | Signals::USER_1),
            "signal",
        )?;
        let observed = step(event.wait_one(Signals::EVENT_SIGNALED, 0), "wait")?;
        check(
            observed == Signals::EVENT_SIGNALED | Signals::USER_1,
            "signals not set",
        )?;
        step(
            event.signal(Signals::EVENT_SIGNALED, Signals::empty()),
            "clear",
        )?;
        expect_status(
            event.wait_one(Signals::EVENT_SIGNALED, 0).map(drop),
            Status::TIMED_OUT,
        )
    });
    suite.run("object_signal.invalid_mask", || {
        let event = step(Event::create(), "create")?;
        expect_status(
            event.signal(Signals::empty(), Signals::CHANNEL_READABLE),
            Status::INVALID_ARGS,
        )
    });
    suite.run("object_signal.no_signal_right", || {
        let event = step(Event::create(), "create")?;
        let weak = step(event.handle().duplicate(Rights::WAIT), "duplicate")?;
        expect_status(
            weak.signal(Signals::empty(), Signals::USER_0),
            Status::ACCESS_DENIED,
        )
    });
    suite.run("object_signal.bad_handle", || {
        expect_status(
            zx::HandleRef(0x5555_5555).signal(Signals::empty(), Signals::USER_0),
            Status::BAD_HANDLE,
        )
    });
    suite.run("object_signal_peer.eventpair", || {
        let (a, b) = step(EventPair::create(), "create")?;
        step(
            a.signal_peer(Signals::empty(), Signals::USER_2),
            "signal peer",
        )?;
        let observed = step(b.wait_one(Signals::USER_2, 0), "wait")?;
        check(observed.contains(Signals::USER_2), "peer not signaled")
    });
    suite.run("object_signal_peer.not_supported", || {
        let event = step(Event::create(), "create")?;
        // Events have no SIGNAL_PEER right, so the rights check fails first.
        expect_status(
            event.signal_peer(Signals::empty(), Signals::USER_0),
            Status::ACCESS_DENIED,
        )
    });
    suite.run("object_signal_peer.peer_closed", || {
        let (a, b) = step(EventPair::create(), "create")?;
        drop(b);
        expect_status(
            a.signal_peer(Signals::empty(), Signals::USER_0),
            Status::PEER_CLOSED,
        )
    });
    suite.run("eventpair.peer_closed_signal", || {
        let (a, b) = step(EventPair::create(), "create")?;
        drop(b);
        let observed = step(a.wait_one(Signals::PEER_CLOSED, 0), "wait")?;
        check(
            observed.contains(Signals::PEER_CLOSED),
            "PEER_CLOSED not raised",
        )
    });
    suite.run("event_create.bad_options", || {
        let mut out = 0u32;
        expect_status(
            raw(
                nr::EVENT_CREATE,
                [1, &mut out as *mut u32 as u64, 0, 0, 0, 0, 0, 0],
            ),
            Status::INVALID_ARGS,
        )
    });
    suite.run("event_create.bad_out_pointer", || {
        expect_status(
            raw(
                nr::EVENT_CREATE,
                [0, 0xffff_8000_0000_0000, 0, 0, 0, 0, 0, 0],
            ),
            Status::INVALID_ARGS,
        )
    });
    suite.run("eventpair_create.bad_options", || {
        let (mut a, mut b) = (0u32, 0u32);
        expect_status(
            raw(
                nr::EVENTPAIR_CREATE,
                [
                    7,
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
}
