//! Attacks on the copy-once call path (issue 18, `object/fastpath.rs`): a
//! request that came by the fastpath is kept only in its caller's buffer,
//! so the tests change that buffer under the kernel while the call is in
//! flight (unmap it, make it read-only), hand the kernel bad caller and
//! receiver buffers, hand a request back thousands of times, and pile up
//! callers that give up on a reader that never answers. Each must end in
//! a typed error or an answered call, nothing lost, and the kernel heap
//! back where it was.

use crate::fastpath::{borrowed, join, spawn};
use crate::{check, expect_status, raw, step, Outcome, Suite};
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use zx::numbers as nr;
use zx::{AsHandleRef, Channel, Handle, MessageBuf, Status, VmOptions, Vmar, Vmo};

const PAGE: u64 = 4096;
const SECOND: i64 = 1_000_000_000;
const RW: VmOptions = VmOptions::PERM_READ.union(VmOptions::PERM_WRITE);
/// Not user memory: the kernel's half of the address space.
const KERNEL_ADDRESS: u64 = 0xffff_8000_0000_0000;

fn with_root<R>(f: impl FnOnce(&Vmar) -> R) -> R {
    let root = core::mem::ManuallyDrop::new(Vmar::from_handle(Handle::from_raw(
        zx_runtime::vmar_root_self().0,
    )));
    f(&root)
}

/// A raw `channel_call` (or `channel_recv` with `options`): any pointers.
#[allow(clippy::too_many_arguments)]
fn raw_call_args(
    number: u64,
    channel: u32,
    options: u32,
    write: u64,
    write_len: u32,
    read: u64,
    read_len: u32,
    deadline: i64,
    actual: &mut u32,
) -> Result<(), Status> {
    let args = zx::ChannelCallArgs {
        write_bytes: write,
        write_handles: 0,
        read_bytes: read,
        read_handles: 0,
        write_num_bytes: write_len,
        write_num_handles: 0,
        read_num_bytes: read_len,
        read_num_handles: 0,
    };
    raw(
        number,
        [
            channel as u64,
            options as u64,
            deadline as u64,
            &args as *const zx::ChannelCallArgs as u64,
            actual as *mut u32 as u64,
            0,
            0,
            0,
        ],
    )
}

fn call(
    channel: u32,
    write: u64,
    write_len: u32,
    read: u64,
    read_len: u32,
    deadline: i64,
    actual: &mut u32,
) -> Result<(), Status> {
    raw_call_args(
        nr::CHANNEL_CALL,
        channel,
        0,
        write,
        write_len,
        read,
        read_len,
        deadline,
        actual,
    )
}

fn recv(
    channel: u32,
    read: u64,
    read_len: u32,
    deadline: i64,
    actual: &mut u32,
) -> Result<(), Status> {
    raw_call_args(
        nr::CHANNEL_RECV,
        channel,
        0,
        0,
        0,
        read,
        read_len,
        deadline,
        actual,
    )
}

fn status_word(result: Result<(), Status>) -> u64 {
    match result {
        Ok(()) => 0,
        Err(status) => status.0 as u32 as u64,
    }
}

fn status_of(word: u64) -> Status {
    Status(word as u32 as i32)
}

/// Maps `pages` fresh pages read-write; returns the address.
fn map_pages(pages: u64) -> Result<u64, alloc::string::String> {
    let vmo = step(Vmo::create(pages * PAGE, 0), "vmo")?;
    let address = step(
        with_root(|root| root.map(0, &vmo, 0, pages * PAGE, RW)),
        "map",
    )?;
    Ok(address as u64)
}

fn unmap(address: u64, len: u64) -> Result<(), Status> {
    // SAFETY: the range is a mapping of the test's own that no Rust
    // reference points into.
    with_root(|root| unsafe { root.unmap(address as usize, len) })
}

fn protect(address: u64, len: u64, options: VmOptions) -> Result<(), Status> {
    // SAFETY: as for `unmap`; nothing writes the range after.
    with_root(|root| unsafe { root.protect(options, address as usize, len) })
}

