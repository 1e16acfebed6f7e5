//! The memory a generation points the kernel at.
//!
//! One VMAR of [`ARENA_SIZE`] bytes holds, at fixed offsets, a writable
//! scratch area (the only memory the fuzzer lets the kernel write), a
//! read-only area, a page of code that ends the thread running it, and
//! unmapped holes between them. The fuzzer's own stacks, statics and heap
//! are never handed to the kernel as buffers, so what the kernel writes
//! cannot corrupt the fuzzer (a random `vmar_unmap` or `vmar_protect` of
//! the root VMAR still can: that generation then dies, which is allowed).
//!
//! The start of the scratch area is carved per thread: out slots for the
//! handles a call creates (read back with `vmo_read` on the scratch VMO,
//! so that even an unmapped arena cannot fault the fuzzer) and a block for
//! prepared inputs (handle arrays, wait items, packets, call arguments).

use core::sync::atomic::{AtomicU64, Ordering};
use zx::{Status, VmOptions, Vmar, Vmo};

/// Bytes of the arena VMAR.
pub const ARENA_SIZE: u64 = 1024 * 1024;
/// Bytes of the writable scratch area (at the arena's start).
pub const SCRATCH_SIZE: u64 = 128 * 1024;
const READ_ONLY_OFFSET: u64 = 0x3_0000;
const READ_ONLY_SIZE: u64 = 16 * 1024;
const CODE_OFFSET: u64 = 0x4_0000;
/// Start of the holes (no mapping) of the arena, relative to its base.
pub const HOLE_OFFSETS: [u64; 3] = [SCRATCH_SIZE, READ_ONLY_OFFSET + READ_ONLY_SIZE, 0x8_0000];

/// Most threads a generation runs (each has its own slots).
pub const MAX_THREADS: usize = 8;
/// Bytes of out slots per thread, from the scratch area's start.
const SLOT_BYTES: u64 = 512;
/// Offset of the received-handles array inside a thread's slots.
pub const READ_HANDLES_SLOT: u64 = 64;
/// Offset of the received-handle count inside a thread's slots.
pub const ACTUAL_HANDLES_SLOT: u64 = 16;
/// Bytes of prepared input per thread, after every thread's slots.
pub const PREPARED_BYTES: u64 = 4096;

/// x86-64 code that ends the calling thread: `mov eax, THREAD_EXIT;
/// syscall; ud2`. A thread started here needs no stack.
fn exit_thread_code() -> [u8; 9] {
    let number = (zx::numbers::THREAD_EXIT as u32).to_le_bytes();
    [
        0xb8, number[0], number[1], number[2], number[3], 0x0f, 0x05, 0x0f, 0x0b,
    ]
}

/// Where everything is (copied into each thread).
#[derive(Clone, Copy)]
pub struct Arena {
    /// Base address of the arena VMAR (= the scratch area).
    pub base: u64,
    /// The scratch VMO's handle (never put in the pool).
    pub scratch_vmo: u32,
}

static BASE: AtomicU64 = AtomicU64::new(0);
static SCRATCH_VMO: AtomicU64 = AtomicU64::new(0);

/// The handles a generation keeps of its arena, to put in the pool.
pub struct Made {
    /// The arena's VMAR.
    pub vmar: Vmar,
    /// The read-only area's VMO.
    pub read_only: Vmo,
}

impl Arena {
    /// Builds the arena in `root` and publishes it for [`Arena::get`].
    pub fn build(root: &Vmar) -> Result<Made, Status> {
        let all = VmOptions::CAN_MAP_READ
            | VmOptions::CAN_MAP_WRITE
            | VmOptions::CAN_MAP_EXECUTE
            | VmOptions::CAN_MAP_SPECIFIC;
        let (vmar, base) = root.allocate(0, ARENA_SIZE, all)?;
        let scratch = Vmo::create(SCRATCH_SIZE, 0)?;
        vmar.map(
            0,
            &scratch,
            0,
            SCRATCH_SIZE,
            VmOptions::PERM_READ | VmOptions::PERM_WRITE | VmOptions::SPECIFIC,
        )?;
        let read_only = Vmo::create(READ_ONLY_SIZE, 0)?;
        read_only.write(&[0xa5; 64], 0)?;
        vmar.map(
            READ_ONLY_OFFSET,
            &read_only,
            0,
            READ_ONLY_SIZE,
            VmOptions::PERM_READ | VmOptions::SPECIFIC,
        )?;
        let code = Vmo::create(4096, 0)?;
        code.write(&exit_thread_code(), 0)?;
        vmar.map(
            CODE_OFFSET,
            &code,
            0,
            4096,
            VmOptions::PERM_READ | VmOptions::PERM_EXECUTE | VmOptions::SPECIFIC,
        )?;
        BASE.store(base as u64, Ordering::Relaxed);
        SCRATCH_VMO.store(
            u64::from(scratch.into_handle().into_raw()),
            Ordering::Relaxed,
        );
        Ok(Made { vmar, read_only })
    }

    /// The published arena.
    pub fn get() -> Arena {
        Arena {
            base: BASE.load(Ordering::Relaxed),
            scratch_vmo: SCRATCH_VMO.load(Ordering::Relaxed) as u32,
        }
    }

    /// Address of the read-only area.
    pub fn read_only(&self) -> u64 {
        self.base + READ_ONLY_OFFSET
    }

    /// Address of the thread-ending code.
    pub fn exit_code(&self) -> u64 {
        self.base + CODE_OFFSET
    }

    /// Offset (in the scratch VMO) of thread `thread`'s out slots.
    pub fn slots(&self, thread: usize) -> u64 {
        thread as u64 * SLOT_BYTES
    }

    /// Offset (in the scratch VMO) of thread `thread`'s prepared inputs.
    pub fn prepared(&self, thread: usize) -> u64 {
        MAX_THREADS as u64 * SLOT_BYTES + thread as u64 * PREPARED_BYTES
    }

    /// Writes `bytes` at `offset` of the scratch area (through the VMO, so
    /// an unmapped or protected arena cannot fault the fuzzer).
    pub fn put(&self, offset: u64, bytes: &[u8]) {
        let vmo =
            core::mem::ManuallyDrop::new(Vmo::from_handle(zx::Handle::from_raw(self.scratch_vmo)));
        let _ = vmo.write(bytes, offset);
    }

    /// Reads the 32-bit word at `offset` of the scratch area.
    pub fn word(&self, offset: u64) -> u32 {
        let vmo =
            core::mem::ManuallyDrop::new(Vmo::from_handle(zx::Handle::from_raw(self.scratch_vmo)));
        let mut word = [0u8; 4];
        match vmo.read(&mut word, offset) {
            Ok(()) => u32::from_le_bytes(word),
            Err(_) => 0,
        }
    }
}
