//! A child process for the in-guest resource-limit tests, run in a job
//! with a memory limit.
//!
//! - `child-limits fill N`: builds N unreachable channel cycles, each two
//!   endpoints queued on each other with 60 KiB of bytes apiece, closes
//!   every handle it could still reach them by, and exits with the number
//!   of cycles it built (or a negative step number on failure). Each
//!   cycle's bytes are charged to this program's job.
//! - `child-limits write N`: writes N messages of 60 KiB to a channel it
//!   keeps and never reads, and exits with how many writes succeeded.
//! - `child-limits commit N`: creates a VMO of N KiB and writes every byte
//!   of it (committing its pages without mapping them); exits with 0, or
//!   with the status the write failed with.
//! - `child-limits sparse N`: maps one page N times, 512 GiB apart, and
//!   touches each (the kernel allocates three page tables for every one);
//!   exits with 0 if it got through all of them, or -(3000 + i) if the
//!   i-th map was refused.
//! - `child-limits ports N`: fills N ports with 4,096 signal packets
//!   each; exits with the number of ports it filled when a wait is
//!   refused with `NO_MEMORY`, or 1000 + N if none was.
//! - `child-limits objects N`: makes up to N kernel objects of every
//!   kind in turn (events, event pairs, channels, sockets, timers, ports,
//!   VMOs, VMARs) and keeps them; exits with how many it
//!   made when one is refused with `NO_MEMORY`, 1,000,000 + N if none
//!   was, or -(10000 + status) for another refusal.
//! - `child-limits brawl N`: N rounds of four threads that make objects,
//!   queue handles in messages and close them as fast as they can, each
//!   killing the next with `task_kill` mid-way (mid-syscall); the rounds
//!   go on until the program is killed or N are done; exits with N.
//! - `child-limits park`: parks events in a channel it keeps (each write
//!   moves one handle out of its table into the queue) until a write is
//!   refused; exits with how many it parked, negated if the refusal was
//!   not `NO_RESOURCES`.
//! - `child-limits sockets N` / `child-limits datagrams N`: fills N
//!   stream (64 KiB writes) or datagram (16 KiB datagrams) sockets it
//!   keeps and never reads, until a write is refused; exits with the KiB
//!   it got buffered if the refusal was `NO_MEMORY`, -1 if none was, or
//!   -(10000 + status) for another refusal.
//! - `child-limits write-into N`: like `write`, into the channel it gets
//!   as its first user start-up handle (whose peer someone else holds, so
//!   the messages outlive this program).
//! - `child-limits escrow HOW`: binds the handle it gets as its first user
//!   start-up handle to the escrow channel it gets as its second
//!   (`handle_bind_escrow`), signals `USER_0` on the event it gets as its
//!   third, then: `exit` returns 0; `park` waits to be killed; `recv`
//!   first reads one request on the bound channel with `channel_recv`
//!   and never answers it (closing the handles it carried; `recv-keep`
//!   keeps them; `recv-keep-all` reads every queued request and keeps
//!   their handles; `recv-bind` does too and binds each handle received to
//!   the escrow), then waits to be killed; `recv-loop` reads requests
//!   with `channel_recv` forever, keeping their handles; `call-loop`
//!   makes bound calls (`CHANNEL_BIND_RECEIVED`) forever; `close` closes the
//!   bound handle first (which ends the binding), then returns 0;
//!   `take-exit`, `take-park`, `take-full`: the bound handle is a channel
//!   on which it makes a `channel_call` with `CHANNEL_BIND_RECEIVED` (a
//!   hot-swap `Take`) and ends without binding what it got (see
//!   `take_bound`). Exits with -(10000 + status) if the binding is refused.
//! - `child-limits socket-echo`: echoes what arrives on the socket it
//!   gets as its first user start-up handle until the peer shuts down
//!   writing (then shuts down its own writing) or closes; exits with the
//!   bytes echoed.
//! - `child-limits idle-queues N`: makes N channel pairs, one after the
//!   other; through each it sends 3,500 small requests with call-like
//!   txids, reads them with `channel_recv` (one reply record each),
//!   answers all and reads the answers; keeps every pair open (idle, all
//!   charges for messages given back), writes `ready` on the channel it
//!   gets as its first user start-up handle and waits to be killed.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use zx::Channel;

