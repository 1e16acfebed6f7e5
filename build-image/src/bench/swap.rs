//! The hot-swap rows (issue 14): the `bench-swap` product on the
//! benchmark machine. A steady client calls the echo server back to back
//! while a driver swaps the server 20 times (versions 1 and 2 alternating)
//! and then stops and starts it 20 times (the way Fuchsia reloads a
//! component); per operation, the longest time between two of the
//! client's replies that overlaps the operation's window
//! (`components/tests/swaptest/src/bench.rs`). Guest time under `-icount
//! shift=0`: one nanosecond is one guest instruction, idle jumps aside.

use super::machine::{Boot, Machine};
use crate::image;
use crate::product::Product;
use crate::qemu::{self, Captured, Ending};
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// The product booted.
pub const PRODUCT: &str = "bench-swap";
/// The heading of the section in `docs/performance.md`.
pub const SECTION_HEADING: &str = "## Hot-swap benchmarks";
/// Operations of each kind the guest runs.
pub const OPERATIONS: usize = 20;
/// The goal for the longest gap of a swap (issue 14), in nanoseconds.
pub const GOAL_NANOS: u64 = 1_000_000;

/// One operation's window, as the driver printed it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    /// `swap` or `restart`.
    pub kind: String,
    /// Guest monotonic time before the request, in ns.
    pub start: u64,
    /// Guest monotonic time after the reply, in ns.
    pub end: u64,
    /// The manager's own gap (swaps), in ns.
    pub manager_gap: u64,
}

/// Median and maximum of one kind of operation, in ns of guest time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Row {
    /// Operations measured.
    pub count: usize,
    /// Median of the longest client gap per operation.
    pub median: u64,
    /// Maximum of the longest client gap per operation.
    pub max: u64,
    /// Median of the manager's gap (0 for restarts).
    pub manager_median: u64,
    /// Maximum of the manager's gap.
    pub manager_max: u64,
    /// Median duration of the operation's request (driver's view).
    pub window_median: u64,
}

/// What one run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// The swaps.
    pub swap: Row,
    /// The stop + start pairs.
    pub restart: Row,
    /// The client's median time between replies, in ns.
    pub steady_gap: u64,
    /// Calls the client made.
    pub calls: u64,
    /// What went wrong.
    pub problems: Vec<String>,
}

fn numbers(text: &str) -> Vec<u64> {
    text.split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect()
}

fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

/// Reads the guest's console.
pub fn parse<'a>(lines: impl Iterator<Item = &'a str>) -> Figures {
    let mut windows = Vec::new();
    let mut gaps: Vec<(u64, u64)> = Vec::new();
    let (mut steady_gap, mut bound, mut calls) = (None, None, 0);
    let mut problems = Vec::new();
    let mut done = false;
    for line in lines {
        if let Some(rest) = line.split("swap-bench-gap ").nth(1) {
            if let [end, len] = numbers(rest)[..] {
                gaps.push((end, len));
            }
        } else if let Some(rest) = line.split("swap-bench: ").nth(1) {
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words[..] {
                [kind @ ("swap" | "restart"), _, start, end, gap] => {
                    match (start.parse(), end.parse(), gap.parse()) {
                        (Ok(start), Ok(end), Ok(manager_gap)) => windows.push(Window {
                            kind: kind.into(),
                            start,
                            end,
                            manager_gap,
                        }),
                        _ => problems.push(format!("unreadable line: {line}")),
                    }
                }
                ["done,", "0", "failures"] => done = true,
                _ => problems.push(format!("guest: {rest}")),
            }
        } else if let Some(rest) = line.split("swap-bench-client: ").nth(1) {
            if rest.contains("median gap") {
                let n = numbers(rest);
                calls = n.first().copied().unwrap_or(0);
                steady_gap = n.last().copied();
                if n.get(1) != Some(&0) {
                    problems.push(format!("client: {rest}"));
                }
            } else if rest.starts_with("gaps over") {
                bound = numbers(rest).first().copied();
            } else if rest.contains("not kept") {
                problems.push(format!("client: {rest}"));
            }
        }
    }
    if !done {
        problems.push("the driver did not finish cleanly".into());
    }
    let Some(bound) = bound else {
        problems.push("the client did not report its gaps".into());
        let empty = row(&[], &[], 0);
        return Figures {
            swap: empty,
            restart: empty,
            steady_gap: 0,
            calls,
            problems,
        };
    };
    let mut figures = Figures {
        swap: row(&windows_of(&windows, "swap"), &gaps, bound),
        restart: row(&windows_of(&windows, "restart"), &gaps, bound),
        steady_gap: steady_gap.unwrap_or(0),
        calls,
        problems,
    };
    for (name, row) in [("swap", figures.swap), ("restart", figures.restart)] {
        if row.count != OPERATIONS {
            figures
                .problems
                .push(format!("{} {name} windows, not {OPERATIONS}", row.count));
        }
    }
    figures
}

