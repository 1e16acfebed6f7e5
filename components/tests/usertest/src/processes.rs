//! Processes and jobs: two processes ping-ponging over a channel, killing
//! through a job and directly, faults delivered to an exception channel,
//! job limits, and bad arguments to process_create / process_start.

use crate::{check, expect_status, step, Suite};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI64, Ordering};
use zx::numbers as nr;
use zx::{
    processargs, AsHandleRef, Channel, Event, ExceptionReport, Handle, Job, Rights, Signals,
    Status, Vmo,
};
use zx_launch::{launch, Launched, Program};

const SECOND: i64 = 1_000_000_000;

/// The request of `channel_recv.fastpath_request_returns_when_reader_dies`
/// (its first four bytes become the txid).
const FAST_REQUEST: &[u8] = b"\0\0\0\0fast request";
/// How that test's call ended: 1 with the expected answer, 2 with another
/// reply, else 0x100 | the status.
static FAST_CALL: AtomicI64 = AtomicI64::new(0);

/// Calls with [`FAST_REQUEST`] on the endpoint `client` (borrowed) and
/// records the outcome in [`FAST_CALL`].
extern "C" fn fast_caller(client: u64, _unused: u64) -> ! {
    let client = crate::fastpath::borrowed(client);
    let mut reply = zx::MessageBuf::default();
    let outcome = match client.call(
        FAST_REQUEST,
        vec![],
        zx::deadline_after(5 * SECOND),
        &mut reply,
    ) {
        Ok(()) if reply.bytes.len() > 4 && reply.bytes[4..] == *b"fast request-answered" => 1,
        Ok(()) => 2,
        Err(status) => 0x100 | i64::from(status.0),
    };
    FAST_CALL.store(outcome, Ordering::SeqCst);
    zx::thread_exit()
}

struct Context {
    job: Job,
    bootfs: zx_runtime::ReadOnlyMapping,
}

fn context() -> Result<Context, String> {
    let job = zx_runtime::take_startup_handle(processargs::JOB_DEFAULT).ok_or("no job handle")?;
    let vmo = Vmo::from_handle(
        zx_runtime::take_startup_handle(processargs::BOOTFS_VMO).ok_or("no bootfs")?,
    );
    let size = step(vmo.size(), "bootfs size")?;
    let bootfs = step(zx_runtime::ReadOnlyMapping::new(&vmo, size), "map bootfs")?;
    Ok(Context {
        job: Job::from_handle(job),
        bootfs,
    })
}

pub(crate) fn start(
    job: &Job,
    bootfs: &[u8],
    name: &str,
    args: &[&str],
    handles: Vec<(u32, Handle)>,
) -> Result<Launched, String> {
    let fs = bootfs::Bootfs::parse(bootfs).map_err(|e| alloc::format!("bootfs: {e}"))?;
    let file = fs.find(name).ok_or("program not in the bootfs")?;
    launch(
        job,
        Program {
            name,
            elf: file.data,
            args,
            handles,
            names: &[],
        },
    )
    .map_err(|e| alloc::format!("launch: {e}"))
}

pub(crate) fn wait_end(launched: &Launched) -> Result<i64, String> {
    step(
        launched
            .process
            .wait_one(Signals::TASK_TERMINATED, zx::deadline_after(5 * SECOND)),
        "wait for the end",
    )?;
    Ok(step(launched.process.state(), "state")?.return_code)
}

