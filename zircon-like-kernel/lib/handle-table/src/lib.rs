//! Per-process handle tables.
//!
//! A handle value is what user space holds; the table maps it to the
//! kernel's (object, rights) pair. Values must be unforgeable: a process must
//! not be able to name a handle it was not given, nor reach a closed handle
//! through a stale value that happens to be reused.
//!
//! Design choice: the table is a vector of slots indexed directly, and a
//! value names a slot and its *generation*: `mix((generation << 16 |
//! index) ^ secret)`, where `mix` is a bijective 32-bit mixing function
//! and the secret is per process. A lookup inverts the mix, checks the
//! index and compares the generation (a closed handle's slot has moved
//! on), with no hashing and no probing. The mixing and the secret make
//! values look random, so guessing one is a 1-in-2³² shot rather than
//! "try 3, 5, 7"; the bijection means two live handles never collide.
//! Removing a handle bumps its slot's generation, and freed slots are
//! reused first in, first out and only once [`REUSE_AFTER`] of them are
//! waiting (the table grows new slots until then), so a value is not
//! reissued until at least `REUSE_AFTER × 65,536` handles later. Zero is
//! never issued (it is `HANDLE_INVALID`).
//!
//! The table is generic over what a handle is, so it is tested here on the
//! host. It also enforces the per-process handle limit that jobs set (at
//! most [`DEFAULT_LIMIT`], which is also the number of slot indices).
//! Removing never allocates: the free list keeps room for every slot.
//!
//! The table's storage grows by doubling, in steps the caller can see
//! before they happen ([`HandleTable::bytes_for_insert`],
//! [`HandleTable::bytes_for_reserve`], [`HandleTable::bytes`]), so the
//! kernel charges each growth to the process's job before it is made.
//! The storage is kept until the table is dropped or drained: a freed
//! slot keeps its generation, which is what keeps stale values dead.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// The per-table limit that applies when the job sets none; also the most
/// slots a table has (the index is the low 16 bits of a value's preimage).
pub const DEFAULT_LIMIT: usize = 1 << 16;

/// Freed slots waiting before the oldest is reused.
pub const REUSE_AFTER: usize = 64;

const INDEX_BITS: u32 = 16;
const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;

/// Why an insertion failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableError {
    /// The table already holds its limit of handles.
    Full,
    /// The table would have to grow and memory is short.
    NoMemory,
}

struct Slot<H> {
    generation: u16,
    handle: Option<H>,
}

/// A handle table holding values of type `H`.
pub struct HandleTable<H> {
    slots: Vec<Slot<H>>,
    /// Indices of empty slots, oldest first.
    free: VecDeque<u32>,
    len: usize,
    secret: u32,
    limit: usize,
    /// Slots (and free-list places) the storage has room for.
    capacity: usize,
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

/// The inverse of [`mix`].
fn unmix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x4302_1123);
    x ^= (x >> 15) ^ (x >> 30);
    x = x.wrapping_mul(0x1d69_e2a5);
    x ^= x >> 16;
    x
}

impl<H> HandleTable<H> {
    /// An empty table whose values are scrambled with `secret` (the kernel
    /// derives it from the TSC and the process koid). Allocates nothing.
    pub fn new(secret: u32) -> HandleTable<H> {
        HandleTable {
            slots: Vec::new(),
            free: VecDeque::new(),
            len: 0,
            secret,
            limit: DEFAULT_LIMIT,
            capacity: 0,
        }
    }

    /// Bytes of storage one slot takes (the slot and its free-list place).
    pub const fn slot_bytes() -> usize {
        core::mem::size_of::<Slot<H>>() + core::mem::size_of::<u32>()
    }

    /// Bytes of storage the table holds now.
    pub fn bytes(&self) -> usize {
        self.capacity * Self::slot_bytes()
    }