zx_runtime::entry!(main);

const BYTES: usize = 60 * 1024;

fn main() -> i64 {
    let args = zx_runtime::args();
    let count: i64 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(0);
    match args.get(1).map(|mode| mode.as_str()) {
        Some("fill") => fill(count),
        Some("write") => write(count),
        Some("commit") => commit(count),
        Some("park") => park(),
        Some("sparse") => sparse(count),
        Some("ports") => ports(count),
        Some("objects") => objects(count),
        Some("dup-handles") => dup_handles(count),
        Some("brawl") => brawl(count),
        Some("sockets") => sockets(count, zx::SocketKind::Stream, 64 * 1024),
        Some("datagrams") => sockets(count, zx::SocketKind::Datagram, 16 * 1024),
        Some("socket-echo") => socket_echo(),
        Some("write-into") => match zx_runtime::take_startup_handle(zx::processargs::USER_BASE) {
            Some(handle) => write_into(&Channel::from_handle(handle), count),
            None => -1,
        },
        Some("escrow") => escrow(args.get(2).map(|how| how.as_str())),
        Some("idle-queues") => idle_queues(count),
        _ => -100,
    }
}

fn fill(cycles: i64) -> i64 {
    let payload = vec![0x5a_u8; BYTES];
    for built in 0..cycles {
        let Ok((x0, x1)) = Channel::create() else {
            return -1;
        };
        let Ok((y0, y1)) = Channel::create() else {
            return -2;
        };
        // y1 goes into x1's queue, x1 into y1's: each end is reachable
        // only through the other.
        if x0.write(&payload, vec![y1.into_handle()]).is_err() {
            return -3 - 10 * built;
        }
        if y0.write(&payload, vec![x1.into_handle()]).is_err() {
            return -4 - 10 * built;
        }
        drop((x0, y0));
    }
    cycles
}

fn write(messages: i64) -> i64 {
    let Ok((kept, _other)) = Channel::create() else {
        return -1;
    };
    write_into(&kept, messages)
}

fn write_into(kept: &Channel, messages: i64) -> i64 {
    let payload = vec![0xa5_u8; BYTES];
    let mut written = 0;
    for _ in 0..messages {
        if kept.write(&payload, vec![]).is_err() {
            break;
        }
        written += 1;
    }
    written
}

fn commit(kib: i64) -> i64 {
    let Ok(size) = u64::try_from(kib * 1024) else {
        return -1;
    };
    let Ok(vmo) = zx::Vmo::create(size, 0) else {
        return -2;
    };
    let chunk = vec![0x3c_u8; 64 * 1024];
    let mut offset = 0;
    while offset < size {
        let len = (size - offset).min(chunk.len() as u64) as usize;
        if let Err(status) = vmo.write(&chunk[..len], offset) {
            return status.0.into();
        }
        offset += len as u64;
    }
    0
}

fn park() -> i64 {
    let Ok((park, _keep)) = Channel::create() else {
        return -1_000_000;
    };
    let mut parked = 0;
    loop {
        let Ok(event) = zx::Event::create() else {
            return -2_000_000;
        };
        match park.write(b"parked", vec![event.into_handle()]) {
            Ok(()) => parked += 1,
            Err(zx::Status::NO_RESOURCES) => return parked,
            Err(_) => return -parked,
        }
        if parked > 100_000 {
            return -3_000_000;
        }
    }
}

fn sparse(pages: i64) -> i64 {
    const SPACING: u64 = 512 << 30;
    let Ok(vmo) = zx::Vmo::create(4096, 0) else {
        return -1;
    };
    let root = core::mem::ManuallyDrop::new(zx::Vmar::from_handle(zx::Handle::from_raw(
        zx_runtime::vmar_root_self().0,
    )));
    let span = (pages as u64 + 1) * SPACING;
    let Ok((region, _)) = root.allocate(
        0,
        span,
        zx::VmOptions::CAN_MAP_READ
            | zx::VmOptions::CAN_MAP_WRITE
            | zx::VmOptions::CAN_MAP_SPECIFIC,
    ) else {
        return -2;
    };
    for index in 0..pages as u64 {
        let Ok(address) = region.map(
            index * SPACING,
            &vmo,
            0,
            4096,
            zx::VmOptions::PERM_READ | zx::VmOptions::PERM_WRITE | zx::VmOptions::SPECIFIC,
        ) else {
            return -3000 - index as i64;
        };
        // SAFETY: the page was just mapped writable, and nothing else
        // refers to it.
        unsafe { core::ptr::write_volatile(address as *mut u8, 1) };
    }
    0
}

