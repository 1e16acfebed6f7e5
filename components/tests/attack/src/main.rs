//! Adversarial program: tries to exhaust, hang or crash the kernel from an
//! unprivileged user program.
//!
//! Run with no mode (`bin/attack`) it is the driver: it measures how much
//! memory a fresh process can commit (the "probe"), then runs each attack
//! named by `attack.modes=a,b,c` on the kernel command line in a child
//! process of its own job, while watching the timer (the largest gap
//! between 10 ms waits), then probes again and kills the attack's job.
//!
//! `bin/attack <mode>` runs one attack (see `attack()`).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use zx::numbers as nr;
use zx::{
    processargs, AsHandleRef, Channel, Event, Handle, Job, Port, Rights, Signals, Status, Timer,
    VmOptions, Vmar, Vmo,
};
use zx_runtime::println;

zx_runtime::entry!(main);

const MS: i64 = 1_000_000;
const SECOND: i64 = 1_000_000_000;
const MIB: u64 = 1 << 20;
const PAGE: u64 = 4096;

fn now() -> i64 {
    zx::clock_get_monotonic().into_nanos()
}

fn raw(number: u64, args: [u64; 8]) -> Status {
    // SAFETY: callers pass pointers the kernel may read or write, or none.
    Status::from_raw(unsafe { zx::syscall_raw(number, args) })
}

fn root_vmar() -> core::mem::ManuallyDrop<Vmar> {
    core::mem::ManuallyDrop::new(Vmar::from_handle(Handle::from_raw(
        zx_runtime::vmar_root_self().0,
    )))
}

fn self_process() -> core::mem::ManuallyDrop<zx::Process> {
    core::mem::ManuallyDrop::new(zx::Process::from_handle(Handle::from_raw(
        zx_runtime::process_self().0,
    )))
}

fn main() -> i64 {
    let args = zx_runtime::args();
    match args.get(1).map(|s| s.as_str()) {
        Some(mode) if !mode.starts_with("attack.") => attack(mode, &args[2..]),
        _ => driver(),
    }
}

// ---------------------------------------------------------------- driver

struct Ctx {
    job: Job,
    bootfs: zx_runtime::ReadOnlyMapping,
    bootfs_vmo: Vmo,
}

fn launch(ctx: &Ctx, job: &Job, args: &[&str]) -> Result<zx_launch::Launched, String> {
    let fs = bootfs::Bootfs::parse(&ctx.bootfs).map_err(|e| alloc::format!("bootfs: {e}"))?;
    let file = fs.find("bin/attack").ok_or("no bin/attack")?;
    let mut handles = Vec::new();
    if let Ok(j) = job.handle().duplicate(Rights::SAME_RIGHTS) {
        handles.push((processargs::JOB_DEFAULT, j));
    }
    if let Ok(b) = ctx.bootfs_vmo.handle().duplicate(Rights::SAME_RIGHTS) {
        handles.push((processargs::BOOTFS_VMO, b));
    }
    let mut all = vec!["bin/attack"];
    all.extend_from_slice(args);
    zx_launch::launch(
        job,
        zx_launch::Program {
            name: "bin/attack",
            elf: file.data,
            args: &all,
            handles,
            names: &[],
        },
    )
    .map_err(|e| alloc::format!("launch: {e}"))
}

/// Waits for `process` to end (or `limit` to pass), measuring the largest
/// gap between 10 ms waits. Returns (ended, return code, max gap ms).
fn watch(process: &zx::Process, limit: i64) -> (bool, i64, i64) {
    let start = now();
    let mut max_gap = 0;
    loop {
        let before = now();
        let r = process.wait_one(Signals::TASK_TERMINATED, before + 10 * MS);
        let gap = now() - before;
        if gap > max_gap {
            max_gap = gap;
        }
        if r.is_ok() {
            let code = process.state().map(|s| s.return_code).unwrap_or(-9999);
            return (true, code, max_gap / MS);
        }
        if now() - start > limit {
            return (false, 0, max_gap / MS);
        }
    }
}

/// Starts a fresh process that commits as many MiB as it can (up to
/// `cap`) and reports how many; -1 if no process could be started.
fn probe(ctx: &Ctx, what: &str) -> i64 {
    let t0 = now();
    let job = match ctx.job.create_child() {
        Ok(j) => j,
        Err(s) => {
            println!("attack: PROBE {what}: job_create failed: {s}");
            return -1;
        }
    };
    let launched = match launch(ctx, &job, &["probe"]) {
        Ok(l) => l,
        Err(e) => {
            println!("attack: PROBE {what}: cannot start a process: {e}");
            let _ = zx::task_kill(&job);
            return -1;
        }
    };
    let (ended, code, gap) = watch(&launched.process, 60 * SECOND);
    let _ = zx::task_kill(&job);
    // A channel write from here, too.
    let chan_ok = Channel::create()
        .and_then(|(a, b)| {
            a.write(b"x", vec![])?;
            let mut buf = zx::MessageBuf {
                bytes: Vec::new(),
                handles: Vec::new(),
            };
            b.read(&mut buf)
        })
        .is_ok();
    println!(
        "attack: PROBE {what}: ended={ended} committed={code} MiB ({} ms, max gap {gap} ms) channel_ok={chan_ok}",
        (now() - t0) / MS
    );
    code
}

