//! The system tests: boot real images under QEMU (TCG) and check what the
//! serial console says and how the guest ended.
//!
//! Both `build-image test` and `cargo test` (through `tests/system.rs`) run
//! this same list, so the two can never disagree. Boots are shared: tests
//! that look at the same boot (same product, machine and command line) read
//! one captured run.
//!
//! In-guest test programs print `[PASS] name` / `[FAIL] name: why` lines;
//! [`guest_results`] collects them.

use crate::image::{self, Image};
use crate::product::Product;
use crate::qemu::{self, Captured, Ending, RunOptions};
use anyhow::Result;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use zx_abi::guest_exit;

/// One boot configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Boot {
    /// Product to boot.
    pub product: &'static str,
    /// Memory override.
    pub memory: Option<&'static str>,
    /// CPU-count override.
    pub cpus: Option<u32>,
    /// Extra kernel command line.
    pub cmdline: &'static str,
    /// Typed into the guest's console.
    pub input: &'static str,
}

impl Boot {
    const fn product(product: &'static str) -> Boot {
        Boot {
            product,
            memory: None,
            cpus: None,
            cmdline: "",
            input: "",
        }
    }
}

/// A system test: a boot and a check of its output.
pub struct SystemTest {
    /// Name, as `cargo test` and `build-image test` show it.
    pub name: &'static str,
    /// What to boot.
    pub boot: Boot,
    /// What must be true of the boot.
    pub check: fn(&Captured) -> Result<(), String>,
}

