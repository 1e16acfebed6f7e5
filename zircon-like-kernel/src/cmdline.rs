//! The kernel command line: space-separated `key=value` options.
//!
//! | option | meaning |
//! |---|---|
//! | `loglevel=error\|warn\|info\|debug\|trace` | most verbose log level printed (default `info`) |
//! | `userboot.next=bin/a,bin/b` | read by userboot: bootfs programs it runs, in order |
//! | `kernel.crash=panic\|page-fault\|stack-overflow` | test hook: crash the kernel after boot, to test the panic and fault reports |

/// Parsed options; unknown ones are logged and ignored.
pub struct Cmdline<'a> {
    raw: &'a str,
}

impl<'a> Cmdline<'a> {
    /// Wraps the raw command line.
    pub fn new(raw: &'a str) -> Cmdline<'a> {
        Cmdline { raw }
    }

    /// The value of option `key`, if present (the last one wins).
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.raw
            .split_ascii_whitespace()
            .filter_map(|option| option.split_once('='))
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .next_back()
    }

    /// The raw text.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// Options this kernel does not know, for a warning.
    pub fn unknown(&self) -> impl Iterator<Item = &'a str> + 'a {
        const KNOWN: [&str; 3] = ["loglevel", "userboot.next", "kernel.crash"];
        // `<program>.<key>=` options are for user programs (userboot hands
        // them on); only `kernel.*` and bare keys are the kernel's.
        self.raw.split_ascii_whitespace().filter(|option| {
            let key = option.split_once('=').map_or(*option, |(k, _)| k);
            let for_a_program = key.contains('.') && !key.starts_with("kernel.");
            !KNOWN.contains(&key) && !for_a_program
        })
    }
}