const BRAWL_STACK: usize = 16 * 1024;

#[repr(C, align(16))]
struct BrawlStack([u8; BRAWL_STACK]);

static mut BRAWL_STACKS: [BrawlStack; 4] = [const { BrawlStack([0; BRAWL_STACK]) }; 4];

/// A brawler: makes and drops objects without touching the heap (a
/// thread killed mid-allocation would leave the heap's lock held), every
/// 64th round kills thread `victim` (a raw handle), until it is killed.
extern "C" fn brawler(seed: u64, victim: u64) -> ! {
    use zx::AsHandleRef;
    let mut x = seed | 1;
    let mut round = 0u64;
    loop {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        round += 1;
        match x % 5 {
            0 => drop(zx::Event::create()),
            1 => {
                if let Ok((a, b)) = zx::Channel::create() {
                    if let Ok((c, d)) = zx::Channel::create() {
                        // d travels in a's queue; c and a close: what is
                        // left is reachable from b alone, then from none.
                        let handles = [d.into_handle().into_raw()];
                        let bytes = [0x42u8; 256];
                        // SAFETY: both buffers are valid for their lengths.
                        let _ = unsafe {
                            zx::syscall_raw(
                                zx::numbers::CHANNEL_WRITE,
                                [
                                    a.raw_handle() as u64,
                                    0,
                                    bytes.as_ptr() as u64,
                                    bytes.len() as u64,
                                    handles.as_ptr() as u64,
                                    1,
                                    0,
                                    0,
                                ],
                            )
                        };
                        drop((c, a, b));
                    }
                }
            }
            2 => {
                if let Ok(port) = zx::Port::create() {
                    if let Ok(event) = zx::Event::create() {
                        let _ = event.signal(zx::Signals::empty(), zx::Signals::USER_0);
                        for key in 0..32 {
                            let _ = event.wait_async(&port, key, zx::Signals::USER_0);
                        }
                    }
                }
            }
            3 => {
                if let Ok(vmo) = zx::Vmo::create(64 * 1024, 0) {
                    let _ = vmo.write(&[7u8; 4096], x % (60 * 1024));
                }
            }
            _ => drop(zx::EventPair::create()),
        }
        if round.is_multiple_of(64) && victim != 0 {
            let _ = zx::task_kill(&zx::HandleRef(victim as u32));
        }
    }
}

fn brawl(rounds: i64) -> i64 {
    use zx::AsHandleRef;
    let process = core::mem::ManuallyDrop::new(zx::Process::from_handle(zx::Handle::from_raw(
        zx_runtime::process_self().0,
    )));
    for round in 0..rounds {
        let mut threads = alloc::vec::Vec::new();
        for _ in 0..4 {
            match process.create_thread("brawler") {
                Ok(thread) => threads.push(thread),
                Err(_) => return -1,
            }
        }
        for (index, thread) in threads.iter().enumerate() {
            // SAFETY: only the address is taken; each stack serves one
            // thread of this round, and a round waits for its threads' end.
            let base = unsafe { core::ptr::addr_of!(BRAWL_STACKS[index]) } as usize;
            let victim = threads[(index + 1) % 4].raw_handle() as u64;
            // (A brawler may have killed this one already: then it does
            // not start.)
            let _ = thread.start(
                brawler as *const () as usize,
                base + BRAWL_STACK - 8,
                round as u64 * 4 + index as u64 + 1,
                victim,
            );
        }
        let _ = zx::nanosleep(zx::deadline_after(5_000_000));
        for thread in &threads {
            let _ = zx::task_kill(thread);
            if thread
                .wait_one(
                    zx::Signals::TASK_TERMINATED,
                    zx::deadline_after(10_000_000_000),
                )
                .is_err()
            {
                return -3;
            }
        }
    }
    rounds
}

