//! Resource exhaustion and deep object graphs: what one program can do to
//! the kernel with nothing but legal syscalls in large numbers. Each test
//! reproduces an attack that once crashed, hung or starved the kernel
//! (issue 10) and checks the kernel now refuses it with a status and keeps
//! serving.

use crate::{check, expect_status, step, Suite};
use alloc::vec;
use alloc::vec::Vec;
use zx::{
    AsHandleRef, Channel, Event, EventPair, Handle, Job, Port, PortPacket, Signals, Status,
    VmOptions, Vmo,
};

/// Most packets a port holds, queued and promised (the kernel's
/// `MAX_PENDING_PACKETS`).
const PORT_PACKETS: usize = 4096;

/// Depth of the teardown chain: far past what the kernel stack could
/// recurse through (a few hundred levels once overflowed it).
const CHAIN_DEPTH: usize = 3000;

const PAGE: u64 = 4096;
const MS: i64 = 1_000_000;

/// Waves of `exhaustion.hostile_waves_leave_nothing_behind` (unless the
/// command line's `usertest.hostile-waves=N` asks for more).
const HOSTILE_WAVES: usize = 3;

/// x86-64 code for a thread that ends itself: `mov eax, THREAD_EXIT;
/// syscall; ud2`.
fn exit_thread_code() -> [u8; 9] {
    let number = (zx::numbers::THREAD_EXIT as u32).to_le_bytes();
    [
        0xb8, number[0], number[1], number[2], number[3], 0x0f, 0x05, 0x0f, 0x0b,
    ]
}

fn user_packet(key: u64) -> PortPacket {
    PortPacket {
        key,
        packet_type: 0,
        status: 0,
        payload: [0; 32],
    }
}

/// Runs `bin/child-limits` with `args` in `job` (a job with limits) and
/// returns its exit code.
fn child_limits(job: &Job, bootfs: &[u8], args: &[&str]) -> Result<i64, alloc::string::String> {
    child_limits_with(job, bootfs, args, vec![])
}

/// [`child_limits`], handing the child start-up `handles`.
fn child_limits_with(
    job: &Job,
    bootfs: &[u8],
    args: &[&str],
    handles: Vec<(u32, Handle)>,
) -> Result<i64, alloc::string::String> {
    let mut argv = vec!["bin/child-limits"];
    argv.extend_from_slice(args);
    let child = crate::processes::start(job, bootfs, "bin/child-limits", &argv, handles)?;
    crate::processes::wait_end(&child)
}

static WATCH_STOP: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
static LONGEST_GAP: core::sync::atomic::AtomicI64 = core::sync::atomic::AtomicI64::new(0);

/// Reads the clock in a loop until told to stop and keeps the longest
/// time between two reads: how long this thread was kept from running.
extern "C" fn gap_watcher(_unused: u64, _unused2: u64) -> ! {
    use core::sync::atomic::Ordering;
    let mut last = zx::clock_get_monotonic().into_nanos();
    let mut longest = 0;
    while !WATCH_STOP.load(Ordering::SeqCst) {
        let now = zx::clock_get_monotonic().into_nanos();
        longest = longest.max(now - last);
        last = now;
    }
    LONGEST_GAP.store(longest, Ordering::SeqCst);
    zx::thread_exit()
}