    /// The slot capacity the table grows to so that `count` more slots fit
    /// (its present one if they fit already).
    fn capacity_for(&self, count: usize) -> usize {
        let needed = self.slots.len().saturating_add(count).min(DEFAULT_LIMIT);
        if needed <= self.capacity {
            return self.capacity;
        }
        needed
            .max(self.capacity.saturating_mul(2))
            .clamp(16, DEFAULT_LIMIT)
    }

    /// Bytes of storage the table will hold once the next
    /// [`HandleTable::insert`] has run (more than [`HandleTable::bytes`]
    /// when it has to grow).
    pub fn bytes_for_insert(&self) -> usize {
        if self.reuses() {
            self.bytes()
        } else {
            self.capacity_for(1) * Self::slot_bytes()
        }
    }

    /// Bytes of storage the table will hold once
    /// [`HandleTable::reserve`]`(count)` has run.
    pub fn bytes_for_reserve(&self, count: usize) -> usize {
        self.capacity_for(count) * Self::slot_bytes()
    }

    /// Whether the next insertion reuses a freed slot.
    fn reuses(&self) -> bool {
        !self.free.is_empty()
            && (self.free.len() >= REUSE_AFTER || self.slots.len() >= DEFAULT_LIMIT)
    }

    /// Sets the most handles the table may hold (at most
    /// [`DEFAULT_LIMIT`]).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.min(DEFAULT_LIMIT);
    }

    /// The most handles the table may hold.
    pub fn limit(&self) -> usize {
        self.limit
    }

    fn value(&self, index: u32, generation: u16) -> u32 {
        mix(((u32::from(generation) << INDEX_BITS) | index) ^ self.secret)
    }

    /// The slot index `value` names, if its generation is current and the
    /// slot holds a handle.
    #[inline]
    fn index_of(&self, value: u32) -> Option<usize> {
        let raw = unmix(value) ^ self.secret;
        let index = (raw & INDEX_MASK) as usize;
        let slot = self.slots.get(index)?;
        (slot.handle.is_some() && u32::from(slot.generation) == raw >> INDEX_BITS).then_some(index)
    }

    /// Makes room for `count` more slots (and their places in the free
    /// list), so neither inserting them nor removing them allocates.
    fn grow_room(&mut self, count: usize) -> Result<(), TableError> {
        let capacity = self.capacity_for(count);
        if capacity == self.capacity {
            return Ok(());
        }
        self.slots
            .try_reserve_exact(capacity - self.slots.len())
            .map_err(|_| TableError::NoMemory)?;
        self.free
            .try_reserve_exact(capacity.saturating_sub(self.free.len()))
            .map_err(|_| TableError::NoMemory)?;
        self.capacity = capacity;
        Ok(())
    }

    /// Adds a handle and returns its new value. Never allocates without
    /// asking: if the table must grow and memory is short, it is
    /// [`TableError::NoMemory`].
    pub fn insert(&mut self, handle: H) -> Result<u32, TableError> {
        if self.len >= self.limit {
            return Err(TableError::Full);
        }
        let reuse = self.reuses();
        let index = match self.free.front() {
            Some(&index) if reuse => {
                self.free.pop_front();
                index
            }
            _ => {
                self.grow_room(1)?;
                self.slots.push(Slot {
                    generation: 0,
                    handle: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        // Zero is HANDLE_INVALID: skip the one generation that maps to it.
        let mut generation = slot.generation;
        if mix(((u32::from(generation) << INDEX_BITS) | index) ^ self.secret) == 0 {
            generation = generation.wrapping_add(1);
        }
        slot.generation = generation;
        slot.handle = Some(handle);
        self.len += 1;
        Ok(self.value(index, generation))
    }

    /// Makes sure `count` more handles fit: within the limit, and without
    /// the table having to grow (the room is allocated now, if needed).
    pub fn reserve(&mut self, count: usize) -> Result<(), TableError> {
        if self.len.saturating_add(count) > self.limit {
            return Err(TableError::Full);
        }
        self.grow_room(count)
    }

    /// The handle named `value`.
    #[inline]
    pub fn get(&self, value: u32) -> Option<&H> {
        let index = self.index_of(value)?;
        self.slots[index].handle.as_ref()
    }

    /// Removes and returns the handle named `value`. Never allocates.
    pub fn remove(&mut self, value: u32) -> Option<H> {
        let index = self.index_of(value)?;
        let slot = &mut self.slots[index];
        let handle = slot.handle.take();
        slot.generation = slot.generation.wrapping_add(1);
        self.len -= 1;
        // Room for every slot is kept in the free list (`grow_room`).
        self.free.push_back(index as u32);
        handle
    }

    /// Whether `value` names a handle.
    pub fn contains(&self, value: u32) -> bool {
        self.index_of(value).is_some()
    }

    /// Number of handles held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes every handle (process teardown), yielding them. The
    /// storage stays ([`HandleTable::bytes`] is unchanged) until the table
    /// is dropped.
    pub fn drain(&mut self) -> impl Iterator<Item = H> + '_ {
        self.len = 0;
        self.free.clear();
        self.slots.drain(..).filter_map(|slot| slot.handle)
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
        let values: Vec<u32> = (0..3).map(|i| table.value(i, 0)).collect();
        assert!(values.iter().all(|&v| table.contains(v)));
        table.remove(values[0]);
        assert!(table.insert(()).is_ok());
    }

    #[test]
    fn mix_is_inverted() {
        for x in [0u32, 1, 2, 0xffff, 0x1_0000, 0x8000_0000, u32::MAX]
            .into_iter()
            .chain((0..100_000u32).map(|i| i.wrapping_mul(0x9e37_79b9)))
        {
            assert_eq!(unmix(mix(x)), x);
        }
    }

    #[test]
    fn slots_are_reused_with_new_values() {
        let mut table = HandleTable::new(0x5555_aaaa);
        let mut live = Vec::new();
        for i in 0..200 {
            live.push(table.insert(i).unwrap());
        }
        for value in live.drain(..) {
            table.remove(value);
        }
        // The slots are reused (the table does not grow), with values
        // that name nothing closed before.
        let before = table.slots.len();
        let mut seen = HashSet::new();
        for i in 0..(200 - REUSE_AFTER as i32) {
            let value = table.insert(i).unwrap();
            assert!(seen.insert(value));
            assert_eq!(table.get(value), Some(&i));
        }
        assert_eq!(table.slots.len(), before);
    }

    #[test]
    fn removing_never_allocates() {
        let mut table = HandleTable::new(9);
        let values: Vec<u32> = (0..1000).map(|i| table.insert(i).unwrap()).collect();
        assert!(table.free.capacity() >= table.slots.len());
        for value in values {
            assert!(table.remove(value).is_some());
        }
        assert!(table.is_empty());
    }

    #[test]
    fn growth_is_announced_before_it_happens() {
        let mut table = HandleTable::new(11);
        assert_eq!(table.bytes(), 0);
        let mut grew = 0;
        for i in 0..5000 {
            let before = table.bytes();
            let expected = table.bytes_for_insert();
            let value = table.insert(i).unwrap();
            assert_eq!(table.bytes(), expected, "insert {i} grew as announced");
            assert!(table.slots.capacity() * core::mem::size_of::<Slot<i32>>() <= table.bytes());
            if table.bytes() > before {
                grew += 1;
            }
            if i % 3 == 0 {
                table.remove(value);
            }
        }
        // Doubling: a dozen growths, not thousands.
        assert!((5..=12).contains(&grew), "{grew} growths");
        let expected = table.bytes_for_reserve(10_000);
        table.reserve(10_000).unwrap();
        assert_eq!(table.bytes(), expected);
        // Removing gives nothing back, and reusing a slot takes nothing.
        let before = table.bytes();
        let value = table.insert(1).unwrap();
        table.remove(value);
        assert_eq!(table.bytes(), before);
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
