//! Giving back the room a burst left in a kernel object's queue or table.
//!
//! Each element of an object's queue or table (a message, a reply record,
//! an observer, a waiter) is charged or bounded while it is there; the
//! room a burst grew the collection to is not, and a `Vec` or `VecDeque`
//! never shrinks by itself: an idle object would keep it, charged to
//! nobody. [`trim`] gives it back once at most a quarter of it is in use,
//! keeping twice what is held (and at least [`KEPT_SLOTS`]), so a
//! collection that fills and drains reallocates a bounded number of times
//! per element. There is no fallible shrink in `alloc`: the contents move
//! into a smaller allocation made with `try_reserve`, and nothing changes
//! if there is no memory for one (no allocation failure can become a
//! panic).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Slots a collection keeps at rest, whatever it held before.
pub const KEPT_SLOTS: usize = 8;

/// A collection whose room can be given back.
pub trait Room {
    /// Elements held.
    fn used(&self) -> usize;
    /// Elements there is room for.
    fn room(&self) -> usize;
    /// Moves the contents into a new allocation with room for `slots`;
    /// keeps the old one if there is no memory for a new one.
    fn reallocate(&mut self, slots: usize);
}

impl<T> Room for VecDeque<T> {
    fn used(&self) -> usize {
        self.len()
    }
    fn room(&self) -> usize {
        self.capacity()
    }
    fn reallocate(&mut self, slots: usize) {
        let mut smaller = VecDeque::new();
        if smaller.try_reserve_exact(slots).is_ok() {
            smaller.extend(self.drain(..));
            *self = smaller;
        }
    }
}

impl<T> Room for Vec<T> {
    fn used(&self) -> usize {
        self.len()
    }
    fn room(&self) -> usize {
        self.capacity()
    }
    fn reallocate(&mut self, slots: usize) {
        let mut smaller = Vec::new();
        if smaller.try_reserve_exact(slots).is_ok() {
            smaller.append(self);
            *self = smaller;
        }
    }
}

/// Gives back the room `table` has left over from a burst (module docs).
#[inline]
pub fn trim(table: &mut impl Room) {
    trim_keeping(table, KEPT_SLOTS);
}

/// [`trim`], keeping at least `kept` slots.
#[inline]
pub fn trim_keeping(table: &mut impl Room, kept: usize) {
    let room = table.room();
    if room > kept && table.used() <= room / 4 {
        trim_slow(table, kept);
    }
}

#[cold]
#[inline(never)]
fn trim_slow(table: &mut impl Room, kept: usize) {
    table.reallocate((table.used() * 2).max(kept));
}
