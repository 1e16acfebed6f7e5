//! Attacks on the seventh IPC round's newest paths: reply records answered
//! in every order (`Channel::forget_record` forgets the newest record of a
//! fastpath request in place, removes any other), records left by a
//! reader that dies, forged and duplicate replies; long loops of every
//! blocking syscall with timeouts, cancellations, several wakers and kills
//! (`sched::put_wait` writes a wait into an empty slot without a drop);
//! unknown syscall numbers (refused before dispatch) from several threads
//! while processes are torn down. Each checks that every caller gets
//! exactly its own answer and that the kernel heap stays flat.

use crate::fastpath::borrowed;
use crate::fastpath_attack::heap_bytes;
use crate::{check, expect_status, raw, step, Outcome, Suite};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use zx::numbers as nr;
use zx::{processargs, AsHandleRef, Channel, Event, Handle, MessageBuf, Port, Signals, Status};

const SECOND: i64 = 1_000_000_000;
const MILLI: i64 = 1_000_000;
const STACK_SIZE: usize = 16 * 1024;
/// Caller threads (one stack each) plus two for helpers.
const CALLERS: usize = 6;
const STACKS_N: usize = CALLERS + 2;

#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);

static mut STACKS: [Stack; STACKS_N] = [const { Stack([0; STACK_SIZE]) }; STACKS_N];

fn stack_top(index: usize) -> usize {
    // SAFETY: only the address is taken; each stack is used by at most one
    // thread at a time (a test joins or kills its threads before the next
    // one uses the stack).
    let base = unsafe { core::ptr::addr_of!(STACKS[index]) } as usize;
    base + STACK_SIZE - 8
}

/// Starts `entry(arg1, arg2)` on a new thread, on this module's stack
/// `stack`.
fn spawn(
    name: &str,
    entry: extern "C" fn(u64, u64) -> !,
    stack: usize,
    arg1: u64,
    arg2: u64,
) -> Result<zx::Thread, String> {
    crate::fastpath::spawn_at(name, entry, stack_top(stack), arg1, arg2)
}

/// Starts the [`CALLERS`] caller threads on `client`, for `rounds` rounds.
fn start_callers(client: &Channel, rounds: u64) -> Result<Vec<zx::Thread>, String> {
    reset_callers(rounds);
    let mut threads = Vec::new();
    for index in 0..CALLERS {
        threads.push(spawn(
            "caller",
            caller,
            index,
            client.raw_handle() as u64,
            index as u64,
        )?);
    }
    Ok(threads)
}

fn join(thread: &zx::Thread, seconds: i64) -> Result<(), String> {
    step(
        thread.wait_one(
            Signals::TASK_TERMINATED,
            zx::deadline_after(seconds * SECOND),
        ),
        "join",
    )
    .map(|_| ())
}

fn sleep_ms(ms: i64) {
    let _ = zx::nanosleep(zx::deadline_after(ms * MILLI));
}

/// Per caller: calls answered with its own bytes.
static GOOD: [AtomicU64; CALLERS] = [const { AtomicU64::new(0) }; CALLERS];
/// Per caller: the first failure (0: none; 1: someone else's answer; else
/// 0x100 | status).
static BAD: [AtomicU64; CALLERS] = [const { AtomicU64::new(0) }; CALLERS];
/// How many calls each caller makes.
static CALLS_EACH: AtomicU64 = AtomicU64::new(0);

fn reset_callers(calls: u64) {
    for (good, bad) in GOOD.iter().zip(&BAD) {
        good.store(0, Ordering::SeqCst);
        bad.store(0, Ordering::SeqCst);
    }
    CALLS_EACH.store(calls, Ordering::SeqCst);
}

/// The request caller `index` sends in round `round`: a txid slot, its
/// index, the round, and `index + 1` bytes of 0x5a (lengths differ).
fn request_of(index: u64, round: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; 4];
    bytes.extend_from_slice(&(index as u32).to_le_bytes());
    bytes.extend_from_slice(&(round as u32).to_le_bytes());
    bytes.extend(core::iter::repeat_n(0x5a, index as usize + 1));
    bytes
}

/// The answer to `request`: its bytes after the txid, reversed, then `!`.
fn answer_to(request: &[u8]) -> Vec<u8> {
    let mut reply = request.to_vec();
    reply[4..].reverse();
    reply.push(b'!');
    reply
}

