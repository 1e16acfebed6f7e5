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
    mov %rax, %rsp               /* the frame to return into */
    jmp trap_return
"#,
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
