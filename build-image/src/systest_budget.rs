//! The component manager's budget under attack (`components.fanout_budget`):
//! product `attack-fanout`, a tree of components that each stay within
//! their own caps but together ask the manager for thousands of
//! connections, beside a component that is restarted every 4 s and the
//! console.

use crate::qemu::{Captured, Ending};
use crate::systest::{expect_ending, expect_line};
use zx_abi::guest_exit;

/// What the console is typed: blank lines while the tree grows, then `ls`
/// (the manager still answers) and `shutdown` (it still stops everything).
pub const INPUT: &str = "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\nls\nshutdown\n";

/// Where the first line containing `needle` is, at or after line `from`.
fn position(run: &Captured, from: usize, needle: &str) -> Result<usize, String> {
    run.lines
        .iter()
        .skip(from)
        .position(|(_, line)| line.contains(needle))
        .map(|at| at + from)
        .ok_or_else(|| {
            format!(
                "no console line after line {from} contains {needle:?}\n{}",
                run.text()
            )
        })
}

/// The tree is held to its subtree's share with typed errors, and the
/// rest of the system is served after that.
pub fn check(run: &Captured) -> Result<(), String> {
    // The tree hits both of its subtree's budgets (32 components, 128
    // connections with the defaults) and learns it as NO_RESOURCES...
    let components = position(
        run,
        0,
        "component_manager: the subtree of root/fanout holds its 32 components; refusing more",
    )?;
    let connections = position(
        run,
        0,
        "component_manager: the subtree of root/fanout holds its 128 connections; refusing more",
    )?;
    let refused = run
        .lines
        .iter()
        .filter(|(_, line)| {
            line.starts_with("misbehave: fanout") && line.ends_with("then NO_RESOURCES")
        })
        .count();
    if refused == 0 {
        return Err(format!(
            "no component of the tree was refused with NO_RESOURCES\n{}",
            run.text()
        ));
    }
    // ...no component is killed because a wait failed (the old manager
    // took a refused wait for an exit: "exited with -1024") before the
    // shutdown (which kills what does not stop within its deadline, such
    // as the sibling when it is asleep)...
    let shutdown = position(run, 0, "component_manager: shutting down")?;
    for (_, line) in &run.lines[..shutdown] {
        if line.contains("exited with status -1024") || line.contains("cannot wait for") {
            return Err(format!("a wait failed: {line:?}\n{}", run.text()));
        }
    }
    // ...and after the tree is held, the sibling is still restarted and
    // runs again, and the console still lists the components.
    let held = components.max(connections);
    let restart = position(run, held, "component_manager: restarting root/writer in")?;
    position(
        run,
        restart,
        "attack: canwrite: channel_write from a fresh channel: Ok(())",
    )?;
    // (`ls` prints one line per component, starting with its moniker;
    // other programs' lines may come between.)
    let Some((_, row)) = run
        .lines
        .iter()
        .skip(held)
        .find(|(_, line)| line.starts_with("root/console "))
    else {
        return Err(format!("`ls` did not list root/console\n{}", run.text()));
    };
    if !row.contains("running") {
        return Err(format!(
            "the console is not listed as running\n{}",
            run.text()
        ));
    }
    expect_line(
        run,
        "component_manager: every component has stopped; powering off",
    )?;
    expect_ending(run, Ending::Guest(guest_exit::SUCCESS))
}