fn windows_of(windows: &[Window], kind: &str) -> Vec<Window> {
    windows.iter().filter(|w| w.kind == kind).cloned().collect()
}

/// Per window, the longest printed gap overlapping it (a gap is the
/// interval `(end - len, end]`); a window with none had no gap over
/// `bound`, which stands for it.
fn row(windows: &[Window], gaps: &[(u64, u64)], bound: u64) -> Row {
    let mut longest: Vec<u64> = windows
        .iter()
        .map(|w| {
            gaps.iter()
                .filter(|&&(end, len)| end.saturating_sub(len) < w.end && end > w.start)
                .map(|&(_, len)| len)
                .max()
                .unwrap_or(bound)
        })
        .collect();
    let mut manager: Vec<u64> = windows.iter().map(|w| w.manager_gap).collect();
    let mut durations: Vec<u64> = windows.iter().map(|w| w.end - w.start).collect();
    Row {
        count: windows.len(),
        median: median(&mut longest),
        max: longest.iter().copied().max().unwrap_or(0),
        manager_median: median(&mut manager),
        manager_max: manager.iter().copied().max().unwrap_or(0),
        window_median: median(&mut durations),
    }
}

/// Boots `bench-swap` and reads what it measured.
pub fn run(
    root: &Path,
    dir: &Path,
    timeout: Duration,
    say: &mut dyn FnMut(String),
) -> Result<Figures> {
    let product = Product::load(root, PRODUCT)?;
    let image = image::build(root, &product, say)?;
    let bare = Machine {
        memory: product.qemu.memory.clone(),
        cpus: product.qemu.cpus,
        disk: None,
        net: None,
    };
    let args = bare.args(&Boot {
        kernel: &image.kernel,
        initrd: &image.bootfs,
        append: &image.product.cmdline,
    });
    say("booting bench-swap (20 swaps and 20 stop + start under a steady client)".into());
    let captured: Captured = qemu::run_args_captured(&args, timeout)?;
    let log = dir.join("ours-swap.log");
    std::fs::write(&log, captured.text())
        .with_context(|| format!("cannot write {}", log.display()))?;
    let mut figures = parse(captured.lines.iter().map(|(_, line)| line.as_str()));
    if captured.ending != Ending::Guest(0) {
        figures
            .problems
            .push(format!("bench-swap: {}", captured.ending.describe()));
    }
    Ok(figures)
}

/// `build-image bench --only swap`: boots `bench-swap` alone, prints the
/// figures and, if `write_docs` and nothing went wrong, rewrites the
/// section of `docs/performance.md`. Whether the run was complete.
pub fn run_alone(
    root: &Path,
    dir: &Path,
    timeout: Duration,
    write_docs: bool,
    say: &mut dyn FnMut(String),
) -> Result<bool> {
    let figures = run(root, dir, timeout, say)?;
    for problem in &figures.problems {
        say(format!("swap: problem: {problem}"));
    }
    say(format!(
        "swap: longest client gap per swap median {} ns, max {} ns; per stop + start median {} ns, max {} ns",
        figures.swap.median, figures.swap.max, figures.restart.median, figures.restart.max
    ));
    if !figures.problems.is_empty() {
        return Ok(false);
    }
    if write_docs {
        let docs = root.join("docs/performance.md");
        let existing = std::fs::read_to_string(&docs).unwrap_or_default();
        let section = markdown(&figures, super::COMMAND);
        let updated = super::report::replace_section(&existing, SECTION_HEADING, &section);
        std::fs::write(&docs, updated)
            .with_context(|| format!("cannot write {}", docs.display()))?;
        say(format!(
            "updated the \"Hot-swap benchmarks\" section of {}",
            docs.display()
        ));
    }
    Ok(true)
}

fn us(nanos: u64) -> String {
    format!("{:.0}", nanos as f64 / 1000.0)
}

