//! The in-guest syscall fuzzer (`components/tests/fuzz`, product `fuzz`):
//! reading its verdict from the console, and `build-image fuzz`, which
//! boots it for a campaign of any length with the console shown live.
//! The system test `kernel.syscall_fuzz` boots the product as it is
//! (a fixed seed and call count) and checks it with [`verdict`].

use crate::image;
use crate::product::Product;
use crate::qemu::{self, Captured, Ending, RunOptions};
use anyhow::Result;
use std::path::Path;
use std::time::Duration;
use zx_abi::guest_exit;

/// The product the fuzzer runs in.
pub const PRODUCT: &str = "fuzz";

/// What a finished campaign reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Calls made.
    pub calls: u64,
    /// Generations (child processes) run.
    pub generations: u64,
    /// The seed.
    pub seed: u64,
}

/// Parses the fuzzer's last line, `syscall-fuzz: N calls in G
/// generations, seed S, done`.
pub fn final_line(line: &str) -> Option<Verdict> {
    let rest = line
        .split("syscall-fuzz: ")
        .nth(1)?
        .strip_suffix(", done")?;
    let (calls, rest) = rest.split_once(" calls in ")?;
    let (generations, seed) = rest.split_once(" generations, seed ")?;
    Some(Verdict {
        calls: calls.parse().ok()?,
        generations: generations.parse().ok()?,
        seed: seed.parse().ok()?,
    })
}

/// The campaign's verdict: it made at least `min_calls` calls, said so in
/// its last line, and the guest powered off cleanly (no kernel panic, no
/// hang, no generation that could not end or start).
pub fn verdict(run: &Captured, min_calls: u64) -> Result<Verdict, String> {
    let problem = |why: String| {
        let lines: Vec<&str> = run.lines.iter().map(|(_, l)| l.as_str()).collect();
        let start = lines.len().saturating_sub(30);
        format!(
            "{why}\n--- console (last {} lines) ---\n{}\n--- {} ---",
            lines.len() - start,
            lines[start..].join("\n"),
            run.ending.describe()
        )
    };
    if let Some((_, panic)) = run.lines.iter().find(|(_, l)| l.contains("KERNEL PANIC")) {
        return Err(problem(format!("the kernel panicked: {panic}")));
    }
    let verdict = run
        .lines
        .iter()
        .find_map(|(_, line)| final_line(line))
        .ok_or_else(|| problem("the fuzzer did not finish".into()))?;
    if verdict.calls < min_calls {
        return Err(problem(format!(
            "only {} calls, expected at least {min_calls}",
            verdict.calls
        )));
    }
    if run.ending != Ending::Guest(guest_exit::SUCCESS) {
        return Err(problem("the guest did not power off with status 0".into()));
    }
    Ok(verdict)
}

/// A campaign for `build-image fuzz`.
pub struct Campaign {
    /// Calls to make.
    pub calls: u64,
    /// The seed.
    pub seed: u64,
    /// Worker threads per generation.
    pub threads: u32,
    /// Calls per generation.
    pub per_generation: u64,
    /// More kernel command-line options (e.g. `syscall-fuzz.first=12
    /// syscall-fuzz.trace=1` to replay one generation).
    pub cmdline: String,
    /// Give up after this long (default: from the number of calls).
    pub timeout: Option<Duration>,
}

/// Boots the fuzzer with `campaign`'s settings, its console shown as it
/// runs, and returns its verdict (`Err` with why if it failed).
pub fn run(root: &Path, campaign: &Campaign) -> Result<Result<Verdict, String>> {
    let product = Product::load(root, PRODUCT)?;
    let image = image::build(root, &product, &mut |line| eprintln!("build-image: {line}"))?;
    // The fuzzer makes about 10,000 calls a second under TCG; allow for
    // a machine five times slower.
    let timeout = campaign
        .timeout
        .unwrap_or(Duration::from_secs(120 + campaign.calls / 2_000));
    let options = RunOptions {
        timeout,
        extra_cmdline: format!(
            "syscall-fuzz.seed={} syscall-fuzz.calls={} syscall-fuzz.threads={} syscall-fuzz.per-generation={} {}",
            campaign.seed, campaign.calls, campaign.threads, campaign.per_generation, campaign.cmdline
        )
        .trim()
        .to_string(),
        ..RunOptions::default()
    };
    eprintln!(
        "build-image: fuzzing: {} calls from seed {} (timeout {} s)",
        campaign.calls,
        campaign.seed,
        timeout.as_secs()
    );
    let run = qemu::run_captured_echoing(&image, &options)?;
    Ok(verdict(&run, campaign.calls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_final_line() {
        assert_eq!(
            final_line("syscall-fuzz: 200000 calls in 120 generations, seed 1, done"),
            Some(Verdict {
                calls: 200_000,
                generations: 120,
                seed: 1
            })
        );
        assert_eq!(final_line("syscall-fuzz: 5 calls in 1 generations"), None);
    }
}