/// Every system test.
pub const TESTS: &[SystemTest] = &[
    SystemTest {
        name: "drivers.console_lsdev_lsblk",
        boot: Boot {
            input: "lsdev\nlsblk\nshutdown\n",
            ..Boot::product("default")
        },
        check: |run| {
            // The default machine's devices, each with its driver running,
            // and the disk listed with its name and size.
            expect_line(
                run,
                "00:04.0 1af4:1042 class 01.00 gsi 20 msi 128 driver virtio_blk running /dev/block/0",
            )?;
            expect_line(
                run,
                "00:05.0 1af4:1041 class 02.00 gsi 21 msi 129 driver virtio_net running /dev/net/0",
            )?;
            expect_line(
                run,
                "00:06.0 1af4:1043 class 07.80 gsi 22 msi 130 driver virtio_console running /dev/serial/0",
            )?;
            expect_line(run, "00:00.0 8086:29c0 class 06.00 no driver")?;
            expect_line(run, "/dev/block/0   data           67108864    512")?;
            expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
        },
    },
    SystemTest {
        name: "storage.console_ls_blob_df",
        boot: Boot {
            input: "ls /blob\ndf\npkg list\nls /pkg\nls /pkg/echo_server\nls /pkg/echo_server/bin\ncat /pkg/echo_server/meta\nshutdown\n",
            ..Boot::product("default")
        },
        check: crate::systest_storage::check_console_ls_blob_df,
    },
    SystemTest {
        name: "storage.large_program",
        boot: Boot::product("storage-large"),
        check: crate::systest_storage::check_large_program,
    },
    SystemTest {
        name: "components.parent_started_on_demand",
        boot: Boot {
            input: "df\nshutdown\n",
            ..Boot::product("lifecycle-tests")
        },
        check: |run| {
            // fshost is lazy here: the console's `df` opens
            // zx.blob.Blobfs, which fshost's child blobfs provides, so the
            // component manager starts fshost first, then blobfs (this
            // machine has no disk: blobfs then finds no partition).
            let fshost = run
                .time_of("component_manager: started root/fshost")
                .ok_or_else(|| format!("fshost was not started\n{}", tail(run)))?;
            let blobfs = run
                .time_of("component_manager: started root/fshost/blobfs")
                .ok_or_else(|| format!("blobfs was not started\n{}", tail(run)))?;
            if blobfs < fshost {
                return Err("blobfs started before its parent".into());
            }
            if run.lines.iter().any(|(_, l)| l.contains("has no job")) {
                return Err(format!(
                    "a start failed for want of a parent\n{}",
                    tail(run)
                ));
            }
            expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
        },
    },
    SystemTest {
        name: "boot.minimal",
        boot: Boot::product("minimal"),
        check: check_default_boot,
    },
    SystemTest {
        name: "boot.default",
        boot: Boot {
            input: "ls\nmem\nshutdown\n",
            ..Boot::product("default")
        },
        check: |run| {
            // The README's product: the kernel boots, userboot starts the
            // component manager, and logger, console and echo run as
            // separate components until the console shuts the machine down.
            expect_line(run, "zircon-like kernel")?;
            expect_line(run, "boot: ")?;
            expect_line(run, "component_manager: started root/logger")?;
            expect_line(run, "component_manager: started root/console")?;
            expect_line(run, "console: type help for the commands")?;
            expect_line(run, "root/logger                      running  bin/logger")?;
            expect_line(run, "root/console                     running  bin/console")?;
            expect_line(run, "echo-client: 1000 calls answered")?;
            expect_line(
                run,
                "log root/echo_client: echo-client: 1000 calls answered",
            )?;
            // `mem` reads the kernel's figures (`KMEM_STATS`).
            let mem = expect_line(run, "kernel heap ")?;
            if !(mem.starts_with("memory: ")
                && mem.contains(" MiB free; kernel heap ")
                && mem.contains(" KiB of it kept free)"))
            {
                return Err(format!("mem printed {mem:?}"));
            }
            // Components log while the console's prompt waits: their lines
            // start on a fresh line (the kernel begins another writer's
            // output on one), never after the `> `.
            let text = run.text();
            if let Some(line) = text.lines().find(|line| {
                line.strip_prefix("> ").is_some_and(|rest| {
                    !rest.is_empty() && !["ls", "mem", "shutdown"].contains(&rest)
                })
            }) {
                return Err(format!("output after the prompt: {line:?}"));
            }
            // `shutdown` stops every component through its lifecycle
            // channel, the logger (declared first) last, then powers off.
            expect_line(run, "component_manager: shutting down (status 0)")?;
            let console = run
                .time_of("console: stopped")
                .ok_or("the console did not stop")?;
            let logger = run
                .time_of("logger: stopping")
                .ok_or("the logger did not stop")?;
            if logger < console {
                return Err("the logger stopped before the console".into());
            }
            expect_line(
                run,
                "component_manager: every component has stopped; powering off",
            )?;
            expect_line(run, "system_shutdown(0) by process bin/component_manager")?;
            expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
        },
    },
    SystemTest {
        name: "boot.memory_32m",
        boot: Boot {
            memory: Some("32M"),
            ..Boot::product("minimal")
        },
        check: |run| check_memory(run, 24, 32),
    },
    SystemTest {
        name: "boot.memory_4g",
        boot: Boot {
            memory: Some("4G"),
            ..Boot::product("minimal")
        },
        check: |run| check_memory(run, 3900, 4096),
    },
    SystemTest {
        name: "boot.smp_2",
        boot: Boot {
            cpus: Some(2),
            ..Boot::product("minimal")
        },
        check: |run| {
            expect_line(run, "2 CPUs (boot CPU online)")?;
            expect_line(run, "userboot: hello from ring 3")?;
            expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
        },
    },
    SystemTest {
        name: "kernel.user_faults_are_survived",
        boot: Boot::product("kernel-tests"),
        check: check_faults,
    },
    SystemTest {
        name: "kernel.syscall_suite",
        boot: Boot::product("kernel-tests"),
        check: check_guest_suite,
    },
    SystemTest {
        name: "components.echo_routing",
        boot: Boot::product("echo"),
        check: |run| {
            // The client starts at boot; the server only when the client's
            // first connection is routed to it.
            let client = run
                .time_of("component_manager: started root/echo_client")
                .ok_or("client not started")?;
            let server = run
                .time_of("component_manager: started root/echo_server")
                .ok_or("server not started")?;
            if server < client {
                return Err("the lazy server started before anything connected to it".into());
            }
            expect_line(run, "echo-client: 1000 calls answered")?;
            expect_line(
                run,
                "root/echo_client cannot reach zx.io.Directory: its manifest does not use it",
            )?;
            expect_line(
                run,
                "echo-client: zx.io.Directory is not routed to me: refused",
            )?;
            expect_line(run, "component_manager: root/echo_client exited with 0")?;
            expect_line(run, "component_manager: every eager component has ended")?;
            expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
        },
    },
    SystemTest {
        name: "components.crash_restart_memory_limit",
        boot: Boot::product("component-tests"),
        check: |run| {
            // The crasher's fault is reported with its address, it is
            // restarted with back-off until the manager gives up...
            expect_line(
                run,
                "root/crasher crashed: page fault (vector 14) at address 0x0",
            )?;
            expect_line(run, "restarting root/crasher in 100 ms (attempt 1)")?;
            expect_line(run, "restarting root/crasher in 1600 ms (attempt 5)")?;
            // ...the hog is stopped by its job's 4 MiB limit...
            expect_line(run, "component_manager: started root/hog")?;
            if run.lines.iter().any(|(_, l)| l.contains("held 64 MiB")) {
                return Err("the hog exceeded its memory limit".into());
            }
            expect_line(run, "component_manager: root/hog exited with 101")?;
            // ...the thread hog gets its 4 threads (the main one and 3
            // more) and no more...
            expect_line(
                run,
                "misbehave: thread limit: 3 more threads, then NO_RESOURCES",
            )?;
            expect_line(run, "component_manager: root/thread_hog exited with 3")?;
            // ...every malformed request of the hostile component is
            // refused, and the manager keeps serving...
            expect_line(run, "misbehave: hostile: 15 of 15 checks passed")?;
            expect_line(run, "component_manager: root/hostile exited with 0")?;
            // ...a component flooding the manager with connections and
            // requests is held to its share, and served again after...
            expect_line(
                run,
                "component_manager: root/flood holds 16 connections to the manager; refusing more",
            )?;
            expect_line(run, "misbehave: flood: done, 0 failed")?;
            expect_line(run, "component_manager: root/flood exited with 0")?;
            // ...a component manages its own collection through a Realm
            // scoped to it, and can name nothing outside it...
            expect_line(
                run,
                "component_manager: created root/spawner/workers:w1 (echo_server)",
            )?;
            // (its job allows two processes: itself and w1)
            expect_line(
                run,
                "component_manager: cannot start root/spawner/workers:w2: launch bin/echo-server: NO_RESOURCES",
            )?;
            expect_line(
                run,
                "root/spawner may not shut the system down (its Realm is scoped to it)",
            )?;
            expect_line(run, "component_manager: destroyed root/spawner/workers:w1")?;
            expect_line(run, "misbehave: spawner: done, 0 failed")?;
            expect_line(run, "component_manager: root/spawner exited with 0")?;
            // ...and the others keep serving.
            expect_line(run, "echo-client: 1000 calls answered")?;
            expect_line(run, "component_manager: every eager component has ended")?;
            expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
        },
    },
    SystemTest {
        name: "components.fanout_budget",
        boot: Boot {
            input: crate::systest_budget::INPUT,
            ..Boot::product("attack-fanout")
        },
        check: crate::systest_budget::check,
    },
    SystemTest {
        name: "components.console_ls_stop_shutdown",
        boot: Boot {
            // `start` first: echo_client's first call may not have
            // started echo_server yet when the console reads `stop`.
            input: "ls\nstart root/echo_server\nstop root/echo_server\nbogus\n\
                    ls /boot/bin\ncat /boot/etc/product\ncat /logs/all\n\
                    ls /nowhere\ncat /boot/nothing\n\
                    stop\ncreate root\ncat /boot/bin\nls /boot/etc/product\nls /\n\
                    create root nocoll w2 echo_client\n\
                    create root dynamic w3 nosuchmanifest\n\
                    create nobody dynamic w4 echo_client\nklog\nshutdown\n",
            ..Boot::product("default")
        },
        check: |run| {
            expect_line(run, "console: type help for the commands")?;
            expect_line(run, "root/console                     running  bin/console")?;
            expect_line(run, "root/echo_client")?;
            expect_line(run, "stopped root/echo_server")?;
            // Directory capabilities: the bootfs (the component manager's
            // `boot`) and the logger's `logs`, routed to the console.
            expect_line(run, "file       ").and_then(|_| expect_line(run, " console"))?;
            // The bootfs holds the bootstrap set (fshost among them); the
            // echo server comes from its package (docs/packages.md).
            let listed = |name: &str| {
                run.lines
                    .iter()
                    .any(|(_, l)| l.starts_with("file ") && l.ends_with(&format!(" {name}")))
            };
            if !listed("fshost") {
                return Err("ls /boot/bin did not list bin/fshost".into());
            }
            if listed("echo-server") {
                return Err("ls /boot/bin listed bin/echo-server (a package's)".into());
            }
            expect_line(run, "product: default")?;
            expect_line(run, "root component: system")?;
            let logs = run.lines.iter().any(|(_, l)| {
                l.starts_with('[') && l.contains("] root/echo_client: echo-client: 1000 calls")
            });
            if !logs {
                return Err("cat /logs/all did not show the echo client's record".into());
            }
            expect_line(run, "cannot list /nowhere: NOT_FOUND")?;
            expect_line(run, "cannot read /boot/nothing: NOT_FOUND")?;
            expect_line(run, "unknown command \"bogus\"; try help")?;
            // What the newcomer met (issue 16): a usage line for wrong
            // arguments, what a path is, the namespace's roots, which part
            // of a `create` is missing, the root and every collection as
            // what they are, and only the kernel's lines in `klog`.
            expect_line(run, "usage: stop <moniker>")?;
            expect_line(run, "usage: create <parent> <collection> <name> <manifest>")?;
            expect_line(run, "cat: /boot/bin is a directory (try ls /boot/bin)")?;
            expect_line(
                run,
                "ls: /boot/etc/product is a file (try cat /boot/etc/product)",
            )?;
            for root in ["boot", "logs", "dev"] {
                let listed = run
                    .lines
                    .iter()
                    .any(|(_, l)| l.starts_with("dir ") && l.ends_with(&format!(" - {root}")));
                if !listed {
                    return Err(format!("ls / did not list {root}"));
                }
            }
            expect_line(
                run,
                "cannot create root/nocoll:w2: root has no collection \"nocoll\" (its collections: dynamic)",
            )?;
            expect_line(
                run,
                "cannot create root/dynamic:w3: no manifest \"nosuchmanifest\" (meta/nosuchmanifest.cm is not in the bootfs, nor is it a package)",
            )?;
            expect_line(
                run,
                "cannot create nobody/dynamic:w4: there is no component nobody",
            )?;
            expect_line(
                run,
                "root                             -        (no program: a realm of children)",
            )?;
            expect_line(
                run,
                "root/dynamic:                    collection (0 children)",
            )?;
            expect_line(run, "root/driver_manager/drivers:     collection (")?;
            let klog = run
                .lines
                .iter()
                .position(|(_, l)| l.ends_with("> klog"))
                .ok_or("klog was not typed")?;
            let shown: Vec<&str> = run.lines[klog + 1..]
                .iter()
                .map(|(_, l)| l.as_str())
                .take_while(|l| !l.starts_with("> "))
                .collect();
            if !shown.iter().any(|l| l.contains("] I kernel: ")) {
                return Err(format!("klog showed no kernel line: {shown:?}"));
            }
            if let Some(own) = shown.iter().find(|l| !l.starts_with('[')) {
                return Err(format!(
                    "klog showed a line that is not the kernel's: {own:?}"
                ));
            }
            expect_line(run, "system_shutdown(0) by process bin/component_manager")?;
            expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
        },
    },
    SystemTest {
        name: "swap.hundred_swaps_under_a_steady_client",
        boot: Boot::product("swap-tests"),
        check: crate::systest_swap::check_hundred_swaps,
    },
    SystemTest {
        name: "swap.console_swap_rollback_ls",
        boot: Boot {
            input: crate::systest_swap::CONSOLE_INPUT,
            ..Boot::product("lifecycle-tests")
        },
        check: crate::systest_swap::check_console,
    },
    SystemTest {
        // A swap of a collection child that is destroyed and re-created
        // (in the same slot) while the new version prepares must leave the
        // re-created child alone (components/tests/swaptest/src/race.rs).
        name: "swap.destroyed_mid_swap_slot_reused",
        boot: Boot::product("attack-swap-race"),
        check: |run| {
            expect_line(run, "swap-race: destroy Ok(Ok(")?;
            expect_line(
                run,
                "component_manager: swap of root/dynamic:w to echo_server_slow: rolled back (root/dynamic:w stopped or was destroyed meanwhile)",
            )?;
            expect_line(
                run,
                "swap-race: echo of the re-created child after the swap: ok",
            )?;
            expect_line(run, "swap-race: echo on a new connection: ok")?;
            expect_line(run, "swap-race: the re-created child was left alone")?;
            expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
        },
    },
    SystemTest {
        // A hostile new version that never binds its lifecycle channel and
        // ends without taking the handover (components/tests/swaptest/src/race.rs
        // `unbound`): the old version is never escrowed, nothing is lost.
        name: "swap.unbound_version_takes_nothing",
        boot: Boot::product("attack-swap-unbound"),
        check: |run| {
            expect_line(run, "swap-race: echo before the swap: ok")?;
            expect_line(
                run,
                "swap-unbound-driver: swap RolledBack: echo_server_unbound did not ask for the handover",
            )?;
            expect_line(
                run,
                "swap-race: echo on the same connection after the rollback: ok",
            )?;
            expect_line(run, "swap-race: echo on a new connection: ok")?;
            expect_line(run, "swap-unbound-driver: nothing lost")?;
            expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
        },
    },
    SystemTest {
        // A hostile new version that floods its lifecycle channel with
        // junk, asks for the handover twice and ends, while two swaps of
        // the same moniker are asked for at once
        // (components/tests/swaptest/src/spam.rs).
        name: "swap.flooding_version_and_concurrent_swaps",
        boot: Boot::product("attack-swap-spam"),
        check: |run| {
            expect_line(run, "swap-spam-driver: echo before the swaps: ok")?;
            expect_line(run, "swap-spam: wrote ")?;
            let second = expect_line(run, "swap-spam: took 1 connections; a second Take: ")?;
            if !second.contains("Err(") || !second.ends_with("with 0 handles") {
                return Err(format!("the second Take was answered: {second}"));
            }
            expect_line(run, "swap-spam-driver: second swap ")?;
            expect_line(run, "swap-spam-driver: first swap ")?;
            let rolled_back = run.lines.iter().any(|(_, l)| {
                l.contains("swap RolledBack: echo_server_spam ended within its grace period (exit code 17)")
            });
            if !rolled_back {
                return Err(format!("no swap was rolled back\n{}", tail(run)));
            }
            expect_line(
                run,
                "swap-spam-driver: echo on the same connection after the swaps: ok",
            )?;
            expect_line(run, "swap-spam-driver: both swaps answered, nothing lost")?;
            expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
        },
    },
    SystemTest {
        // A hostile new version that takes the handover (a raw
        // `Takeover.Take` with `CHANNEL_BIND_RECEIVED`) and ends at once
        // without binding anything (components/tests/swaptest/src/race.rs
        // `grab`): what it was handed arrived bound, so the rollback gives
        // it all back; the client's connection never closes.
        name: "swap.taken_and_ended_at_once_loses_nothing",
        boot: Boot::product("attack-swap-grab"),
        check: |run| {
            expect_line(run, "swap-race: echo before the swap: ok")?;
            expect_line(
                run,
                "swap-grab: prepared; taking the handover and ending at once",
            )?;
            // Exit code 100 + 2: it received the outgoing directory and
            // the driver's connection.
            expect_line(
                run,
                "swap-grab-driver: swap RolledBack: echo_server_grab ended within its grace period (exit code 102)",
            )?;
            expect_line(
                run,
                "component_manager: rollback of root/echo_server: gave back the outgoing directory and 1 connections; closed 0 handles not handed over",
            )?;
            expect_line(
                run,
                "swap-race: echo on the same connection after the rollback: ok",
            )?;
            expect_line(run, "swap-race: echo on a new connection: ok")?;
            expect_line(run, "swap-grab-driver: nothing lost")?;
            expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
        },
    },
    SystemTest {
        // Rollbacks in the hard cases (components/tests/swaptest/src/grace.rs).
        name: "swap.rollback_hard_cases",
        boot: Boot::product("swap-grace-tests"),
        check: crate::systest_swap::check_rollback_hard_cases,
    },
    SystemTest {
        name: "components.lifecycle_collections",
        boot: Boot {
            input: "stop root/crasher\n\
                    create root dynamic worker echo_client\n\
                    stop root/stubborn\n\
                    ls\n\
                    destroy root/dynamic:worker\n\
                    ls\n\
                    create root dynamic worker echo_client\n\
                    destroy root/echo_server\n\
                    create root nowhere x echo_client\n\
                    create root dynamic worker echo_client\n\
                    stop root/echo_server\n\
                    shutdown\n",
            ..Boot::product("lifecycle-tests")
        },
        check: |run| {
            expect_line(run, "console: type help for the commands")?;
            // A component that keeps crashing is stopped between two
            // restarts (or while it runs): no restart follows.
            let stopped = run
                .lines
                .iter()
                .position(|(_, l)| l.starts_with("stopped root/crasher"))
                .ok_or("the crasher was not stopped")?;
            if run.lines[stopped..]
                .iter()
                .any(|(_, l)| l.contains("started root/crasher"))
            {
                return Err("the crasher was restarted after it was stopped".into());
            }
            // A child created in a collection gets what the collection is
            // offered, and its log lines carry its moniker.
            expect_line(
                run,
                "component_manager: created root/dynamic:worker (echo_client)",
            )?;
            expect_line(run, "started root/dynamic:worker")?;
            expect_line(
                run,
                "log root/dynamic:worker: echo-client: 1000 calls answered",
            )?;
            // A component that ignores the stop request is killed after
            // the deadline.
            expect_line(run, "misbehave: ignoring my lifecycle channel")?;
            expect_line(
                run,
                "component_manager: root/stubborn did not stop within 1000 ms; killing it",
            )?;
            expect_line(run, "stopped root/stubborn")?;
            expect_line(run, "root/dynamic:worker")?;
            expect_line(run, "component_manager: destroyed root/dynamic:worker")?;
            expect_line(run, "destroyed root/dynamic:worker")?;
            // Only collection children can be destroyed; only declared
            // collections take children.
            expect_line(run, "cannot destroy root/echo_server: ACCESS_DENIED")?;
            expect_line(
                run,
                "cannot create root/nowhere:x: root has no collection \"nowhere\" (its collections: dynamic)",
            )?;
            // The slot of a destroyed child is reused: the worker is
            // created a second time, and runs again.
            let created = run
                .lines
                .iter()
                .filter(|(_, l)| l.contains("component_manager: created root/dynamic:worker"))
                .count();
            if created != 2 {
                return Err(format!("the worker was created {created} times, not 2"));
            }
            expect_line(run, "cannot create root/dynamic:worker: ALREADY_EXISTS")?;
            // The echo server stops gracefully: asked through its
            // lifecycle channel, it finishes and exits with 0, having
            // answered both workers.
            expect_line(run, "echo-server: stopping (Requested) after 2000 calls")?;
            expect_line(run, "component_manager: root/echo_server exited with 0")?;
            expect_line(run, "stopped root/echo_server")?;
            if run
                .lines
                .iter()
                .any(|(_, l)| l.contains("echo_server did not stop"))
            {
                return Err("the echo server had to be killed".into());
            }
            // After destruction the worker is gone from the list.
            let destroyed = run
                .lines
                .iter()
                .position(|(_, l)| l.starts_with("destroyed root/dynamic:worker"))
                .ok_or("not destroyed")?;
            let listing: Vec<&str> = run.lines[destroyed..]
                .iter()
                .map(|(_, l)| l.as_str())
                .skip_while(|l| !l.starts_with("root "))
                .take_while(|l| l.starts_with("root"))
                .collect();
            if !listing.iter().any(|l| l.starts_with("root/console ")) {
                return Err("no component list after the destruction".into());
            }
            if listing
                .iter()
                .any(|l| l.starts_with("root/dynamic:worker "))
            {
                return Err("the destroyed child is still listed".into());
            }
            expect_line(run, "system_shutdown(0) by process bin/component_manager")?;
            expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
        },
    },
    SystemTest {
        name: "kernel.syscall_fuzz",
        // The product's own settings: seed 1, 300,000 calls (about 20 s
        // under TCG); `build-image fuzz` runs longer campaigns.
        boot: Boot::product(crate::fuzz::PRODUCT),
        check: |run| crate::fuzz::verdict(run, 300_000).map(drop),
    },
    SystemTest {
        name: "kernel.panic_report",
        boot: Boot {
            cmdline: "kernel.crash=panic",
            ..Boot::product("minimal")
        },
        check: |run| {
            expect_line(run, "KERNEL PANIC at zircon-like-kernel/src/main.rs:")?;
            expect_line(run, "crash requested on the command line")?;
            expect_ending(run, Ending::Guest(guest_exit::KERNEL_PANIC))
        },
    },
    SystemTest {
        name: "kernel.stack_overflow",
        boot: Boot {
            cmdline: "kernel.crash=stack-overflow",
            ..Boot::product("minimal")
        },
        check: |run| {
            // The guard page below the stack stops the overflow: a clear
            // report, not silent corruption, a hang or a triple fault.
            expect_line(
                run,
                "kernel stack overflow: the boot stack ran into its guard page",
            )?;
            expect_line(run, "cr2 0x")?;
            expect_ending(run, Ending::Guest(guest_exit::KERNEL_PANIC))
        },
    },
    SystemTest {
        name: "kernel.exception_report",
        boot: Boot {
            cmdline: "kernel.crash=page-fault",
            ..Boot::product("minimal")
        },
        check: |run| {
            expect_line(
                run,
                "kernel exception: #PF page fault (vector 14) error code 0x0 [not present, read, kernel] at address 0x0000000000000010",
            )?;
            expect_line(run, "  rip 0xffffffff80")?;
            expect_line(run, "cr2 0x0000000000000010")?;
            expect_line(run, "  rax 0x")?;
            expect_line(run, "  r13 0x")?;
            expect_ending(run, Ending::Guest(guest_exit::KERNEL_PANIC))
        },
    },
];

