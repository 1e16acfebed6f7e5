//! futex_wait, futex_wake, and debuglog_read.

use crate::{check, expect_status, step, Suite};
use core::sync::atomic::{AtomicU32, Ordering};
use zx::numbers as nr;
use zx::{AsHandleRef, Event, Handle, HandleRef, Process, Signals, Status};

const MS: i64 = 1_000_000;
static WORD: AtomicU32 = AtomicU32::new(0);

const STACK_SIZE: usize = 16 * 1024;
#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);
static mut STACK: Stack = Stack([0; STACK_SIZE]);

/// Waits on WORD while it is 0, then raises USER_1 on the event `arg1`.
extern "C" fn waiter(event: u64, _unused: u64) -> ! {
    while WORD.load(Ordering::SeqCst) == 0 {
        let _ = zx::futex_wait(&WORD, 0, zx::TIME_INFINITE);
    }
    let _ = HandleRef(event as u32).signal(Signals::empty(), Signals::USER_1);
    zx::thread_exit()
}

pub fn run(suite: &mut Suite) {
    suite.run("futex_wait.value_changed", || {
        expect_status(zx::futex_wait(&AtomicU32::new(5), 4, 0), Status::BAD_STATE)
    });
    suite.run("futex_wait.times_out", || {
        let word = AtomicU32::new(1);
        let start = zx::clock_get_monotonic().into_nanos();
        expect_status(
            zx::futex_wait(&word, 1, zx::deadline_after(20 * MS)),
            Status::TIMED_OUT,
        )?;
        check(
            zx::clock_get_monotonic().into_nanos() - start >= 20 * MS,
            "returned early",
        )
    });
    suite.run("futex_wait.unaligned", || {
        // SAFETY: the kernel must refuse the address before reading it.
        let status = Status::from_raw(unsafe {
            zx::syscall_raw(nr::FUTEX_WAIT, [0x20_0001, 0, 0, 0, 0, 0, 0, 0])
        });
        expect_status(status.ok(), Status::INVALID_ARGS)
    });
    suite.run("futex_wait.kernel_pointer", || {
        let args = [
            0xffff_8000_0000_0000,
            0,
            zx::TIME_INFINITE as u64,
            0,
            0,
            0,
            0,
            0,
        ];
        // SAFETY: the kernel must refuse the address before reading it.
        let status = Status::from_raw(unsafe { zx::syscall_raw(nr::FUTEX_WAIT, args) });
        expect_status(status.ok(), Status::INVALID_ARGS)
    });
    suite.run("futex_wake.wakes_a_waiter", || {
        WORD.store(0, Ordering::SeqCst);
        let event = step(Event::create(), "event")?;
        let process = core::mem::ManuallyDrop::new(Process::from_handle(Handle::from_raw(
            zx_runtime::process_self().0,
        )));
        let thread = step(process.create_thread("futex-waiter"), "thread")?;
        // Only the address of the stack is taken; this test's thread is its
        // only user.
        let top = core::ptr::addr_of!(STACK) as usize + STACK_SIZE - 8;
        step(
            thread.start(
                waiter as *const () as usize,
                top,
                event.raw_handle() as u64,
                0,
            ),
            "start",
        )?;
        // Let the waiter block, then release it.
        step(zx::nanosleep(zx::deadline_after(20 * MS)), "sleep")?;
        expect_status(
            event.wait_one(Signals::USER_1, 0).map(drop),
            Status::TIMED_OUT,
        )?;
        WORD.store(1, Ordering::SeqCst);
        step(zx::futex_wake(&WORD, 1), "wake")?;
        step(
            event.wait_one(Signals::USER_1, zx::deadline_after(1000 * MS)),
            "waiter finished",
        )?;
        step(
            thread.wait_one(Signals::TASK_TERMINATED, zx::deadline_after(1000 * MS)),
            "join",
        )
        .map(drop)
    });
    suite.run("debuglog_read.finds_own_output", || {
        let debuglog = crate::resources::resource("debuglog")?;
        let marker = b"usertest: debuglog marker 7f3a\n";
        step(zx::debug_write(marker), "write")?;
        let mut from = 0;
        let mut text = alloc::vec::Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            match zx::debuglog_read(&debuglog, from, &mut buffer) {
                Ok((n, next)) => {
                    text.extend_from_slice(&buffer[..n]);
                    from = next;
                }
                Err(Status::SHOULD_WAIT) => break,
                Err(status) => return Err(alloc::format!("read: {status:?}")),
            }
        }
        let found = text.windows(marker.len()).any(|window| window == marker);
        check(found, "marker not in the kernel log")?;
        expect_status(
            zx::debuglog_read(&debuglog, from, &mut buffer).map(drop),
            Status::SHOULD_WAIT,
        )
    });
    suite.run("debuglog_read.bad_buffer", || {
        let debuglog = crate::resources::resource("debuglog")?;
        let (mut actual, mut next) = (0u64, 0u64);
        let args = [
            debuglog.raw_handle() as u64,
            0,
            0xffff_8000_0000_0000,
            64,
            &mut actual as *mut u64 as u64,
            &mut next as *mut u64 as u64,
            0,
            0,
        ];
        // SAFETY: the kernel must refuse the buffer.
        let status = Status::from_raw(unsafe { zx::syscall_raw(nr::DEBUGLOG_READ, args) });
        expect_status(status.ok(), Status::INVALID_ARGS)
    });
}