fn driver() -> i64 {
    let job = Job::from_handle(zx_runtime::take_startup_handle(processargs::JOB_DEFAULT).unwrap());
    let bootfs_vmo =
        Vmo::from_handle(zx_runtime::take_startup_handle(processargs::BOOTFS_VMO).unwrap());
    let size = bootfs_vmo.size().unwrap();
    let bootfs = zx_runtime::ReadOnlyMapping::new(&bootfs_vmo, size).unwrap();
    let ctx = Ctx {
        job,
        bootfs,
        bootfs_vmo,
    };
    let modes: Vec<String> = zx_runtime::args()
        .iter()
        .filter_map(|a| a.strip_prefix("attack.modes="))
        .flat_map(|m| m.split(',').map(String::from).collect::<Vec<_>>())
        .collect();
    println!("attack: modes {:?}", modes);
    let debug = processargs::resource_arg("debug")
        .and_then(|arg| zx_runtime::take_startup_handle(processargs::resource(arg)))
        .map(zx::Resource::from_handle);
    let kmem = |when: &str| {
        if let Some(stats) = debug.as_ref().and_then(|d| d.kmem_stats().ok()) {
            println!(
                "attack: KMEM {when}: free {} KiB, heap {} KiB ({} KiB kept free)",
                stats.free_bytes / 1024,
                stats.heap_bytes / 1024,
                stats.heap_free_bytes / 1024
            );
        }
    };
    kmem("baseline");
    let baseline = probe(&ctx, "baseline");
    for mode in &modes {
        // `mode:arg:arg` passes arguments.
        let parts: Vec<&str> = mode.split(':').collect();
        println!("attack: ==== {mode} ====");
        let vjob = ctx.job.create_child().unwrap();
        let victim = launch(&ctx, &vjob, &["victim"]).ok();
        let job = ctx.job.create_child().unwrap();
        let t0 = now();
        let launched = match launch(&ctx, &job, &parts) {
            Ok(l) => l,
            Err(e) => {
                println!("attack: cannot start {mode}: {e}");
                continue;
            }
        };
        let (ended, code, gap) = watch(&launched.process, 120 * SECOND);
        println!(
            "attack: {mode}: ended={ended} code={code} after {} ms, max timer gap {gap} ms",
            (now() - t0) / MS
        );
        if !ended {
            // The attack holds its resources: probe while it lives.
            probe(&ctx, &alloc::format!("during {mode}"));
        }
        let t1 = now();
        let _ = zx::task_kill(&job);
        let _ = launched
            .process
            .wait_one(Signals::TASK_TERMINATED, now() + 10 * SECOND);
        println!("attack: {mode}: killed in {} ms", (now() - t1) / MS);
        drop(launched);
        drop(job);
        if let Some(v) = &victim {
            match v.process.state() {
                Ok(st) if st.flags & zx::info::PROCESS_EXITED != 0 => println!(
                    "attack: VICTIM (another job) DIED during {mode}: code {}",
                    st.return_code
                ),
                Ok(_) => println!("attack: victim still alive after {mode}"),
                Err(s) => println!("attack: victim state: {s}"),
            }
        }
        let _ = zx::task_kill(&vjob);
        kmem(&alloc::format!("after {mode}"));
        let after = probe(&ctx, &alloc::format!("after {mode}"));
        if after >= 0 && baseline > 0 && after + 4 < baseline {
            println!(
                "attack: DEGRADED after {mode}: {after} MiB committable, baseline {baseline} MiB"
            );
        }
    }
    println!("attack: all done");
    0
}

// ---------------------------------------------------------------- attacks

fn attack(mode: &str, args: &[String]) -> i64 {
    let n = |i: usize, default: u64| -> u64 {
        args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
    };
    match mode {
        "probe" => probe_commit(),
        "ptables" => ptables(n(0, 0), n(1, 0), n(2, 1), n(3, 0)),
        "zeromsgs" => zeromsgs(n(0, 0)),
        "ports" => ports(),
        "unmapbomb" => unmapbomb(n(0, 200000), n(1, 2)),
        "vmarsfast" => vmarsfast(n(0, 500000)),
        "inflight" => inflight(n(0, 16000), n(1, 2000)),
        "tablebomb" => tablebomb(n(0, 57344 - 32), n(1, 1)),
        "victim" => victim(),
        "heapgrow" => heapgrow(n(0, 3)),
        "msgs" => msgs(),
        "canwrite" => canwrite(n(0, 3)),
        "heaporders" => heaporders(),
        "timers" => timers(n(0, 60000)),
        "maps" => maps(n(0, 20000)),
        "waits" => waits(n(0, 500)),
        "objects" => objects(),
        "jobs" => jobs(),
        "vmars" => vmars(),
        "hold" => {
            let _ = zx::nanosleep(zx::TIME_INFINITE);
            0
        }
        _ => {
            println!("attack: unknown mode {mode}");
            -100
        }
    }
}

/// Commits MiB after MiB of a VMO with vmo_write until refused; returns
/// how many MiB it got (capped at 4 GiB).
fn probe_commit() -> i64 {
    let Ok(vmo) = Vmo::create(4 << 30, 0) else {
        return -2;
    };
    let chunk = vec![1u8; MIB as usize];
    let mut mib = 0;
    while mib < 4096 {
        if vmo.write(&chunk, mib * MIB).is_err() {
            break;
        }
        mib += 1;
    }
    mib as i64
}