/// Caller `index` on endpoint `client`: `CALLS_EACH` calls, each checked
/// against its own answer. Odd callers send an event with every other call
/// (a queued request with a handle list, never the forgotten kind).
extern "C" fn caller(client: u64, index: u64) -> ! {
    let client = borrowed(client);
    let calls = CALLS_EACH.load(Ordering::SeqCst);
    let mut reply = MessageBuf::default();
    for round in 0..calls {
        let request = request_of(index, round);
        let handles = if index % 2 == 1 && round % 2 == 0 {
            match Event::create() {
                Ok(event) => vec![event.into_handle()],
                Err(_) => vec![],
            }
        } else {
            vec![]
        };
        match client.call(
            &request,
            handles,
            zx::deadline_after(20 * SECOND),
            &mut reply,
        ) {
            Ok(()) if reply.bytes.len() > 4 && reply.bytes[4..] == answer_to(&request)[4..] => {
                GOOD[index as usize].fetch_add(1, Ordering::SeqCst);
            }
            Ok(()) => {
                BAD[index as usize].store(1, Ordering::SeqCst);
                break;
            }
            Err(status) => {
                BAD[index as usize].store(0x100 | status.0 as u32 as u64, Ordering::SeqCst);
                break;
            }
        }
    }
    zx::thread_exit()
}

fn txid_of(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// A small deterministic generator for answer orders.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % bound as u64) as usize
    }
}

fn callers_report(calls: u64) -> Outcome {
    for (i, (good, bad)) in GOOD.iter().zip(&BAD).enumerate() {
        let bad = bad.load(Ordering::SeqCst);
        let good = good.load(Ordering::SeqCst);
        check(
            bad == 0 && good == calls,
            &format!(
                "caller {i}: {good} of {calls} answered right, failure {bad:#x} ({:?})",
                Status((bad & 0xffff_ffff) as u32 as i32)
            ),
        )?;
    }
    Ok(())
}

/// Receives `count` requests from `server` into `into`.
fn receive_batch(server: &Channel, count: usize, into: &mut Vec<Vec<u8>>) -> Outcome {
    while into.len() < count {
        let mut request = MessageBuf::default();
        step(
            server.recv(None, &mut request, zx::deadline_after(10 * SECOND)),
            "receive",
        )?;
        check(request.bytes.len() >= 12, "short request")?;
        into.push(request.bytes);
    }
    Ok(())
}

/// Reads stray replies (forged or duplicate txids) off the callers' end;
/// returns how many.
fn drain(client: &Channel, strays: &[u32]) -> Result<u64, String> {
    let mut count = 0;
    let mut message = MessageBuf::default();
    while client.read(&mut message).is_ok() {
        let txid = txid_of(&message.bytes);
        check(
            strays.contains(&txid),
            &format!("an unexpected message {txid:#x} reached the callers' end"),
        )?;
        count += 1;
    }
    Ok(count)
}

