//! Per-process handle tables.
//!
//! A handle value is what user space holds; the table maps it to the
//! kernel's (object, rights) pair. Values must be unforgeable: a process must
//! not be able to name a handle it was not given, nor reach a closed handle
//! through a stale value that happens to be reused.
//!
//! Design choice: values come from a per-table counter passed through a
//! bijective 32-bit mixing function keyed with a per-process secret. The
//! bijection means two live handles never collide and a value is not
//! reissued until 2³² handles later; the mixing and the secret mean values
//! look random, so guessing one is a 1-in-2³² shot rather than "try 3, 5,
//! 7". Zero is never issued (it is `HANDLE_INVALID`).
//!
//! The table is a `hashbrown` map, generic over what a handle is, so it is
//! tested here on the host. It also enforces the per-process handle limit
//! that jobs set.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use hashbrown::HashMap;

/// The per-table limit that applies when the job sets none.
pub const DEFAULT_LIMIT: usize = 1 << 16;

/// Why an insertion failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableError {
    /// The table already holds its limit of handles.
    Full,
    /// The table would have to grow and memory is short.
    NoMemory,
}

/// A handle table holding values of type `H`.
pub struct HandleTable<H> {
    entries: HashMap<u32, H>,
    counter: u32,
    secret: u32,
    limit: usize,
}

/// A bijection on `u32` with good avalanche (the "lowbias32" mixer): every
/// step (xor-shift, multiply by an odd constant) is invertible.
fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

impl<H> HandleTable<H> {
    /// An empty table whose values are scrambled with `secret` (the kernel
    /// derives it from the TSC and the process koid).
    pub fn new(secret: u32) -> HandleTable<H> {
        HandleTable {
            entries: HashMap::new(),
            counter: 0,
            secret,
            limit: DEFAULT_LIMIT,
        }
    }

    /// Sets the most handles the table may hold.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Adds a handle and returns its new value. Never allocates without
    /// asking: if the table must grow and memory is short, it is
    /// [`TableError::NoMemory`].
    pub fn insert(&mut self, handle: H) -> Result<u32, TableError> {
        if self.entries.len() >= self.limit {
            return Err(TableError::Full);
        }
        if self.entries.try_reserve(1).is_err() {
            return Err(TableError::NoMemory);
        }
        loop {
            self.counter = self.counter.wrapping_add(1);
            let value = mix(self.counter ^ self.secret);
            // Zero is HANDLE_INVALID; a live collision can only happen after
            // the counter wrapped.
            if value != 0 && !self.entries.contains_key(&value) {
                self.entries.insert(value, handle);
                return Ok(value);
            }
        }
    }

    /// Makes sure `count` more handles fit: within the limit, and without
    /// the table having to grow (the room is allocated now, if needed).
    pub fn reserve(&mut self, count: usize) -> Result<(), TableError> {
        if self.entries.len().saturating_add(count) > self.limit {
            return Err(TableError::Full);
        }
        self.entries
            .try_reserve(count)
            .map_err(|_| TableError::NoMemory)
    }

    /// The handle named `value`.
    pub fn get(&self, value: u32) -> Option<&H> {
        self.entries.get(&value)
    }

    /// Removes and returns the handle named `value`.
    pub fn remove(&mut self, value: u32) -> Option<H> {
        self.entries.remove(&value)
    }

    /// Whether `value` names a handle.
    pub fn contains(&self, value: u32) -> bool {
        self.entries.contains_key(&value)
    }

    /// Number of handles held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes every handle (process teardown), yielding them.
    pub fn drain(&mut self) -> impl Iterator<Item = H> + '_ {
        self.entries.drain().map(|(_, handle)| handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn insert_get_remove() {
        let mut table = HandleTable::new(0x1234_5678);
        let a = table.insert("a").unwrap();
        let b = table.insert("b").unwrap();
        assert_ne!(a, b);
        assert_ne!(a, 0);
        assert_eq!(table.get(a), Some(&"a"));
        assert_eq!(table.remove(a), Some("a"));
        assert_eq!(table.get(a), None, "a closed handle is gone");
        assert_eq!(table.remove(a), None);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn values_are_never_reused_and_never_zero() {
        let mut table = HandleTable::new(0);
        let mut seen = HashSet::new();
        for _ in 0..100_000 {
            let value = table.insert(()).unwrap();
            assert_ne!(value, 0);
            assert!(seen.insert(value), "value {value:#x} issued twice");
            table.remove(value);
        }
    }

    #[test]
    fn stale_and_guessed_values_fail() {
        let mut table = HandleTable::new(0xdead_beef);
        let live = table.insert(1).unwrap();
        let stale = table.insert(2).unwrap();
        table.remove(stale);
        assert!(table.get(stale).is_none());
        // Small "obvious" values name nothing.
        for guess in 1..1000u32 {
            if guess != live {
                assert!(table.get(guess).is_none());
            }
        }
    }

    #[test]
    fn secrets_give_different_values() {
        let mut a = HandleTable::new(1);
        let mut b = HandleTable::new(2);
        let va: Vec<_> = (0..8).map(|_| a.insert(()).unwrap()).collect();
        let vb: Vec<_> = (0..8).map(|_| b.insert(()).unwrap()).collect();
        assert_ne!(va, vb);
    }

    #[test]
    fn limit_is_enforced() {
        let mut table = HandleTable::new(7);
        table.set_limit(3);
        for _ in 0..3 {
            table.insert(()).unwrap();
        }
        assert_eq!(table.insert(()), Err(TableError::Full));
        let any = *table.entries.keys().next().unwrap();
        table.remove(any);
        assert!(table.insert(()).is_ok());
    }

    #[test]
    fn drain_empties_the_table() {
        let mut table = HandleTable::new(3);
        for i in 0..10 {
            table.insert(i).unwrap();
        }
        let mut drained: Vec<_> = table.drain().collect();
        drained.sort();
        assert_eq!(drained, (0..10).collect::<Vec<_>>());
        assert!(table.is_empty());
    }
}
