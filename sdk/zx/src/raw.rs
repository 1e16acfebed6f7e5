//! The raw `syscall` stubs: number in `rax`, arguments in `rdi, rsi, rdx,
//! r10, r8, r9, r12, r13`, result in `rax`; `rcx` and `r11` are clobbered.

/// Syscall with up to eight arguments.
///
/// # Safety
/// Pointer arguments must be valid for what the syscall does with them.
#[inline(always)]
pub unsafe fn syscall8(number: u64, args: [u64; 8]) -> u64 {
    #[cfg(baremetal)]
    {
        let ret: u64;
        // SAFETY: the kernel preserves every register but rax (result), rcx
        // and r11 (clobbered by `syscall` itself); memory effects are those
        // of the syscall, covered by the caller's contract.
        unsafe {
            core::arch::asm!(
                "syscall",
                inlateout("rax") number => ret,
                in("rdi") args[0], in("rsi") args[1], in("rdx") args[2],
                in("r10") args[3], in("r8") args[4], in("r9") args[5],
                in("r12") args[6], in("r13") args[7],
                lateout("rcx") _, lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }
    #[cfg(not(baremetal))]
    {
        let _ = (number, args);
        zx_abi::Status::NOT_SUPPORTED.0 as i64 as u64
    }
}

/// # Safety
/// As [`syscall8`].
#[inline(always)]
pub unsafe fn syscall0(number: u64) -> u64 {
    // SAFETY: as syscall8.
    unsafe { syscall8(number, [0; 8]) }
}

/// # Safety
/// As [`syscall8`].
#[inline(always)]
pub unsafe fn syscall1(number: u64, a0: u64) -> u64 {
    // SAFETY: as syscall8.
    unsafe { syscall8(number, [a0, 0, 0, 0, 0, 0, 0, 0]) }
}

/// # Safety
/// As [`syscall8`].
#[inline(always)]
pub unsafe fn syscall2(number: u64, a0: u64, a1: u64) -> u64 {
    // SAFETY: as syscall8.
    unsafe { syscall8(number, [a0, a1, 0, 0, 0, 0, 0, 0]) }
}

/// # Safety
/// As [`syscall8`].
#[inline(always)]
pub unsafe fn syscall3(number: u64, a0: u64, a1: u64, a2: u64) -> u64 {
    // SAFETY: as syscall8.
    unsafe { syscall8(number, [a0, a1, a2, 0, 0, 0, 0, 0]) }
}

/// # Safety
/// As [`syscall8`].
#[inline(always)]
pub unsafe fn syscall4(number: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> u64 {
    // SAFETY: as syscall8.
    unsafe { syscall8(number, [a0, a1, a2, a3, 0, 0, 0, 0]) }
}

/// # Safety
/// As [`syscall8`].
#[inline(always)]
pub unsafe fn syscall5(number: u64, a0: u64, a1: u64, a2: u64, a3: u64, a4: u64) -> u64 {
    // SAFETY: as syscall8.
    unsafe { syscall8(number, [a0, a1, a2, a3, a4, 0, 0, 0]) }
}

/// # Safety
/// As [`syscall8`].
#[inline(always)]
pub unsafe fn syscall6(number: u64, a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> u64 {
    // SAFETY: as syscall8.
    unsafe { syscall8(number, [a0, a1, a2, a3, a4, a5, 0, 0]) }
}