/// One round of the order test: receive one request from each caller,
/// answer them in the order `mode` picks, by write, by the receive that
/// also waits (the last one), around returned requests, forged and
/// duplicate txids.
fn serve_rounds(client: &Channel, server: &Channel, rounds: u64, seed: u64) -> Outcome {
    let mut lcg = Lcg(seed);
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut strays: Vec<u32> = Vec::new();
    let mut sent_strays = 0u64;
    let mut read_strays = 0u64;
    let mut heap_warm = 0;
    for round in 0..rounds {
        receive_batch(server, CALLERS, &mut batch)?;
        let mode = round % 5;
        if mode == 3 {
            // Hand two requests back (one the newest), then read them
            // again: their records go and come back.
            for pick in [CALLERS - 1, lcg.next(CALLERS - 1)] {
                let request = batch.remove(pick.min(batch.len() - 1));
                step(server.return_request(txid_of(&request)), "return")?;
            }
            receive_batch(server, CALLERS, &mut batch)?;
        }
        let mut order: Vec<usize> = (0..CALLERS).collect();
        match mode {
            0 => order.reverse(), // newest first: the forgotten path
            1 => {}               // oldest first: swap_remove
            _ => {
                for i in (1..CALLERS).rev() {
                    order.swap(i, lcg.next(i + 1));
                }
            }
        }
        let mut answered = Vec::new();
        let last_round = round + 1 == rounds;
        for (n, &i) in order.iter().enumerate() {
            let request = &batch[i];
            let reply = answer_to(request);
            if n + 1 == CALLERS && !last_round && mode != 4 {
                // Answer in the receive that waits for the next request.
                let mut next = MessageBuf::default();
                step(
                    server.recv(
                        Some((&reply, vec![])),
                        &mut next,
                        zx::deadline_after(10 * SECOND),
                    ),
                    "answer and receive",
                )?;
                answered.push(txid_of(request));
                batch.clear();
                batch.push(next.bytes);
                break;
            }
            step(server.write(&reply, vec![]), "answer")?;
            answered.push(txid_of(request));
            if n == 1 && mode == 2 {
                // A duplicate answer to a request answered just now.
                let mut again = reply.clone();
                again.extend_from_slice(b"again");
                step(server.write(&again, vec![]), "duplicate")?;
                strays.push(txid_of(request));
                sent_strays += 1;
            }
        }
        if mode == 4 || last_round {
            // Otherwise `batch` holds the next round's first request.
            batch.clear();
        }
        if mode == 4 {
            // A forged call txid nobody waits for.
            let forged = 0xffff_0000 | (round as u32 & 0xffff);
            let mut bytes = forged.to_le_bytes().to_vec();
            bytes.extend_from_slice(b"forged");
            step(server.write(&bytes, vec![]), "forged")?;
            strays.push(forged);
            sent_strays += 1;
        }
        read_strays += drain(client, &strays)?;
        if round == rounds / 4 {
            heap_warm = heap_bytes()?;
        }
    }
    // Let the last stray land, then read it.
    sleep_ms(20);
    read_strays += drain(client, &strays)?;
    let heap_end = heap_bytes()?;
    zx_runtime::println!(
        "records_attack: {rounds} rounds x {CALLERS} calls: heap {} KiB at a quarter, {} KiB at the end; {sent_strays} strays sent, {read_strays} read",
        heap_warm / 1024,
        heap_end / 1024
    );
    check(
        read_strays <= sent_strays,
        &format!("{read_strays} strays read but {sent_strays} sent"),
    )?;
    check(
        heap_end <= heap_warm + (64 << 10),
        &format!("the heap grew from {heap_warm} to {heap_end} bytes"),
    )
}

fn order_test(rounds: u64, seed: u64) -> Outcome {
    let (client, server) = step(Channel::create(), "channel")?;
    let threads = start_callers(&client, rounds)?;
    let served = serve_rounds(&client, &server, rounds, seed);
    if served.is_err() {
        // Let the callers end (their calls fail once the peer is gone).
        drop(server);
        for thread in &threads {
            let _ = join(thread, 30);
        }
        return served;
    }
    for thread in &threads {
        join(thread, 30)?;
    }
    callers_report(rounds)?;
    // Nothing is left queued on either end.
    let mut left = MessageBuf::default();
    expect_status(server.read(&mut left), Status::SHOULD_WAIT)?;
    expect_status(client.read(&mut left), Status::SHOULD_WAIT)
}

// ---------------------------------------------------------------------
// Unknown syscall numbers.

const UNKNOWN: [u64; 9] = [
    nr::COUNT,
    nr::COUNT + 1,
    255,
    0x7fff_ffff,
    0xffff_ffff,
    1 << 32,
    0x8000_0000_0000_0000,
    u64::MAX - 1,
    u64::MAX,
];

static STOP: AtomicBool = AtomicBool::new(false);
static SPINS: AtomicU64 = AtomicU64::new(0);
static WRONG: AtomicU64 = AtomicU64::new(0);

/// Issues unknown numbers until `STOP`; counts rounds, and any answer
/// other than BAD_SYSCALL in `WRONG`.
extern "C" fn unknown_spinner(_unused: u64, offset: u64) -> ! {
    let mut i = offset as usize;
    while !STOP.load(Ordering::Relaxed) {
        let number = UNKNOWN[i % UNKNOWN.len()];
        i += 1;
        if raw(number, [u64::MAX; 8]) != Err(Status::BAD_SYSCALL) {
            WRONG.fetch_add(1, Ordering::SeqCst);
        }
        SPINS.fetch_add(1, Ordering::Relaxed);
    }
    zx::thread_exit()
}