fn objects(count: i64) -> i64 {
    let root = core::mem::ManuallyDrop::new(zx::Vmar::from_handle(zx::Handle::from_raw(
        zx_runtime::vmar_root_self().0,
    )));
    let mut kept: alloc::vec::Vec<zx::Handle> = alloc::vec::Vec::new();
    if kept.try_reserve(count as usize * 2).is_err() {
        return -2;
    }
    for made in 0..count {
        let result: Result<(), zx::Status> = match made % 10 {
            0 => zx::Event::create().map(|e| kept.push(e.into_handle())),
            1 => zx::EventPair::create().map(|(a, b)| {
                kept.push(a.into_handle());
                kept.push(b.into_handle())
            }),
            2 => zx::Channel::create().map(|(a, b)| {
                kept.push(a.into_handle());
                kept.push(b.into_handle())
            }),
            3 => zx::Socket::create(zx::SocketKind::Stream).map(|(a, b)| {
                kept.push(a.into_handle());
                kept.push(b.into_handle())
            }),
            4 => zx::Timer::create().map(|t| kept.push(t.into_handle())),
            5 => zx::Port::create().map(|p| kept.push(p.into_handle())),
            6 => zx::Vmo::create(4096, 0).map(|v| kept.push(v.into_handle())),
            7 => zx::Event::create().map(|e| kept.push(e.into_handle())),
            8 => root
                .allocate(0, 4096, zx::VmOptions::CAN_MAP_READ)
                .map(|(vmar, _)| kept.push(vmar.into_handle())),
            _ => zx::Channel::create().map(|(a, b)| {
                kept.push(a.into_handle());
                kept.push(b.into_handle())
            }),
        };
        match result {
            Ok(()) => {}
            Err(zx::Status::NO_MEMORY) => return made,
            Err(status) => return -(10_000 + i64::from(-status.0)),
        }
    }
    1_000_000 + count
}

/// Duplicates one event's handle up to `count` times, keeping every copy
/// (in the handle table only: nothing else grows): how many copies the
/// table took before the kernel refused with `NO_MEMORY` (the table's
/// growth is charged to the job), `1_000_000 + count` if none was refused.
fn dup_handles(count: i64) -> i64 {
    let Ok(event) = zx::Event::create() else {
        return -1;
    };
    let event = event.into_handle();
    for made in 0..count {
        match event.duplicate(zx::Rights::SAME_RIGHTS) {
            Ok(copy) => core::mem::forget(copy),
            Err(zx::Status::NO_MEMORY) => return made,
            Err(status) => return -(10_000 + i64::from(-status.0)),
        }
    }
    1_000_000 + count
}

fn ports(count: i64) -> i64 {
    use zx::AsHandleRef;
    let Ok(event) = zx::Event::create() else {
        return -1;
    };
    if event
        .signal(zx::Signals::empty(), zx::Signals::USER_0)
        .is_err()
    {
        return -2;
    }
    let mut kept = alloc::vec::Vec::new();
    for filled in 0..count {
        let Ok(port) = zx::Port::create() else {
            return -3;
        };
        for key in 0..4096 {
            match event.wait_async(&port, key, zx::Signals::USER_0) {
                Ok(()) => {}
                Err(zx::Status::NO_MEMORY) => return filled,
                Err(status) => return -(10_000 + i64::from(-status.0)),
            }
        }
        kept.push(port);
    }
    1000 + count
}

fn sockets(count: i64, kind: zx::SocketKind, chunk: usize) -> i64 {
    let payload = vec![0x3c_u8; chunk];
    let mut kept = alloc::vec::Vec::new();
    let mut buffered = 0;
    for _ in 0..count {
        let Ok((writer, reader)) = zx::Socket::create(kind) else {
            return -2;
        };
        loop {
            match writer.write(&payload) {
                Ok(written) => buffered += written as i64,
                Err(zx::Status::SHOULD_WAIT) => break,
                Err(zx::Status::NO_MEMORY) => return buffered / 1024,
                Err(status) => return -(10_000 + i64::from(-status.0)),
            }
        }
        kept.push((writer, reader));
    }
    -1
}