/// Page-table exhaustion: a 1-page VMO mapped, touched and unmapped at
/// addresses 1 GiB apart; every touch needs a fresh page directory and
/// page table, which are freed only with the address space and are not
/// charged to the job. The job's memory limit is set to 64 KiB first.
/// Touches through the kernel (vmo_read into the mapping) so running out
/// fails the syscall instead of killing us; then holds everything.
fn ptables(limit: u64, extra: u64, limit_mib: u64, hold_secs: u64) -> i64 {
    if let Some(job) = zx_runtime::take_startup_handle(processargs::JOB_DEFAULT) {
        let job = Job::from_handle(job);
        match job.set_limits(0, limit_mib << 20, 0, 0) {
            Ok(()) => println!("attack: ptables: job memory limit set to {limit_mib} MiB"),
            Err(s) => println!("attack: ptables: set_limits: {s}"),
        }
    }
    let vmo = Vmo::create(PAGE, 0).unwrap();
    let src = Vmo::create(PAGE, 0).unwrap();
    let root = root_vmar();
    let mut count = 0u64;
    let t0 = now();
    let base = 1u64 << 33; // 8 GiB
    let step = 1u64 << 30;
    // `extra` mappings made now, touched only once map is refused: the
    // kernel's user copy keeps resolving faults down to a quarter of the
    // reserve, where every other process's page faults kill it.
    let extra_base = 1u64 << 46; // 64 TiB
    let mut extras = Vec::new();
    for i in 0..extra {
        match root.map(
            extra_base + i * step,
            &vmo,
            0,
            PAGE,
            VmOptions::PERM_READ | VmOptions::PERM_WRITE | VmOptions::SPECIFIC,
        ) {
            Ok(a) => extras.push(a),
            Err(s) => {
                println!("attack: ptables: extra map {i}: {s}");
                break;
            }
        }
    }
    loop {
        let addr_off = base + count * step;
        if addr_off + PAGE >= zx::USER_ADDRESS_LIMIT - zx::ROOT_VMAR_BASE {
            println!("attack: ptables: ran out of address space");
            break;
        }
        let address = match root.map(
            addr_off,
            &vmo,
            0,
            PAGE,
            VmOptions::PERM_READ | VmOptions::PERM_WRITE | VmOptions::SPECIFIC,
        ) {
            Ok(a) => a,
            Err(s) => {
                println!("attack: ptables: map #{count} failed: {s}");
                break;
            }
        };
        // The kernel writes into the fresh mapping: page tables get built.
        let r = raw(
            nr::VMO_READ,
            [src.raw_handle() as u64, address as u64, 0, 8, 0, 0, 0, 0],
        );
        // SAFETY: nothing refers to the mapping.
        let _ = unsafe { root.unmap(address, PAGE) };
        if r != Status::OK {
            println!("attack: ptables: touch #{count} failed: {r}");
            break;
        }
        count += 1;
        if count.is_multiple_of(10000) {
            println!(
                "attack: ptables: {count} touches (~{} MiB of page tables), {} ms",
                count * 2 * PAGE / MIB,
                (now() - t0) / MS
            );
        }
        if limit != 0 && count >= limit {
            break;
        }
    }
    let mut touched = 0;
    for &address in &extras {
        let r = raw(
            nr::VMO_READ,
            [src.raw_handle() as u64, address as u64, 0, 8, 0, 0, 0, 0],
        );
        if r != Status::OK {
            println!("attack: ptables: extra touch #{touched} failed: {r}");
            break;
        }
        touched += 1;
    }
    if !extras.is_empty() {
        println!("attack: ptables: {touched} extra touches after map was refused");
    }
    println!(
        "attack: ptables: stopped after {count} touches (~{} MiB of page tables) in {} ms; holding",
        count * 2 * PAGE / MIB,
        (now() - t0) / MS
    );
    // Can we still do things?
    println!(
        "attack: ptables: event_create now: {:?}",
        Event::create().map(drop)
    );
    if hold_secs != 0 {
        let _ = zx::nanosleep(now() + hold_secs as i64 * SECOND);
        println!("attack: ptables: releasing after {hold_secs} s");
        return 0;
    }
    let _ = zx::nanosleep(zx::TIME_INFINITE);
    0
}

/// Zero-byte messages cost no budget: fill channel queues with them (the
/// job's memory limit set to 1 MiB first), keeping every channel.
fn zeromsgs(max_channels: u64) -> i64 {
    if let Some(job) = zx_runtime::take_startup_handle(processargs::JOB_DEFAULT) {
        let _ = Job::from_handle(job).set_limits(0, 1 << 20, 0, 0);
    }
    let mut keep = Vec::new();
    let mut total = 0u64;
    let t0 = now();
    let last = loop {
        let (a, b) = match Channel::create() {
            Ok(p) => p,
            Err(s) => break s,
        };
        let mut status = Status::OK;
        for _ in 0..3500 {
            let r = raw(
                nr::CHANNEL_WRITE,
                [a.raw_handle() as u64, 0, 0, 0, 0, 0, 0, 0],
            );
            if r != Status::OK {
                status = r;
                break;
            }
            total += 1;
        }
        keep.push((a, b));
        if status != Status::OK && status != Status::SHOULD_WAIT {
            break status;
        }
        if keep.len() % 1000 == 0 {
            println!(
                "attack: zeromsgs: {} channels, {total} messages, {} ms",
                keep.len(),
                (now() - t0) / MS
            );
        }
        if max_channels != 0 && keep.len() as u64 >= max_channels {
            break Status::OK;
        }
    };
    println!(
        "attack: zeromsgs: {total} zero-byte messages in {} channels, then {last}, {} ms; holding",
        keep.len(),
        (now() - t0) / MS
    );
    let _ = zx::nanosleep(zx::TIME_INFINITE);
    0
}

