//! Running a case and summarising its samples, the same way as the Linux
//! peer (`build-image/bench/linux-peer/peer.c`): sort, median = the
//! element at `n / 2`, minimum = the first, both less the cost of an empty
//! `lfence; rdtsc` pair.

use crate::tsc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use zx_runtime::println;

/// Collects samples of cases and prints one `BENCH` line per case.
pub struct Bench {
    samples: Vec<u64>,
    /// Instructions counted by an empty pair of TSC reads.
    overhead: u64,
    /// `bench.profile=<case>:<iterations>` (`build-image profile`): run
    /// only that case, that many times.
    profile: Option<(String, usize)>,
}

/// The `bench.profile=<case>:<iterations>` argument, if given.
fn profile_argument() -> Option<(String, usize)> {
    let value = zx_runtime::args()
        .iter()
        .find_map(|arg| arg.strip_prefix("bench.profile="))?;
    let (case, iterations) = value.rsplit_once(':')?;
    Some((case.into(), iterations.parse().ok()?))
}

impl Bench {
    /// Room for `max_iterations` samples. Measures the cost of an empty
    /// pair of TSC reads, which every later sample has subtracted, and
    /// prints it as the `tsc_overhead` case.
    pub fn new(max_iterations: usize) -> Bench {
        let profile = profile_argument();
        let room = max_iterations.max(profile.as_ref().map_or(0, |(_, n)| *n));
        let mut bench = Bench {
            samples: vec![0; room],
            overhead: 0,
            profile: None,
        };
        bench.run("tsc_overhead", max_iterations, || {});
        bench.overhead = bench.samples[0];
        bench.profile = profile;
        bench
    }

    /// Runs `operation` `iterations` times, each between two TSC reads,
    /// and prints the case's line.
    pub fn run(&mut self, name: &str, iterations: usize, mut operation: impl FnMut()) {
        self.run_timed(name, iterations, |_| {
            let start = tsc::read();
            operation();
            tsc::read() - start
        });
    }

    /// Like [`Bench::run`] for operations that read the TSC themselves
    /// (e.g. where the end is observed by another thread): `sample(i)`
    /// returns the ticks of iteration `i`.
    pub fn run_timed(
        &mut self,
        name: &str,
        iterations: usize,
        mut sample: impl FnMut(usize) -> u64,
    ) {
        let iterations = match &self.profile {
            Some((case, _)) if case != name => return,
            Some((_, profiled)) => *profiled,
            None => iterations,
        };
        let samples = &mut self.samples[..iterations];
        for (i, slot) in samples.iter_mut().enumerate() {
            *slot = sample(i);
        }
        summarize(name, samples, self.overhead);
    }

    /// Prints the line of samples collected elsewhere (each taken between
    /// two TSC reads).
    pub fn report(&self, name: &str, samples: &mut [u64]) {
        summarize(name, samples, self.overhead);
    }
}

/// Sorts `samples` and prints their median and minimum less `overhead`.
fn summarize(name: &str, samples: &mut [u64], overhead: u64) {
    samples.sort_unstable();
    let median = samples[samples.len() / 2].saturating_sub(overhead);
    let min = samples[0].saturating_sub(overhead);
    line(name, samples.len() as u64, median, min);
}

/// Prints one result line (`build-image/src/bench/measurement.rs` parses
/// it).
pub fn line(name: &str, iterations: u64, median: u64, min: u64) {
    println!(
        "BENCH name={} iters={} median={} min={}",
        name, iterations, median, min
    );
}

/// Reports a case that could not run (`build-image bench` lists it as a
/// problem).
pub fn error(what: &str, status: zx::Status) {
    println!("BENCH-ERROR {}: {:?}", what, status);
}