// ---------------------------------------------------------------------
// Blocking loops.

static LOOPS: AtomicU64 = AtomicU64::new(0);
static LOOP_FAIL: AtomicU64 = AtomicU64::new(0);
/// The handle value the canceled waiter waits on (0: none yet).
static WAITED: AtomicU32 = AtomicU32::new(0);

fn note_fail(code: u64) {
    let _ = LOOP_FAIL.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
}

/// Every blocking syscall with a short timeout, `LOOPS` times; `port` and
/// `events` (a channel carrying nothing, event handles) come from the test.
extern "C" fn blocking_loop(channel: u64, port: u64) -> ! {
    let channel = borrowed(channel);
    let port = core::mem::ManuallyDrop::new(Port::from_handle(Handle::from_raw(port as u32)));
    let word = AtomicU32::new(7);
    let mut buffer = MessageBuf::default();
    let Ok(event) = Event::create() else {
        note_fail(1);
        zx::thread_exit()
    };
    let Ok(other) = Event::create() else {
        note_fail(1);
        zx::thread_exit()
    };
    let loops = LOOPS.load(Ordering::SeqCst);
    for i in 0..loops {
        let soon = zx::deadline_after(20_000);
        LOOPER_AT.store(i * 8 + i % 7, Ordering::SeqCst);
        let result = match i % 7 {
            0 => event.wait_one(Signals::USER_0, soon).map(drop),
            1 => port.wait(soon).map(drop),
            2 => zx::futex_wait(&word, 7, soon),
            3 => zx::nanosleep(soon),
            4 => {
                let mut items = [
                    zx::WaitItem {
                        handle: event.raw_handle(),
                        wait_for: Signals::USER_0.bits(),
                        pending: 0,
                    },
                    zx::WaitItem {
                        handle: other.raw_handle(),
                        wait_for: Signals::USER_0.bits(),
                        pending: 0,
                    },
                ];
                zx::object_wait_many(&mut items, soon)
            }
            5 => channel.recv(None, &mut buffer, soon),
            _ => {
                let mut reply = MessageBuf::default();
                channel.call(b"\0\0\0\0call", vec![], soon, &mut reply)
            }
        };
        match result {
            // Woken by the test, or a packet/message the test sent.
            Ok(()) | Err(Status::TIMED_OUT) => {}
            Err(status) => note_fail(0x100 | ((i % 7) << 32) | status.0 as u32 as u64),
        }
    }
    zx::thread_exit()
}

/// Waits forever on a fresh event whose handle value it publishes in
/// `WAITED`, `LOOPS` times: the test closes the handle (CANCELED).
extern "C" fn canceled_waiter(_unused: u64, _unused2: u64) -> ! {
    let loops = LOOPS.load(Ordering::SeqCst);
    for i in 0..loops {
        WAITER_AT.store(i, Ordering::SeqCst);
        let Ok(event) = Event::create() else {
            note_fail(2);
            break;
        };
        let value = event.into_handle().into_raw();
        let borrowed_event =
            core::mem::ManuallyDrop::new(Event::from_handle(Handle::from_raw(value)));
        WAITED.store(value, Ordering::SeqCst);
        let result = if i % 2 == 0 {
            borrowed_event
                .wait_one(Signals::USER_0, zx::TIME_INFINITE)
                .map(drop)
        } else {
            let mut items = [zx::WaitItem {
                handle: value,
                wait_for: Signals::USER_0.bits(),
                pending: 0,
            }];
            zx::object_wait_many(&mut items, zx::TIME_INFINITE)
        };
        match result {
            Err(Status::CANCELED) => {}
            // The test closed it before the wait began.
            Err(Status::BAD_HANDLE) => {}
            other => {
                note_fail(0x200 | (other.err().map_or(0, |s| s.0 as u32 as u64) << 16));
                break;
            }
        }
    }
    WAITED.store(u32::MAX, Ordering::SeqCst);
    zx::thread_exit()
}

/// Blocks forever in `channel` receive (for kills mid-wait).
extern "C" fn waits_forever(channel: u64, how: u64) -> ! {
    let channel = borrowed(channel);
    let mut buffer = MessageBuf::default();
    match how % 3 {
        0 => {
            let _ = channel.recv(None, &mut buffer, zx::TIME_INFINITE);
        }
        1 => {
            let _ = channel.call(b"\0\0\0\0call", vec![], zx::TIME_INFINITE, &mut buffer);
        }
        _ => {
            let _ = zx::nanosleep(zx::TIME_INFINITE);
        }
    }
    zx::thread_exit()
}