/// Handle-table growth when memory is short: the table (a hash map) is
/// filled to just below a resize; memory is driven below the reserve
/// with page tables; then a `channel_read` (not refused below the
/// reserve) moves 64 handles into the table, whose resize needs one
/// allocation of about 4 MiB.
fn tablebomb(fill_to: u64, squeeze: u64) -> i64 {
    let (c0, c1) = Channel::create().unwrap();
    let mut carried = Vec::new();
    for _ in 0..64 {
        carried.push(Event::create().unwrap().into_handle());
    }
    c0.write(b"bomb", carried).unwrap();
    // For squeeze 3: channels made now, filled with zero-byte messages
    // (no page tables, no budget) once the table is ready.
    let mut pairs = Vec::new();
    if squeeze == 3 {
        for _ in 0..1300 {
            pairs.push(Channel::create().unwrap());
        }
    }
    let process = self_process();
    let mut kept = Vec::with_capacity(70000);
    let t0 = now();
    loop {
        let count = process.resources().unwrap().handle_count;
        if count >= fill_to {
            println!(
                "attack: tablebomb: {count} handles in the table ({} ms)",
                (now() - t0) / MS
            );
            break;
        }
        match Event::create() {
            Ok(e) => kept.push(e),
            Err(s) => {
                println!("attack: tablebomb: event_create at {count}: {s}");
                break;
            }
        }
    }
    if squeeze == 3 {
        let mut total = 0u64;
        let mut last = Status::OK;
        'outer: for (a, _) in &pairs {
            for _ in 0..3500 {
                let r = raw(
                    nr::CHANNEL_WRITE,
                    [a.raw_handle() as u64, 0, 0, 0, 0, 0, 0, 0],
                );
                if r == Status::SHOULD_WAIT {
                    break;
                }
                if r != Status::OK {
                    last = r;
                    break 'outer;
                }
                total += 1;
            }
        }
        println!("attack: tablebomb: squeezed memory with {total} zero-byte messages, then {last}");
    } else if squeeze != 0 {
        let vmo = Vmo::create(PAGE, 0).unwrap();
        let src = Vmo::create(PAGE, 0).unwrap();
        let root = root_vmar();
        let step = 1u64 << 30;
        let mut extras = Vec::new();
        for i in 0..1000u64 {
            if let Ok(a) = root.map(
                (1u64 << 46) + i * step,
                &vmo,
                0,
                PAGE,
                VmOptions::PERM_READ | VmOptions::PERM_WRITE | VmOptions::SPECIFIC,
            ) {
                extras.push(a);
            }
        }
        let mut count = 0u64;
        while let Ok(address) = root.map(
            (1u64 << 33) + count * step,
            &vmo,
            0,
            PAGE,
            VmOptions::PERM_READ | VmOptions::PERM_WRITE | VmOptions::SPECIFIC,
        ) {
            let r = raw(
                nr::VMO_READ,
                [src.raw_handle() as u64, address as u64, 0, 8, 0, 0, 0, 0],
            );
            // SAFETY: nothing refers to the mapping.
            let _ = unsafe { root.unmap(address, PAGE) };
            if r != Status::OK {
                break;
            }
            count += 1;
        }
        let mut touched = 0;
        if squeeze > 1 {
            for &address in &extras {
                if raw(
                    nr::VMO_READ,
                    [src.raw_handle() as u64, address as u64, 0, 8, 0, 0, 0, 0],
                ) != Status::OK
                {
                    break;
                }
                touched += 1;
            }
        }
        println!("attack: tablebomb: squeezed memory: {count} + {touched} page-table touches");
    }
    let mut bytes = [0u8; 64];
    let mut handles = [0u32; 64];
    let (mut ab, mut ah) = (0u32, 0u32);
    println!("attack: tablebomb: reading 64 handles");
    let r = raw(
        nr::CHANNEL_READ,
        [
            c1.raw_handle() as u64,
            0,
            bytes.as_mut_ptr() as u64,
            handles.as_mut_ptr() as u64,
            64,
            64,
            &mut ab as *mut u32 as u64,
            &mut ah as *mut u32 as u64,
        ],
    );
    println!("attack: tablebomb: channel_read: {r}, survived");
    let _ = zx::nanosleep(zx::TIME_INFINITE);
    0
}

/// Many endpoints in flight (parked in a queue), then writes refused for
/// lack of budget, each of which runs a full collection first.
fn inflight(pairs: u64, refusals: u64) -> i64 {
    if let Some(job) = zx_runtime::take_startup_handle(processargs::JOB_DEFAULT) {
        let _ = Job::from_handle(job).set_limits(0, 1 << 20, 0, 0);
    }
    let (sink_w, _sink_r) = Channel::create().unwrap();
    let t0 = now();
    let mut parked = 0u64;
    let mut batch = Vec::new();
    for _ in 0..pairs {
        let Ok((a, b)) = Channel::create() else { break };
        // Each endpoint carries a handle to a third one, so candidates'
        // queues have something to walk.
        if let Ok((c, d)) = Channel::create() {
            let _ = a.write(b"", vec![c.into_handle()]);
            drop(d);
        }
        batch.push(a.into_handle());
        batch.push(b.into_handle());
        if batch.len() == 64 {
            if let Err(s) = sink_w.write(b"", core::mem::take(&mut batch)) {
                println!("attack: inflight: park refused: {s}");
                break;
            }
            parked += 64;
        }
    }
    println!(
        "attack: inflight: {parked} endpoints parked in {} ms",
        (now() - t0) / MS
    );
    let (w, _r) = Channel::create().unwrap();
    let payload = vec![0u8; 65536];
    let mut accepted = 0;
    while w.write(&payload, vec![]).is_ok() {
        accepted += 1;
    }
    let t1 = now();
    let mut worst = 0;
    for _ in 0..refusals {
        let b = now();
        let _ = w.write(&payload, vec![]);
        worst = worst.max(now() - b);
    }
    println!(
        "attack: inflight: {accepted} accepted, then {refusals} refused writes in {} ms (worst {} ms)",
        (now() - t1) / MS,
        worst / MS
    );
    0
}

