//! Copying between kernel and user memory without trusting user pointers.
//!
//! Callers validate the *range* first (`mem::user_ptr`): it must lie wholly
//! below `USER_ADDRESS_LIMIT`, so a user pointer can never name kernel
//! memory. What a range check cannot know is whether the pages are mapped;
//! so the copy itself is one `rep movsb` whose faults are recoverable: the
//! page-fault handler sees the fault at that instruction and resumes at
//! `user_copy_fault`, which returns an error instead of crashing.
//!
//! With SMAP the copy is the only place the kernel may touch user pages:
//! it opens the window with `stac` and closes it with `clac`. Those two
//! instructions do not exist on CPUs without SMAP, so the routine carries
//! 3-byte no-ops in their place, which `protect::init` patches into
//! `stac`/`clac` when SMAP is on (the copy runs on every syscall that
//! passes memory: no flag is tested on the way).

core::arch::global_asm!(
    r#"
    .text
    .globl user_copy
    /* user_copy(dst: rdi, src: rsi, len: rdx) -> rax: 0 ok, 1 faulted */
user_copy:
    .globl user_copy_open
user_copy_open:
    nopl (%rax)                 /* patched to stac */
    cld
    mov %rdx, %rcx
    shr $3, %rcx
    .globl user_copy_words
user_copy_words:
    rep movsq
    mov %rdx, %rcx
    and $7, %rcx
    .globl user_copy_bytes
user_copy_bytes:
    rep movsb
    .globl user_copy_close
user_copy_close:
    nopl (%rax)                 /* patched to clac */
    xor %eax, %eax
    ret
    .globl user_copy_fault
user_copy_fault:
    .globl user_copy_fault_close
user_copy_fault_close:
    nopl (%rax)                 /* patched to clac */
    mov $1, %eax
    ret
"#,
    options(att_syntax)
);

extern "C" {
    fn user_copy(dst: *mut u8, src: *const u8, len: usize) -> u64;
    static user_copy_words: u8;
    static user_copy_bytes: u8;
    static user_copy_fault: u8;
    static user_copy_open: u8;
    static user_copy_close: u8;
    static user_copy_fault_close: u8;
}

/// Turns the copy routine's three no-ops into `stac`, `clac`, `clac` (the
/// CPU has SMAP and it is on).
pub fn patch_for_smap() {
    const STAC: [u8; 3] = [0x0f, 0x01, 0xcb];
    const CLAC: [u8; 3] = [0x0f, 0x01, 0xca];
    let sites = [
        (core::ptr::addr_of!(user_copy_open), STAC),
        (core::ptr::addr_of!(user_copy_close), CLAC),
        (core::ptr::addr_of!(user_copy_fault_close), CLAC),
    ];
    for (site, bytes) in sites {
        // The kernel's text is mapped read-only; its frames are writable
        // through the direct map.
        let alias = crate::mem::phys_to_virt(site as u64 - crate::mem::KERNEL_VIRT_BASE);
        // SAFETY: each site is a 3-byte `nopl (%rax)` (0f 1f 00) in the
        // routine above, replaced by an instruction of the same length
        // while no copy runs (at boot, on the only CPU running).
        unsafe {
            debug_assert_eq!(core::ptr::read(alias), 0x0f);
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), alias, 3);
        }
    }
    // A serializing instruction (CPUID) makes the CPU fetch the new bytes.
    core::arch::x86_64::__cpuid(0);
}

/// A user page was not there (or not accessible) during a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyFault;

/// Copies `len` bytes from `src` to `dst`, one of which is a user address
/// whose range the caller validated.
///
/// # Safety
/// The kernel-side range must be valid for `len` bytes; the user-side range
/// must lie below `USER_ADDRESS_LIMIT` in the current address space.
pub unsafe fn copy(dst: *mut u8, src: *const u8, len: usize) -> Result<(), CopyFault> {
    // SAFETY: per the contract; faults on the user side are recovered.
    match unsafe { user_copy(dst, src, len) } {
        0 => Ok(()),
        _ => Err(CopyFault),
    }
}

/// Called for a kernel-mode page fault: if it happened inside the copy
/// routine, resume at its error exit and report `true`.
pub fn recover(frame: &mut super::trap::TrapFrame) -> bool {
    let words = core::ptr::addr_of!(user_copy_words) as u64;
    let bytes = core::ptr::addr_of!(user_copy_bytes) as u64;
    let fault = core::ptr::addr_of!(user_copy_fault) as u64;
    if frame.rip == words || frame.rip == bytes {
        frame.rip = fault;
        true
    } else {
        false
    }
}