pub fn run(suite: &mut Suite) {
    let context = match context() {
        Ok(context) => context,
        Err(why) => {
            suite.run("process.startup_handles", || Err(why.clone()));
            return;
        }
    };
    let job = &context.job;
    let bootfs = &context.bootfs[..];

    suite.run("process.ping_pong_across_processes", || {
        let (mine, theirs) = step(Channel::create(), "create")?;
        let child = start(
            job,
            bootfs,
            "bin/child-echo",
            &["bin/child-echo"],
            vec![(processargs::USER_BASE, theirs.into_handle())],
        )?;
        let mut value = 0u64;
        let mut buffer = [0u8; 8];
        for _ in 0..100 {
            step(mine.write(&value.to_le_bytes(), vec![]), "write")?;
            step(
                mine.wait_one(Signals::CHANNEL_READABLE, zx::deadline_after(2 * SECOND)),
                "wait",
            )?;
            let mut needed = (0, 0);
            step(mine.read_raw(&mut buffer, &mut [], &mut needed), "read")?;
            value = u64::from_le_bytes(buffer);
        }
        drop(mine);
        check(value == 100, "wrong count")?;
        check(wait_end(&child)? == 100, "child did not echo 100 messages")
    });
    suite.run("process.handles_cross_processes", || {
        let (mine, theirs) = step(Channel::create(), "create")?;
        let child = start(
            job,
            bootfs,
            "bin/child-echo",
            &["bin/child-echo"],
            vec![(processargs::USER_BASE, theirs.into_handle())],
        )?;
        let event = step(Event::create(), "event")?;
        let koid = step(event.basic_info(), "info")?.koid;
        step(
            mine.write(&[0; 8], vec![event.into_handle()]),
            "send the event",
        )?;
        step(
            mine.wait_one(Signals::CHANNEL_READABLE, zx::deadline_after(2 * SECOND)),
            "wait",
        )?;
        let mut message = zx::MessageBuf::default();
        step(mine.read(&mut message), "read")?;
        let back = message.handles.first().ok_or("handle not returned")?;
        check(
            step(back.basic_info(), "info")?.koid == koid,
            "a different object came back",
        )?;
        drop(mine);
        wait_end(&child).map(drop)
    });
    suite.run("idl.echo_1000_calls_across_processes", || {
        use crate::bindings::examples_echo::{EchoClient, EchoEchoStringRequest};
        let (mine, theirs) = step(Channel::create(), "create")?;
        let server = start(
            job,
            bootfs,
            "bin/echo-server",
            &["bin/echo-server"],
            vec![(processargs::USER_BASE, theirs.into_handle())],
        )?;
        let echo = EchoClient::new(zx_idl::ChannelTransport::new(mine));
        for i in 0..1000u32 {
            let value = alloc::format!("call {i}: {}", "x".repeat((i % 50) as usize));
            let reply = echo
                .echo_string(EchoEchoStringRequest {
                    value: value.clone(),
                })
                .map_err(|e| alloc::format!("call {i}: {e:?}"))?;
            check(reply.response == value, "wrong echo")?;
        }
        drop(echo);
        check(
            wait_end(&server)? == 1000,
            "the server did not count 1000 calls",
        )
    });
    suite.run("job.kill_kills_its_processes", || {
        let child_job = step(job.create_child(), "job")?;
        let child = start(
            &child_job,
            bootfs,
            "bin/child-echo",
            &["bin/child-echo", "spin"],
            vec![],
        )?;
        step(zx::task_kill(&child_job), "kill job")?;
        check(
            wait_end(&child)? == zx::RETCODE_SYSCALL_KILL,
            "wrong return code",
        )?;
        let observed = step(
            child_job.wait_one(Signals::TASK_TERMINATED, 0),
            "job signal",
        )?;
        check(
            observed.contains(Signals::TASK_TERMINATED),
            "job not terminated",
        )
    });
    suite.run("job.killed_refuses_new_processes", || {
        let child_job = step(job.create_child(), "job")?;
        step(zx::task_kill(&child_job), "kill")?;
        expect_status(
            child_job.create_process("late").map(drop),
            Status::BAD_STATE,
        )
    });
    suite.run("task_kill.process", || {
        let child = start(
            job,
            bootfs,
            "bin/child-echo",
            &["bin/child-echo", "spin"],
            vec![],
        )?;
        step(zx::task_kill(&child.process), "kill")?;
        check(
            wait_end(&child)? == zx::RETCODE_SYSCALL_KILL,
            "wrong return code",
        )
    });
    suite.run("task_kill.wrong_type", || {
        let event = step(Event::create(), "event")?;
        expect_status(zx::task_kill(&event), Status::ACCESS_DENIED)
    });
    suite.run("exception_channel.reports_fault", || {
        let child_job = step(job.create_child(), "job")?;
        let exceptions = step(
            zx::create_exception_channel(&child_job),
            "exception channel",
        )?;
        let child = start(
            &child_job,
            bootfs,
            "bin/fault-kernel-read",
            &["bin/fault-kernel-read"],
            vec![],
        )?;
        step(
            exceptions.wait_one(Signals::CHANNEL_READABLE, zx::deadline_after(5 * SECOND)),
            "wait",
        )?;
        let mut message = zx::MessageBuf::default();
        step(exceptions.read(&mut message), "read")?;
        check(
            message.bytes.len() == core::mem::size_of::<ExceptionReport>(),
            "wrong report size",
        )?;
        let word = |i: usize| {
            u64::from_le_bytes(message.bytes[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]))
        };
        let koid = step(child.process.basic_info(), "info")?.koid;
        check(
            word(0) == koid && word(2) == 14 && word(4) == 0xffff_8000_0010_0000,
            "wrong report",
        )?;
        check(
            wait_end(&child)? == zx::RETCODE_EXCEPTION_KILL,
            "not killed",
        )
    });
    suite.run("exception_channel.only_one", || {
        let child_job = step(job.create_child(), "job")?;
        let _first = step(zx::create_exception_channel(&child_job), "first")?;
        expect_status(
            zx::create_exception_channel(&child_job).map(drop),
            Status::ALREADY_EXISTS,
        )
    });
    suite.run("job_limits.memory", || {
        let child_job = step(job.create_child(), "job")?;
        step(child_job.set_limits(0, 64 * 1024, 0, 0), "limit")?;
        match start(
            &child_job,
            bootfs,
            "bin/child-echo",
            &["bin/child-echo"],
            vec![],
        ) {
            Ok(_) => Err("a process exceeded its memory limit".into()),
            Err(why) => check(why.contains("NO_MEMORY"), "wrong error"),
        }
    });
    suite.run("job_limits.handles", || {
        let child_job = step(job.create_child(), "job")?;
        step(child_job.set_limits(6, 0, 0, 0), "limit")?;
        let (mine, theirs) = step(Channel::create(), "create")?;
        let child = start(
            &child_job,
            bootfs,
            "bin/child-echo",
            &["bin/child-echo"],
            vec![(processargs::USER_BASE, theirs.into_handle())],
        )?;
        // Eight handles do not fit in a table limited to six: the child's
        // read fails and it ends having echoed nothing.
        let handles: Vec<Handle> = (0..8)
            .map(|_| Event::create().map(Event::into_handle))
            .collect::<Result<_, _>>()
            .map_err(|s| alloc::format!("{s:?}"))?;
        step(mine.write(&[0; 8], handles), "write")?;
        check(
            wait_end(&child)? == 0,
            "the child exceeded its handle limit",
        )
    });
    suite.run("job_limits.only_tighten", || {
        let child_job = step(job.create_child(), "job")?;
        step(child_job.set_limits(100, 1 << 30, 8, 5), "tighten")?;
        expect_status(child_job.set_limits(200, 0, 0, 0), Status::ACCESS_DENIED)?;
        expect_status(child_job.set_limits(0, 0, 9, 0), Status::ACCESS_DENIED)?;
        expect_status(child_job.set_limits(0, 0, 0, 6), Status::ACCESS_DENIED)
    });
    suite.run("job_limits.processes", || {
        let child_job = step(job.create_child(), "job")?;
        step(child_job.set_limits(0, 0, 0, 2), "limit")?;
        let first = step(child_job.create_process("p1"), "first process")?;
        let grandchild = step(child_job.create_child(), "grandchild")?;
        // The grandchild's processes count against the child's limit too.
        let _second = step(grandchild.create_process("p2"), "second process")?;
        expect_status(
            child_job.create_process("p3").map(drop),
            Status::NO_RESOURCES,
        )?;
        expect_status(
            grandchild.create_process("p3").map(drop),
            Status::NO_RESOURCES,
        )?;
        // A process that goes away (here never started) gives its place back.
        drop(first);
        let _third = step(child_job.create_process("p3"), "after one ended")?;
        Ok(())
    });
    suite.run("job_limits.threads", || {
        let child_job = step(job.create_child(), "job")?;
        step(child_job.set_limits(0, 0, 2, 0), "limit")?;
        let (process, _vmar) = step(child_job.create_process("threads"), "process")?;
        let _first = step(process.create_thread("t1"), "first thread")?;
        let _second = step(process.create_thread("t2"), "second thread")?;
        expect_status(process.create_thread("t3").map(drop), Status::NO_RESOURCES)?;
        // A grandchild job inherits the limit, and cannot loosen it.
        let grandchild = step(child_job.create_child(), "grandchild")?;
        expect_status(grandchild.set_limits(0, 0, 3, 0), Status::ACCESS_DENIED)?;
        let (process, _vmar) = step(grandchild.create_process("threads"), "process")?;
        let _first = step(process.create_thread("t1"), "first thread")?;
        let _second = step(process.create_thread("t2"), "second thread")?;
        expect_status(process.create_thread("t3").map(drop), Status::NO_RESOURCES)
    });
    crate::exhaustion::run(suite, job, bootfs);
    crate::sockets::run_with_processes(suite, job, bootfs);
    crate::escrow::run_with_processes(suite, job, bootfs);
    crate::bind_attack::run_with_processes(suite, job, bootfs);
    crate::records_attack::run_with_processes(suite, job, bootfs);
    suite.run("process_create.bad_job", || {
        expect_status(
            Job::from_handle(Handle::from_raw(0x6666_6667))
                .create_process("x")
                .map(drop),
            Status::BAD_HANDLE,
        )
    });
    suite.run("process_create.wrong_type", || {
        let event = step(Event::create(), "event")?;
        let (mut p, mut v) = (0u32, 0u32);
        let args = [
            event.raw_handle() as u64,
            b"x".as_ptr() as u64,
            1,
            0,
            &mut p as *mut u32 as u64,
            &mut v as *mut u32 as u64,
            0,
            0,
        ];
        // SAFETY: the kernel must reject the handle.
        let raw = unsafe { zx::syscall_raw(nr::PROCESS_CREATE, args) };
        expect_status(Status::from_raw(raw).ok(), Status::WRONG_TYPE)
    });
    suite.run("process_start.thread_of_another_process", || {
        let (a, _vmar_a) = step(job.create_process("a"), "create a")?;
        let (b, _vmar_b) = step(job.create_process("b"), "create b")?;
        let thread = step(b.create_thread("t"), "thread")?;
        let (_x, y) = step(Channel::create(), "channel")?;
        expect_status(
            a.start(&thread, 0x20_0000, 0x30_0000, y.into_handle(), 0),
            Status::ACCESS_DENIED,
        )
    });
    suite.run("process_start.twice", || {
        let child = start(
            job,
            bootfs,
            "bin/child-echo",
            &["bin/child-echo", "spin"],
            vec![],
        )?;
        let thread = step(child.process.create_thread("second"), "thread")?;
        let (_x, y) = step(Channel::create(), "channel")?;
        let result = child
            .process
            .start(&thread, 0x20_0000, 0x30_0000, y.into_handle(), 0);
        step(zx::task_kill(&child.process), "kill")?;
        expect_status(result, Status::BAD_STATE)
    });
    suite.run("channel_recv.request_returns_when_reader_dies", || {
        // A request read through channel_recv is the kernel's until it is
        // answered: the reader's process ends without answering while the
        // endpoint lives on (sent back here), and the request is queued
        // on it again.
        let (client, server) = step(Channel::create(), "create")?;
        let (back, back_theirs) = step(Channel::create(), "create")?;
        let mut request = 0x8000_1234u32.to_le_bytes().to_vec();
        request.extend_from_slice(b"unanswered");
        step(client.write(&request, vec![]), "write the request")?;
        let child = start(
            job,
            bootfs,
            "bin/child-echo",
            &["bin/child-echo", "take-one"],
            vec![
                (processargs::USER_BASE, server.into_handle()),
                (processargs::USER_BASE + 1, back_theirs.into_handle()),
            ],
        )?;
        check(
            wait_end(&child)? == request.len() as i64,
            "the child did not read the request",
        )?;
        let mut returned = zx::MessageBuf::default();
        step(back.read(&mut returned), "the endpoint")?;
        let endpoint = returned.handles.pop().ok_or("no endpoint came back")?;
        let endpoint = Channel::from_handle(endpoint);
        let mut again = zx::MessageBuf::default();
        step(endpoint.read(&mut again), "read the request again")?;
        check(again.bytes == request, "the request was lost or changed")?;
        // Answering it reaches the client.
        step(endpoint.write(&again.bytes, vec![]), "answer")?;
        let mut answer = zx::MessageBuf::default();
        step(client.read(&mut answer), "the answer")?;
        check(answer.bytes == request, "wrong answer")
    });
    suite.run(
        "channel_recv.fastpath_request_returns_when_reader_dies",
        || {
            // As above, but the request comes by the copy-once fastpath: a
            // `channel_call` meets the reader already waiting in
            // `channel_recv`, so the kernel keeps no copy of the request, only
            // the blocked caller's buffer, which it re-reads when the reader's
            // process ends without answering.
            let (client, server) = step(Channel::create(), "create")?;
            let (back, back_theirs) = step(Channel::create(), "create")?;
            let child = start(
                job,
                bootfs,
                "bin/child-echo",
                &["bin/child-echo", "take-one"],
                vec![
                    (processargs::USER_BASE, server.into_handle()),
                    (processargs::USER_BASE + 1, back_theirs.into_handle()),
                ],
            )?;
            // Let the child reach its receive.
            step(zx::nanosleep(zx::deadline_after(50_000_000)), "sleep")?;
            FAST_CALL.store(0, Ordering::SeqCst);
            let caller =
                crate::fastpath::spawn("caller", fast_caller, 0, client.raw_handle() as u64, 0)?;
            check(
                wait_end(&child)? == FAST_REQUEST.len() as i64,
                "the child did not read the request",
            )?;
            let mut returned = zx::MessageBuf::default();
            step(back.read(&mut returned), "the endpoint")?;
            let endpoint = returned.handles.pop().ok_or("no endpoint came back")?;
            let endpoint = Channel::from_handle(endpoint);
            let mut again = zx::MessageBuf::default();
            step(endpoint.read(&mut again), "read the request again")?;
            check(
                again.bytes.len() == FAST_REQUEST.len() && again.bytes[4..] == FAST_REQUEST[4..],
                "the request was lost or changed",
            )?;
            check(again.bytes[3] & 0x80 != 0, "the request lost its txid")?;
            // Answering it ends the caller's call, still blocked.
            let mut answer = again.bytes.clone();
            answer.extend_from_slice(b"-answered");
            step(endpoint.write(&answer, vec![]), "answer")?;
            crate::fastpath::join(&caller)?;
            check(
                FAST_CALL.load(Ordering::SeqCst) == 1,
                "the caller did not get the answer",
            )
        },
    );
    suite.run("process_start.no_transfer_right", || {
        let (process, _vmar) = step(job.create_process("c"), "create")?;
        let thread = step(process.create_thread("t"), "thread")?;
        let event = step(Event::create(), "event")?;
        let weak = step(event.handle().duplicate(Rights::WAIT), "duplicate")?;
        expect_status(
            process.start(&thread, 0x20_0000, 0x30_0000, weak, 0),
            Status::ACCESS_DENIED,
        )
    });
}
