//! thread_create, thread_start, thread_exit: a second thread that runs,
//! signals and exits; two threads ping-ponging over a channel; bad
//! arguments.

use crate::{check, expect_status, step, Suite};
use alloc::vec;
use core::sync::atomic::{AtomicU64, Ordering};
use zx::numbers as nr;
use zx::{AsHandleRef, Channel, Event, Handle, HandleRef, Process, Signals, Status};

const STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);

static mut STACKS: [Stack; 4] = [const { Stack([0; STACK_SIZE]) }; 4];

/// Top of test stack `index`, as a new thread's `rsp` (8 below a 16-byte
/// boundary, as if its entry had been called).
pub(crate) fn stack_top(index: usize) -> usize {
    // SAFETY: only the address is taken; each stack is used by at most one
    // test thread at a time, and the tests run one after another.
    let base = unsafe { core::ptr::addr_of!(STACKS[index]) } as usize;
    base + STACK_SIZE - 8
}

fn process() -> Process {
    Process::from_handle(Handle::from_raw(zx_runtime::process_self().0))
}

pub(crate) fn with_process<R>(f: impl FnOnce(&Process) -> R) -> R {
    let process = process();
    let result = f(&process);
    core::mem::forget(process); // borrowed from the runtime
    result
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Entry of a thread that adds `arg1` to COUNTER, raises USER_0 on the
/// event `arg2`, and exits.
extern "C" fn add_and_signal(amount: u64, event: u64) -> ! {
    COUNTER.fetch_add(amount, Ordering::SeqCst);
    let _ = HandleRef(event as u32).signal(Signals::empty(), Signals::USER_0);
    zx::thread_exit()
}

const ROUNDS: u64 = 1000;

/// Entry of the echo side of the ping-pong: reads a number, writes it
/// back plus one, ROUNDS times.
extern "C" fn echo(channel: u64, _unused: u64) -> ! {
    let channel = HandleRef(channel as u32);
    let mut buffer = [0u8; 8];
    for _ in 0..ROUNDS {
        if channel
            .wait_one(Signals::CHANNEL_READABLE, zx::TIME_INFINITE)
            .is_err()
        {
            break;
        }
        let endpoint = Channel::from_handle(Handle::from_raw(channel.0));
        let mut needed = (0, 0);
        let read = endpoint.read_raw(&mut buffer, &mut [], &mut needed);
        let value = u64::from_le_bytes(buffer) + 1;
        let written = endpoint.write(&value.to_le_bytes(), alloc::vec![]);
        core::mem::forget(endpoint); // owned by the test
        if read.is_err() || written.is_err() {
            break;
        }
    }
    zx::thread_exit()
}

/// Answers one `channel_call` arriving on `channel`: the request's bytes
/// (txid included) with a '!' appended.
extern "C" fn callee(channel: u64, _unused: u64) -> ! {
    let channel =
        core::mem::ManuallyDrop::new(Channel::from_handle(Handle::from_raw(channel as u32)));
    let _ = channel.wait_one(Signals::CHANNEL_READABLE, zx::TIME_INFINITE);
    let mut request = zx::MessageBuf::default();
    if channel.read(&mut request).is_ok() {
        let mut reply = request.bytes.clone();
        reply.push(b'!');
        let _ = channel.write(&reply, alloc::vec![]);
    }
    zx::thread_exit()
}

/// Bytes of the reply `big_callee` sends: more than the pages a fresh
/// buffer has touched.
const BIG_REPLY: usize = 24 * 1024;

/// Answers one request with its txid and `BIG_REPLY - 4` pattern bytes.
extern "C" fn big_callee(channel: u64, _unused: u64) -> ! {
    let channel =
        core::mem::ManuallyDrop::new(Channel::from_handle(Handle::from_raw(channel as u32)));
    let _ = channel.wait_one(Signals::CHANNEL_READABLE, zx::TIME_INFINITE);
    let mut request = zx::MessageBuf::default();
    if channel.read(&mut request).is_ok() {
        let mut reply = vec![0u8; BIG_REPLY];
        reply[..4].copy_from_slice(&request.bytes[..4]);
        for (i, byte) in reply[4..].iter_mut().enumerate() {
            *byte = (i % 251) as u8;
        }
        let _ = channel.write(&reply, alloc::vec![]);
    }
    zx::thread_exit()
}

/// Closes the channel handle it is given after 20 ms.
extern "C" fn closer(channel: u64, _unused: u64) -> ! {
    let _ = zx::nanosleep(zx::deadline_after(20_000_000));
    drop(Handle::from_raw(channel as u32));
    zx::thread_exit()
}

static TICKS: AtomicU64 = AtomicU64::new(0);
static STOP_TICKING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Counts milliseconds (roughly) until told to stop.
extern "C" fn ticker(_unused: u64, _unused2: u64) -> ! {
    while !STOP_TICKING.load(Ordering::SeqCst) {
        let _ = zx::nanosleep(zx::deadline_after(1_000_000));
        TICKS.fetch_add(1, Ordering::SeqCst);
    }
    zx::thread_exit()
}

pub fn run(suite: &mut Suite) {
    suite.run("thread.start_run_exit", || {
        let event = step(Event::create(), "create")?;
        let thread = step(with_process(|p| p.create_thread("adder")), "create")?;
        COUNTER.store(0, Ordering::SeqCst);
        step(
            thread.start(
                add_and_signal as *const () as usize,
                stack_top(0),
                42,
                event.raw_handle() as u64,
            ),
            "start",
        )?;
        step(
            event.wait_one(Signals::USER_0, zx::deadline_after(1_000_000_000)),
            "wait for the thread",
        )?;
        let observed = step(
            thread.wait_one(Signals::TASK_TERMINATED, zx::deadline_after(1_000_000_000)),
            "join",
        )?;
        check(
            observed.contains(Signals::TASK_TERMINATED),
            "thread did not end",
        )?;
        check(COUNTER.load(Ordering::SeqCst) == 42, "thread did not run")?;
        let threads = with_process(|p| p.resources().map(|r| r.thread_count));
        check(threads == Ok(1), "exited thread still counted")
    });
    suite.run("thread.ping_pong_1000_rounds", || {
        let (mine, theirs) = step(Channel::create(), "create")?;
        let thread = step(with_process(|p| p.create_thread("echo")), "create")?;
        step(
            thread.start(
                echo as *const () as usize,
                stack_top(1),
                theirs.raw_handle() as u64,
                0,
            ),
            "start",
        )?;
        let mut value = 0u64;
        let mut buffer = [0u8; 8];
        for _ in 0..ROUNDS {
            step(mine.write(&value.to_le_bytes(), alloc::vec![]), "write")?;
            step(
                mine.wait_one(Signals::CHANNEL_READABLE, zx::deadline_after(2_000_000_000)),
                "wait",
            )?;
            let mut needed = (0, 0);
            step(mine.read_raw(&mut buffer, &mut [], &mut needed), "read")?;
            let reply = u64::from_le_bytes(buffer);
            check(reply == value + 1, "wrong reply")?;
            value = reply;
        }
        step(
            thread.wait_one(Signals::TASK_TERMINATED, zx::deadline_after(1_000_000_000)),
            "join",
        )?;
        drop(theirs);
        check(value == ROUNDS, "rounds missing")
    });
    suite.run("channel_call.round_trip", || {
        let (client, server) = step(Channel::create(), "create")?;
        // An unrelated message queued before the reply must stay queued.
        step(server.write(b"event", vec![]), "event")?;
        let thread = step(with_process(|p| p.create_thread("callee")), "thread")?;
        step(
            thread.start(
                callee as *const () as usize,
                stack_top(3),
                server.raw_handle() as u64,
                0,
            ),
            "start",
        )?;
        let mut reply = zx::MessageBuf::default();
        step(
            client.call(
                b"\0\0\0\0ping",
                vec![],
                zx::deadline_after(1_000_000_000),
                &mut reply,
            ),
            "call",
        )?;
        check(&reply.bytes[4..] == b"ping!", "wrong reply")?;
        let txid = u32::from_le_bytes(reply.bytes[..4].try_into().unwrap_or([0; 4]));
        check(txid & 0x8000_0000 != 0, "txid not chosen by the kernel")?;
        let mut other = zx::MessageBuf::default();
        step(client.read(&mut other), "the event")?;
        check(other.bytes == b"event", "the event was lost")?;
        step(
            thread.wait_one(Signals::TASK_TERMINATED, zx::deadline_after(1_000_000_000)),
            "join",
        )?;
        drop(server);
        Ok(())
    });
    suite.run("channel_call.reply_into_untouched_pages", || {
        // The caller blocks; the reply is copied when it is switched back
        // to, into pages nothing has touched yet: the kernel's copy
        // faults them in, nested inside the switch, and the call must
        // still complete with every byte.
        let (client, server) = step(Channel::create(), "create")?;
        let vmo = step(zx::Vmo::create(32 * 1024, 0), "vmo")?;
        let root = core::mem::ManuallyDrop::new(zx::Vmar::from_handle(Handle::from_raw(
            zx_runtime::vmar_root_self().0,
        )));
        let options = zx::VmOptions::PERM_READ | zx::VmOptions::PERM_WRITE;
        let address = step(root.map(0, &vmo, 0, 32 * 1024, options), "map")?;
        let thread = step(with_process(|p| p.create_thread("big-callee")), "thread")?;
        step(
            thread.start(
                big_callee as *const () as usize,
                stack_top(3),
                server.raw_handle() as u64,
                0,
            ),
            "start",
        )?;
        let request = [0u8; 8];
        let args = zx::ChannelCallArgs {
            write_bytes: request.as_ptr() as u64,
            write_handles: 0,
            read_bytes: address as u64,
            read_handles: 0,
            write_num_bytes: request.len() as u32,
            write_num_handles: 0,
            read_num_bytes: 32 * 1024,
            read_num_handles: 0,
        };
        let (mut actual_bytes, mut actual_handles) = (0u32, 0u32);
        step(
            crate::raw(
                nr::CHANNEL_CALL,
                [
                    client.raw_handle() as u64,
                    0,
                    zx::deadline_after(1_000_000_000) as u64,
                    &args as *const zx::ChannelCallArgs as u64,
                    &mut actual_bytes as *mut u32 as u64,
                    &mut actual_handles as *mut u32 as u64,
                    0,
                    0,
                ],
            ),
            "call",
        )?;
        check(actual_bytes as usize == BIG_REPLY, "wrong reply size")?;
        check(actual_handles == 0, "handles in the reply")?;
        let mut received = vec![0u8; BIG_REPLY];
        step(vmo.read(&mut received, 0), "read back")?;
        let intact = received[4..]
            .iter()
            .enumerate()
            .all(|(i, &byte)| byte == (i % 251) as u8);
        check(intact, "the reply's bytes are wrong")?;
        step(
            thread.wait_one(Signals::TASK_TERMINATED, zx::deadline_after(1_000_000_000)),
            "join",
        )?;
        // SAFETY: nothing refers to the mapping any more.
        let _ = unsafe { root.unmap(address, 32 * 1024) };
        drop(server);
        Ok(())
    });
    suite.run("channel_call.times_out", || {
        let (client, _server) = step(Channel::create(), "create")?;
        let mut reply = zx::MessageBuf::default();
        expect_status(
            client.call(
                b"\0\0\0\0x",
                vec![],
                zx::deadline_after(20_000_000),
                &mut reply,
            ),
            Status::TIMED_OUT,
        )
    });
    suite.run("channel_call.peer_closed_while_waiting", || {
        let (client, server) = step(Channel::create(), "create")?;
        let thread = step(with_process(|p| p.create_thread("closer")), "thread")?;
        step(
            thread.start(
                closer as *const () as usize,
                stack_top(3),
                server.into_handle().into_raw() as u64,
                0,
            ),
            "start",
        )?;
        let mut reply = zx::MessageBuf::default();
        let result = client.call(
            b"\0\0\0\0x",
            vec![],
            zx::deadline_after(1_000_000_000),
            &mut reply,
        );
        step(
            thread.wait_one(Signals::TASK_TERMINATED, zx::deadline_after(1_000_000_000)),
            "join",
        )?;
        expect_status(result, Status::PEER_CLOSED)
    });
    // Closing a handle cancels the waits that go through it: the waiter
    // gets CANCELED at once instead of sleeping to its deadline (or
    // forever).
    fn closed_while_waiting(
        handle: Handle,
        wait: impl FnOnce(u32) -> Result<(), Status>,
    ) -> crate::Outcome {
        let value = handle.into_raw();
        let thread = step(with_process(|p| p.create_thread("closer")), "thread")?;
        step(
            thread.start(closer as *const () as usize, stack_top(3), value as u64, 0),
            "start",
        )?;
        let start = zx::clock_get_monotonic().into_nanos();
        let result = wait(value);
        let waited = zx::clock_get_monotonic().into_nanos() - start;
        step(
            thread.wait_one(Signals::TASK_TERMINATED, zx::deadline_after(1_000_000_000)),
            "join",
        )?;
        expect_status(result, Status::CANCELED)?;
        check(waited < 900_000_000, "the wait ran to its deadline")
    }
    suite.run("object_wait_one.canceled_by_close", || {
        let event = step(Event::create(), "event")?;
        closed_while_waiting(event.into_handle(), |value| {
            HandleRef(value)
                .wait_one(Signals::USER_0, zx::deadline_after(1_000_000_000))
                .map(drop)
        })
    });
    suite.run("object_wait_many.canceled_by_close", || {
        let kept = step(Event::create(), "event")?;
        let closed = step(Event::create(), "event")?;
        closed_while_waiting(closed.into_handle(), |value| {
            let mut items = [
                zx::WaitItem {
                    handle: kept.raw_handle(),
                    wait_for: Signals::USER_0.bits(),
                    pending: 0,
                },
                zx::WaitItem {
                    handle: value,
                    wait_for: Signals::USER_0.bits(),
                    pending: 0,
                },
            ];
            zx::object_wait_many(&mut items, zx::deadline_after(1_000_000_000))
        })
    });
    suite.run("channel_call.canceled_by_close", || {
        let (client, _server) = step(Channel::create(), "create")?;
        closed_while_waiting(client.into_handle(), |value| {
            let client =
                core::mem::ManuallyDrop::new(Channel::from_handle(Handle::from_raw(value)));
            let mut reply = zx::MessageBuf::default();
            client.call(
                b"\0\0\0\0x",
                vec![],
                zx::deadline_after(1_000_000_000),
                &mut reply,
            )
        })
    });
    suite.run("port_wait.canceled_by_close", || {
        let port = step(zx::Port::create(), "port")?;
        closed_while_waiting(port.into_handle(), |value| {
            let port = core::mem::ManuallyDrop::new(zx::Port::from_handle(Handle::from_raw(value)));
            port.wait(zx::deadline_after(1_000_000_000)).map(drop)
        })
    });
    suite.run("vmo_read.long_copy_is_preemptible", || {
        // A 64 MiB read into one 1 MiB VMO mapped 64 times over: once one
        // call ran for seconds with interrupts off. The kernel now copies
        // a pass at a time and lets other threads run between passes.
        const MIB: u64 = 1 << 20;
        let source = step(zx::Vmo::create(64 * MIB, 0), "source")?;
        let target = step(zx::Vmo::create(MIB, 0), "target")?;
        let root = core::mem::ManuallyDrop::new(zx::Vmar::from_handle(Handle::from_raw(
            zx_runtime::vmar_root_self().0,
        )));
        let rw = zx::VmOptions::PERM_READ | zx::VmOptions::PERM_WRITE;
        let (region, base) = step(
            root.allocate(
                0,
                64 * MIB,
                zx::VmOptions::CAN_MAP_READ
                    | zx::VmOptions::CAN_MAP_WRITE
                    | zx::VmOptions::CAN_MAP_SPECIFIC,
            ),
            "allocate",
        )?;
        for index in 0..64 {
            step(
                region.map(index * MIB, &target, 0, MIB, rw | zx::VmOptions::SPECIFIC),
                "map",
            )?;
        }
        STOP_TICKING.store(false, Ordering::SeqCst);
        TICKS.store(0, Ordering::SeqCst);
        let thread = step(with_process(|p| p.create_thread("ticker")), "thread")?;
        step(
            thread.start(ticker as *const () as usize, stack_top(3), 0, 0),
            "start",
        )?;
        let len = (64 * MIB) as usize;
        // SAFETY: the region is ours alone, mapped writable, 64 MiB long.
        let buffer = unsafe { core::slice::from_raw_parts_mut(base as *mut u8, len) };
        let start = zx::clock_get_monotonic().into_nanos();
        let read = source.read(buffer, 0);
        let took = zx::clock_get_monotonic().into_nanos() - start;
        let ticks = TICKS.load(Ordering::SeqCst);
        STOP_TICKING.store(true, Ordering::SeqCst);
        step(
            thread.wait_one(Signals::TASK_TERMINATED, zx::deadline_after(1_000_000_000)),
            "join",
        )?;
        // SAFETY: nothing refers to the region any more.
        step(unsafe { root.unmap(base, 64 * MIB) }, "unmap")?;
        step(read, "read")?;
        // The ticker sleeps 1 ms at a time, which lasts until the next
        // 10 ms timer tick: it must have run during the read (a read that
        // kept interrupts off lets it run only afterwards: never). On a
        // loaded host the guest's clock also counts time QEMU was not
        // running, so only a quarter of the ticks are asked for.
        let expected = (took / 10_000_000) / 4;
        check(
            took < 30_000_000 || ticks >= expected.max(1) as u64,
            &alloc::format!("the other thread ran {ticks} times during a {took} ns read"),
        )
    });
    suite.run("channel_call.too_short", || {
        let (client, _server) = step(Channel::create(), "create")?;
        let mut reply = zx::MessageBuf::default();
        expect_status(
            client.call(b"abc", vec![], zx::TIME_INFINITE, &mut reply),
            Status::INVALID_ARGS,
        )
    });
    suite.run("thread_start.twice", || {
        let event = step(Event::create(), "create")?;
        let thread = step(with_process(|p| p.create_thread("twice")), "create")?;
        step(
            thread.start(
                add_and_signal as *const () as usize,
                stack_top(2),
                0,
                event.raw_handle() as u64,
            ),
            "start",
        )?;
        let again = thread.start(
            add_and_signal as *const () as usize,
            stack_top(3),
            0,
            event.raw_handle() as u64,
        );
        step(
            thread.wait_one(Signals::TASK_TERMINATED, zx::deadline_after(1_000_000_000)),
            "join",
        )?;
        expect_status(again, Status::BAD_STATE)
    });
    suite.run("thread_start.kernel_entry", || {
        let thread = step(with_process(|p| p.create_thread("evil")), "create")?;
        expect_status(
            thread.start(0xffff_ffff_8000_0000, stack_top(3), 0, 0),
            Status::INVALID_ARGS,
        )
    });
    suite.run("thread_start.wrong_type", || {
        let event = step(Event::create(), "create")?;
        let args = [
            event.raw_handle() as u64,
            0x20_0000,
            stack_top(3) as u64,
            0,
            0,
            0,
            0,
            0,
        ];
        // SAFETY: the kernel must reject the handle before anything runs.
        let status = Status::from_raw(unsafe { zx::syscall_raw(nr::THREAD_START, args) });
        expect_status(status.ok(), Status::WRONG_TYPE)
    });
    suite.run("thread_create.bad_process_handle", || {
        let name = b"x";
        let mut out = 0u32;
        let args = [
            0x2222_2223,
            name.as_ptr() as u64,
            1,
            0,
            &mut out as *mut u32 as u64,
            0,
            0,
            0,
        ];
        // SAFETY: the kernel must reject the handle.
        let status = Status::from_raw(unsafe { zx::syscall_raw(nr::THREAD_CREATE, args) });
        expect_status(status.ok(), Status::BAD_HANDLE)
    });
    suite.run("thread_create.bad_name_pointer", || {
        let process = zx_runtime::process_self();
        let mut out = 0u32;
        let args = [
            process.0 as u64,
            0xffff_8000_0000_0000,
            8,
            0,
            &mut out as *mut u32 as u64,
            0,
            0,
            0,
        ];
        // SAFETY: the kernel must reject the pointer.
        let status = Status::from_raw(unsafe { zx::syscall_raw(nr::THREAD_CREATE, args) });
        expect_status(status.ok(), Status::INVALID_ARGS)
    });
}