fn socket_echo() -> i64 {
    use zx::{AsHandleRef, Signals};
    let Some(handle) = zx_runtime::take_startup_handle(zx::processargs::USER_BASE) else {
        return -1;
    };
    let socket = zx::Socket::from_handle(handle);
    let mut buffer = [0u8; 4096];
    let mut echoed = 0;
    loop {
        let ready =
            Signals::SOCKET_READABLE | Signals::PEER_CLOSED | Signals::SOCKET_PEER_WRITE_DISABLED;
        if socket.wait_one(ready, zx::TIME_INFINITE).is_err() {
            return -2;
        }
        let count = match socket.read(&mut buffer) {
            Ok(count) => count,
            Err(zx::Status::BAD_STATE) => {
                return match socket.shutdown(true, false) {
                    Ok(()) => echoed,
                    Err(_) => -3,
                };
            }
            Err(zx::Status::PEER_CLOSED) => return echoed,
            Err(_) => return -4,
        };
        let mut sent = 0;
        while sent < count {
            match socket.write(&buffer[sent..count]) {
                Ok(written) => sent += written,
                Err(zx::Status::SHOULD_WAIT) => {
                    let ready = Signals::SOCKET_WRITABLE | Signals::PEER_CLOSED;
                    if socket.wait_one(ready, zx::TIME_INFINITE).is_err() {
                        return -5;
                    }
                }
                Err(_) => return echoed,
            }
        }
        echoed += count as i64;
    }
}

fn escrow(how: Option<&str>) -> i64 {
    use zx::{AsHandleRef, Signals};
    let take = |slot: u32| zx_runtime::take_startup_handle(zx::processargs::USER_BASE + slot);
    let (Some(bound), Some(escrow), Some(ready)) = (take(0), take(1), take(2)) else {
        return -1;
    };
    let escrow = zx::Channel::from_handle(escrow);
    if let Err(status) = zx::handle_bind_escrow(&bound, &escrow) {
        return -(10_000 + i64::from(-status.0));
    }
    if let Some(how) = how.and_then(|how| how.strip_prefix("take-")) {
        return take_bound(
            zx::Channel::from_handle(bound),
            escrow,
            zx::Event::from_handle(ready),
            how,
        );
    }
    let bound = match how {
        Some("close") => match bound.close() {
            Ok(()) => None,
            Err(_) => return -2,
        },
        Some("recv") | Some("recv-keep") => {
            // Read one request through `channel_recv` and never answer it;
            // `recv` closes the handles it carried, `recv-keep` keeps them.
            let channel = zx::Channel::from_handle(bound);
            let mut request = zx::MessageBuf::default();
            if channel.recv(None, &mut request, zx::TIME_INFINITE).is_err() {
                return -5;
            }
            if how == Some("recv-keep") {
                core::mem::forget(request);
            }
            Some(channel.into_handle())
        }
        Some("recv-keep-all") | Some("recv-bind") => {
            // Read every queued request through `channel_recv` and keep
            // their handles; `recv-bind` also binds each received handle
            // to the escrow (so the kernel has two claims on it at the
            // end: the request's and the binding's).
            let channel = zx::Channel::from_handle(bound);
            loop {
                let mut request = zx::MessageBuf::default();
                match channel.recv(None, &mut request, 0) {
                    Ok(()) => {}
                    Err(zx::Status::TIMED_OUT) | Err(zx::Status::SHOULD_WAIT) => break,
                    Err(_) => return -6,
                }
                if how == Some("recv-bind") {
                    for handle in &request.handles {
                        if zx::handle_bind_escrow(handle, &escrow).is_err() {
                            return -7;
                        }
                    }
                }
                core::mem::forget(request);
            }
            Some(channel.into_handle())
        }
        Some("call-loop") => {
            // Signal, then make bound calls on the bound endpoint forever
            // (the replies' handles arrive bound), closing what arrives,
            // until killed.
            if zx::Event::from_handle(ready)
                .signal(Signals::empty(), Signals::USER_0)
                .is_err()
            {
                return -3;
            }
            let channel = zx::Channel::from_handle(bound);
            let mut reply = zx::MessageBuf::default();
            loop {
                let _ = channel.call_etc(
                    zx::CHANNEL_BIND_RECEIVED,
                    b"\0\0\0\0call",
                    vec![],
                    zx::TIME_INFINITE,
                    &mut reply,
                );
                reply.handles.clear();
            }
        }
        Some("recv-loop") => {
            // Signal, then read requests with `channel_recv` forever,
            // keeping their handles and answering none, until killed.
            if zx::Event::from_handle(ready)
                .signal(Signals::empty(), Signals::USER_0)
                .is_err()
            {
                return -3;
            }
            let channel = zx::Channel::from_handle(bound);
            loop {
                let mut request = zx::MessageBuf::default();
                if channel.recv(None, &mut request, zx::TIME_INFINITE).is_err() {
                    return -8;
                }
                core::mem::forget(request);
            }
        }
        _ => Some(bound),
    };
    if zx::Event::from_handle(ready)
        .signal(Signals::empty(), Signals::USER_0)
        .is_err()
    {
        return -3;
    }
    match how {
        Some("park")
        | Some("recv")
        | Some("recv-keep")
        | Some("recv-keep-all")
        | Some("recv-bind") => {
            // Until the parent kills it.
            let _ = escrow.wait_one(Signals::USER_1, zx::TIME_INFINITE);
            -4
        }
        _ => {
            // Exit still holding both (dropping them would close them).
            core::mem::forget(bound);
            core::mem::forget(escrow);
            0
        }
    }
}