/// Fills `len` bytes at `address` (a test mapping) with `byte`.
fn fill(address: u64, len: usize, byte: u8) {
    // SAFETY: `address` is a read-write mapping of the test's of at least
    // `len` bytes.
    unsafe { core::ptr::write_bytes(address as *mut u8, byte, len) };
}

fn sleep_ms(ms: i64) {
    let _ = zx::nanosleep(zx::deadline_after(ms * 1_000_000));
}

/// Where the receivers report: [0] first status, [1] second status, [2]
/// a count or txid, [3] a check (1: held).
static REPORT: [AtomicU64; 4] = [const { AtomicU64::new(u64::MAX) }; 4];

fn reset_report() {
    for slot in &REPORT {
        slot.store(u64::MAX, Ordering::SeqCst);
    }
}

/// Receives one request (by the fastpath: it waits before the call),
/// unmaps the caller's request buffer at `address` (same process), and
/// hands the request back: the kernel cannot re-read it.
extern "C" fn unmap_then_return(channel: u64, address: u64) -> ! {
    let mut buffer = vec![0u8; 256];
    let mut actual = 0u32;
    let received = recv(
        channel as u32,
        buffer.as_mut_ptr() as u64,
        buffer.len() as u32,
        zx::deadline_after(5 * SECOND),
        &mut actual,
    );
    REPORT[0].store(status_word(received), Ordering::SeqCst);
    if received.is_ok() && actual >= 4 {
        let txid = u32::from_le_bytes([buffer[0], buffer[1], buffer[2], buffer[3]]);
        REPORT[2].store(txid as u64, Ordering::SeqCst);
        let _ = unmap(address, PAGE);
        let endpoint = borrowed(channel);
        REPORT[1].store(status_word(endpoint.return_request(txid)), Ordering::SeqCst);
        // Nothing may be queued: the request is gone with its buffer.
        let mut left = MessageBuf::default();
        let queued = endpoint.recv(None, &mut left, 0);
        REPORT[3].store((queued == Err(Status::TIMED_OUT)) as u64, Ordering::SeqCst);
    }
    zx::thread_exit()
}

/// Receives a request by the fastpath, makes the caller's buffer at
/// `address` read-only, hands it back, receives it again (re-read from
/// the caller's buffer) and answers it with its bytes if they are the
/// original ones (`0x5a` after the txid) with the same txid.
extern "C" fn protect_then_return(channel: u64, address: u64) -> ! {
    let endpoint = borrowed(channel);
    let mut first = MessageBuf::default();
    let received = endpoint.recv(None, &mut first, zx::deadline_after(5 * SECOND));
    REPORT[0].store(status_word(received), Ordering::SeqCst);
    if received.is_ok() && first.bytes.len() >= 4 {
        let txid = u32::from_le_bytes([
            first.bytes[0],
            first.bytes[1],
            first.bytes[2],
            first.bytes[3],
        ]);
        let _ = protect(address, PAGE, VmOptions::PERM_READ);
        REPORT[1].store(status_word(endpoint.return_request(txid)), Ordering::SeqCst);
        let mut again = MessageBuf::default();
        if endpoint
            .recv(None, &mut again, zx::deadline_after(5 * SECOND))
            .is_ok()
        {
            let same = again.bytes == first.bytes && again.bytes[4..].iter().all(|&b| b == 0x5a);
            REPORT[3].store(same as u64, Ordering::SeqCst);
            let mut reply = again.bytes[..4].to_vec();
            reply.extend_from_slice(b"answered");
            let _ = endpoint.write(&reply, vec![]);
        }
    }
    zx::thread_exit()
}