/// One-page VMARs at specific offsets (no linear placement scan), each
/// handle closed at once: nothing bounds their number but the heap. Then
/// exits: teardown happens in one go.
fn vmarsfast(count: u64) -> i64 {
    let root = root_vmar();
    let t0 = now();
    let mut made = 0u64;
    let mut last = Status::OK;
    for i in 0..count {
        match root.allocate(
            (1u64 << 40) + i * 2 * PAGE,
            PAGE,
            VmOptions::CAN_MAP_READ | VmOptions::SPECIFIC,
        ) {
            Ok((v, _)) => drop(v),
            Err(s) => {
                last = s;
                break;
            }
        }
        made += 1;
        if made.is_multiple_of(100000) {
            println!("attack: vmarsfast: {made} in {} ms", (now() - t0) / MS);
        }
    }
    println!(
        "attack: vmarsfast: {made} regions then {last} in {} ms; exiting",
        (now() - t0) / MS
    );
    0
}

/// Drives free memory below the reserve with page tables (mapping one
/// page at a time, so a 4 MiB mapping limit is enough); `deep`: then on
/// down to a quarter of it through the kernel's user copies.
fn squeeze_page_tables(deep: bool) -> (u64, u64) {
    let vmo = Vmo::create(PAGE, 0).unwrap();
    let src = Vmo::create(PAGE, 0).unwrap();
    let root = root_vmar();
    let step = 1u64 << 30;
    let mut extras = Vec::new();
    if deep {
        for i in 0..700u64 {
            match root.map(
                (1u64 << 46) + i * step,
                &vmo,
                0,
                PAGE,
                VmOptions::PERM_READ | VmOptions::PERM_WRITE | VmOptions::SPECIFIC,
            ) {
                Ok(a) => extras.push(a),
                Err(_) => break,
            }
        }
    }
    let mut count = 0u64;
    while let Ok(address) = root.map(
        (1u64 << 33) + count * step,
        &vmo,
        0,
        PAGE,
        VmOptions::PERM_READ | VmOptions::PERM_WRITE | VmOptions::SPECIFIC,
    ) {
        let r = raw(
            nr::VMO_READ,
            [src.raw_handle() as u64, address as u64, 0, 8, 0, 0, 0, 0],
        );
        // SAFETY: nothing refers to the mapping.
        let _ = unsafe { root.unmap(address, PAGE) };
        if r != Status::OK {
            break;
        }
        count += 1;
    }
    let mut touched = 0;
    for &address in &extras {
        if raw(
            nr::VMO_READ,
            [src.raw_handle() as u64, address as u64, 0, 8, 0, 0, 0, 0],
        ) != Status::OK
        {
            break;
        }
        touched += 1;
    }
    (count, touched)
}

/// Drives free memory below the reserve with zero-byte messages (no
/// budget charged) in `pairs` channels, which it keeps.
fn squeeze_zero_messages(pairs: usize) -> u64 {
    let mut kept = Vec::new();
    let mut total = 0u64;
    'outer: for _ in 0..pairs {
        let Ok((a, b)) = Channel::create() else { break };
        for _ in 0..3500 {
            let r = raw(
                nr::CHANNEL_WRITE,
                [a.raw_handle() as u64, 0, 0, 0, 0, 0, 0, 0],
            );
            if r == Status::SHOULD_WAIT {
                break;
            }
            if r != Status::OK {
                kept.push((a, b));
                break 'outer;
            }
            total += 1;
        }
        kept.push((a, b));
    }
    core::mem::forget(kept);
    total
}

/// N one-page VMARs inside one region (their handles closed), memory
/// squeezed, then one vmar_unmap over the region: the kernel collects
/// the N regions into vectors (no reserve check on vmar_unmap).
/// Runs under a 4 MiB job memory limit, like a component.
fn unmapbomb(count: u64, squeeze: u64) -> i64 {
    if let Some(job) = zx_runtime::take_startup_handle(processargs::JOB_DEFAULT) {
        let _ = Job::from_handle(job).set_limits(4096, 4 << 20, 0, 0);
    }
    let root = root_vmar();
    let (arena, base) = root
        .allocate(
            0,
            count * 2 * PAGE,
            VmOptions::CAN_MAP_READ | VmOptions::CAN_MAP_SPECIFIC,
        )
        .unwrap();
    let t0 = now();
    let mut made = 0;
    for i in 0..count {
        match arena.allocate(
            i * 2 * PAGE,
            PAGE,
            VmOptions::CAN_MAP_READ | VmOptions::SPECIFIC,
        ) {
            Ok((v, _)) => drop(v),
            Err(s) => {
                println!("attack: unmapbomb: allocate #{i}: {s}");
                break;
            }
        }
        made += 1;
    }
    println!(
        "attack: unmapbomb: {made} regions in {} ms",
        (now() - t0) / MS
    );
    if squeeze == 3 {
        let total = squeeze_zero_messages(1300);
        println!("attack: unmapbomb: squeezed with {total} zero-byte messages");
    } else if squeeze != 0 {
        let (a, b) = squeeze_page_tables(squeeze > 1);
        println!("attack: unmapbomb: squeezed with {a} + {b} page-table touches");
    }
    println!("attack: unmapbomb: unmapping the arena");
    let t1 = now();
    // SAFETY: nothing refers to the regions.
    let r = unsafe { arena.unmap(base, count * 2 * PAGE) };
    println!(
        "attack: unmapbomb: unmap: {r:?} in {} ms; survived",
        (now() - t1) / MS
    );
    let _ = zx::nanosleep(zx::TIME_INFINITE);
    0
}

