//! port_create, port_queue, port_wait, object_wait_async, and timers.

use crate::{check, expect_status, raw, step, Suite};
use zx::numbers as nr;
use zx::{AsHandleRef, Event, PortPacket, Rights, SignalPacket, Signals, Status, Timer};
use zx::{Port, PACKET_SIGNAL_ONE, PACKET_USER};

const MS: i64 = 1_000_000;

fn signal_payload(packet: &PortPacket) -> SignalPacket {
    let mut signal = SignalPacket::default();
    zerocopy_copy(&packet.payload, &mut signal);
    signal
}

fn zerocopy_copy(bytes: &[u8; 32], signal: &mut SignalPacket) {
    signal.trigger = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    signal.observed = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
    signal.count = u64::from_le_bytes(bytes[8..16].try_into().unwrap());
    signal.timestamp = i64::from_le_bytes(bytes[16..24].try_into().unwrap());
}

pub fn run(suite: &mut Suite) {
    suite.run("port.user_packet_round_trip", || {
        let port = step(Port::create(), "create")?;
        let packet = PortPacket {
            key: 77,
            packet_type: 99,
            status: -5,
            payload: [3; 32],
        };
        step(port.queue(&packet), "queue")?;
        let received = step(port.wait(zx::TIME_INFINITE), "wait")?;
        check(
            received.key == 77
                && received.packet_type == PACKET_USER
                && received.status == -5
                && received.payload == [3; 32],
            "packet changed",
        )
    });
    suite.run("port_wait.times_out", || {
        let port = step(Port::create(), "create")?;
        let start = zx::clock_get_monotonic().into_nanos();
        expect_status(
            port.wait(zx::deadline_after(20 * MS)).map(drop),
            Status::TIMED_OUT,
        )?;
        check(
            zx::clock_get_monotonic().into_nanos() - start >= 20 * MS,
            "returned early",
        )
    });
    suite.run("port_wait.expired_deadline", || {
        let port = step(Port::create(), "create")?;
        expect_status(port.wait(0).map(drop), Status::TIMED_OUT)
    });
    suite.run("port_wait.bad_packet_pointer", || {
        let port = step(Port::create(), "create")?;
        expect_status(
            raw(
                nr::PORT_WAIT,
                [
                    port.raw_handle() as u64,
                    0,
                    0xffff_8000_0000_0000,
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
    suite.run("port_queue.bad_packet_pointer", || {
        let port = step(Port::create(), "create")?;
        expect_status(
            raw(
                nr::PORT_QUEUE,
                [port.raw_handle() as u64, 0x10, 0, 0, 0, 0, 0, 0],
            ),
            Status::INVALID_ARGS,
        )
    });
    suite.run("port_queue.no_write_right", || {
        let port = step(Port::create(), "create")?;
        let reader = Port::from_handle(step(port.handle().duplicate(Rights::READ), "duplicate")?);
        expect_status(reader.queue(&PortPacket::default()), Status::ACCESS_DENIED)
    });
    suite.run("port.not_waitable", || {
        let port = step(Port::create(), "create")?;
        expect_status(
            port.wait_one(Signals::USER_0, 0).map(drop),
            Status::ACCESS_DENIED,
        )
    });
    suite.run("port_create.bad_options", || {
        let mut out = 0u32;
        expect_status(
            raw(
                nr::PORT_CREATE,
                [5, &mut out as *mut u32 as u64, 0, 0, 0, 0, 0, 0],
            ),
            Status::INVALID_ARGS,
        )
    });
    suite.run("object_wait_async.signal_packet", || {
        let port = step(Port::create(), "create")?;
        let event = step(Event::create(), "create")?;
        step(event.wait_async(&port, 1234, Signals::USER_5), "wait_async")?;
        expect_status(port.wait(0).map(drop), Status::TIMED_OUT)?;
        step(event.signal(Signals::empty(), Signals::USER_5), "signal")?;
        let packet = step(port.wait(zx::deadline_after(100 * MS)), "wait")?;
        let signal = signal_payload(&packet);
        check(
            packet.key == 1234
                && packet.packet_type == PACKET_SIGNAL_ONE
                && signal.observed & Signals::USER_5.bits() != 0
                && signal.count == 1,
            "wrong signal packet",
        )
    });
    suite.run("object_wait_async.already_satisfied", || {
        let port = step(Port::create(), "create")?;
        let event = step(Event::create(), "create")?;
        step(event.signal(Signals::empty(), Signals::USER_6), "signal")?;
        step(event.wait_async(&port, 5, Signals::USER_6), "wait_async")?;
        check(step(port.wait(0), "wait")?.key == 5, "no immediate packet")
    });
    suite.run("object_wait_async.one_shot", || {
        let port = step(Port::create(), "create")?;
        let event = step(Event::create(), "create")?;
        step(event.wait_async(&port, 6, Signals::USER_0), "wait_async")?;
        step(event.signal(Signals::empty(), Signals::USER_0), "signal")?;
        step(event.signal(Signals::USER_0, Signals::empty()), "clear")?;
        step(
            event.signal(Signals::empty(), Signals::USER_0),
            "signal again",
        )?;
        step(port.wait(0), "first packet")?;
        expect_status(port.wait(0).map(drop), Status::TIMED_OUT)
    });
    suite.run("object_wait_async.wrong_port_type", || {
        let event = step(Event::create(), "create")?;
        let not_a_port = step(Event::create(), "create")?;
        let args = [
            event.raw_handle() as u64,
            not_a_port.raw_handle() as u64,
            1,
            1,
            0,
            0,
            0,
            0,
        ];
        expect_status(raw(nr::OBJECT_WAIT_ASYNC, args), Status::WRONG_TYPE)
    });
    suite.run("object_wait_async.bad_options", || {
        let port = step(Port::create(), "create")?;
        let event = step(Event::create(), "create")?;
        let args = [
            event.raw_handle() as u64,
            port.raw_handle() as u64,
            1,
            1,
            0xff,
            0,
            0,
            0,
        ];
        expect_status(raw(nr::OBJECT_WAIT_ASYNC, args), Status::INVALID_ARGS)
    });
    suite.run("timer.fires", || {
        let timer = step(Timer::create(), "create")?;
        let start = zx::clock_get_monotonic().into_nanos();
        step(timer.set(zx::deadline_after(20 * MS), 0), "set")?;
        step(
            timer.wait_one(Signals::TIMER_SIGNALED, zx::deadline_after(1000 * MS)),
            "wait",
        )?;
        check(
            zx::clock_get_monotonic().into_nanos() - start >= 20 * MS,
            "fired early",
        )
    });
    suite.run("timer.cancel", || {
        let timer = step(Timer::create(), "create")?;
        step(timer.set(zx::deadline_after(10 * MS), 0), "set")?;
        step(timer.cancel(), "cancel")?;
        expect_status(
            timer
                .wait_one(Signals::TIMER_SIGNALED, zx::deadline_after(40 * MS))
                .map(drop),
            Status::TIMED_OUT,
        )
    });
    suite.run("timer.with_port", || {
        let port = step(Port::create(), "create")?;
        let timer = step(Timer::create(), "create")?;
        step(
            timer.wait_async(&port, 9, Signals::TIMER_SIGNALED),
            "wait_async",
        )?;
        step(timer.set(zx::deadline_after(10 * MS), 0), "set")?;
        check(
            step(port.wait(zx::deadline_after(1000 * MS)), "wait")?.key == 9,
            "wrong packet",
        )
    });
    suite.run("timer_create.bad_clock", || {
        let mut out = 0u32;
        expect_status(
            raw(
                nr::TIMER_CREATE,
                [0, 7, &mut out as *mut u32 as u64, 0, 0, 0, 0, 0],
            ),
            Status::INVALID_ARGS,
        )
    });
    suite.run("timer_set.negative_slack", || {
        let timer = step(Timer::create(), "create")?;
        expect_status(timer.set(0, -1), Status::OUT_OF_RANGE)
    });
    suite.run("timer_set.wrong_type", || {
        let event = step(Event::create(), "create")?;
        expect_status(
            raw(
                nr::TIMER_SET,
                [event.raw_handle() as u64, 0, 0, 0, 0, 0, 0, 0],
            ),
            Status::WRONG_TYPE,
        )
    });
}