/// `escrow take-HOW`: `lifecycle` is bound; asks for a handover with a
/// `channel_call` with `CHANNEL_BIND_RECEIVED` and ends without binding
/// anything itself. `exit`: exits as soon as the reply is in (exit code:
/// the number of handles received); `park`: signals `USER_1` on `ready`
/// and waits to be killed; `full`: first binds events up to
/// `HANDLE_ESCROW_MAX_BINDINGS`, so the reply cannot be taken bound, and
/// exits with `20_000 + -status` of the call.
fn take_bound(lifecycle: zx::Channel, escrow: zx::Channel, ready: zx::Event, how: &str) -> i64 {
    use zx::{AsHandleRef, Signals};
    let mut events = Vec::new();
    if how == "full" {
        for _ in 1..zx::HANDLE_ESCROW_MAX_BINDINGS {
            let Ok(event) = zx::Event::create() else {
                return -6;
            };
            if zx::handle_bind_escrow(&event, &escrow).is_err() {
                return -7;
            }
            events.push(event);
        }
    }
    if ready.signal(Signals::empty(), Signals::USER_0).is_err() {
        return -3;
    }
    let mut reply = zx::MessageBuf::default();
    let called = lifecycle.call_etc(
        zx::CHANNEL_BIND_RECEIVED,
        b"\0\0\0\0take",
        Vec::new(),
        zx::TIME_INFINITE,
        &mut reply,
    );
    let code = match called {
        Ok(()) => reply.handles.len() as i64,
        Err(status) => 20_000 + i64::from(-status.0),
    };
    if how == "park" && ready.signal(Signals::empty(), Signals::USER_1).is_ok() {
        let _ = escrow.wait_one(Signals::USER_1, zx::TIME_INFINITE);
    }
    // End holding everything: dropping a handle would close it (and end
    // its binding).
    core::mem::forget((lifecycle, escrow, ready, events, reply));
    code
}

fn idle_queues(pairs: i64) -> i64 {
    let Some(ready) = zx_runtime::take_startup_handle(zx::processargs::USER_BASE) else {
        return -1;
    };
    let mut kept = Vec::new();
    let mut message = zx::MessageBuf::default();
    for pair in 0..pairs {
        let Ok((client, server)) = Channel::create() else {
            return -2;
        };
        for i in 0..3500u32 {
            let txid = 0xd000_0000u32 | ((pair as u32) << 12) | i;
            if client.write(&txid.to_le_bytes(), vec![]).is_err() {
                return -3;
            }
        }
        let mut txids = Vec::new();
        while server.recv(None, &mut message, 0).is_ok() {
            txids.push(message.bytes.clone());
        }
        for txid in txids {
            if server.write(&txid, vec![]).is_err() {
                return -4;
            }
        }
        while client.read(&mut message).is_ok() {}
        kept.push((client, server));
    }
    if Channel::from_handle(ready).write(b"ready", vec![]).is_err() {
        return -5;
    }
    loop {
        let _ = zx::nanosleep(zx::TIME_INFINITE);
    }
}