/// User packets are not charged: ports filled with 4,096 packets each
/// (job memory limit 1 MiB, handle limit 4,096), held.
fn ports() -> i64 {
    if let Some(job) = zx_runtime::take_startup_handle(processargs::JOB_DEFAULT) {
        let _ = Job::from_handle(job).set_limits(4096, 1 << 20, 0, 0);
    }
    let packet = zx::PortPacket {
        key: 1,
        packet_type: zx::PACKET_USER,
        status: 0,
        payload: [0; 32],
    };
    let mut kept = Vec::new();
    let mut total = 0u64;
    let t0 = now();
    let last = 'outer: loop {
        let p = match Port::create() {
            Ok(p) => p,
            Err(s) => break s,
        };
        for _ in 0..4096 {
            if let Err(s) = p.queue(&packet) {
                if s != Status::SHOULD_WAIT {
                    kept.push(p);
                    break 'outer s;
                }
                break;
            }
            total += 1;
        }
        kept.push(p);
    };
    println!(
        "attack: ports: {total} packets in {} ports, then {last}, {} ms; holding",
        kept.len(),
        (now() - t0) / MS
    );
    let _ = zx::nanosleep(zx::TIME_INFINITE);
    0
}

/// A bystander: touches one new page of its heap-like VMO every 20 ms
/// (a page fault each time), as any program does.
fn victim() -> i64 {
    let size = 64 * MIB;
    let vmo = Vmo::create(size, 0).unwrap();
    let base = root_vmar()
        .map(
            0,
            &vmo,
            0,
            size,
            VmOptions::PERM_READ | VmOptions::PERM_WRITE,
        )
        .unwrap();
    let mut page = 0;
    loop {
        // SAFETY: inside the mapping.
        unsafe { core::ptr::write_volatile((base as u64 + page * PAGE) as *mut u8, 1) };
        page = (page + 1) % (size / PAGE);
        let _ = zx::nanosleep(now() + 20 * MS);
    }
}

/// Kernel-heap growth: `procs` sibling processes each fill a channel with
/// 64 KiB messages up to their job's message budget, in parallel, then
/// exit. The heap keeps the frames (it never shrinks).
fn heapgrow(procs: u64) -> i64 {
    // Each sibling in its own job: budgets are per job.
    let job = Job::from_handle(zx_runtime::take_startup_handle(processargs::JOB_DEFAULT).unwrap());
    let bootfs_vmo =
        Vmo::from_handle(zx_runtime::take_startup_handle(processargs::BOOTFS_VMO).unwrap());
    let size = bootfs_vmo.size().unwrap();
    let bootfs = zx_runtime::ReadOnlyMapping::new(&bootfs_vmo, size).unwrap();
    let ctx = Ctx {
        job,
        bootfs,
        bootfs_vmo,
    };
    let mut kids = Vec::new();
    for _ in 0..procs {
        let job = ctx.job.create_child().unwrap();
        match launch(&ctx, &job, &["msgs"]) {
            Ok(l) => kids.push((job, l)),
            Err(e) => println!("attack: heapgrow: {e}"),
        }
    }
    // Wait until each has filled its queue (it raises USER_0 on its
    // process... simpler: wait a while).
    let _ = zx::nanosleep(now() + 20 * SECOND);
    for (job, _) in &kids {
        let _ = zx::task_kill(job);
    }
    0
}

/// Writes 64 KiB messages into a channel nobody reads until refused,
/// then in a second and third channel (in case of per-channel count
/// limits), then sleeps.
fn msgs() -> i64 {
    let payload = vec![0x5a_u8; 65536];
    let mut total = 0u64;
    let mut keep = Vec::new();
    for _ in 0..64 {
        let (a, b) = Channel::create().unwrap();
        let mut n = 0;
        let status = loop {
            match a.write(&payload, vec![]) {
                Ok(()) => n += 1,
                Err(s) => break s,
            }
        };
        total += n;
        keep.push((a, b));
        if n == 0 {
            println!(
                "attack: msgs: refused with {status} after {} MiB",
                total * 64 / 1024
            );
            break;
        }
    }
    // Then the rest of the budget, in ever smaller messages.
    let mut size = 32768;
    let mut small = 0u64;
    let last = loop {
        let (a, b) = Channel::create().unwrap();
        let status = loop {
            match a.write(&payload[..size], vec![]) {
                Ok(()) => small += 1,
                Err(s) => break s,
            }
        };
        keep.push((a, b));
        if status != Status::SHOULD_WAIT {
            if size == 0 {
                break status;
            }
            size /= 2;
        }
    };
    println!("attack: msgs: {small} smaller messages, then {last}; holding");
    let _ = zx::nanosleep(zx::TIME_INFINITE);
    0
}

/// Sleeps `seconds`, then writes one byte into a fresh channel and says
/// whether the kernel took it; exits 1 (so a manager restarts it).
fn canwrite(seconds: u64) -> i64 {
    let _ = zx::nanosleep(now() + seconds as i64 * SECOND);
    let result = Channel::create().and_then(|(a, _b)| a.write(b"x", vec![]));
    println!("attack: canwrite: channel_write from a fresh channel: {result:?}");
    1
}

/// Queues messages whose buffers take runs of each order of the kernel
/// heap's large blocks (2, 3, 5 and 9 pages: orders 1 to 4, the fewest
/// pages each), as many as the job's budget takes, and frees each batch
/// before the next: the heap's virtual range grows per order and its
/// metadata and page tables stay for good.
fn heaporders() -> i64 {
    for pages in [2u64, 3, 5, 9, 17, 33] {
        let size = ((pages - 1) * PAGE + 1) as usize;
        if size > 65536 {
            break;
        }
        let payload = vec![0x5a_u8; size];
        let mut keep = Vec::new();
        let mut total = 0u64;
        let status = 'fill: loop {
            let (a, b) = match Channel::create() {
                Ok(pair) => pair,
                Err(s) => break 'fill s,
            };
            let mut n = 0;
            let status = loop {
                match a.write(&payload, vec![]) {
                    Ok(()) => n += 1,
                    Err(s) => break s,
                }
            };
            total += n;
            keep.push((a, b));
            if status != Status::SHOULD_WAIT {
                break 'fill status;
            }
        };
        println!(
            "attack: heaporders: {total} messages of {size} bytes ({} MiB) then {status}",
            total * size as u64 / MIB
        );
        drop(keep);
    }
    0
}

