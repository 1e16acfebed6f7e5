//! In-guest tests of the system-call layer.
//!
//! Each test prints one line, `[PASS] name` or `[FAIL] name: why`, which
//! the host harness (`build-image test`, `cargo test`) parses; the exit code
//! is the number of failures. The tests cover every syscall's success path
//! and the statuses its error paths return: bad handles, wrong types,
//! missing rights, bad or kernel pointers, oversized messages, too many
//! handles, closed peers, expired deadlines.
#![no_std]
#![no_main]

extern crate alloc;

mod asyncs;
mod channels;
mod futexes;
mod handles;
mod pointers;
mod ports;
mod processes;
mod threads;
mod vm;
mod waits;

use zx::Status;
use zx_runtime::println;

zx_runtime::entry!(main);

/// Collects results.
pub struct Suite {
    failures: i64,
    passed: i64,
}

/// A test's verdict: `Err` carries why it failed.
pub type Outcome = Result<(), alloc::string::String>;

impl Suite {
    /// Runs one test and prints its line.
    pub fn run(&mut self, name: &str, test: impl FnOnce() -> Outcome) {
        match test() {
            Ok(()) => {
                println!("[PASS] {}", name);
                self.passed += 1;
            }
            Err(why) => {
                println!("[FAIL] {}: {}", name, why);
                self.failures += 1;
            }
        }
    }
}

/// `Ok` if `actual` is `expected`.
pub fn expect_status(actual: Result<(), Status>, expected: Status) -> Outcome {
    let actual = match actual {
        Ok(()) => Status::OK,
        Err(status) => status,
    };
    if actual == expected {
        Ok(())
    } else {
        Err(alloc::format!("got {:?}, expected {:?}", actual, expected))
    }
}

/// `Ok` if `condition` holds.
pub fn check(condition: bool, what: &str) -> Outcome {
    if condition {
        Ok(())
    } else {
        Err(what.into())
    }
}

/// Turns a `Result<_, Status>` into an `Outcome` with context.
pub fn step<T>(result: Result<T, Status>, what: &str) -> Result<T, alloc::string::String> {
    result.map_err(|status| alloc::format!("{what}: {status:?}"))
}

fn main() -> i64 {
    let mut suite = Suite {
        failures: 0,
        passed: 0,
    };
    pointers::run(&mut suite);
    handles::run(&mut suite);
    waits::run(&mut suite);
    channels::run(&mut suite);
    ports::run(&mut suite);
    asyncs::run(&mut suite);
    vm::run(&mut suite);
    threads::run(&mut suite);
    futexes::run(&mut suite);
    processes::run(&mut suite);
    println!(
        "usertest: {} passed, {} failures",
        suite.passed, suite.failures
    );
    suite.failures
}