pub fn run(suite: &mut Suite, job: &Job, bootfs: &[u8]) {
    suite.run("exhaustion.port_flood_of_satisfied_waits", || {
        // Registering on an object whose signals already hold queues a
        // packet at once; that used to be unbounded (a kernel panic after
        // about two million).
        let port = step(Port::create(), "port")?;
        let event = step(Event::create(), "event")?;
        step(event.signal(Signals::empty(), Signals::USER_0), "signal")?;
        let mut accepted = 0;
        let refused = loop {
            match event.wait_async(&port, accepted as u64, Signals::USER_0) {
                Ok(()) => accepted += 1,
                Err(status) => break status,
            }
            if accepted > PORT_PACKETS {
                return Err("the port took more packets than its limit".into());
            }
        };
        check(refused == Status::SHOULD_WAIT, "not SHOULD_WAIT")?;
        check(accepted == PORT_PACKETS, "limit is not 4096 packets")?;
        expect_status(port.queue(&user_packet(1)), Status::SHOULD_WAIT)?;
        // Taking one packet makes room for one more.
        let first = step(port.wait(0), "take a packet")?;
        check(first.key == 0, "packets out of order")?;
        step(
            event.wait_async(&port, 9999, Signals::USER_0),
            "after a take",
        )?;
        expect_status(port.queue(&user_packet(2)), Status::SHOULD_WAIT)
    });
    suite.run("exhaustion.port_armed_registrations_count", || {
        // Armed registrations hold room for their packets: a port can
        // never be promised more than it may hold.
        let port = step(Port::create(), "port")?;
        let events: Vec<Event> = (0..2)
            .map(|_| Event::create())
            .collect::<Result<_, _>>()
            .map_err(|s| alloc::format!("event: {s:?}"))?;
        for index in 0..PORT_PACKETS {
            step(
                events[index % 2].wait_async(&port, index as u64, Signals::USER_1),
                "wait_async",
            )?;
        }
        expect_status(
            events[0].wait_async(&port, 1, Signals::USER_1),
            Status::SHOULD_WAIT,
        )?;
        expect_status(port.queue(&user_packet(3)), Status::SHOULD_WAIT)?;
        // Every promised packet is delivered when the signal comes.
        step(
            events[1].signal(Signals::empty(), Signals::USER_1),
            "signal",
        )?;
        for _ in 0..PORT_PACKETS / 2 {
            let packet = step(port.wait(0), "delivered packet")?;
            check(packet.key % 2 == 1, "a packet of the wrong event")?;
        }
        expect_status(port.wait(0).map(drop), Status::TIMED_OUT)?;
        // An object that goes away gives back the room of its waits.
        drop(events);
        step(port.queue(&user_packet(4)), "queue after the events closed")?;
        Ok(())
    });
    suite.run("exhaustion.unstarted_thread_cycle_ends", || {
        // Two started processes, each holding in its handle table the last
        // handle to the other's unstarted thread, each with a first thread
        // that exits. Unstarted threads once kept a process alive: the two
        // kept each other for good, reachable by no one. A process now
        // ends with its last started thread, so both end.
        let code = step(Vmo::create(PAGE, 0), "code vmo")?;
        step(code.write(&exit_thread_code(), 0), "write code")?;
        let mut links = Vec::new();
        for name in ["a", "b"] {
            let (process, vmar) = step(job.create_process(name), "process")?;
            let entry = step(
                vmar.map(
                    0,
                    &code,
                    0,
                    PAGE,
                    VmOptions::PERM_READ | VmOptions::PERM_EXECUTE,
                ),
                "map",
            )?;
            let first = step(process.create_thread("first"), "thread")?;
            let keeper = step(process.create_thread("keeper"), "thread")?;
            links.push((process, entry, first, keeper));
        }
        let (b, a) = (links.pop().unwrap(), links.pop().unwrap());
        let (a_process, a_entry, a_first, a_keeper) = a;
        let (b_process, b_entry, b_first, b_keeper) = b;
        step(
            a_process.start(
                &a_first,
                a_entry,
                a_entry + PAGE as usize,
                b_keeper.into_handle(),
                0,
            ),
            "start a",
        )?;
        step(
            b_process.start(
                &b_first,
                b_entry,
                b_entry + PAGE as usize,
                a_keeper.into_handle(),
                0,
            ),
            "start b",
        )?;
        for (name, process) in [("a", &a_process), ("b", &b_process)] {
            step(
                process.wait_one(Signals::TASK_TERMINATED, zx::deadline_after(5_000 * MS)),
                name,
            )
            .map_err(|why| alloc::format!("process {name} did not end: {why}"))?;
        }
        Ok(())
    });
    suite.run("exhaustion.deep_teardown_chain", || {
        // Each link is a started process whose first thread exits, with an
        // unstarted second thread, and whose handle table holds the last
        // handle to the next link's unstarted thread. Unstarted threads
        // once kept each link alive, and closing the head's thread tore
        // the chain down through every link at once (the kernel recursed
        // through that and overflowed its stack after a few hundred
        // links). Now each link ends with its first thread: thousands of
        // links end, none waits for the head.
        let code = step(Vmo::create(PAGE, 0), "code vmo")?;
        step(code.write(&exit_thread_code(), 0), "write code")?;
        let (witness, deepest) = step(EventPair::create(), "eventpair")?;
        let mut previous: Handle = deepest.into_handle();
        for level in 0..CHAIN_DEPTH {
            let link =
                |what| move |status: Status| alloc::format!("level {level}: {what}: {status:?}");
            let (process, vmar) = job.create_process("link").map_err(link("process"))?;
            let entry = vmar
                .map(
                    0,
                    &code,
                    0,
                    PAGE,
                    VmOptions::PERM_READ | VmOptions::PERM_EXECUTE,
                )
                .map_err(link("map"))?;
            let first = process.create_thread("first").map_err(link("thread"))?;
            let keeper = process.create_thread("keeper").map_err(link("thread"))?;
            // `previous` moves into the new process's handle table.
            process
                .start(&first, entry, entry + PAGE as usize, previous, 0)
                .map_err(link("start"))?;
            previous = keeper.into_handle();
        }
        // Every first thread runs to its exit, and its link ends with it,
        // while the head's unstarted thread is still held here.
        step(
            witness.wait_one(Signals::PEER_CLOSED, zx::deadline_after(5_000 * MS)),
            "the deepest link did not end",
        )?;
        drop(previous);
        Ok(())
    });
    suite.run("exhaustion.deep_channel_chain", || {
        // Channel endpoints inside channel endpoints, each link also
        // holding the last handles of an unstarted process and its thread.
        let (witness, deepest) = step(EventPair::create(), "eventpair")?;
        let mut previous: Option<Handle> = Some(deepest.into_handle());
        for level in 0..CHAIN_DEPTH {
            let (process, vmar) = step(job.create_process("link"), "process")
                .map_err(|why| alloc::format!("level {level}: {why}"))?;
            let thread = step(process.create_thread("link"), "thread")?;
            let (keep, send) = step(Channel::create(), "channel")?;
            let mut handles = vec![
                thread.into_handle(),
                process.into_handle(),
                vmar.into_handle(),
            ];
            handles.extend(previous.take());
            step(send.write(b"link", handles), "write")?;
            drop(send);
            previous = Some(keep.into_handle());
        }
        expect_status(
            witness.wait_one(Signals::PEER_CLOSED, 0).map(drop),
            Status::TIMED_OUT,
        )?;
        drop(previous);
        // By the time the close returned the whole chain is gone.
        step(
            witness.wait_one(Signals::PEER_CLOSED, 0),
            "the deepest link is alive",
        )?;
        Ok(())
    });
    suite.run("exhaustion.channel_cycle_collected", || {
        // Two endpoints queued on each other, the only handles to a
        // witness inside: no process can reach them. The collector runs
        // once enough endpoints have been carried; carry some until it has.
        let (witness, inside) = step(EventPair::create(), "eventpair")?;
        let (x0, x1) = step(Channel::create(), "x")?;
        let (y0, y1) = step(Channel::create(), "y")?;
        step(
            x0.write(b"x", vec![y1.into_handle(), inside.into_handle()]),
            "write y1",
        )?;
        step(y0.write(b"y", vec![x1.into_handle()]), "write x1")?;
        drop((x0, y0));
        let (k0, k1) = step(Channel::create(), "k")?;
        let mut buffer = zx::MessageBuf::default();
        for _ in 0..20_000 {
            if witness.wait_one(Signals::PEER_CLOSED, 0).is_ok() {
                return Ok(());
            }
            let (a, _b) = step(Channel::create(), "a")?;
            step(k0.write(b"carry", vec![a.into_handle()]), "carry")?;
            step(k1.read(&mut buffer), "read back")?;
            buffer.handles.clear();
        }
        Err("the cycle was never collected".into())
    });
    suite.run("exhaustion.channel_cycles_then_fresh_writer", || {
        // A program fills its job's message budget (1 MiB) with cycles no
        // one can reach, and exits. The budget is its job's alone: this
        // process writes as before; and a fresh process in the same job
        // can write too, once the collector has reclaimed the cycles.
        let limited = step(job.create_child(), "job")?;
        step(limited.set_limits(0, 1 << 20, 0, 0), "limit")?;
        check(
            child_limits(&limited, bootfs, &["fill", "8"])? == 8,
            "the filler did not build its 8 cycles",
        )?;
        let (mine, _theirs) = step(Channel::create(), "channel")?;
        step(mine.write(&[1; 1024], vec![]), "a write in another job")?;
        let written = child_limits(&limited, bootfs, &["write", "8"])?;
        check(
            written == 8,
            &alloc::format!("the fresh writer managed {written} of 8 writes"),
        )
    });
    suite.run("exhaustion.job_memory_limit_counts_committed_pages", || {
        // `vmo_write` commits pages without mapping them: a job's memory
        // limit must still bound them.
        let limited = step(job.create_child(), "job")?;
        step(limited.set_limits(0, 1 << 20, 0, 0), "limit")?;
        let run = |kib: &str| child_limits(&limited, bootfs, &["commit", kib]);
        let over = run("4096")?;
        check(
            over == i64::from(Status::NO_MEMORY.0),
            &alloc::format!("committing 4 MiB in a 1 MiB job ended with {over}"),
        )?;
        let under = run("256")?;
        check(
            under == 0,
            &alloc::format!("committing 256 KiB ended with {under}"),
        )
    });
    suite.run("exhaustion.shrink_under_memory_pressure", || {
        // Fill memory until the kernel refuses, then shrink: shrinking
        // frees memory, so it must work right then.
        let vmo = step(Vmo::create(0, zx::VMO_RESIZABLE), "vmo")?;
        let chunk = [0x77u8; 4096];
        let mut size = 0u64;
        let refused = loop {
            if let Err(status) = vmo.set_size(size + (1 << 20)) {
                break status;
            }
            let mut offset = size;
            let mut failed = None;
            while offset < size + (1 << 20) {
                if let Err(status) = vmo.write(&chunk, offset) {
                    failed = Some(status);
                    break;
                }
                offset += chunk.len() as u64;
            }
            size = offset;
            if let Some(status) = failed {
                break status;
            }
        };
        check(
            refused == Status::NO_MEMORY,
            "filling ended without NO_MEMORY",
        )?;
        step(vmo.set_size(0), "shrink under pressure")?;
        step(vmo.set_size(PAGE), "grow again")?;
        step(vmo.write(&chunk, 0), "write after the shrink")?;
        Ok(())
    });
    suite.run("exhaustion.close_under_memory_pressure", || {
        // Endpoints queued inside endpoints, each with full-ish queues;
        // then memory is filled to the kernel's reserve; then the head is
        // closed. Teardown must allocate nothing (it once moved the queues
        // into a growing list and panicked here).
        let (witness, deepest) = step(EventPair::create(), "eventpair")?;
        let mut head: Handle = deepest.into_handle();
        for _ in 0..64 {
            let (keep, send) = step(Channel::create(), "channel")?;
            step(send.write(b"link", vec![head]), "link")?;
            for _ in 0..200 {
                step(send.write(&[0x11; 256], vec![]), "filler")?;
            }
            drop(send);
            head = keep.into_handle();
        }
        let vmo = step(Vmo::create(0, zx::VMO_RESIZABLE), "vmo")?;
        let chunk = [0x55u8; 4096];
        let mut size = 0u64;
        loop {
            if vmo.set_size(size + PAGE).is_err() || vmo.write(&chunk, size).is_err() {
                break;
            }
            size += PAGE;
        }
        // Memory is at the reserve: close the chain (waits are refused
        // now, so look after freeing the filler; the teardown happened
        // within the close).
        drop(head);
        step(vmo.set_size(0), "free the filler")?;
        step(
            witness.wait_one(Signals::PEER_CLOSED, 0),
            "the chain was not torn down",
        )?;
        Ok(())
    });
    suite.run("exhaustion.handles_in_flight_are_charged", || {
        // Handles written into a channel leave the writer's table; they
        // still count against its job's handle limit until read, so a
        // program cannot hoard handles in queues.
        let limited = step(job.create_child(), "job")?;
        step(limited.set_limits(64, 0, 0, 0), "limit")?;
        let parked = child_limits(&limited, bootfs, &["park"])?;
        check(
            (32..=64).contains(&parked),
            &alloc::format!("the child parked {parked} handles under a limit of 64"),
        )
    });
    suite.run("exhaustion.mappings_are_bounded", || {
        // Every mapping costs kernel memory: a process holds at most
        // 16,384 regions, then NO_RESOURCES; unmapping gives them back.
        const MAX_REGIONS: u64 = 16_384;
        let vmo = step(Vmo::create(PAGE, 0), "vmo")?;
        let root = core::mem::ManuallyDrop::new(zx::Vmar::from_handle(Handle::from_raw(
            zx_runtime::vmar_root_self().0,
        )));
        let (region, base) = step(
            root.allocate(
                0,
                (MAX_REGIONS + 1) * PAGE,
                VmOptions::CAN_MAP_READ | VmOptions::CAN_MAP_SPECIFIC,
            ),
            "allocate",
        )?;
        let mut mapped = 0;
        let refused = loop {
            match region.map(
                mapped * PAGE,
                &vmo,
                0,
                PAGE,
                VmOptions::PERM_READ | VmOptions::SPECIFIC,
            ) {
                Ok(_) => mapped += 1,
                Err(status) => break status,
            }
            if mapped > MAX_REGIONS {
                break Status::OK;
            }
        };
        // SAFETY: nothing refers to the region's pages.
        let unmapped = unsafe { root.unmap(base, (MAX_REGIONS + 1) * PAGE) };
        step(unmapped, "unmap")?;
        check(refused == Status::NO_RESOURCES, "no NO_RESOURCES")?;
        check(
            mapped > MAX_REGIONS / 2 && mapped < MAX_REGIONS,
            &alloc::format!("{mapped} mappings"),
        )?;
        // Given back: a new mapping works.
        let address = step(
            root.map(0, &vmo, 0, PAGE, VmOptions::PERM_READ),
            "map again",
        )?;
        // SAFETY: nothing refers to the page.
        step(unsafe { root.unmap(address, PAGE) }, "unmap again")
    });
    suite.run("exhaustion.job_nesting_is_bounded", || {
        // Jobs nest at most 32 deep (teardown and limit checks walk the
        // chain).
        let mut chain: Vec<Job> = Vec::new();
        let refused = loop {
            let parent = chain.last().unwrap_or(job);
            match parent.create_child() {
                Ok(child) => chain.push(child),
                Err(status) => break status,
            }
            if chain.len() > 64 {
                break Status::OK;
            }
        };
        check(refused == Status::OUT_OF_RANGE, "no OUT_OF_RANGE")?;
        check(
            (1..32).contains(&chain.len()),
            &alloc::format!("{} nested jobs", chain.len()),
        )
    });
    suite.run("exhaustion.page_tables_are_charged", || {
        // One page mapped every 512 GiB costs the kernel three page tables
        // (12 KiB) per 4 KiB page: they count against the job's memory
        // limit, so a 1 MiB job runs out of them (and the mapper is
        // killed at a fault) before its mappings reach the limit.
        let limited = step(job.create_child(), "job")?;
        step(limited.set_limits(0, 1 << 20, 0, 0), "limit")?;
        let ended = child_limits(&limited, bootfs, &["sparse", "150"])?;
        check(
            ended == zx::RETCODE_EXCEPTION_KILL,
            &alloc::format!("the sparse mapper ended with {ended}"),
        )
    });
    suite.run("exhaustion.child_jobs_share_their_budget", || {
        // Four child jobs of a job limited to 1 MiB each queue up to eight
        // 60 KiB messages into channels this process holds the other ends
        // of: what they queue is charged to their parent too, so together
        // they get 1 MiB (17 messages), not 1 MiB each (32).
        let limited = step(job.create_child(), "job")?;
        step(limited.set_limits(0, 1 << 20, 0, 0), "limit")?;
        let mut queues = Vec::new();
        let mut counts = Vec::new();
        for _ in 0..4 {
            let child_job = step(limited.create_child(), "child job")?;
            let (mine, theirs) = step(Channel::create(), "channel")?;
            counts.push(write_into(&child_job, bootfs, theirs, 8)?);
            queues.push(mine);
        }
        let total: i64 = counts.iter().sum();
        check(
            counts[0] == 8 && (15..=17).contains(&total),
            &alloc::format!("the children queued {counts:?} messages"),
        )
    });
    suite.run(
        "exhaustion.a_child_job_cannot_take_its_parents_budget",
        || {
            // A program in a child job without limits of its own queues as
            // much as it may (the default cap: a quarter of RAM). That cap
            // bounds its own job only: this process, in the parent job, still
            // writes (once, a component could starve the component manager
            // this way).
            let child = step(job.create_child(), "job")?;
            let (mine, theirs) = step(Channel::create(), "channel")?;
            let queued = write_into(&child, bootfs, theirs, 100_000)?;
            check(
                queued > 100,
                &alloc::format!("the child queued only {queued}"),
            )?;
            let (a, _b) = step(Channel::create(), "channel")?;
            for index in 0..16 {
                step(
                    a.write(&vec![7u8; 60 * 1024], vec![]),
                    &alloc::format!("write {index} in the parent job"),
                )?;
            }
            drop(mine);
            Ok(())
        },
    );
    suite.run("exhaustion.kernel_heap_gives_memory_back", || {
        // A program in a job without a memory limit queues 60 KiB messages
        // into a channel this process holds the other end of, until the
        // kernel refuses (a quarter of RAM). The kernel's heap grows by
        // that much; once this process closes the channel, the heap gives
        // the pages back (the old heap kept every page it ever grew to),
        // and user programs can commit as much memory as before.
        let debug = crate::resources::resource("debug")?;
        let before = step(debug.kmem_stats(), "kmem stats")?;
        let committable = committable_mib()?;
        let hoarder = step(job.create_child(), "job")?;
        let (mine, theirs) = step(Channel::create(), "channel")?;
        let queued = write_into(&hoarder, bootfs, theirs, 100_000)?;
        let during = step(debug.kmem_stats(), "kmem stats")?;
        let queued_bytes = queued as u64 * 60 * 1024;
        check(
            queued_bytes > before.total_bytes / 8,
            &alloc::format!("only {queued} messages of 60 KiB queued"),
        )?;
        check(
            // (Pages the heap kept free before are used first.)
            during.heap_bytes >= before.heap_bytes + queued_bytes * 9 / 10,
            &alloc::format!(
                "the heap held {} KiB before and {} KiB with {queued} messages queued",
                before.heap_bytes / 1024,
                during.heap_bytes / 1024
            ),
        )?;
        drop(mine);
        let after = step(debug.kmem_stats(), "kmem stats")?;
        zx_runtime::println!(
            "exhaustion: kernel heap {} KiB before, {} KiB with {queued} messages of 60 KiB queued, {} KiB after",
            before.heap_bytes / 1024,
            during.heap_bytes / 1024,
            after.heap_bytes / 1024
        );
        // What stays is what the heap keeps against churn (free pages, a
        // cached run per small order, empty slab pages): the metadata of
        // the large blocks' range (512 KiB at the peak here) and its page
        // tables are given back too.
        check(
            after.heap_bytes <= before.heap_bytes + (128 << 10),
            &alloc::format!(
                "the heap held {} KiB before and still {} KiB after",
                before.heap_bytes / 1024,
                after.heap_bytes / 1024
            ),
        )?;
        let committable_after = committable_mib()?;
        check(
            committable_after + 1 >= committable,
            &alloc::format!("{committable} MiB committable before, {committable_after} MiB after"),
        )
    });
    suite.run("exhaustion.kmem_stats_needs_the_debug_resource", || {
        let event = step(Event::create(), "event")?;
        let not_resource = zx::Resource::from_handle(event.into_handle());
        expect_status(not_resource.kmem_stats().map(drop), Status::WRONG_TYPE)?;
        let mmio = crate::resources::resource("mmio")?;
        expect_status(mmio.kmem_stats().map(drop), Status::ACCESS_DENIED)?;
        let stats = step(
            crate::resources::resource("debug")?.kmem_stats(),
            "kmem stats",
        )?;
        check(
            stats.free_bytes <= stats.total_bytes
                && stats.total_bytes > 16 << 20
                && stats.heap_free_bytes <= stats.heap_bytes,
            &alloc::format!("{stats:?}"),
        )
    });
    suite.run("exhaustion.mass_kill_is_preemptible", || {
        // A job of 48 processes, each with 300 mappings of 32 committed
        // pages, is killed while another thread reads the clock in a loop.
        // The kill used to tear every process down inside the one syscall,
        // with interrupts off (the watcher saw the clock stand still for
        // the whole teardown); now ending a process is quick and its
        // teardown runs from the reap list a bounded time per kernel exit,
        // and an ended address space is freed whole, not page by page.
        use core::sync::atomic::Ordering;
        const PROCESSES: usize = 48;
        const MAPPINGS: usize = 300;
        const PAGES: u64 = 32;
        let victims = step(job.create_child(), "job")?;
        let vmo = step(Vmo::create(PAGES * PAGE, 0), "vmo")?;
        step(
            vmo.write(&alloc::vec![1u8; (PAGES * PAGE) as usize], 0),
            "commit",
        )?;
        let mut processes = Vec::new();
        for _ in 0..PROCESSES {
            let (process, vmar) = step(victims.create_process("victim"), "process")?;
            for _ in 0..MAPPINGS {
                step(
                    vmar.map(0, &vmo, 0, PAGES * PAGE, VmOptions::PERM_READ),
                    "map",
                )?;
            }
            processes.push(process);
        }
        WATCH_STOP.store(false, Ordering::SeqCst);
        LONGEST_GAP.store(0, Ordering::SeqCst);
        let watcher = step(
            crate::threads::with_process(|p| p.create_thread("gap-watcher")),
            "thread",
        )?;
        step(
            watcher.start(
                gap_watcher as *const () as usize,
                crate::threads::stack_top(3),
                0,
                0,
            ),
            "start",
        )?;
        // Let the watcher run a while first.
        step(zx::nanosleep(zx::deadline_after(30 * MS)), "sleep")?;
        let start = zx::clock_get_monotonic().into_nanos();
        step(zx::task_kill(&victims), "kill")?;
        let kill_took = zx::clock_get_monotonic().into_nanos() - start;
        for process in &processes {
            step(
                process.wait_one(Signals::TASK_TERMINATED, zx::deadline_after(60_000 * MS)),
                "a victim did not end",
            )?;
        }
        let all_took = zx::clock_get_monotonic().into_nanos() - start;
        step(zx::nanosleep(zx::deadline_after(30 * MS)), "sleep")?;
        WATCH_STOP.store(true, Ordering::SeqCst);
        step(
            watcher.wait_one(Signals::TASK_TERMINATED, zx::deadline_after(5_000 * MS)),
            "join",
        )?;
        let longest = LONGEST_GAP.load(Ordering::SeqCst);
        zx_runtime::println!(
            "exhaustion: killing {PROCESSES} processes of {MAPPINGS} mappings of {PAGES} pages: task_kill took {} us, the whole teardown {} ms, the longest the watcher waited {} ms",
            kill_took / 1000,
            all_took / 1_000_000,
            longest / 1_000_000
        );
        // (Time slices are 10 ms; the guest's clock also counts time the
        // loaded host did not run QEMU, hence the margin.)
        check(
            longest < 100 * MS,
            &alloc::format!(
                "the watcher waited {} ms (the kill took {} ms)",
                longest / 1_000_000,
                kill_took / 1_000_000
            ),
        )
    });
    suite.run("exhaustion.mass_kill_on_an_idle_cpu_ends_promptly", || {
        // The same kill with nothing else to run: the CPU is idle while
        // the victims are torn down, and the idle loop works through the
        // reap list a bounded step at a time (interrupts on between
        // steps) rather than 1 ms per 10 ms tick.
        const PROCESSES: usize = 48;
        const MAPPINGS: usize = 300;
        const PAGES: u64 = 32;
        let victims = step(job.create_child(), "job")?;
        let vmo = step(Vmo::create(PAGES * PAGE, 0), "vmo")?;
        step(
            vmo.write(&alloc::vec![1u8; (PAGES * PAGE) as usize], 0),
            "commit",
        )?;
        let mut processes = Vec::new();
        for _ in 0..PROCESSES {
            let (process, vmar) = step(victims.create_process("victim"), "process")?;
            for _ in 0..MAPPINGS {
                step(
                    vmar.map(0, &vmo, 0, PAGES * PAGE, VmOptions::PERM_READ),
                    "map",
                )?;
            }
            processes.push(process);
        }
        // One wait, for the job (terminated after its last process's
        // teardown): waiting on each process in turn would make this
        // thread's own kernel exits drive the teardown.
        let start = zx::clock_get_monotonic().into_nanos();
        step(zx::task_kill(&victims), "kill")?;
        step(
            victims.wait_one(Signals::TASK_TERMINATED, zx::deadline_after(10_000 * MS)),
            "the job did not end",
        )?;
        let all_took = zx::clock_get_monotonic().into_nanos() - start;
        for process in &processes {
            step(
                process.wait_one(Signals::TASK_TERMINATED, zx::deadline_after(0)),
                "a victim of the ended job has not ended",
            )?;
        }
        zx_runtime::println!(
            "exhaustion: killing {PROCESSES} processes of {MAPPINGS} mappings of {PAGES} pages on an idle CPU: the whole teardown {} us",
            all_took / 1000
        );
        Ok(())
    });
    suite.run("exhaustion.hostile_waves_leave_nothing_behind", || {
        // Waves of hostile programs in one job at once, each flooding a
        // kind of kernel object (objects of every kind, unreachable
        // channel cycles, full ports, handles parked in queued messages,
        // full sockets, unread messages, sparse mappings; threads that
        // make objects and kill each other mid-syscall), killed mid-flood
        // after a delay that grows per wave.
        // After each wave a fresh program still starts and writes, this
        // process still creates, writes and reads a channel, and the
        // kernel's heap and free memory are back where they were.
        let debug = crate::resources::resource("debug")?;
        let baseline = step(debug.kmem_stats(), "kmem stats")?;
        let floods: [&[&str]; 10] = [
            &["brawl", "1000"],
            &["objects", "20000"],
            &["fill", "400"],
            &["ports", "16"],
            &["park"],
            &["sockets", "8"],
            &["datagrams", "8"],
            &["write", "400"],
            &["sparse", "64"],
            &["objects", "20000"],
        ];
        // (`usertest.hostile-waves=N` on the kernel command line asks for
        // a longer run.)
        let waves = zx_runtime::args()
            .iter()
            .find_map(|arg| arg.strip_prefix("usertest.hostile-waves="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(HOSTILE_WAVES);
        for wave in 0..waves {
            let hostile = step(job.create_child(), "job")?;
            step(hostile.set_limits(0, 8 << 20, 0, 0), "limit")?;
            let mut launched = Vec::new();
            for args in floods {
                let mut argv = vec!["bin/child-limits"];
                argv.extend_from_slice(args);
                launched.push(crate::processes::start(
                    &hostile,
                    bootfs,
                    "bin/child-limits",
                    &argv,
                    vec![],
                )?);
            }
            step(
                zx::nanosleep(zx::deadline_after((10 + 15 * (wave % 8) as i64) * MS)),
                "sleep",
            )?;
            step(zx::task_kill(&hostile), "kill")?;
            for program in &launched {
                step(
                    program
                        .process
                        .wait_one(Signals::TASK_TERMINATED, zx::deadline_after(30_000 * MS)),
                    "a hostile program did not end",
                )?;
            }
            drop(launched);
            drop(hostile);
            // A fresh program starts and writes.
            let fresh = step(job.create_child(), "job")?;
            let wrote = child_limits(&fresh, bootfs, &["write", "8"])?;
            check(
                wrote == 8,
                &alloc::format!("wave {wave}: a fresh program wrote {wrote} messages of 8"),
            )?;
            drop(fresh);
            // Unreachable channel cycles the wave left (`fill`) wait for
            // the kernel's next collection, amortized over the endpoints
            // carried or at once when a write is refused for lack of
            // budget: a program in a 1 MiB job writes until refused.
            let small = step(job.create_child(), "job")?;
            step(small.set_limits(0, 1 << 20, 0, 0), "limit")?;
            let refused_after = child_limits(&small, bootfs, &["write", "100"])?;
            check(
                refused_after < 100,
                &alloc::format!("wave {wave}: a 1 MiB job wrote {refused_after} messages of 60 KiB"),
            )?;
            drop(small);
            // This process creates, writes and reads a channel.
            let (a, b) = step(Channel::create(), "channel")?;
            step(a.write(b"still here", vec![]), "write")?;
            let mut message = zx::MessageBuf::default();
            step(b.read(&mut message), "read")?;
            check(message.bytes == b"still here", "read back something else")?;
            // Nothing stays behind.
            let now = step(debug.kmem_stats(), "kmem stats")?;
            zx_runtime::println!(
                "exhaustion: hostile wave {wave}: kernel heap {} KiB (baseline {} KiB), free {} KiB (baseline {} KiB)",
                now.heap_bytes / 1024,
                baseline.heap_bytes / 1024,
                now.free_bytes / 1024,
                baseline.free_bytes / 1024
            );
            check(
                now.heap_bytes <= baseline.heap_bytes + (256 << 10)
                    && now.free_bytes + (256 << 10) >= baseline.free_bytes,
                &alloc::format!(
                    "wave {wave}: heap {} KiB and free {} KiB, from {} KiB and {} KiB",
                    now.heap_bytes / 1024,
                    now.free_bytes / 1024,
                    baseline.heap_bytes / 1024,
                    baseline.free_bytes / 1024
                ),
            )?;
        }
        Ok(())
    });
    suite.run("exhaustion.kernel_objects_are_charged", || {
        // Every object a program makes (and every VMAR or mapping, and a
        // VMO's page list) holds kernel memory charged to its job's memory
        // account: a job limited to 1 MiB makes a few thousand objects,
        // then NO_MEMORY. Before, only the handle limit stopped it,
        // whatever the job's memory limit.
        let limited = step(job.create_child(), "job")?;
        step(limited.set_limits(0, 1 << 20, 0, 0), "limit")?;
        let made = child_limits(&limited, bootfs, &["objects", "20000"])?;
        zx_runtime::println!("exhaustion: a job limited to 1 MiB made {made} objects");
        check(
            (300..=10_000).contains(&made),
            &alloc::format!("the child made {made} objects (1,000,000 + N: none refused)"),
        )?;
        // All of it is given back when the program ends: a second one
        // makes as many.
        let again = child_limits(&limited, bootfs, &["objects", "20000"])?;
        check(
            again.abs_diff(made) <= 16,
            &alloc::format!("the first child made {made} objects, the second {again}"),
        )
    });
    suite.run("exhaustion.handle_table_growth_is_charged", || {
        // A handle table grows (doubling) as handles are added; each growth
        // is charged to the process's job before it is made. A job limited
        // to 1 MiB duplicates one handle until NO_MEMORY: its table stops
        // short of 32,768 slots (about 1.1 MiB), where before only the
        // handle limit (65,536) stopped it.
        let limited = step(job.create_child(), "job")?;
        step(limited.set_limits(0, 1 << 20, 0, 0), "limit")?;
        let copies = child_limits(&limited, bootfs, &["dup-handles", "70000"])?;
        zx_runtime::println!("exhaustion: a job limited to 1 MiB holds {copies} handle copies");
        check(
            (1_000..32_768).contains(&copies),
            &alloc::format!(
                "the child held {copies} copies (1,000,000 + N: none refused; negative: \
                 another status than NO_MEMORY)"
            ),
        )?;
        // The table's charge is given back when it is freed: a second
        // program in the same job takes as many.
        let again = child_limits(&limited, bootfs, &["dup-handles", "70000"])?;
        check(
            again == copies,
            &alloc::format!("the first child held {copies} copies, the second {again}"),
        )?;
        // And the job's memory is whole again: the objects test's program
        // makes as many objects as in a fresh 1 MiB job.
        let fresh = step(job.create_child(), "fresh job")?;
        step(fresh.set_limits(0, 1 << 20, 0, 0), "fresh limit")?;
        let in_fresh = child_limits(&fresh, bootfs, &["objects", "20000"])?;
        let in_used = child_limits(&limited, bootfs, &["objects", "20000"])?;
        check(
            in_fresh.abs_diff(in_used) <= 16,
            &alloc::format!(
                "a fresh job's program made {in_fresh} objects, the used job's {in_used}"
            ),
        )
    });
    suite.run("exhaustion.idle_channel_queues_are_charged", || {
        // A job limited to 1 MiB runs 16 channel pairs up to 3,500 queued
        // requests and reply records each, one pair at a time, answers and
        // reads everything and keeps the pairs open, idle: the queues and
        // record tables the kernel grew for them must be charged (or given
        // back), so the kernel heap the idle job holds stays near its limit.
        let before = crate::fastpath_attack::heap_bytes()?;
        let limited = step(job.create_child(), "job")?;
        step(limited.set_limits(0, 1 << 20, 0, 0), "limit")?;
        let (ready, ready_theirs) = step(Channel::create(), "ready channel")?;
        let child = crate::processes::start(
            &limited,
            bootfs,
            "bin/child-limits",
            &["bin/child-limits", "idle-queues", "16"],
            vec![(zx::processargs::USER_BASE, ready_theirs.into_handle())],
        )?;
        let signals = ready.wait_one(
            zx::Signals::CHANNEL_READABLE | zx::Signals::PEER_CLOSED,
            zx::deadline_after(60_000_000_000),
        );
        let held = crate::fastpath_attack::heap_bytes()?;
        step(zx::task_kill(&limited), "kill")?;
        let code = crate::processes::wait_end(&child)?;
        step(signals, "ready")?;
        zx_runtime::println!(
            "exhaustion: a 1 MiB job with 16 idle channel pairs: kernel heap {} KiB before, {} KiB held (child {code})",
            before / 1024,
            held / 1024
        );
        check(
            held <= before + (2 << 20),
            &alloc::format!(
                "a job limited to 1 MiB holds {} KiB of kernel heap in idle channels",
                (held - before) / 1024
            ),
        )
    });
    suite.run("exhaustion.port_queues_are_charged", || {
        // A full port holds 4,096 packets (and the observers behind them):
        // its queue is charged to its creator's job, so a 1 MiB job fills
        // a couple of ports, not sixteen.
        let limited = step(job.create_child(), "job")?;
        step(limited.set_limits(0, 1 << 20, 0, 0), "limit")?;
        let filled = child_limits(&limited, bootfs, &["ports", "16"])?;
        check(
            (0..8).contains(&filled),
            &alloc::format!("the child filled {filled} ports"),
        )
    });
}

/// Runs `child-limits write-into messages` in `job` with `channel` (whose
/// other end the caller keeps); returns how many messages it queued.
fn write_into(
    job: &Job,
    bootfs: &[u8],
    channel: Channel,
    messages: u32,
) -> Result<i64, alloc::string::String> {
    let count = alloc::format!("{messages}");
    child_limits_with(
        job,
        bootfs,
        &["write-into", &count],
        vec![(zx::processargs::USER_BASE, channel.into_handle())],
    )
}

/// How many MiB this process can commit (writing a VMO MiB by MiB until
/// the kernel refuses), given back before returning.
fn committable_mib() -> Result<u64, alloc::string::String> {
    let vmo = step(Vmo::create(1 << 30, 0), "probe vmo")?;
    let chunk = vec![0x11_u8; 1 << 20];
    let mut mib = 0;
    while mib < 1024 && vmo.write(&chunk, mib << 20).is_ok() {
        mib += 1;
    }
    Ok(mib)
}
