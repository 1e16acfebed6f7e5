//! object_wait_one, object_wait_many, nanosleep: immediate, blocking,
//! timeouts, and bad arguments.

use crate::{check, expect_status, step, Suite};
use zx::numbers as nr;
use zx::{AsHandleRef, Event, Rights, Signals, Status, WaitItem};

const MS: i64 = 1_000_000;

fn raw(number: u64, args: [u64; 8]) -> Result<(), Status> {
    // SAFETY: the arguments are either valid or deliberately invalid in a
    // way the kernel must reject without touching this process's memory.
    Status::from_raw(unsafe { zx::syscall_raw(number, args) }).ok()
}

pub fn run(suite: &mut Suite) {
    suite.run("object_wait_one.already_satisfied", || {
        let event = step(Event::create(), "create")?;
        step(event.signal(Signals::empty(), Signals::USER_0), "signal")?;
        let observed = step(
            event.wait_one(Signals::USER_0 | Signals::USER_1, zx::TIME_INFINITE),
            "wait",
        )?;
        check(observed == Signals::USER_0, "wrong observed signals")
    });
    suite.run("object_wait_one.times_out", || {
        let event = step(Event::create(), "create")?;
        let start = zx::clock_get_monotonic().into_nanos();
        let result = event.wait_one(Signals::USER_0, zx::deadline_after(20 * MS));
        let elapsed = zx::clock_get_monotonic().into_nanos() - start;
        expect_status(result.map(drop), Status::TIMED_OUT)?;
        check(elapsed >= 20 * MS, "returned before the deadline")
    });
    suite.run("object_wait_one.expired_deadline", || {
        let event = step(Event::create(), "create")?;
        expect_status(
            event.wait_one(Signals::USER_0, 0).map(drop),
            Status::TIMED_OUT,
        )
    });
    suite.run("object_wait_one.bad_handle", || {
        expect_status(
            zx::HandleRef(0x3333_3333)
                .wait_one(Signals::USER_0, 0)
                .map(drop),
            Status::BAD_HANDLE,
        )
    });
    suite.run("object_wait_one.no_wait_right", || {
        let event = step(Event::create(), "create")?;
        let weak = step(event.handle().duplicate(Rights::SIGNAL), "duplicate")?;
        expect_status(
            weak.wait_one(Signals::USER_0, 0).map(drop),
            Status::ACCESS_DENIED,
        )
    });
    suite.run("object_wait_one.bad_observed_pointer", || {
        let event = step(Event::create(), "create")?;
        let args = [
            event.raw_handle() as u64,
            Signals::USER_0.bits() as u64,
            0,
            0xffff_ffff_8000_0000,
            0,
            0,
            0,
            0,
        ];
        expect_status(raw(nr::OBJECT_WAIT_ONE, args), Status::INVALID_ARGS)
    });

    suite.run("object_wait_many.one_of_two", || {
        let (a, b) = (
            step(Event::create(), "create")?,
            step(Event::create(), "create")?,
        );
        step(b.signal(Signals::empty(), Signals::USER_3), "signal")?;
        let mut items = [
            WaitItem {
                handle: a.raw_handle(),
                wait_for: Signals::USER_3.bits(),
                pending: 0,
            },
            WaitItem {
                handle: b.raw_handle(),
                wait_for: Signals::USER_3.bits(),
                pending: 0,
            },
        ];
        step(
            zx::object_wait_many(&mut items, zx::TIME_INFINITE),
            "wait_many",
        )?;
        check(
            items[0].pending == 0 && items[1].pending == Signals::USER_3.bits(),
            "pending not filled",
        )
    });
    suite.run("object_wait_many.times_out", || {
        let (a, b) = (
            step(Event::create(), "create")?,
            step(Event::create(), "create")?,
        );
        let mut items = [
            WaitItem {
                handle: a.raw_handle(),
                wait_for: Signals::USER_0.bits(),
                pending: 0,
            },
            WaitItem {
                handle: b.raw_handle(),
                wait_for: Signals::USER_0.bits(),
                pending: 0,
            },
        ];
        expect_status(
            zx::object_wait_many(&mut items, zx::deadline_after(10 * MS)),
            Status::TIMED_OUT,
        )
    });
    suite.run("object_wait_many.too_many_items", || {
        let event = step(Event::create(), "create")?;
        let mut items = [WaitItem {
            handle: event.raw_handle(),
            wait_for: 1,
            pending: 0,
        }; 65];
        expect_status(zx::object_wait_many(&mut items, 0), Status::OUT_OF_RANGE)
    });
    suite.run("object_wait_many.bad_handle", || {
        let event = step(Event::create(), "create")?;
        let mut items = [
            WaitItem {
                handle: event.raw_handle(),
                wait_for: 1,
                pending: 0,
            },
            WaitItem {
                handle: 0x1111_1111,
                wait_for: 1,
                pending: 0,
            },
        ];
        expect_status(zx::object_wait_many(&mut items, 0), Status::BAD_HANDLE)
    });
    suite.run("object_wait_many.bad_pointer", || {
        expect_status(
            raw(
                nr::OBJECT_WAIT_MANY,
                [0xffff_8000_0000_0000, 2, 0, 0, 0, 0, 0, 0],
            ),
            Status::INVALID_ARGS,
        )
    });
    suite.run("object_wait_many.empty_sleeps", || {
        let start = zx::clock_get_monotonic().into_nanos();
        expect_status(
            zx::object_wait_many(&mut [], zx::deadline_after(10 * MS)),
            Status::TIMED_OUT,
        )?;
        check(
            zx::clock_get_monotonic().into_nanos() - start >= 10 * MS,
            "returned early",
        )
    });

    suite.run("nanosleep.sleeps", || {
        let start = zx::clock_get_monotonic().into_nanos();
        step(zx::nanosleep(zx::deadline_after(30 * MS)), "nanosleep")?;
        check(
            zx::clock_get_monotonic().into_nanos() - start >= 30 * MS,
            "woke before the deadline",
        )
    });
    suite.run("nanosleep.past_deadline", || {
        expect_status(zx::nanosleep(0), Status::OK)
    });
}
