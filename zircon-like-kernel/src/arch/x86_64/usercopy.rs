//! Copying between kernel and user memory without trusting user pointers.
//!
//! Callers validate the *range* first (`mem::user_ptr`): it must lie wholly
//! below `USER_ADDRESS_LIMIT`, so a user pointer can never name kernel
//! memory. What a range check cannot know is whether the pages are mapped;
//! so the copy itself is one `rep movsb` whose faults are recoverable: the
//! page-fault handler sees the fault at that instruction and resumes at
//! `user_copy_fault`, which returns an error instead of crashing.

core::arch::global_asm!(
    r#"
    .text
    .globl user_copy
    /* user_copy(dst: rdi, src: rsi, len: rdx) -> rax: 0 ok, 1 faulted */
user_copy:
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
    xor %eax, %eax
    ret
    .globl user_copy_fault
user_copy_fault:
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