pub fn run(suite: &mut Suite) {
    suite.run("records_attack.answers_in_every_order", || {
        // Six callers (three of them sending handles every other call)
        // against one reader that answers each round newest first, oldest
        // first or shuffled, by write or by the waiting receive, around
        // returned requests, duplicate and forged txids: every caller gets
        // its own answer every time, and the heap stays flat.
        order_test(400, 31)
    });
    suite.run("records_attack.answers_in_every_order_other_seed", || {
        order_test(200, 0x5eed)
    });
    suite.run("records_attack.record_table_full_then_answered", || {
        // 5000 queued requests with call-like txids and no caller, read
        // with channel_recv: 4096 records are kept (the rest read without
        // one), some handed back and read again; then all are answered
        // newest first by write, the first 100 twice. Each answer arrives
        // once (plus the duplicates), and the heap is back once the
        // channel closes.
        let before = heap_bytes()?;
        let (client, server) = step(Channel::create(), "channel")?;
        const TOTAL: u32 = 5000;
        const CHUNK: u32 = 1000;
        let txid = |i: u32| 0xc000_0000u32 | i;
        let mut message = MessageBuf::default();
        let mut read: Vec<u32> = Vec::new();
        for chunk in 0..TOTAL / CHUNK {
            for i in chunk * CHUNK..(chunk + 1) * CHUNK {
                let mut bytes = txid(i).to_le_bytes().to_vec();
                bytes.extend_from_slice(&i.to_le_bytes());
                step(client.write(&bytes, vec![]), "write")?;
            }
            for _ in 0..CHUNK {
                step(server.recv(None, &mut message, 0), "receive")?;
                read.push(txid_of(&message.bytes));
            }
            // Hand the ten newest back and read them again.
            for &t in read.iter().rev().take(10) {
                let returned = server.return_request(t);
                if chunk < 4 {
                    step(returned, "return")?;
                }
            }
            while server.recv(None, &mut message, 0).is_ok() {}
        }
        check(read.len() == TOTAL as usize, "not every request was read")?;
        let mut seen = vec![0u8; TOTAL as usize];
        let drain_client = |seen: &mut Vec<u8>| -> Outcome {
            let mut reply = MessageBuf::default();
            while client.read(&mut reply).is_ok() {
                check(reply.bytes.len() == 9, "wrong reply length")?;
                let i = u32::from_le_bytes([
                    reply.bytes[4],
                    reply.bytes[5],
                    reply.bytes[6],
                    reply.bytes[7],
                ]);
                check(
                    txid_of(&reply.bytes) == txid(i) && i < TOTAL,
                    "a reply with a wrong txid",
                )?;
                seen[i as usize] += 1;
            }
            Ok(())
        };
        for (n, i) in (0..TOTAL).rev().chain(0..100).enumerate() {
            let mut bytes = txid(i).to_le_bytes().to_vec();
            bytes.extend_from_slice(&i.to_le_bytes());
            bytes.push(b'r');
            step(server.write(&bytes, vec![]), "answer")?;
            if n % 1000 == 999 {
                drain_client(&mut seen)?;
            }
        }
        drain_client(&mut seen)?;
        let twice = seen.iter().take(100).all(|&c| c == 2);
        let once = seen.iter().skip(100).all(|&c| c == 1);
        check(twice && once, "an answer was lost or doubled")?;
        drop((client, server));
        let after = heap_bytes()?;
        zx_runtime::println!(
            "records_attack: full record table: heap {} KiB before, {} KiB after",
            before / 1024,
            after / 1024
        );
        check(
            after <= before + (64 << 10),
            &format!("the heap grew from {before} to {after} bytes"),
        )
    });
    suite.run("records_attack.answered_records_leave_no_memory", || {
        // Eight channels each take 3000 requests with call-like txids,
        // read through channel_recv (3000 reply records) and answered
        // (3000 replies read back): every message and record is gone and
        // its charge given back, but the endpoints stay open. The kernel
        // heap must come back near where it was: what the queues and
        // record tables grew to is no one's charge.
        let before = heap_bytes()?;
        let mut kept = Vec::new();
        let mut message = MessageBuf::default();
        for pair in 0..8u32 {
            let (client, server) = step(Channel::create(), "channel")?;
            for i in 0..3000u32 {
                let mut bytes = (0xd000_0000u32 | (pair << 16) | i).to_le_bytes().to_vec();
                bytes.extend_from_slice(b"req");
                step(client.write(&bytes, vec![]), "write")?;
            }
            let mut txids = Vec::new();
            while server.recv(None, &mut message, 0).is_ok() {
                txids.push(txid_of(&message.bytes));
            }
            for t in txids {
                step(server.write(&t.to_le_bytes(), vec![]), "answer")?;
            }
            while client.read(&mut message).is_ok() {}
            kept.push((client, server));
        }
        let open = heap_bytes()?;
        drop(kept);
        let closed = heap_bytes()?;
        zx_runtime::println!(
            "records_attack: answered records: heap {} KiB before, {} KiB with 8 idle channels open, {} KiB closed",
            before / 1024,
            open / 1024,
            closed / 1024
        );
        check(
            open <= before + (256 << 10),
            &format!("8 idle channels hold {} KiB of kernel heap", (open - before) / 1024),
        )
    });
    suite.run("records_attack.unknown_numbers_refused", || {
        for number in UNKNOWN {
            expect_status(raw(number, [0; 8]), Status::BAD_SYSCALL)
                .map_err(|e| format!("number {number:#x}: {e}"))?;
        }
        // The last known number still works (a handle close of nothing
        // is refused by its own handler, not as unknown).
        check(
            raw(nr::COUNT - 1, [0; 8]) != Err(Status::BAD_SYSCALL),
            "the last known number was refused as unknown",
        )
    });
    suite.run(
        "records_attack.unknown_numbers_from_threads_then_killed",
        || {
            // Two threads issue only unknown numbers; one is killed mid-loop,
            // the other stopped; the test thread meanwhile still runs.
            STOP.store(false, Ordering::SeqCst);
            SPINS.store(0, Ordering::SeqCst);
            WRONG.store(0, Ordering::SeqCst);
            let a = spawn("unknown a", unknown_spinner, 0, 0, 0)?;
            let b = spawn("unknown b", unknown_spinner, 1, 0, 4)?;
            sleep_ms(30);
            step(zx::task_kill(&a), "kill")?;
            let killed = join(&a, 5);
            sleep_ms(20);
            STOP.store(true, Ordering::SeqCst);
            let stopped = join(&b, 5);
            killed?;
            stopped?;
            check(
                WRONG.load(Ordering::SeqCst) == 0,
                "an unknown number was not refused",
            )?;
            check(
                SPINS.load(Ordering::SeqCst) > 100,
                "the spinners barely ran",
            )
        },
    );
    for (kind, name) in [
        (0, "records_attack.blocking_loops_keep_the_heap"),
        (1, "records_attack.canceled_waits_keep_the_heap"),
        (2, "records_attack.killed_waiters_keep_the_heap"),
    ] {
        suite.run(name, || {
            // 0: a thread loops through every blocking syscall with a short
            // timeout while the test wakes it (signals, packets, messages);
            // 1: a thread waits forever on handles the test closes
            // (CANCELED); 2: threads blocked in receive, call or sleep are
            // killed. Three passes: the heap after the third is where it was
            // after the second.
            let mut heaps = Vec::new();
            for _ in 0..3 {
                heaps.push(blocking_pass(kind)?);
            }
            zx_runtime::println!("records_attack: {name}: heap (KiB) {:?}", {
                heaps
                    .iter()
                    .map(|(a, b)| (a / 1024, b / 1024))
                    .collect::<Vec<_>>()
            });
            let (before, after) = (heaps[1].1, heaps[2].1);
            check(
                after <= before + (64 << 10),
                &format!("the heap grew from {before} to {after} bytes between passes"),
            )
        });
    }
}