/// Answers one request: the request's bytes, reversed after the txid.
extern "C" fn answer_one(channel: u64, _unused: u64) -> ! {
    let endpoint = borrowed(channel);
    let mut request = MessageBuf::default();
    let received = endpoint.recv(None, &mut request, zx::deadline_after(10 * SECOND));
    REPORT[0].store(status_word(received), Ordering::SeqCst);
    if received.is_ok() && request.bytes.len() >= 4 {
        let mut reply = request.bytes.clone();
        reply[4..].reverse();
        let _ = endpoint.write(&reply, vec![]);
    }
    zx::thread_exit()
}

/// Receives into a read-only page at `address` (the kernel cannot write
/// it), then into an 8-byte buffer (too small), then into a good one, and
/// answers what it got.
extern "C" fn bad_receive_buffers(channel: u64, address: u64) -> ! {
    let mut actual = 0u32;
    let read_only = recv(
        channel as u32,
        address,
        PAGE as u32,
        zx::deadline_after(5 * SECOND),
        &mut actual,
    );
    REPORT[0].store(status_word(read_only), Ordering::SeqCst);
    let mut small = [0u8; 8];
    actual = 0;
    let too_small = recv(
        channel as u32,
        small.as_mut_ptr() as u64,
        small.len() as u32,
        zx::deadline_after(5 * SECOND),
        &mut actual,
    );
    REPORT[1].store(status_word(too_small), Ordering::SeqCst);
    REPORT[2].store(actual as u64, Ordering::SeqCst);
    let endpoint = borrowed(channel);
    let mut request = MessageBuf::default();
    if endpoint
        .recv(None, &mut request, zx::deadline_after(5 * SECOND))
        .is_ok()
        && request.bytes.len() >= 4
    {
        REPORT[3].store(
            (request.bytes.len() == 32 && request.bytes[4..].iter().all(|&b| b == 0x33)) as u64,
            Ordering::SeqCst,
        );
        let mut reply = request.bytes[..4].to_vec();
        reply.extend_from_slice(b"intact");
        let _ = endpoint.write(&reply, vec![]);
    }
    zx::thread_exit()
}

const RETURNS: u64 = 2000;

/// Hands the same request back `RETURNS` times, then answers it.
extern "C" fn return_flood(channel: u64, _unused: u64) -> ! {
    let endpoint = borrowed(channel);
    let mut request = MessageBuf::default();
    let mut returned = 0u64;
    let mut first_txid = None;
    loop {
        if endpoint
            .recv(None, &mut request, zx::deadline_after(20 * SECOND))
            .is_err()
            || request.bytes.len() < 4
        {
            break;
        }
        let txid = u32::from_le_bytes([
            request.bytes[0],
            request.bytes[1],
            request.bytes[2],
            request.bytes[3],
        ]);
        if *first_txid.get_or_insert(txid) != txid {
            REPORT[3].store(0, Ordering::SeqCst);
            break;
        }
        if returned < RETURNS {
            if endpoint.return_request(txid).is_err() {
                break;
            }
            returned += 1;
            continue;
        }
        REPORT[3].store(1, Ordering::SeqCst);
        let mut reply = request.bytes.clone();
        reply.extend_from_slice(b"!");
        let _ = endpoint.write(&reply, vec![]);
        break;
    }
    REPORT[2].store(returned, Ordering::SeqCst);
    zx::thread_exit()
}

/// Receives requests and never answers them, until the peer closes.
extern "C" fn never_answers(channel: u64, _unused: u64) -> ! {
    let endpoint = borrowed(channel);
    let mut request = MessageBuf::default();
    let mut got = 0u64;
    while endpoint
        .recv(None, &mut request, zx::deadline_after(20 * SECOND))
        .is_ok()
    {
        got += 1;
    }
    REPORT[2].store(got, Ordering::SeqCst);
    zx::thread_exit()
}

pub(crate) fn heap_bytes() -> Result<u64, alloc::string::String> {
    let debug = crate::resources::resource("debug")?;
    Ok(step(debug.kmem_stats(), "kmem stats")?.heap_bytes)
}

fn expect_word(word: u64, expected: Status, what: &str) -> Outcome {
    check(
        status_of(word) == expected,
        &format!("{what}: got {:?}, expected {expected:?}", status_of(word)),
    )
}