fn tail(run: &Captured) -> String {
    let text = run.text();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(40);
    format!(
        "--- console (last {} lines) ---\n{}\n--- {} ---",
        lines.len() - start,
        lines[start..].join("\n"),
        run.ending.describe()
    )
}

/// The first console line containing `needle`, or an error with the output.
pub fn expect_line<'a>(run: &'a Captured, needle: &str) -> Result<&'a str, String> {
    run.lines
        .iter()
        .map(|(_, line)| line.as_str())
        .find(|line| line.contains(needle))
        .ok_or_else(|| format!("no console line contains {needle:?}\n{}", tail(run)))
}

pub(crate) fn expect_ending(run: &Captured, expected: Ending) -> Result<(), String> {
    if run.ending == expected {
        Ok(())
    } else {
        Err(format!(
            "expected \"{}\", got \"{}\"\n{}",
            expected.describe(),
            run.ending.describe(),
            tail(run)
        ))
    }
}

/// Parses "memory: N MiB usable".
fn usable_mib(run: &Captured) -> Result<u64, String> {
    let line = expect_line(run, "memory: ")?;
    line.split("memory: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("cannot read the memory size from {line:?}"))
}

/// The kernel waits for at least 3 timer ticks (a host stall can let one
/// more through before it looks), and the monotonic clock (TSC) must have
/// advanced by at least the ticks' periods at 100 Hz, less one (the first
/// tick may have been pending already) and 10% slack: the TSC and the LAPIC
/// timer were calibrated against the same reference, so they must agree.
fn check_boot_ticks(line: &str) -> Result<(), String> {
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    let [ticks, micros] = numbers[..] else {
        return Err(format!("cannot read ticks and time from {line:?}"));
    };
    if ticks < 3 || micros < (ticks - 2) * 10_000 * 9 / 10 {
        return Err(format!(
            "expected at least 3 ticks and 9 ms of clock per tick after the second: {line:?}"
        ));
    }
    Ok(())
}

fn check_default_boot(run: &Captured) -> Result<(), String> {
    expect_line(run, "zircon-like kernel")?;
    expect_line(run, "memory: ")?;
    expect_line(run, "timer: local APIC")?;
    expect_line(run, "boot: ")?;
    check_boot_ticks(expect_line(run, "clock: ")?)?;
    expect_line(run, "starting bin/userboot")?;
    expect_line(run, "userboot: hello from ring 3")?;
    expect_line(run, "userboot: monotonic clock reads")?;
    expect_line(run, "process bin/userboot (koid")?;
    expect_line(run, "exited with status 0")?;
    expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
}

fn check_memory(run: &Captured, min_mib: u64, max_mib: u64) -> Result<(), String> {
    let mib = usable_mib(run)?;
    if !(min_mib..=max_mib).contains(&mib) {
        return Err(format!(
            "usable memory {mib} MiB not in {min_mib}..={max_mib}\n{}",
            tail(run)
        ));
    }
    expect_line(run, "userboot: hello from ring 3")?;
    expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
}

fn check_faults(run: &Captured) -> Result<(), String> {
    // Each misbehaving program announces itself, is reported with a full
    // exception report, is killed, and the next program still runs.
    let report = |program: &str, fault: &str| -> Result<(), String> {
        let line = expect_line(run, &format!("process bin/{program} (koid "))?;
        if !line.contains(") thread main (koid ") || !line.contains(fault) {
            return Err(format!(
                "the report for {program} does not say {fault:?}: {line:?}\n{}",
                tail(run)
            ));
        }
        expect_line(run, &format!("process bin/{program} (koid "))?;
        let killed = run.lines.iter().any(|(_, l)| {
            l.contains(&format!("process bin/{program} (koid"))
                && l.contains("killed by the kernel")
        });
        if !killed {
            return Err(format!("{program} was not reported killed\n{}", tail(run)));
        }
        Ok(())
    };
    expect_line(run, "fault-kernel-read: reading kernel memory")?;
    report(
        "fault-kernel-read",
        "faulted: #PF page fault (vector 14) error code 0x5 [protection violation, read, user] at address 0xffff800000100000",
    )?;
    expect_line(run, "fault-privileged: executing hlt in ring 3")?;
    report(
        "fault-privileged",
        "faulted: #GP general protection (vector 13)",
    )?;
    expect_line(run, "fault-unmapped-jump: jumping to 0xdead0000")?;
    report(
        "fault-unmapped-jump",
        "[not present, read, user, instruction fetch] at address 0x00000000dead0000",
    )?;
    if let Some(line) = run
        .lines
        .iter()
        .find(|(_, l)| l.contains("the kernel did not stop me"))
    {
        return Err(format!("a faulting program kept running: {:?}", line.1));
    }
    // The kernel kept going: the next program ran to completion.
    let done = run.lines.iter().any(|(_, l)| {
        l.contains("process bin/usertest (koid") && l.contains("exited with status 0")
    });
    if !done {
        return Err(format!(
            "usertest did not run to completion after the faults\n{}",
            tail(run)
        ));
    }
    Ok(())
}

/// The `[PASS]` / `[FAIL]` lines of in-guest test programs.
pub fn guest_results(run: &Captured) -> Vec<(String, Result<(), String>)> {
    run.lines
        .iter()
        .filter_map(|(_, line)| {
            if let Some(name) = line.strip_prefix("[PASS] ") {
                Some((name.trim().to_string(), Ok(())))
            } else {
                let rest = line.strip_prefix("[FAIL] ")?;
                let (name, why) = rest.split_once(": ").unwrap_or((rest, "failed"));
                Some((name.trim().to_string(), Err(why.to_string())))
            }
        })
        .collect()
}

fn check_guest_suite(run: &Captured) -> Result<(), String> {
    let results = guest_results(run);
    if results.is_empty() {
        return Err(format!("the guest suite reported nothing\n{}", tail(run)));
    }
    let failed: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
    if !failed.is_empty() {
        return Err(format!(
            "{} guest tests failed: {:?}\n{}",
            failed.len(),
            failed,
            tail(run)
        ));
    }
    expect_line(run, ", 0 failures")?;
    expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
}

/// A system test that is more than one boot and a look at its console:
/// it drives QEMU and the host ends of the machine itself.
pub struct Scenario {
    /// Name, as `cargo test` and `build-image test` show it.
    pub name: &'static str,
    /// The test.
    pub run: fn(&Harness) -> Result<(), String>,
}

/// Every scenario.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "drivers.disk_network_bridge_restart",
        run: drivers_scenario,
    },
    Scenario {
        name: "scaffold.new_component_boots",
        run: crate::scaffold::boots_as_generated,
    },
    Scenario {
        name: "net.http_echo_hostile_restart",
        run: crate::nettest::scenario,
    },
    Scenario {
        name: "storage.blobfs_write_read_integrity",
        run: crate::systest_storage::blobfs_scenario,
    },
    Scenario {
        name: "storage.blobfs_crash_consistency",
        run: crate::systest_storage::crash_scenario,
    },
    Scenario {
        name: "storage.data_survives_reboot",
        run: crate::systest_storage::data_scenario,
    },
    Scenario {
        name: "bridge.ls_log_echo_push_hostile",
        run: crate::bridge::scenario::scenario,
    },
    Scenario {
        name: "bridge.python_and_c_clients",
        run: crate::bridge::scenario::clients_scenario,
    },
    Scenario {
        name: "swap.from_the_host_under_a_steady_client",
        run: crate::systest_swap_host::scenario,
    },
    Scenario {
        name: "swap.pinned_version_survives_reboot",
        run: crate::systest_swap_persist::scenario,
    },
    Scenario {
        name: "storage.damaged_package_refused",
        run: crate::systest_storage::damaged_package_scenario,
    },
];

