//! The fuzzer's random numbers: SplitMix64, small and good enough to
//! spread choices, and fully determined by its seed. Every thread of every
//! generation has its own stream, derived from the campaign's seed, the
//! generation number and the thread's index, so a generation can be
//! replayed alone (`syscall-fuzz.first=G`).

/// A SplitMix64 generator.
pub struct Rng(u64);

impl Rng {
    /// The stream of thread `thread` of generation `generation` of the
    /// campaign `seed`.
    pub fn derive(seed: u64, generation: u64, thread: u64) -> Rng {
        let mut rng = Rng(seed ^ 0x5851_f42d_4c95_7f2d);
        let a = rng.next();
        let mut rng = Rng(a ^ generation.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let b = rng.next();
        Rng(b ^ thread.wrapping_mul(0xd1b5_4a32_d192_ed03))
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 if `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    /// True `percent` times in a hundred.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items` (which must not be empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}
