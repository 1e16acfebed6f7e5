//! Running a case and summarising its samples, the same way as the Linux
//! peer (`build-image/bench/linux-peer/peer.c`): sort, median = the
//! element at `n / 2`, minimum = the first, both less the cost of an empty
//! `lfence; rdtsc` pair.

use crate::tsc;
use zx_runtime::println;

/// Collects samples of cases and prints one `BENCH` line per case.
pub struct Bench {
    samples: &'static mut [u64],
    /// Instructions counted by an empty pair of TSC reads.
    overhead: u64,
}

impl Bench {
    /// Measures the cost of an empty pair of TSC reads, which every later
    /// sample has subtracted, and prints it as the `tsc_overhead` case.
    pub fn new(samples: &'static mut [u64], iterations: usize) -> Bench {
        let mut bench = Bench {
            samples,
            overhead: 0,
        };
        bench.run("tsc_overhead", iterations, || {});
        bench.overhead = bench.samples[0];
        bench
    }

    /// Runs `operation` `iterations` times, each between two TSC reads,
    /// and prints the case's line.
    pub fn run(&mut self, name: &str, iterations: usize, mut operation: impl FnMut()) {
        let samples = &mut self.samples[..iterations];
        for sample in samples.iter_mut() {
            let start = tsc::read();
            operation();
            *sample = tsc::read() - start;
        }
        samples.sort_unstable();
        let median = samples[iterations / 2].saturating_sub(self.overhead);
        let min = samples[0].saturating_sub(self.overhead);
        line(name, iterations as u64, median, min);
    }
}

/// Prints one result line (`build-image/src/bench/measurement.rs` parses
/// it).
pub fn line(name: &str, iterations: u64, median: u64, min: u64) {
    println!(
        "BENCH name={} iters={} median={} min={}",
        name, iterations, median, min
    );
}