/// The scenario called `name`.
pub fn find_scenario(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// What the host writes into the bridge; the guest echoes it.
const BRIDGE_LINE: &str = "hello over the bridge\n";
/// Written once the first line came back, so the guest's driver must
/// wait for it (an interrupt) rather than find it already there.
const BRIDGE_SECOND_LINE: &str = "and a second line\n";
/// Where devtest writes its pattern, and how it starts
/// (`components/tests/devtest`).
const PATTERN_OFFSET: u64 = 100 * 512;
const PATTERN_MAGIC: &[u8] = b"ZXDEVTEST-PATTERN";

/// The host end of the bridge: connects to the socket once QEMU made it,
/// writes [`BRIDGE_LINE`] and collects what comes back until the line has
/// been echoed (or 60 s pass).
fn bridge_peer(socket: PathBuf) -> std::thread::JoinHandle<Result<String, String>> {
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let start = std::time::Instant::now();
        let mut stream = loop {
            match std::os::unix::net::UnixStream::connect(&socket) {
                Ok(stream) => break stream,
                Err(_) if start.elapsed() < Duration::from_secs(60) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => return Err(format!("cannot connect to {}: {e}", socket.display())),
            }
        };
        stream
            .write_all(BRIDGE_LINE.as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut seen = Vec::new();
        let mut buffer = [0u8; 256];
        let mut sent_second = false;
        while start.elapsed() < Duration::from_secs(90) {
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => seen.extend_from_slice(&buffer[..n]),
                Err(_) => {}
            }
            let text = String::from_utf8_lossy(&seen);
            if !sent_second && text.contains(BRIDGE_LINE) {
                std::thread::sleep(Duration::from_millis(200));
                stream
                    .write_all(BRIDGE_SECOND_LINE.as_bytes())
                    .map_err(|e| format!("write: {e}"))?;
                sent_second = true;
            }
            if text.contains(BRIDGE_SECOND_LINE) {
                break;
            }
        }
        Ok(String::from_utf8_lossy(&seen).into_owned())
    })
}

