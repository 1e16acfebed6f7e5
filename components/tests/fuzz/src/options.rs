//! The fuzzer's options, from its arguments: the kernel command line's
//! `syscall-fuzz.<key>=<value>` words (userboot hands them on), which the
//! supervisor also uses to start each generation.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// The prefix of every option.
const PREFIX: &str = "syscall-fuzz.";

/// Which part of the fuzzer this process is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Starts generations and tallies them (the default).
    Supervisor,
    /// One generation's process.
    Generation,
}

/// Every option, with its default.
pub struct Options {
    pub role: Role,
    /// The campaign's seed (`seed=`).
    pub seed: u64,
    /// Calls in the whole campaign, or in this generation (`calls=`).
    pub calls: u64,
    /// Calls per generation (`per-generation=`).
    pub per_generation: u64,
    /// Worker threads per generation (`threads=`).
    pub threads: usize,
    /// The first generation's number, to replay one (`first=`).
    pub first: u64,
    /// This generation's number (`generation=`, set by the supervisor).
    pub generation: u64,
    /// Print every call (`trace=1`).
    pub trace: bool,
}

impl Options {
    /// Reads the options from the program's arguments.
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options {
            role: Role::Supervisor,
            seed: 1,
            calls: 100_000,
            per_generation: 2_000,
            threads: 3,
            first: 0,
            generation: 0,
            trace: false,
        };
        for arg in args.iter().skip(1) {
            let Some((key, value)) = arg.strip_prefix(PREFIX).and_then(|o| o.split_once('='))
            else {
                continue;
            };
            let number = || {
                value
                    .parse::<u64>()
                    .map_err(|_| format!("{PREFIX}{key}: {value:?} is not a number"))
            };
            match key {
                "role" if value == "generation" => options.role = Role::Generation,
                "role" => options.role = Role::Supervisor,
                "seed" => options.seed = number()?,
                "calls" => options.calls = number()?,
                "per-generation" => options.per_generation = number()?.max(1),
                "threads" => options.threads = number()? as usize,
                "first" => options.first = number()?,
                "generation" => options.generation = number()?,
                "trace" => options.trace = number()? != 0,
                _ => return Err(format!("unknown option {PREFIX}{key}")),
            }
        }
        Ok(options)
    }

    /// The arguments that start generation `generation` of `calls` calls.
    pub fn generation_args(&self, generation: u64, calls: u64) -> Vec<String> {
        Vec::from([
            format!("{PREFIX}role=generation"),
            format!("{PREFIX}seed={}", self.seed),
            format!("{PREFIX}generation={generation}"),
            format!("{PREFIX}calls={calls}"),
            format!("{PREFIX}threads={}", self.threads),
            format!("{PREFIX}trace={}", u8::from(self.trace)),
        ])
    }
}