/// Timers armed in bulk, all for the same tick, many times over.
fn timers(count: u64) -> i64 {
    let mut timers = Vec::new();
    for _ in 0..count {
        match Timer::create() {
            Ok(t) => timers.push(t),
            Err(s) => {
                println!("attack: timers: create refused after {}: {s}", timers.len());
                break;
            }
        }
    }
    // Each timer with a port registration too.
    let port = Port::create().unwrap();
    for (i, t) in timers.iter().enumerate().take(4096) {
        let _ = t.wait_async(&port, i as u64, Signals::TIMER_SIGNALED);
    }
    for round in 0..5 {
        let deadline = now() + 200 * MS;
        let t0 = now();
        for t in &timers {
            let _ = t.set(deadline, 0);
        }
        println!(
            "attack: timers: round {round}: armed {} in {} ms",
            timers.len(),
            (now() - t0) / MS
        );
        // Watch the tick from here: sleeps of 10 ms.
        let mut max_gap = 0;
        while now() < deadline + 100 * MS {
            let b = now();
            let _ = zx::nanosleep(b + 10 * MS);
            max_gap = max_gap.max(now() - b);
        }
        println!(
            "attack: timers: round {round}: max sleep gap {} ms",
            max_gap / MS
        );
    }
    0
}

/// Many small mappings: time per batch (quadratic?), then unmap/protect
/// over all of them at once.
fn maps(count: u64) -> i64 {
    let vmo = Vmo::create(PAGE, 0).unwrap();
    let root = root_vmar();
    let (region, base) = root
        .allocate(
            0,
            count * 2 * PAGE,
            VmOptions::CAN_MAP_READ | VmOptions::CAN_MAP_WRITE | VmOptions::CAN_MAP_SPECIFIC,
        )
        .unwrap();
    let t0 = now();
    let mut last = t0;
    let mut made = 0;
    for i in 0..count {
        if let Err(s) = region.map(
            i * 2 * PAGE,
            &vmo,
            0,
            PAGE,
            VmOptions::PERM_READ | VmOptions::SPECIFIC,
        ) {
            println!("attack: maps: map #{i} refused: {s}");
            break;
        }
        made += 1;
        if (i + 1) % 5000 == 0 {
            println!(
                "attack: maps: {} mappings, last 5000 took {} ms",
                i + 1,
                (now() - last) / MS
            );
            last = now();
        }
    }
    // Touch every mapping (page tables).
    let t1 = now();
    for i in 0..made {
        // SAFETY: mapped readable above.
        unsafe { core::ptr::read_volatile((base as u64 + i * 2 * PAGE) as *const u8) };
    }
    println!("attack: maps: touched {made} in {} ms", (now() - t1) / MS);
    let t2 = now();
    // SAFETY: nothing refers to these mappings.
    let r = unsafe { region.protect(VmOptions::PERM_READ, base, count * 2 * PAGE) };
    println!(
        "attack: maps: protect all: {r:?} in {} ms",
        (now() - t2) / MS
    );
    let t3 = now();
    // SAFETY: as above.
    let r = unsafe { region.unmap(base, count * 2 * PAGE) };
    println!("attack: maps: unmap all: {r:?} in {} ms", (now() - t3) / MS);
    0
}

static STACKS: AtomicU64 = AtomicU64::new(0);
static STARTED: AtomicU32 = AtomicU32::new(0);

fn stack_top(i: u64) -> usize {
    (STACKS.load(Ordering::SeqCst) + (i + 1) * 16 * PAGE - 72) as usize
}

extern "C" fn waiter(kind: u64, handle: u64) -> ! {
    STARTED.fetch_add(1, Ordering::SeqCst);
    let far = i64::MAX - 1;
    match kind {
        0 => {
            let _ = raw(
                nr::OBJECT_WAIT_ONE,
                [handle, 1 << 24, far as u64, 0, 0, 0, 0, 0],
            );
        }
        1 => {
            let _ = raw(nr::NANOSLEEP, [far as u64, 0, 0, 0, 0, 0, 0, 0]);
        }
        2 => {
            static WORD: AtomicU32 = AtomicU32::new(0);
            let _ = raw(
                nr::FUTEX_WAIT,
                [
                    &WORD as *const AtomicU32 as u64,
                    0,
                    far as u64,
                    0,
                    0,
                    0,
                    0,
                    0,
                ],
            );
        }
        3 => {
            let mut packet = [0u8; 48];
            let _ = raw(
                nr::PORT_WAIT,
                [
                    handle,
                    far as u64,
                    packet.as_mut_ptr() as u64,
                    0,
                    0,
                    0,
                    0,
                    0,
                ],
            );
        }
        _ => {
            // channel_call that is never answered.
            let mut bytes = [0u8; 16];
            let mut rb = [0u8; 16];
            let args = zx::ChannelCallArgs {
                write_bytes: bytes.as_mut_ptr() as u64,
                write_handles: 0,
                read_bytes: rb.as_mut_ptr() as u64,
                read_handles: 0,
                write_num_bytes: 16,
                write_num_handles: 0,
                read_num_bytes: 16,
                read_num_handles: 0,
            };
            let (mut ab, mut ah) = (0u32, 0u32);
            let _ = raw(
                nr::CHANNEL_CALL,
                [
                    handle,
                    0,
                    far as u64,
                    &args as *const _ as u64,
                    &mut ab as *mut u32 as u64,
                    &mut ah as *mut u32 as u64,
                    0,
                    0,
                ],
            );
        }
    }
    zx::thread_exit()
}