pub fn run(suite: &mut Suite) {
    suite.run(
        "fastpath_attack.caller_buffer_unmapped_then_returned",
        || {
            // The caller's request buffer is unmapped while the request is
            // kept only there; handing it back cannot re-read it: the call
            // ends with PEER_CLOSED and nothing stale is queued.
            reset_report();
            let (client, server) = step(Channel::create(), "channel")?;
            let address = map_pages(1)?;
            fill(address, 16, 0x11);
            let thread = spawn(
                "unmapper",
                unmap_then_return,
                0,
                server.raw_handle() as u64,
                address,
            )?;
            sleep_ms(50); // it waits in the receive: the call goes directly
            let mut reply = vec![0u8; 64];
            let mut actual = 0u32;
            let result = call(
                client.raw_handle(),
                address,
                16,
                reply.as_mut_ptr() as u64,
                reply.len() as u32,
                zx::deadline_after(5 * SECOND),
                &mut actual,
            );
            join(&thread)?;
            expect_word(REPORT[0].load(Ordering::SeqCst), Status::OK, "receive")?;
            expect_word(REPORT[1].load(Ordering::SeqCst), Status::OK, "return")?;
            check(
                REPORT[3].load(Ordering::SeqCst) == 1,
                "a request was queued although its buffer was gone",
            )?;
            expect_status(result, Status::PEER_CLOSED)?;
            // The endpoints still work.
            step(client.write(b"\x01\x00\x00\x00ping", vec![]), "write after")?;
            let mut message = MessageBuf::default();
            step(server.recv(None, &mut message, 0), "read after")?;
            check(
                message.bytes == b"\x01\x00\x00\x00ping",
                "wrong bytes after",
            )
        },
    );
    suite.run(
        "fastpath_attack.caller_buffer_read_only_then_returned",
        || {
            // Made read-only meanwhile: the kernel re-reads the same bytes,
            // the request is answered once.
            reset_report();
            let (client, server) = step(Channel::create(), "channel")?;
            let address = map_pages(1)?;
            fill(address, 40, 0x5a);
            let thread = spawn(
                "protector",
                protect_then_return,
                0,
                server.raw_handle() as u64,
                address,
            )?;
            sleep_ms(50);
            let mut reply = vec![0u8; 64];
            let mut actual = 0u32;
            let result = call(
                client.raw_handle(),
                address,
                40,
                reply.as_mut_ptr() as u64,
                reply.len() as u32,
                zx::deadline_after(5 * SECOND),
                &mut actual,
            );
            join(&thread)?;
            let _ = unmap(address, PAGE);
            step(result, "call")?;
            expect_word(REPORT[1].load(Ordering::SeqCst), Status::OK, "return")?;
            check(
                REPORT[3].load(Ordering::SeqCst) == 1,
                "the re-read request differs from the one sent",
            )?;
            check(
                actual == 12 && &reply[4..12] == b"answered",
                &format!("wrong reply ({actual} bytes)"),
            )?;
            // Answered once: nothing else is queued either way.
            let mut left = MessageBuf::default();
            expect_status(server.recv(None, &mut left, 0), Status::TIMED_OUT)?;
            expect_status(client.recv(None, &mut left, 0), Status::TIMED_OUT)
        },
    );
    suite.run(
        "fastpath_attack.bad_caller_buffers_leave_receiver_waiting",
        || {
            // With a receiver waiting, calls whose request buffer straddles
            // into an unmapped page, lies in the kernel's half, is huge, empty
            // or shorter than a txid fail with their status; the receiver
            // still takes the next good call.
            reset_report();
            let (client, server) = step(Channel::create(), "channel")?;
            let mut reply = vec![0u8; 256];
            // One page mapped at the start of a two-page region: the page
            // after it is never mapped.
            let vmo = step(Vmo::create(PAGE, 0), "vmo")?;
            let (region, base) = step(
                with_root(|root| {
                    root.allocate(
                        0,
                        2 * PAGE,
                        VmOptions::CAN_MAP_READ
                            | VmOptions::CAN_MAP_WRITE
                            | VmOptions::CAN_MAP_SPECIFIC,
                    )
                }),
                "allocate",
            )?;
            let address = step(
                region.map(0, &vmo, 0, PAGE, RW | VmOptions::SPECIFIC),
                "map",
            )? as u64;
            fill(address, PAGE as usize, 0x44);
            let thread = spawn("answerer", answer_one, 0, server.raw_handle() as u64, 0)?;
            sleep_ms(50);
            let mut actual = 0u32;
            let handle = client.raw_handle();
            let reply_at = reply.as_mut_ptr() as u64;
            let later = zx::deadline_after(5 * SECOND);
            let cases: [(u64, u32, Status, &str); 6] = [
                (address + PAGE - 8, 16, Status::INVALID_ARGS, "straddling"),
                (KERNEL_ADDRESS, 16, Status::INVALID_ARGS, "kernel address"),
                (address, u32::MAX, Status::OUT_OF_RANGE, "4 GiB"),
                (address, 64 * 1024 + 1, Status::OUT_OF_RANGE, "64 KiB + 1"),
                (address, 0, Status::INVALID_ARGS, "empty"),
                (address, 3, Status::INVALID_ARGS, "no room for a txid"),
            ];
            for (write, len, expected, what) in cases {
                let result = call(handle, write, len, reply_at, 256, later, &mut actual);
                expect_status(result, expected).map_err(|e| format!("{what}: {e}"))?;
            }
            // A reply buffer in the kernel's half or straddling is refused
            // before anything is sent.
            let result = call(handle, address, 16, KERNEL_ADDRESS, 256, later, &mut actual);
            expect_status(result, Status::INVALID_ARGS)
                .map_err(|e| format!("kernel reply buffer: {e}"))?;
            check(
                REPORT[0].load(Ordering::SeqCst) == u64::MAX,
                "the receiver got a bad call",
            )?;
            // The good call is answered by the same receiver.
            let result = call(handle, address, 16, reply_at, 256, later, &mut actual);
            join(&thread)?;
            step(result, "good call")?;
            expect_word(REPORT[0].load(Ordering::SeqCst), Status::OK, "receive")?;
            check(
                actual == 16 && reply[4..16].iter().all(|&b| b == 0x44),
                &format!("wrong reply ({actual} bytes)"),
            )?;
            step(unmap(base as u64, 2 * PAGE), "unmap the region")
        },
    );
    suite.run("fastpath_attack.bad_receive_buffers_lose_nothing", || {
        // A receiver whose buffer is read-only gets INVALID_ARGS, one whose
        // buffer is too small gets BUFFER_TOO_SMALL and the size: the
        // request stays and arrives whole on the next receive.
        reset_report();
        let (client, server) = step(Channel::create(), "channel")?;
        let read_only = map_pages(1)?;
        step(protect(read_only, PAGE, VmOptions::PERM_READ), "protect")?;
        let thread = spawn(
            "bad receiver",
            bad_receive_buffers,
            0,
            server.raw_handle() as u64,
            read_only,
        )?;
        sleep_ms(50);
        let mut request = [0x33u8; 32];
        request[..4].copy_from_slice(&[0; 4]);
        let mut reply = MessageBuf::default();
        let result = client.call(&request, vec![], zx::deadline_after(5 * SECOND), &mut reply);
        join(&thread)?;
        let _ = unmap(read_only, PAGE);
        expect_word(
            REPORT[0].load(Ordering::SeqCst),
            Status::INVALID_ARGS,
            "read-only buffer",
        )?;
        expect_word(
            REPORT[1].load(Ordering::SeqCst),
            Status::BUFFER_TOO_SMALL,
            "small buffer",
        )?;
        check(
            REPORT[2].load(Ordering::SeqCst) == 32,
            &format!("needed {} bytes, not 32", REPORT[2].load(Ordering::SeqCst)),
        )?;
        step(result, "call")?;
        check(
            REPORT[3].load(Ordering::SeqCst) == 1,
            "the request arrived changed",
        )?;
        check(
            reply.bytes.len() == 10 && &reply.bytes[4..] == b"intact",
            "wrong reply",
        )
    });
    suite.run("fastpath_attack.return_flood_answers_and_frees", || {
        // A reader hands the same request back 2000 times (each time the
        // kernel re-reads or requeues it), then answers it: the caller gets
        // exactly one reply and the kernel heap is back where it was.
        reset_report();
        // Warm up the heap's caches with one round first.
        for round in 0..2 {
            let before = heap_bytes()?;
            let (client, server) = step(Channel::create(), "channel")?;
            let thread = spawn("returner", return_flood, 0, server.raw_handle() as u64, 0)?;
            sleep_ms(50);
            let mut request = vec![0x77u8; 128];
            request[..4].copy_from_slice(&[0; 4]);
            let mut reply = MessageBuf::default();
            let result = client.call(
                &request,
                vec![],
                zx::deadline_after(60 * SECOND),
                &mut reply,
            );
            join(&thread)?;
            step(result, "call")?;
            check(REPORT[3].load(Ordering::SeqCst) == 1, "the txid changed")?;
            check(
                REPORT[2].load(Ordering::SeqCst) == RETURNS,
                &format!(
                    "{} returns, not {RETURNS}",
                    REPORT[2].load(Ordering::SeqCst)
                ),
            )?;
            check(
                reply.bytes.len() == 129 && reply.bytes[128] == b'!',
                "wrong reply",
            )?;
            drop((client, server));
            let after = heap_bytes()?;
            if round == 1 {
                zx_runtime::println!(
                    "fastpath_attack: heap {} KiB before {RETURNS} returns, {} KiB after",
                    before / 1024,
                    after / 1024
                );
                check(
                    after <= before + (64 << 10),
                    &format!("the heap grew from {before} to {after} bytes"),
                )?;
            }
        }
        Ok(())
    });
    suite.run("fastpath_attack.callers_giving_up_on_a_silent_reader", || {
        // 6000 calls that give up at once on a reader that reads every
        // request and answers none: the reader's records are bounded
        // (MAX_REPLY_RECORDS), every call ends TIMED_OUT, and closing the
        // channel gives the kernel heap back.
        reset_report();
        let before = heap_bytes()?;
        let (client, server) = step(Channel::create(), "channel")?;
        let thread = spawn("silent", never_answers, 0, server.raw_handle() as u64, 0)?;
        sleep_ms(50);
        let mut request = vec![0x66u8; 64];
        let mut reply = vec![0u8; 64];
        let mut actual = 0u32;
        let mut timed_out = 0u32;
        let mut other = Vec::new();
        for _ in 0..6000 {
            // An expired deadline: the request is written, then the wait
            // ends at once.
            let result = call(
                client.raw_handle(),
                request.as_mut_ptr() as u64,
                64,
                reply.as_mut_ptr() as u64,
                64,
                1,
                &mut actual,
            );
            match result {
                Err(Status::TIMED_OUT) => timed_out += 1,
                other_result => {
                    if other.len() < 4 {
                        other.push(other_result)
                    }
                }
            }
        }
        let during = heap_bytes()?;
        drop(client);
        join(&thread)?;
        drop(server);
        let after = heap_bytes()?;
        zx_runtime::println!(
            "fastpath_attack: heap {} KiB before, {} KiB with 6000 abandoned calls read ({} read), {} KiB after",
            before / 1024,
            during / 1024,
            REPORT[2].load(Ordering::SeqCst),
            after / 1024
        );
        check(timed_out == 6000, &format!("{timed_out} timed out; others: {other:?}"))?;
        check(
            during <= before + (2 << 20),
            &format!("the heap grew from {before} to {during} bytes"),
        )?;
        check(
            after <= before + (128 << 10),
            &format!("the heap held {before} bytes before and {after} after"),
        )
    });
}
