//! The async executor: tasks that wait on channels and timers through the
//! executor's port, and a task spawned from another task.

use crate::{check, step, Suite};
use alloc::rc::Rc;
use core::cell::Cell;
use zx::Channel;
use zx_async::{recv, sleep, Executor};

const MS: i64 = 1_000_000;

pub fn run(suite: &mut Suite) {
    suite.run("async.channel_echo_between_tasks", || {
        let mut executor = step(Executor::new(), "executor")?;
        let (client, server) = step(Channel::create(), "create")?;
        let spawner = executor.spawner();
        let served = Rc::new(Cell::new(0u32));
        let counter = Rc::clone(&served);
        spawner.spawn(async move {
            // The server: echo each message back, reversed, until closed.
            while let Ok(message) = recv(&server).await {
                let mut bytes = message.bytes;
                bytes.reverse();
                if server.write(&bytes, alloc::vec![]).is_err() {
                    break;
                }
                counter.set(counter.get() + 1);
            }
        });
        let replies = executor.run(async move {
            let mut replies = alloc::vec::Vec::new();
            for word in [&b"abc"[..], b"hello", b"xy"] {
                client.write(word, alloc::vec![])?;
                replies.push(recv(&client).await?.bytes);
            }
            Ok::<_, zx::Status>(replies)
        });
        let replies = step(replies, "client")?;
        check(replies == [&b"cba"[..], b"olleh", b"yx"], "wrong replies")?;
        check(served.get() == 3, "server did not count")
    });
    suite.run("async.sleep_does_not_block_other_tasks", || {
        let mut executor = step(Executor::new(), "executor")?;
        let order = Rc::new(core::cell::RefCell::new(alloc::vec::Vec::new()));
        let (slow, fast) = (Rc::clone(&order), Rc::clone(&order));
        let spawner = executor.spawner();
        spawner.spawn(async move {
            let _ = sleep(zx::deadline_after(40 * MS)).await;
            slow.borrow_mut().push("slow");
        });
        spawner.spawn(async move {
            let _ = sleep(zx::deadline_after(10 * MS)).await;
            fast.borrow_mut().push("fast");
        });
        let start = zx::clock_get_monotonic().into_nanos();
        step(
            executor.run(async { sleep(zx::deadline_after(80 * MS)).await }),
            "main task",
        )?;
        let elapsed = zx::clock_get_monotonic().into_nanos() - start;
        check(
            *order.borrow() == ["fast", "slow"],
            "tasks ran out of order",
        )?;
        check(
            (80 * MS..400 * MS).contains(&elapsed),
            "sleeps did not overlap",
        )
    });
}