/// Where the blocking loop is (iteration * 8 + case), and the canceled
/// waiter (iteration).
static LOOPER_AT: AtomicU64 = AtomicU64::new(0);
static WAITER_AT: AtomicU64 = AtomicU64::new(0);

/// One pass of a blocking test (see `run`): the heap before and after.
fn blocking_pass(kind: u32) -> Result<(u64, u64), String> {
    let (ours, theirs) = step(Channel::create(), "channel")?;
    let port = step(Port::create(), "port")?;
    let before = heap_bytes()?;
    LOOPS.store(if kind == 0 { 700 } else { 300 }, Ordering::SeqCst);
    LOOP_FAIL.store(0, Ordering::SeqCst);
    WAITED.store(0, Ordering::SeqCst);
    LOOPER_AT.store(0, Ordering::SeqCst);
    WAITER_AT.store(0, Ordering::SeqCst);
    let mut left = MessageBuf::default();
    if kind == 2 {
        for i in 0..90u64 {
            let thread = spawn("forever", waits_forever, 2, theirs.raw_handle() as u64, i)?;
            sleep_ms(1);
            step(zx::task_kill(&thread), "kill")?;
            join(&thread, 5)?;
            while ours.read(&mut left).is_ok() {}
        }
        sleep_ms(10);
        return Ok((before, heap_bytes()?));
    }
    let worker = if kind == 0 {
        spawn(
            "blocking loop",
            blocking_loop,
            0,
            theirs.raw_handle() as u64,
            port.raw_handle() as u64,
        )?
    } else {
        spawn("canceled", canceled_waiter, 1, 0, 0)?
    };
    let give_up = zx::deadline_after(20 * SECOND);
    let mut closed = 0u32;
    let mut n = 0u64;
    let finished = loop {
        n += 1;
        if kind == 0 {
            if n.is_multiple_of(3) {
                let packet = zx::PortPacket {
                    key: n,
                    packet_type: zx::PACKET_USER,
                    ..Default::default()
                };
                let _ = port.queue(&packet);
            }
            if n.is_multiple_of(5) {
                let _ = ours.write(b"\x01\0\0\0wake", vec![]);
            }
            // Read back what the looper's calls left.
            while ours.read(&mut left).is_ok() {}
        } else {
            let value = WAITED.swap(0, Ordering::SeqCst);
            if value != 0 && value != u32::MAX {
                drop(Handle::from_raw(value));
                closed += 1;
            }
        }
        if worker
            .wait_one(Signals::TASK_TERMINATED, zx::deadline_after(30_000))
            .is_ok()
        {
            break true;
        }
        if zx::clock_get_monotonic().into_nanos() > give_up {
            break false;
        }
    };
    if !finished {
        let _ = zx::task_kill(&worker);
        let _ = join(&worker, 5);
        return Err(format!(
            "kind {kind}: the worker is stuck: looper at {} (iteration, case {}), waiter at {}, {closed} closed, fail {:#x}",
            LOOPER_AT.load(Ordering::SeqCst) / 8,
            LOOPER_AT.load(Ordering::SeqCst) % 8,
            WAITER_AT.load(Ordering::SeqCst),
            LOOP_FAIL.load(Ordering::SeqCst)
        ));
    }
    check(
        LOOP_FAIL.load(Ordering::SeqCst) == 0,
        &format!(
            "a blocking call failed: {:#x}",
            LOOP_FAIL.load(Ordering::SeqCst)
        ),
    )?;
    while port.wait(0).is_ok() {}
    while ours.read(&mut left).is_ok() {}
    while theirs.read(&mut left).is_ok() {}
    drop((ours, theirs, port));
    sleep_ms(10);
    Ok((before, heap_bytes()?))
}

