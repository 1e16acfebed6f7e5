//! Hostile argument values, by what the argument means: pointers into
//! every kind of memory, boundary lengths and sizes, deadlines, flags,
//! rights and signals, and junk of every width.

use crate::arena::{Arena, ARENA_SIZE, HOLE_OFFSETS, SCRATCH_SIZE};
use crate::rng::Rng;
use zx::USER_ADDRESS_LIMIT;

const PAGE: u64 = 4096;

/// Integers at the edges of every width.
const BOUNDARIES: [u64; 16] = [
    0,
    1,
    2,
    0x7f,
    0xff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
    u64::MAX - 1,
    0xffff_ffff_0000_0000,
    0xdead_beef_dead_beef,
];

/// Any integer: a boundary, a small number or random bits.
pub fn integer(rng: &mut Rng) -> u64 {
    match rng.below(10) {
        0..=3 => rng.pick(&BOUNDARIES),
        4..=6 => rng.below(16),
        7 => 1 << rng.below(64),
        _ => rng.next(),
    }
}

/// A small number (an index, a kind, a count of objects).
pub fn small(rng: &mut Rng) -> u64 {
    if rng.percent(85) {
        rng.below(10)
    } else {
        integer(rng)
    }
}

/// A byte length: 0, 1, a page, 64 KiB and their neighbours, huge.
pub fn length(rng: &mut Rng) -> u64 {
    const LENGTHS: [u64; 20] = [
        0,
        1,
        7,
        8,
        12,
        48,
        PAGE - 1,
        PAGE,
        PAGE + 1,
        0xffff,
        0x1_0000,
        0x1_0001,
        0x2_0000,
        0x10_0000,
        0xffff_ffff,
        0x1_0000_0000,
        1 << 40,
        u64::MAX,
        u64::MAX - PAGE + 1,
        0x8000_0000_0000_0000,
    ];
    match rng.below(10) {
        0..=5 => rng.pick(&LENGTHS),
        6..=8 => rng.below(2 * PAGE),
        _ => integer(rng),
    }
}

/// An object size (VMOs, VMARs).
pub fn size(rng: &mut Rng) -> u64 {
    const SIZES: [u64; 14] = [
        0,
        1,
        PAGE - 1,
        PAGE,
        PAGE + 1,
        2 * PAGE,
        0x1_0000,
        0x10_0000,
        0x4000_0000,
        zx_abi::VMO_MAX_SIZE,
        zx_abi::VMO_MAX_SIZE + 1,
        u64::MAX,
        u64::MAX - PAGE + 1,
        1 << 47,
    ];
    match rng.below(10) {
        0..=6 => rng.pick(&SIZES),
        7..=8 => rng.below(16) * PAGE,
        _ => integer(rng),
    }
}

/// An offset into an object or a region.
pub fn offset(rng: &mut Rng) -> u64 {
    match rng.below(10) {
        0..=3 => 0,
        4..=6 => rng.below(32) * PAGE,
        7 => rng.below(ARENA_SIZE),
        _ => integer(rng),
    }
}

/// A user pointer: mostly into the scratch area, else into read-only,
/// unmapped, null-page, kernel, non-canonical and edge-of-user-space
/// memory.
pub fn pointer(rng: &mut Rng, arena: &Arena) -> u64 {
    match rng.below(100) {
        0..=49 => {
            let offset = rng.below(SCRATCH_SIZE);
            arena.base + if rng.percent(80) { offset & !7 } else { offset }
        }
        // Straddling the end of the scratch area into the hole after it.
        50..=54 => arena.base + SCRATCH_SIZE - 1 - rng.below(64),
        55..=59 => arena.read_only() + rng.below(64),
        60..=64 => arena.base + rng.pick(&HOLE_OFFSETS) + rng.below(PAGE),
        65..=66 => arena.exit_code(),
        67..=69 => rng.pick(&[0, 1, 8, PAGE - 1, PAGE, 0xffff]),
        70..=74 => 0xffff_8000_0000_0000 + rng.below(1 << 32) * 8,
        75..=76 => 0xffff_ffff_8000_0000 + rng.below(1 << 20) * 8,
        77..=81 => rng.pick(&[
            0x0000_8000_0000_0000,
            0x0000_8000_0000_1000,
            0x8000_0000_0000_0000,
            0x1234_5678_9abc_def0,
            0xffff_7fff_ffff_f000,
        ]),
        82..=86 => USER_ADDRESS_LIMIT - rng.below(2 * PAGE),
        87..=88 => rng.pick(&[USER_ADDRESS_LIMIT, 0x7fff_ffff_ffff, 0x8000_0000_0000]),
        89..=91 => u64::MAX - rng.below(PAGE),
        _ => integer(rng),
    }
}

/// A deadline: mostly now or past (so the thread keeps going), sometimes
/// a few ticks ahead, rarely never.
pub fn deadline(rng: &mut Rng) -> u64 {
    let now = zx::clock_get_monotonic().into_nanos();
    match rng.below(1000) {
        0..=499 => 0,
        500..=649 => 1,
        650..=799 => now.saturating_add(rng.below(2_000_000) as i64) as u64,
        800..=899 => rng.pick(&[i64::MIN as u64, u64::MAX, (now - 1) as u64]),
        900..=949 => now.saturating_add(rng.below(20_000_000) as i64) as u64,
        950..=998 => rng.next() | 1 << 63,
        _ => zx::TIME_INFINITE as u64,
    }
}

/// Syscall options (`u32`, almost always 0).
pub fn options(rng: &mut Rng) -> u64 {
    match rng.below(20) {
        0..=14 => 0,
        15 => 1,
        16 => 1 << rng.below(32),
        17 => zx::VMO_RESIZABLE as u64,
        // `channel_call` / `channel_read` binding what they deliver.
        18 => zx::CHANNEL_BIND_RECEIVED as u64,
        _ => integer(rng),
    }
}

/// Rights: `SAME_RIGHTS`, a subset of the known bits, or junk.
pub fn rights(rng: &mut Rng) -> u64 {
    match rng.below(20) {
        0..=7 => zx::Rights::SAME_RIGHTS.bits() as u64,
        8..=15 => rng.next() & 0xf_ffff,
        16 => 0,
        _ => integer(rng),
    }
}

/// Signals: a subset of the real ones, or junk.
pub fn signals(rng: &mut Rng) -> u64 {
    match rng.below(20) {
        // What object_signal may change: the user signals and
        // EVENT_SIGNALED.
        0..=9 => rng.next() & 0xff00_0008,
        10..=15 => rng.next() & 0xff00_001f,
        16 => 0,
        _ => integer(rng),
    }
}

/// VMAR options: a subset of the known bits, or junk.
pub fn vm_options(rng: &mut Rng) -> u64 {
    if rng.percent(85) {
        rng.next() & 0x3d7
    } else {
        integer(rng)
    }
}

/// An `object_get_info` topic.
pub fn topic(rng: &mut Rng) -> u64 {
    use zx::info;
    match rng.below(10) {
        0..=2 => info::HANDLE_BASIC as u64,
        3..=4 => info::PROCESS_RESOURCES as u64,
        5..=6 => info::PROCESS_STATE as u64,
        _ => integer(rng),
    }
}
