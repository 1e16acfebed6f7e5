//! What a benchmark guest reports: one line per case,
//!
//! ```text
//! BENCH name=<case> iters=<N> median=<X> min=<Y>
//! ```
//!
//! where X and Y are guest instructions (TSC ticks under `-icount
//! shift=0,sleep=off`) with the cost of an empty `lfence; rdtsc` pair already
//! subtracted. Both guests — ours (`components/bench`) and the Linux peer
//! (`build-image/bench/linux-peer/peer.c`) — print this form. A guest may
//! also print `BENCH-ERROR <why>` lines, which are collected as errors.

use serde::Serialize;

/// One case's result, as a guest printed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Measurement {
    /// Case name (`null_syscall`, `boot`, ...).
    pub name: String,
    /// Number of samples.
    pub iters: u64,
    /// Median sample, in guest instructions.
    pub median: u64,
    /// Smallest sample, in guest instructions.
    pub min: u64,
}

/// Everything a guest reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GuestReport {
    /// The cases, in the order printed.
    pub measurements: Vec<Measurement>,
    /// `BENCH-ERROR` lines and lines that started like a result but did not
    /// parse.
    pub errors: Vec<String>,
    /// Whether the guest printed `BENCH-END` (it finished every case).
    pub finished: bool,
}

impl GuestReport {
    /// Collects the results from a guest's console lines.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> GuestReport {
        let mut report = GuestReport::default();
        for line in lines {
            // A guest's line may follow other output on the same console
            // line (Linux messages are asynchronous): look anywhere in it.
            if let Some(at) = line.find("BENCH name=") {
                match parse_line(&line[at..]) {
                    Some(measurement) => report.measurements.push(measurement),
                    None => report.errors.push(format!("unparseable line: {line}")),
                }
            } else if let Some(at) = line.find("BENCH-ERROR") {
                report.errors.push(line[at..].to_string());
            } else if line.contains("BENCH-END") {
                report.finished = true;
            }
        }
        report
    }

    /// The result of case `name`, if the guest measured it.
    pub fn get(&self, name: &str) -> Option<&Measurement> {
        self.measurements.iter().find(|m| m.name == name)
    }
}

/// Parses `BENCH name=... iters=... median=... min=...` (fields in any
/// order, each exactly once).
pub fn parse_line(line: &str) -> Option<Measurement> {
    let mut words = line.split_whitespace();
    if words.next()? != "BENCH" {
        return None;
    }
    let (mut name, mut iters, mut median, mut min) = (None, None, None, None);
    for word in words {
        let (key, value) = word.split_once('=')?;
        let slot = match key {
            "name" => {
                if name.is_some() || value.is_empty() {
                    return None;
                }
                name = Some(value.to_string());
                continue;
            }
            "iters" => &mut iters,
            "median" => &mut median,
            "min" => &mut min,
            _ => return None,
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(value.parse::<u64>().ok()?);
    }
    Some(Measurement {
        name: name?,
        iters: iters?,
        median: median?,
        min: min?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_result_line() {
        assert_eq!(
            parse_line("BENCH name=null_syscall iters=10000 median=112 min=110"),
            Some(Measurement {
                name: "null_syscall".into(),
                iters: 10000,
                median: 112,
                min: 110
            })
        );
    }

    #[test]
    fn rejects_malformed_lines() {
        for line in [
            "BENCH name=x iters=1 median=2",
            "BENCH name=x iters=1 median=2 min=-3",
            "BENCH name=x iters=1 median=2 min=3 extra=4",
            "BENCH name=x iters=1 iters=1 median=2 min=3",
            "BENCH name= iters=1 median=2 min=3",
            "BENCHX name=x iters=1 median=2 min=3",
            "BENCH name=x iters=1 median=2 min",
        ] {
            assert_eq!(parse_line(line), None, "{line}");
        }
    }

    #[test]
    fn collects_results_errors_and_the_end_marker() {
        let console = [
            "[    0.1] I kernel: booting",
            "BENCH-START ours",
            "BENCH name=boot iters=1 median=5 min=5",
            "[    3.2] random: crng init done BENCH name=getpid iters=3 median=9 min=8",
            "BENCH name=broken iters=x median=1 min=1",
            "BENCH-ERROR socketpair: Operation not permitted",
            "BENCH-END",
        ];
        let report = GuestReport::parse(console);
        assert_eq!(report.measurements.len(), 2);
        assert_eq!(report.get("getpid").map(|m| m.median), Some(9));
        assert_eq!(report.get("absent"), None);
        assert_eq!(report.errors.len(), 2);
        assert!(report.finished);
    }
}