/// The tests that start other processes.
pub fn run_with_processes(suite: &mut Suite, job: &zx::Job, bootfs: &[u8]) {
    suite.run("records_attack.readers_die_holding_records", || {
        // Six callers (three sending handles every other call); each round
        // a child reads their requests with channel_recv, answers none,
        // the newest, the oldest or all but one, sends the endpoint back
        // and exits holding the rest: they come back to the queue (with
        // their handles) and are answered here. Every caller gets exactly
        // its own answer each round; the heap stays flat.
        let rounds = 24u64;
        let (client, server) = step(Channel::create(), "channel")?;
        let threads = start_callers(&client, rounds)?;
        let mut server = Some(server);
        let mut outcome = Ok(());
        let mut heap_warm = 0;
        for round in 0..rounds {
            let (back, back_theirs) = step(Channel::create(), "back channel")?;
            sleep_ms(5); // let the callers' requests queue
            let mode = format!("{}", round % 4);
            let launched = crate::processes::start(
                job,
                bootfs,
                "bin/child-echo",
                &["bin/child-echo", "take-many", &mode],
                vec![
                    (
                        processargs::USER_BASE,
                        server.take().ok_or("no endpoint")?.into_handle(),
                    ),
                    (processargs::USER_BASE + 1, back_theirs.into_handle()),
                ],
            )?;
            let code = crate::processes::wait_end(&launched)?;
            let mut returned = MessageBuf::default();
            step(back.read(&mut returned), "the endpoint back")?;
            let endpoint = returned.handles.pop().ok_or("no endpoint came back")?;
            let endpoint = Channel::from_handle(endpoint);
            server = Some(endpoint);
            if code < 0 {
                outcome = Err(format!("round {round}: the child failed: {code}"));
                break;
            }
            // Answer the rest: every caller has one call outstanding.
            let endpoint = server.as_ref().ok_or("no endpoint")?;
            for _ in code as usize..CALLERS {
                let mut request = MessageBuf::default();
                if let Err(status) =
                    endpoint.recv(None, &mut request, zx::deadline_after(5 * SECOND))
                {
                    outcome = Err(format!("round {round}: a request was lost: {status:?}"));
                    break;
                }
                if request.bytes.len() < 12 {
                    outcome = Err(format!("round {round}: a short request"));
                    break;
                }
                let _ = endpoint.write(&answer_to(&request.bytes), vec![]);
            }
            if outcome.is_err() {
                break;
            }
            if round == rounds / 3 {
                sleep_ms(20);
                heap_warm = heap_bytes()?;
            }
        }
        if outcome.is_err() {
            drop(server.take());
        }
        for thread in &threads {
            join(thread, 30)?;
        }
        outcome?;
        callers_report(rounds)?;
        let mut left = MessageBuf::default();
        if let Some(endpoint) = &server {
            expect_status(endpoint.read(&mut left), Status::SHOULD_WAIT)?;
        }
        sleep_ms(20);
        let heap_end = heap_bytes()?;
        zx_runtime::println!(
            "records_attack: readers dying with records: heap {} KiB, then {} KiB",
            heap_warm / 1024,
            heap_end / 1024
        );
        check(
            heap_end <= heap_warm + (128 << 10),
            &format!("the heap grew from {heap_warm} to {heap_end} bytes"),
        )
    });
    suite.run(
        "records_attack.teardown_with_unknown_number_spinners",
        || {
            // Threads issue only unknown numbers while child processes (and a
            // job) are killed: every teardown finishes (TASK_TERMINATED).
            STOP.store(false, Ordering::SeqCst);
            WRONG.store(0, Ordering::SeqCst);
            let a = spawn("unknown a", unknown_spinner, 0, 0, 0)?;
            let b = spawn("unknown b", unknown_spinner, 1, 0, 5)?;
            let mut outcome = Ok(());
            for round in 0..20 {
                let child_job = match job.create_child() {
                    Ok(job) => job,
                    Err(status) => {
                        outcome = Err(format!("job: {status:?}"));
                        break;
                    }
                };
                let launched = crate::processes::start(
                    &child_job,
                    bootfs,
                    "bin/child-echo",
                    &["bin/child-echo", "spin"],
                    vec![],
                );
                let launched = match launched {
                    Ok(launched) => launched,
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                };
                let killed = if round % 2 == 0 {
                    zx::task_kill(&launched.process)
                } else {
                    zx::task_kill(&child_job)
                };
                if let Err(status) = killed {
                    outcome = Err(format!("kill: {status:?}"));
                    break;
                }
                match crate::processes::wait_end(&launched) {
                    Ok(code) if code == zx::RETCODE_SYSCALL_KILL => {}
                    Ok(code) => {
                        outcome = Err(format!("round {round}: return code {code}"));
                        break;
                    }
                    Err(e) => {
                        outcome = Err(format!("round {round}: {e}"));
                        break;
                    }
                }
            }
            STOP.store(true, Ordering::SeqCst);
            join(&a, 5)?;
            join(&b, 5)?;
            outcome?;
            check(
                WRONG.load(Ordering::SeqCst) == 0,
                "an unknown number was not refused",
            )
        },
    );
}