/// One boot of the drivers' test image on the machine in `dir`, with the
/// host end of the bridge attached.
fn drivers_boot(harness: &Harness, dir: &Path) -> Result<(Captured, String), String> {
    let image = harness.image("drivers-tests")?;
    let options = RunOptions {
        timeout: harness.timeout,
        machine_dir: Some(dir.to_path_buf()),
        ..RunOptions::default()
    };
    let peer = bridge_peer(dir.join("bridge.sock"));
    let run = qemu::run_captured(&image, &options).map_err(|e| format!("{e:#}"))?;
    let bridge = peer.join().map_err(|_| "the bridge thread panicked")??;
    Ok((run, bridge))
}

fn expect_passes(run: &Captured, names: &[&str]) -> Result<(), String> {
    for (name, result) in guest_results(run) {
        if let Err(why) = result {
            return Err(format!("[FAIL] {name}: {why}\n{}", tail(run)));
        }
    }
    for name in names {
        expect_line(run, &format!("[PASS] {name}"))?;
    }
    Ok(())
}

/// The drivers end to end: a virtio-blk disk written and flushed, found
/// by the host in the image file after power-off, and read back after a
/// reboot; an ARP reply from the user-net gateway; bytes echoed over the
/// virtio-console bridge; a component without the resources refused; a
/// crashed driver restarted with its device working; interrupt counts.
fn drivers_scenario(harness: &Harness) -> Result<(), String> {
    let dir = harness.fresh_machine_dir("drivers-tests");
    let (first, bridge) = drivers_boot(harness, &dir)?;
    expect_passes(
        &first,
        &[
            "resource.component_without_mmio_or_irq_is_refused",
            "blk.write_flush",
            "blk.out_of_range",
            "net.arp_gateway_replies",
            "serial.host_bytes_echoed",
            "drivers.wait_for_interrupts",
        ],
    )?;
    expect_line(&first, "devtest: 10.0.2.2 is at 52:55:0a:00:02:02")?;
    // The disk and the card interrupt by MSI-X, the bridge by INTx through
    // the I/O APIC: both paths carry real interrupts.
    expect_line(&first, "virtio-blk: 00:04.0 interrupts by MSI-X (MSI 128)")?;
    expect_line(&first, "virtio-net: 00:05.0 interrupts by MSI-X (MSI 129)")?;
    expect_ending(&first, Ending::Guest(guest_exit::SUCCESS))?;
    if !bridge.contains("devtest: ready") || !bridge.contains(BRIDGE_LINE) {
        return Err(format!(
            "the bridge got {bridge:?}, not the greeting and the echo"
        ));
    }
    // The guest is off: the disk image holds the pattern.
    let image = std::fs::read(dir.join("data.img")).map_err(|e| format!("disk image: {e}"))?;
    let at = PATTERN_OFFSET as usize;
    if image.get(at..at + PATTERN_MAGIC.len()) != Some(PATTERN_MAGIC) {
        return Err(format!(
            "the disk image has {:?} at byte {at}, not the pattern",
            image.get(at..at + 32)
        ));
    }
    // A reboot reads it back, then the block driver crashes and returns.
    let (second, _) = drivers_boot(harness, &dir)?;
    expect_passes(
        &second,
        &[
            "blk.read_back_after_reboot",
            "blk.crashed_driver_restarts",
            "net.arp_gateway_replies",
            "serial.host_bytes_echoed",
            "drivers.wait_for_interrupts",
        ],
    )?;
    expect_line(&second, "virtio-blk: asked to crash")?;
    expect_line(&second, "ended; restarting it (restart 1)")?;
    expect_ending(&second, Ending::Guest(guest_exit::SUCCESS))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A value computed at most once, shared by every test that needs it.
type Shared<T> = Arc<OnceLock<Result<T, String>>>;

/// Builds images and runs boots, each at most once.
pub struct Harness {
    root: PathBuf,
    timeout: Duration,
    images: Mutex<HashMap<&'static str, Shared<Image>>>,
    boots: Mutex<HashMap<Boot, Shared<Captured>>>,
}

impl Harness {
    /// A harness over the workspace at `root`.
    pub fn new(root: &Path, timeout: Duration) -> Harness {
        Harness {
            root: root.to_path_buf(),
            timeout,
            images: Mutex::default(),
            boots: Mutex::default(),
        }
    }

    /// The workspace the harness builds from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The per-boot timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The image of `product`, built once.
    pub fn image(&self, product: &'static str) -> Result<Image, String> {
        let cell = Arc::clone(self.images.lock().unwrap().entry(product).or_default());
        cell.get_or_init(|| {
            let product = Product::load(&self.root, product).map_err(|e| format!("{e:#}"))?;
            image::build(&self.root, &product, &mut |line| {
                eprintln!("build-image: {line}")
            })
            .map_err(|e| format!("{e:#}"))
        })
        .clone()
    }

    /// An empty directory for one boot's host ends (disk images, sockets).
    pub fn fresh_machine_dir(&self, product: &str) -> PathBuf {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = self
            .root
            .join("target/systest")
            .join(format!("{product}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// The captured console of `boot` (booting it the first time).
    pub fn boot(&self, boot: Boot) -> Result<Captured, String> {
        let cell = Arc::clone(self.boots.lock().unwrap().entry(boot).or_default());
        cell.get_or_init(|| {
            let image = self.image(boot.product)?;
            let options = RunOptions {
                timeout: self.timeout,
                memory: boot.memory.map(String::from),
                cpus: boot.cpus,
                extra_cmdline: boot.cmdline.into(),
                machine_dir: Some(self.fresh_machine_dir(boot.product)),
                ..RunOptions::default()
            };
            let run = if boot.input.is_empty() {
                qemu::run_captured(&image, &options).map_err(|e| format!("{e:#}"))
            } else {
                qemu::run_captured_with_input(&image, &options, boot.input.as_bytes())
                    .map_err(|e| format!("{e:#}"))
            };
            // The console is captured; the disk images are not looked at.
            if let Some(dir) = &options.machine_dir {
                let _ = std::fs::remove_dir_all(dir);
            }
            run
        })
        .clone()
    }

    /// Runs one test by name.
    pub fn run(&self, test: &SystemTest) -> Result<(), String> {
        let run = self.boot(test.boot)?;
        (test.check)(&run)
    }
}

/// The workspace root (this crate lives in `<root>/build-image`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("build-image is inside the workspace")
        .to_path_buf()
}

/// The test called `name`.
pub fn find(name: &str) -> Option<&'static SystemTest> {
    TESTS.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::check_boot_ticks;

    #[test]
    fn boot_ticks_allow_an_extra_tick_but_not_a_slow_clock() {
        assert!(check_boot_ticks("clock: 3 timer ticks in 24870 us of monotonic time").is_ok());
        assert!(check_boot_ticks("clock: 4 timer ticks in 31002 us of monotonic time").is_ok());
        assert!(check_boot_ticks("clock: 2 timer ticks in 24870 us of monotonic time").is_err());
        assert!(check_boot_ticks("clock: 4 timer ticks in 9000 us of monotonic time").is_err());
        assert!(check_boot_ticks("clock: timer ticks").is_err());
    }
}
