//! The symbols that the precompiled `core` and `alloc` need when there is no
//! C library: `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp`, `strlen`, and
//! the unwinding symbols a `panic = "abort"` build still references.
//!
//! Both the kernel and every user program link this crate. It exists because
//! the machine's toolchain has no `rust-src`, so `compiler_builtins`' own
//! `mem` feature cannot be rebuilt (see `docs/architecture.md`, "Building").
//!
//! The copies use `rep movsq` / `rep stosq` for whole words and `rep
//! movsb` / `rep stosb` for the tail: short, fast on every CPU, and — what
//! the deterministic benchmarks count — one counted instruction per 8
//! bytes under QEMU's `-icount`, where every `rep` iteration counts. The comparison loops read through `read_volatile` so the
//! compiler cannot turn them back into calls to themselves.
//!
//! Only compiled into bare-metal binaries: on the host (tests, tools) the
//! platform's libc provides these and the crate is empty.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]

#[cfg(target_os = "none")]
compile_error!("built for the host target with build-image's flags; see docs/architecture.md");

/// Enabled by build-image (`--cfg baremetal`) for the OS binaries.
#[cfg(baremetal)]
mod symbols {
    use core::arch::asm;

    /// # Safety
    /// `dest` and `src` are valid for `n` bytes and do not overlap.
    #[no_mangle]
    pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        // SAFETY: the caller guarantees both ranges are valid for `n` bytes;
        // the copy runs forwards (8 bytes at a time, then the rest), which
        // is correct for non-overlapping ranges. The direction flag is clear
        // by the ABI.
        unsafe {
            asm!("rep movsq", "mov rcx, {tail}", "rep movsb",
                 tail = in(reg) n % 8,
                 inout("rcx") n / 8 => _, inout("rdi") dest => _, inout("rsi") src => _,
                 options(nostack, preserves_flags));
        }
        dest
    }

    /// # Safety
    /// `dest` and `src` are valid for `n` bytes; they may overlap.
    #[no_mangle]
    pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        if (dest as usize).wrapping_sub(src as usize) >= n {
            // No harmful overlap: a forward copy is correct.
            // SAFETY: same contract as ours; forward copy is safe when dest
            // does not start inside (src, src + n).
            return unsafe { memcpy(dest, src, n) };
        }
        // SAFETY: dest overlaps the tail of src: copy backwards with the
        // direction flag set, from the last byte, then clear it again as the
        // ABI requires.
        unsafe {
            asm!("std", "rep movsb", "cld",
                 inout("rcx") n => _,
                 inout("rdi") dest.add(n - 1) => _,
                 inout("rsi") src.add(n - 1) => _,
                 options(nostack));
        }
        dest
    }

    /// # Safety
    /// `dest` is valid for `n` bytes.
    #[no_mangle]
    pub unsafe extern "C" fn memset(dest: *mut u8, value: i32, n: usize) -> *mut u8 {
        // The byte repeated in all eight bytes of a word.
        let word = (value as u8 as u64).wrapping_mul(0x0101_0101_0101_0101);
        // SAFETY: the caller guarantees `dest` is valid for `n` bytes; the
        // fill writes exactly `n` bytes, 8 at a time, then the rest.
        unsafe {
            asm!("rep stosq", "mov rcx, {tail}", "rep stosb",
                 tail = in(reg) n % 8,
                 inout("rcx") n / 8 => _, inout("rdi") dest => _, in("rax") word,
                 options(nostack, preserves_flags));
        }
        dest
    }

    /// # Safety
    /// `a` and `b` are valid for `n` bytes.
    #[no_mangle]
    pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        for i in 0..n {
            // SAFETY: i < n and both are valid for n bytes.
            let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
            if x != y {
                return x as i32 - y as i32;
            }
        }
        0
    }

    /// # Safety
    /// `a` and `b` are valid for `n` bytes.
    #[no_mangle]
    pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        // SAFETY: same contract.
        unsafe { memcmp(a, b, n) }
    }

    /// # Safety
    /// `s` points to a NUL-terminated string.
    #[no_mangle]
    pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
        let mut n = 0;
        // SAFETY: the string is NUL-terminated, so every byte up to and
        // including the terminator is readable.
        while unsafe { s.add(n).read_volatile() } != 0 {
            n += 1;
        }
        n
    }

    /// Referenced by `core`'s unwinding tables; never called with
    /// `panic = "abort"`.
    #[no_mangle]
    pub extern "C" fn rust_eh_personality() {}

    /// Referenced by precompiled `core`; never called with `panic = "abort"`.
    #[no_mangle]
    pub extern "C" fn _Unwind_Resume() -> ! {
        loop {
            core::hint::spin_loop();
        }
    }
}
