//! The `syscall` instruction's entry point and the MSRs that route it.
//!
//! `syscall` loads `rip` from `LSTAR`, saves the user `rip` in `rcx` and
//! `rflags` in `r11`, masks `rflags` with `SFMASK` (we clear IF, DF, TF, AC:
//! the kernel runs with interrupts off), and does not switch stacks. The
//! entry code builds the same `TrapFrame` an interrupt would, marked with
//! `SYSCALL_VECTOR`, right in the running thread's frame slot (so that a
//! thread blocking in a syscall needs no copy of its registers), then
//! moves to this CPU's kernel stack and calls `trap::syscall_dispatch` (the
//! syscall-only half of `trap_dispatch`); syscalls and interrupts share one
//! exit path (`trap_return`).

use super::gdt::{KERNEL_CS, USER_DS};
use super::percpu::{CPU_STACK_OFFSET, SYSCALL_FRAME_OFFSET, USER_RSP_OFFSET};
use x86_64::registers::model_specific::{Efer, EferFlags, Msr};

const IA32_STAR: u32 = 0xc000_0081;
const IA32_LSTAR: u32 = 0xc000_0082;
const IA32_FMASK: u32 = 0xc000_0084;

const RFLAGS_TF: u64 = 1 << 8;
const RFLAGS_IF: u64 = 1 << 9;
const RFLAGS_DF: u64 = 1 << 10;
const RFLAGS_AC: u64 = 1 << 18;

use super::trap::TrapFrame;
const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
/// Offset of a field of the frame from its top (where `syscall_entry`
/// starts pushing), as the fast exit below addresses them.
const fn from_top(offset: usize) -> i64 {
    offset as i64 - FRAME_SIZE as i64
}
// The fast exit's offsets, checked against the frame's layout.
const _: () = {
    assert!(from_top(core::mem::offset_of!(TrapFrame, rax)) == -64);
    assert!(from_top(core::mem::offset_of!(TrapFrame, rdx)) == -88);
    assert!(from_top(core::mem::offset_of!(TrapFrame, rsi)) == -96);
    assert!(from_top(core::mem::offset_of!(TrapFrame, rdi)) == -104);
    assert!(from_top(core::mem::offset_of!(TrapFrame, r8)) == -120);
    assert!(from_top(core::mem::offset_of!(TrapFrame, r9)) == -128);
    assert!(from_top(core::mem::offset_of!(TrapFrame, r10)) == -136);
    assert!(from_top(core::mem::offset_of!(TrapFrame, rip)) == -40);
    assert!(from_top(core::mem::offset_of!(TrapFrame, rflags)) == -24);
    assert!(from_top(core::mem::offset_of!(TrapFrame, rsp)) == -16);
    assert!(FRAME_SIZE.is_multiple_of(16)); // fxrstor64 needs 16-byte alignment
                                            // The fast exit's `sysretq` needs a canonical `rip`: the address after
                                            // a `syscall` in user space is at most `USER_ADDRESS_LIMIT`, which
                                            // must stay below the top of the lower canonical half.
    assert!(zx_abi::USER_ADDRESS_LIMIT < 0x0000_8000_0000_0000);
};

core::arch::global_asm!(
    r#"
    .text
    .globl syscall_entry
syscall_entry:
    swapgs
    mov %rsp, %gs:{user_rsp}
    mov %gs:{syscall_frame}, %rsp   /* the running thread's frame slot */
    pushq ${user_ds}             /* ss */
    pushq %gs:{user_rsp}         /* rsp */
    push %r11                    /* rflags */
    pushq ${user_cs}             /* cs */
    push %rcx                    /* rip */
    pushq $0                     /* error code */
    pushq ${syscall_vector}      /* vector */
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    sub $512, %rsp
    fxsave64 (%rsp)
    mov %rsp, %rdi
    mov %gs:{cpu_stack}, %rsp    /* Rust runs on the CPU's stack */
    call syscall_dispatch
    test %rax, %rax
    jz 1f
    mov %rax, %rsp               /* another frame to return into */
    jmp trap_return
    /* The syscall-only exit: back into the thread that entered, whose
       frame is still where `syscall_dispatch` found it. The callee-saved
       registers (rbx, rbp, r12-r15) still hold the user's values (the Rust
       code preserved them and no syscall changes them in its own frame),
       so only what Rust may have clobbered is reloaded. Its `rip` is the
       one `syscall` saved (or that less 2, `Flow::Restart`): no syscall
       writes the calling thread's own `rip`, and user code cannot run in
       the guard page below the canonical boundary (`USER_ADDRESS_LIMIT`,
       checked below), so it is canonical and `sysretq` cannot fault in
       ring 0 on it (threads whose `rip` was set otherwise, on their first
       entry to user mode, leave through `trap_return`, which checks). */
1:  mov %gs:{syscall_frame}, %rsp
    mov {rip}(%rsp), %rcx
    fxrstor64 -{frame_size}(%rsp)
    mov {rax}(%rsp), %rax
    mov {rdx}(%rsp), %rdx
    mov {rsi}(%rsp), %rsi
    mov {rdi}(%rsp), %rdi
    mov {r8}(%rsp), %r8
    mov {r9}(%rsp), %r9
    mov {r10}(%rsp), %r10
    mov {rflags}(%rsp), %r11
    mov {rsp}(%rsp), %rsp        /* user stack; interrupts stay off until sysret */
    swapgs
    sysretq
"#,
    frame_size = const FRAME_SIZE,
    rax = const -64i64,
    rdx = const -88i64,
    rsi = const -96i64,
    rdi = const -104i64,
    r8 = const -120i64,
    r9 = const -128i64,
    r10 = const -136i64,
    rip = const -40i64,
    rflags = const -24i64,
    rsp = const -16i64,
    user_rsp = const USER_RSP_OFFSET,
    syscall_frame = const SYSCALL_FRAME_OFFSET,
    cpu_stack = const CPU_STACK_OFFSET,
    user_ds = const super::gdt::USER_DS as u64,
    user_cs = const super::gdt::USER_CS as u64,
    syscall_vector = const super::idt::SYSCALL_VECTOR,
    options(att_syntax)
);

extern "C" {
    fn syscall_entry();
}

/// Enables `syscall`/`sysret` on this CPU.
pub fn init() {
    // STAR[47:32]: kernel CS (SS = CS + 8). STAR[63:48]: base for sysret,
    // which loads CS = base + 16 and SS = base + 8, so base = user data - 8.
    let sysret_base = (USER_DS as u64 & !3) - 8;
    let star = ((KERNEL_CS as u64) << 32) | (sysret_base << 48);
    // SAFETY: these MSRs only affect how `syscall` enters the kernel, and
    // they point at a valid entry routine with the GDT layout above.
    unsafe {
        Efer::update(|flags| flags.insert(EferFlags::SYSTEM_CALL_EXTENSIONS));
        Msr::new(IA32_STAR).write(star);
        Msr::new(IA32_LSTAR).write(syscall_entry as *const () as usize as u64);
        Msr::new(IA32_FMASK).write(RFLAGS_TF | RFLAGS_IF | RFLAGS_DF | RFLAGS_AC);
    }
}