/// The section of `docs/performance.md`.
pub fn markdown(figures: &Figures, command: &str) -> String {
    use super::report::group_digits;
    let line = |name: &str, row: &Row, manager: bool| {
        format!(
            "| {name} | {count} | {med} µs ({medi}) | {max} µs ({maxi}) | {mgr} | {win} µs |\n",
            count = row.count,
            med = us(row.median),
            medi = group_digits(row.median),
            max = us(row.max),
            maxi = group_digits(row.max),
            mgr = if manager {
                format!("{} µs / {} µs", us(row.manager_median), us(row.manager_max))
            } else {
                "—".into()
            },
            win = group_digits(row.window_median / 1000),
        )
    };
    format!(
        "{SECTION_HEADING}

Written by `{command}` (`build-image/src/bench/swap.rs`, issue 14): the
`bench-swap` product on the benchmark machine (`-icount shift=0,sleep=off`,
so guest time is deterministic and one nanosecond is one guest
instruction, idle jumps aside). **Method.** A client
(`swaptest bench-client`) calls `examples.echo.Echo` back to back,
reconnecting when its channel closes, and records the guest time between
consecutive replies. The driver (`swaptest bench-driver`) swaps
`root/echo_server` {n} times (versions 1 and 2 alternating, through
`SwapController`), then stops and starts it {n} times (`Realm.Stop` +
`Realm.Start`, the way Fuchsia reloads a component; the client's channel
closes and it reconnects), printing each operation's window. Per
operation, the longest reply gap overlapping its window; the table gives
the median and maximum over the operations, in µs of guest time with
instructions in parentheses. The client's steady gap between replies is
{steady} ns over {calls} calls. Goal (issue 14): a swap's longest gap
under 1 ms; this run: {verdict}.

| Operation | Count | Longest client gap, median | Longest client gap, max | Manager's gap median / max | Request duration, median |
|---|---|---|---|---|---|
{swap}{restart}
The manager's gap runs from `Escrow` to the answer to the new version's
`Take` that hands it the connections (docs/hot-swap.md); the swap request
itself lasts longer because the manager waits for the old version's
exit (its `swap_grace_ms`) after the clients are already served.
",
        n = OPERATIONS,
        steady = group_digits(figures.steady_gap),
        calls = group_digits(figures.calls),
        verdict = if figures.swap.max < GOAL_NANOS {
            "met".to_string()
        } else {
            format!("not met (max {} µs)", us(figures.swap.max))
        },
        swap = line("swap (v1 ↔ v2)", &figures.swap, true),
        restart = line("stop + start", &figures.restart, false),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console() -> Vec<String> {
        let mut lines = vec!["swap-bench-client: calling".to_string()];
        for n in 0..OPERATIONS as u64 {
            let start = 1_000_000 * (n + 1);
            lines.push(format!(
                "swap-bench: swap {n} {start} {} 30000",
                start + 500_000
            ));
        }
        for n in 0..OPERATIONS as u64 {
            let start = 100_000_000 + 1_000_000 * n;
            lines.push(format!(
                "swap-bench: restart {n} {start} {} 0",
                start + 300_000
            ));
        }
        lines.push(
            "swap-bench-client: 9000 calls, 0 wrong, 20 reconnects, median gap 10000 ns".into(),
        );
        lines.push("swap-bench-client: gaps over 40000 ns follow".into());
        // Swap 0: a 200 µs gap inside; swap 1: one that starts before and
        // ends inside (150 µs) and one of 50 µs; the others: none printed.
        lines.push("swap-bench-gap 1300000 200000".into());
        lines.push("swap-bench-gap 2100000 150000".into());
        lines.push("swap-bench-gap 2300000 50000".into());
        // Restarts: 250 µs each, the last 900 µs.
        for n in 0..OPERATIONS as u64 {
            let end = 100_000_000 + 1_000_000 * n + 250_000;
            let len = if n == OPERATIONS as u64 - 1 {
                900_000
            } else {
                250_000
            };
            lines.push(format!("swap-bench-gap {} {len}", end + len - 250_000));
        }
        lines.push("swap-bench-client: done".into());
        lines.push("swap-bench: done, 0 failures".into());
        lines
    }

    #[test]
    fn takes_the_longest_overlapping_gap_per_window() {
        let lines = console();
        let figures = parse(lines.iter().map(String::as_str));
        assert!(figures.problems.is_empty(), "{:?}", figures.problems);
        assert_eq!(figures.calls, 9000);
        assert_eq!(figures.steady_gap, 10_000);
        assert_eq!(figures.swap.count, OPERATIONS);
        // 18 windows with none printed stand at the bound.
        assert_eq!(figures.swap.median, 40_000);
        assert_eq!(figures.swap.max, 200_000);
        assert_eq!(figures.swap.manager_median, 30_000);
        assert_eq!(figures.swap.window_median, 500_000);
        assert_eq!(figures.restart.median, 250_000);
        assert_eq!(figures.restart.max, 900_000);
        let text = markdown(&figures, "cmd");
        assert!(text.contains("| swap (v1 ↔ v2) | 20 | 40 µs (40,000) | 200 µs (200,000) | 30 µs / 30 µs | 500 µs |"), "{text}");
        assert!(text.contains("this run: met"));
    }

    #[test]
    fn a_failed_or_missing_run_is_a_problem() {
        let mut lines = console();
        lines.retain(|l| !l.contains("restart 3 "));
        lines.push("swap-bench: restart 3 failed: Err(PeerClosed)".into());
        let figures = parse(lines.iter().map(String::as_str));
        assert_eq!(figures.restart.count, OPERATIONS - 1);
        assert_eq!(figures.problems.len(), 2, "{:?}", figures.problems);
        let figures = parse(["swap-bench-client: calling"].into_iter());
        assert!(figures.problems.len() >= 2, "{:?}", figures.problems);
    }
}