/// Threads blocked in every kind of wait with a far (not infinite)
/// deadline, then killed; repeated `rounds` times. Anything a dead
/// waiter leaves behind (deadlines, futex queues, port waiters,
/// observers, calls) accumulates.
fn waits(rounds: u64) -> i64 {
    const THREADS: u64 = 32;
    let stacks = Vmo::create(THREADS * 16 * PAGE, 0).unwrap();
    let base = root_vmar()
        .map(
            0,
            &stacks,
            0,
            THREADS * 16 * PAGE,
            VmOptions::PERM_READ | VmOptions::PERM_WRITE,
        )
        .unwrap();
    STACKS.store(base as u64, Ordering::SeqCst);
    let event = Event::create().unwrap();
    let port = Port::create().unwrap();
    let (call_a, _call_b) = Channel::create().unwrap();
    let process = self_process();
    let t0 = now();
    for round in 0..rounds {
        let mut threads = Vec::new();
        STARTED.store(0, Ordering::SeqCst);
        for i in 0..THREADS {
            let kind = i % 5;
            let handle = match kind {
                0 => event.raw_handle(),
                3 => port.raw_handle(),
                4 => call_a.raw_handle(),
                _ => 0,
            } as u64;
            let t = match process.create_thread("w") {
                Ok(t) => t,
                Err(s) => {
                    println!("attack: waits: thread_create round {round}: {s}");
                    return -1;
                }
            };
            if let Err(s) = t.start(waiter as *const () as usize, stack_top(i), kind, handle) {
                println!("attack: waits: start: {s}");
                return -2;
            }
            threads.push(t);
        }
        while STARTED.load(Ordering::SeqCst) < THREADS as u32 {
            let _ = zx::nanosleep(now() + MS);
        }
        let _ = zx::nanosleep(now() + 2 * MS);
        for t in &threads {
            let _ = zx::task_kill(t);
        }
        for t in &threads {
            let _ = t.wait_one(Signals::TASK_TERMINATED, now() + SECOND);
        }
        if round % 100 == 99 {
            println!(
                "attack: waits: {} rounds ({} waits killed), {} ms",
                round + 1,
                (round + 1) * THREADS,
                (now() - t0) / MS
            );
        }
    }
    0
}

/// Every object type until refused, then checks a channel still works.
fn objects() -> i64 {
    let mut handles: Vec<Handle> = Vec::new();
    let t0 = now();
    let status = loop {
        let r = match handles.len() % 6 {
            0 => Event::create().map(|e| e.into_handle()),
            1 => Channel::create().map(|(a, b)| {
                handles.push(b.into_handle());
                a.into_handle()
            }),
            2 => Port::create().map(|p| p.into_handle()),
            3 => Timer::create().map(|t| t.into_handle()),
            4 => Vmo::create(PAGE, 0).map(|v| v.into_handle()),
            _ => zx::EventPair::create().map(|(a, b)| {
                handles.push(b.into_handle());
                a.into_handle()
            }),
        };
        match r {
            Ok(h) => handles.push(h),
            Err(s) => break s,
        }
    };
    println!(
        "attack: objects: {} handles then {status} in {} ms",
        handles.len(),
        (now() - t0) / MS
    );
    let ok = Channel::create().is_ok();
    println!("attack: objects: channel_create while full: {ok}");
    let t1 = now();
    handles.clear();
    println!("attack: objects: closed all in {} ms", (now() - t1) / MS);
    let _ = zx::nanosleep(zx::TIME_INFINITE);
    0
}

/// Jobs: as wide as allowed, each with a process.
fn jobs() -> i64 {
    let job = Job::from_handle(zx_runtime::take_startup_handle(processargs::JOB_DEFAULT).unwrap());
    let mut jobs = Vec::new();
    let t0 = now();
    let status = loop {
        match job.create_child() {
            Ok(j) => jobs.push(j),
            Err(s) => break s,
        }
        if jobs.len() >= 60000 {
            break Status::OK;
        }
    };
    println!(
        "attack: jobs: {} jobs then {status} in {} ms",
        jobs.len(),
        (now() - t0) / MS
    );
    let mut procs = Vec::new();
    let status = loop {
        let j = &jobs[procs.len() % jobs.len()];
        match j.create_process("p") {
            Ok(p) => procs.push(p),
            Err(s) => break s,
        }
        if procs.len() >= 60000 {
            break Status::OK;
        }
    };
    println!(
        "attack: jobs: {} processes then {status} in {} ms",
        procs.len(),
        (now() - t0) / MS
    );
    let t1 = now();
    let _ = zx::task_kill(&job);
    println!(
        "attack: jobs: killed own job in {} ms (should not get here)",
        (now() - t1) / MS
    );
    0
}

/// VMARs: as many sub-regions as allowed, nested and wide.
fn vmars() -> i64 {
    let root = root_vmar();
    let mut kept = Vec::new();
    let t0 = now();
    let status = loop {
        match root.allocate(0, PAGE, VmOptions::CAN_MAP_READ) {
            Ok((v, _)) => kept.push(v),
            Err(s) => break s,
        }
        if kept.len() % 20000 == 0 {
            println!("attack: vmars: {} in {} ms", kept.len(), (now() - t0) / MS);
        }
        if kept.len() >= 200000 {
            break Status::OK;
        }
    };
    println!(
        "attack: vmars: {} one-page regions then {status} in {} ms",
        kept.len(),
        (now() - t0) / MS
    );
    let _ = zx::nanosleep(zx::TIME_INFINITE);
    0
}
