//! The pool of handles a generation's threads fuzz with: live handles of
//! every object type the generation created, and the values of handles it
//! closed (stale values are good junk).
//!
//! The pool is shared by all the generation's threads and lock-free (one
//! atomic word per slot: the handle value and its kind), so a thread killed
//! in the middle of an update never leaves a lock held. Races between
//! threads only make the pool's idea of what is live less exact, which is
//! more hostile input for the kernel, not a problem.

use crate::rng::Rng;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// What kind of object a pooled handle names, as far as the fuzzer knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Received in a message, or of an unknown kind.
    Unknown = 1,
    Channel,
    Event,
    EventPair,
    Port,
    Timer,
    Vmo,
    Vmar,
    Thread,
    Process,
    Job,
}

impl Kind {
    const ALL: [Kind; 11] = [
        Kind::Unknown,
        Kind::Channel,
        Kind::Event,
        Kind::EventPair,
        Kind::Port,
        Kind::Timer,
        Kind::Vmo,
        Kind::Vmar,
        Kind::Thread,
        Kind::Process,
        Kind::Job,
    ];

    fn from_tag(tag: u64) -> Kind {
        Kind::ALL
            .into_iter()
            .find(|kind| *kind as u64 == tag)
            .unwrap_or(Kind::Unknown)
    }
}

/// Slots for live handles.
const SLOTS: usize = 96;
/// Remembered values of closed handles.
const STALE: usize = 16;
/// Handles kept out of reach of the calls, duplicated into the pool when
/// it has no handle of their kind left (VMARs, processes and jobs are
/// hard to make again once closed).
const RESERVE: usize = 16;

/// The pool (one per generation process).
pub struct Pool {
    slots: [AtomicU64; SLOTS],
    stale: [AtomicU32; STALE],
    reserve: [AtomicU64; RESERVE],
}

/// The generation's pool.
pub static POOL: Pool = Pool {
    slots: [const { AtomicU64::new(0) }; SLOTS],
    stale: [const { AtomicU32::new(0) }; STALE],
    reserve: [const { AtomicU64::new(0) }; RESERVE],
};

fn pack(handle: u32, kind: Kind) -> u64 {
    u64::from(handle) | (kind as u64) << 32
}

fn unpack(word: u64) -> Option<(u32, Kind)> {
    (word != 0).then(|| (word as u32, Kind::from_tag(word >> 32)))
}

impl Pool {
    /// Adds `handle` in a random slot; returns the handle it displaced, for
    /// the caller to close (or leak, which is fuzzing too).
    pub fn insert(&self, rng: &mut Rng, handle: u32, kind: Kind) -> Option<u32> {
        if handle == 0 {
            return None;
        }
        let slot = &self.slots[rng.below(SLOTS as u64) as usize];
        unpack(slot.swap(pack(handle, kind), Ordering::Relaxed)).map(|(old, _)| old)
    }

    /// Keeps `handle` in reserve (see [`RESERVE`]); the pool gets a
    /// duplicate.
    pub fn reserve(&self, rng: &mut Rng, handle: zx::Handle, kind: Kind) {
        if let Ok(copy) = handle.duplicate(zx::Rights::SAME_RIGHTS) {
            let _ = self.insert(rng, copy.into_raw(), kind);
        }
        let free = self
            .reserve
            .iter()
            .find(|slot| slot.load(Ordering::Relaxed) == 0);
        if let Some(slot) = free {
            slot.store(pack(handle.into_raw(), kind), Ordering::Relaxed);
        }
    }

    /// A duplicate of a reserved handle of kind `wanted`, put in the pool.
    fn duplicate_reserved(&self, rng: &mut Rng, wanted: Kind) -> Option<(u32, Kind)> {
        let start = rng.below(RESERVE as u64) as usize;
        let (handle, kind) = (0..RESERVE)
            .filter_map(|index| {
                unpack(self.reserve[(start + index) % RESERVE].load(Ordering::Relaxed))
            })
            .find(|(_, kind)| *kind == wanted)?;
        let reserved = core::mem::ManuallyDrop::new(zx::Handle::from_raw(handle));
        let copy = reserved.duplicate(zx::Rights::SAME_RIGHTS).ok()?.into_raw();
        // A handle displaced from the pool stays open (leaked into the
        // generation, which is fuzzing too).
        let _ = self.insert(rng, copy, kind);
        Some((copy, kind))
    }

    /// A pooled handle, of kind `wanted` if the pool (or its reserve) has
    /// one, else of any kind (`None` if the pool is empty).
    pub fn pick(&self, rng: &mut Rng, wanted: Kind) -> Option<(u32, Kind)> {
        let start = rng.below(SLOTS as u64) as usize;
        let mut any = None;
        for index in 0..SLOTS {
            let slot = &self.slots[(start + index) % SLOTS];
            if let Some((handle, kind)) = unpack(slot.load(Ordering::Relaxed)) {
                if kind == wanted {
                    return Some((handle, kind));
                }
                any.get_or_insert((handle, kind));
            }
        }
        self.duplicate_reserved(rng, wanted).or(any)
    }

    /// Forgets `handle` (it was closed or moved away) and remembers its
    /// value as stale.
    pub fn forget(&self, rng: &mut Rng, handle: u32) {
        for slot in &self.slots {
            let word = slot.load(Ordering::Relaxed);
            if word != 0 && word as u32 == handle {
                let _ = slot.compare_exchange(word, 0, Ordering::Relaxed, Ordering::Relaxed);
            }
        }
        self.stale[rng.below(STALE as u64) as usize].store(handle, Ordering::Relaxed);
    }

    /// The value of a handle closed earlier (0 if none is remembered).
    pub fn stale(&self, rng: &mut Rng) -> u32 {
        self.stale[rng.below(STALE as u64) as usize].load(Ordering::Relaxed)
    }
}
