//! Every entry into the kernel after boot — exceptions, interrupts, and
//! syscalls — builds one [`TrapFrame`] (on a stack, or for syscalls in the
//! running thread's frame slot) and calls [`trap_dispatch`]; every exit
//! restores a `TrapFrame` and returns with `sysretq` (frames saved by
//! `syscall`) or `iretq` (all others).
//!
//! Switching threads is therefore a matter of frames. A syscall's frame is
//! built in the running thread's own frame slot (`syscall.rs`), so it is
//! saved already; a frame on a stack (interrupts, exceptions) is copied
//! into the thread's slot when the thread stops running. `trap_dispatch`
//! then returns the new thread's saved frame (`percpu::set_resume_frame`),
//! which the common exit path restores in place, without copying it back
//! onto a stack; it then "returns" into the new thread. The frame includes the FPU/SSE state (`fxsave64`), saved
//! before any Rust runs because Rust code (and the precompiled `core`) uses
//! SSE registers.

use core::fmt;

/// Saved register state of an interrupted context. The layout is shared
/// with the assembly below and in `syscall.rs`: do not reorder.
#[derive(Clone)]
#[repr(C, align(16))]
pub struct TrapFrame {
    /// FPU, MMX and SSE state (`fxsave64` format, Intel SDM Vol. 1 §10.5.1).
    pub fpu: [u8; 512],
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// The vector (0–255), or `SYSCALL_VECTOR` for syscalls.
    pub vector: u64,
    /// The CPU's error code, or 0.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 512 + 22 * 8);

/// RFLAGS.IF.
pub const RFLAGS_IF: u64 = 1 << 9;

impl TrapFrame {
    /// A frame that starts a user thread at `entry` with stack `stack_top`
    /// and `arg` in `rdi`, interrupts enabled, FPU in its reset state.
    pub fn new_user(entry: u64, stack_top: u64, arg: u64) -> TrapFrame {
        let mut fpu = [0u8; 512];
        // FCW = 0x037f (all x87 exceptions masked), MXCSR = 0x1f80 (all SSE
        // exceptions masked): the state `fninit` / reset leave.
        fpu[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        fpu[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        TrapFrame {
            fpu,
            r15: 0,
            r14: 0,
            r13: 0,
            r12: 0,
            r11: 0,
            r10: 0,
            r9: 0,
            r8: 0,
            rbp: 0,
            rdi: arg,
            rsi: 0,
            rdx: 0,
            rcx: 0,
            rbx: 0,
            rax: 0,
            vector: 0,
            error_code: 0,
            rip: entry,
            cs: super::gdt::USER_CS as u64,
            rflags: RFLAGS_IF,
            rsp: stack_top,
            ss: super::gdt::USER_DS as u64,
        }
    }

    /// Whether the interrupted code ran in ring 3.
    pub fn came_from_user(&self) -> bool {
        self.cs & 3 == 3
    }
}

/// Names of the exception vectors (Intel SDM Vol. 3A, Table 6-1).
pub fn exception_name(vector: u64) -> &'static str {
    match vector {
        0 => "#DE divide error",
        1 => "#DB debug",
        2 => "NMI",
        3 => "#BP breakpoint",
        4 => "#OF overflow",
        5 => "#BR bound range exceeded",
        6 => "#UD invalid opcode",
        7 => "#NM device not available",
        8 => "#DF double fault",
        10 => "#TS invalid TSS",
        11 => "#NP segment not present",
        12 => "#SS stack-segment fault",
        13 => "#GP general protection",
        14 => "#PF page fault",
        16 => "#MF x87 floating-point error",
        17 => "#AC alignment check",
        18 => "#MC machine check",
        19 => "#XM SIMD floating-point",
        20 => "#VE virtualization",
        21 => "#CP control protection",
        _ => "reserved exception",
    }
}

/// Describes a page-fault error code: "present, write, user, fetch".
pub struct PageFaultCode(pub u64);

impl fmt::Display for PageFaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.0;
        f.write_str(if code & 1 != 0 {
            "protection violation"
        } else {
            "not present"
        })?;
        f.write_str(if code & 2 != 0 { ", write" } else { ", read" })?;
        f.write_str(if code & 4 != 0 { ", user" } else { ", kernel" })?;
        if code & 16 != 0 {
            f.write_str(", instruction fetch")?;
        }
        if code & 8 != 0 {
            f.write_str(", reserved bit")?;
        }
        Ok(())
    }
}

/// A complete report of an exception: vector, error code, RIP, CR2 and all
/// registers, printed for kernel panics and for killed user threads.
pub struct ExceptionReport<'a> {
    /// The frame of the faulting context.
    pub frame: &'a TrapFrame,
    /// CR2 at the time of the fault (meaningful for #PF).
    pub cr2: u64,
}

impl fmt::Display for ExceptionReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.frame;
        write!(
            f,
            "{} (vector {}) error code {:#x}",
            exception_name(r.vector),
            r.vector,
            r.error_code
        )?;
        if r.vector == 14 {
            write!(
                f,
                " [{}] at address {:#018x}",
                PageFaultCode(r.error_code),
                self.cr2
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "  rip {:#018x}  cs {:#06x}  rflags {:#010x}  rsp {:#018x}  ss {:#06x}  cr2 {:#018x}",
            r.rip, r.cs, r.rflags, r.rsp, r.ss, self.cr2
        )?;
        writeln!(
            f,
            "  rax {:#018x}  rbx {:#018x}  rcx {:#018x}  rdx {:#018x}",
            r.rax, r.rbx, r.rcx, r.rdx
        )?;
        writeln!(
            f,
            "  rsi {:#018x}  rdi {:#018x}  rbp {:#018x}  r8  {:#018x}",
            r.rsi, r.rdi, r.rbp, r.r8
        )?;
        writeln!(
            f,
            "  r9  {:#018x}  r10 {:#018x}  r11 {:#018x}  r12 {:#018x}",
            r.r9, r.r10, r.r11, r.r12
        )?;
        write!(
            f,
            "  r13 {:#018x}  r14 {:#018x}  r15 {:#018x}",
            r.r13, r.r14, r.r15
        )
    }
}

// The common entry and exit path. On entry the stack holds (from the stub
// and the CPU): vector, error code, rip, cs, rflags, rsp, ss.
core::arch::global_asm!(
    r#"
    .text
    .globl trap_common
trap_common:
    cld                         /* user code may have set DF: Rust needs it clear */
    testb $3, 24(%rsp)          /* came from ring 3? */
    jz 1f
    swapgs                      /* gs -> this CPU's PerCpu */
1:  push %rax
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
    call trap_dispatch
    mov %rax, %rsp              /* the frame to return into */

    .globl trap_return
trap_return:
    fxrstor64 (%rsp)
    add $512, %rsp
    /* A frame saved by `syscall` returns with the faster `sysretq`, unless
       its rip is not a canonical user address (sysret would then fault in
       ring 0). Everything else returns with `iretq`. */
    cmpq ${syscall_vector}, 120(%rsp)
    jne 3f
    movabs ${user_top}, %rcx
    cmp %rcx, 136(%rsp)
    ja 3f
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    add $8, %rsp                /* r11: sysret loads rflags into it */
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    add $8, %rsp                /* rcx: sysret loads rip into it */
    pop %rbx
    pop %rax
    mov 16(%rsp), %rcx          /* rip */
    mov 32(%rsp), %r11          /* rflags */
    mov 40(%rsp), %rsp          /* user stack; interrupts stay off until sysret */
    swapgs
    sysretq
3:  pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp               /* vector, error code */
    testb $3, 8(%rsp)           /* returning to ring 3? */
    jz 2f
    swapgs
2:  iretq
"#,
    syscall_vector = const super::idt::SYSCALL_VECTOR,
    user_top = const 0x0000_7fff_ffff_ffffu64,
    options(att_syntax)
);

extern "C" {
    fn trap_return() -> !;
}

/// Leaves boot code for good: places `frame` at the top of this CPU's
/// kernel stack and returns into it through the common exit path.
pub fn enter_first_frame(frame: TrapFrame) -> ! {
    let top = super::percpu::cpu_stack_top();
    let slot = (top - core::mem::size_of::<TrapFrame>() as u64) as *mut TrapFrame;
    // SAFETY: the kernel stack is unused (boot code runs on the boot stack),
    // 16-byte aligned, and large enough; nothing returns to the boot stack.
    unsafe {
        slot.write(frame);
        core::arch::asm!("mov rsp, {0}", "jmp {1}", in(reg) slot, sym trap_return, options(noreturn));
    }
}

/// The Rust side of every kernel entry. Returns the frame to return into:
/// `frame`, or the saved frame of the thread switched to (or the idle
/// frame). `frame` may be the running thread's own frame slot; a thread
/// that stops running during the trap is kept until the trap is over.
#[no_mangle]
extern "C" fn trap_dispatch(frame: *mut TrapFrame) -> *mut TrapFrame {
    // SAFETY: the entry stubs pass the frame they have just built, on a
    // stack or in the running thread's slot; nothing else refers to it
    // during the trap (the scheduler compares addresses only), and the
    // slot's thread is kept alive until `drop_retired` below.
    let trap = unsafe { &mut *frame };
    // User space may have set RFLAGS.AC (`syscall` clears it, interrupts
    // and exceptions do not): close the SMAP window. A nested exception's
    // return restores the flags it interrupted.
    super::protect::close_user_window();
    crate::idle_time::leave();
    if trap.vector < 32 && !trap.came_from_user() {
        // An exception inside the kernel (a user copy touching a page not
        // yet mapped, an NMI) nests in a trap still running: handle it and
        // go straight back. Switching threads, and the cleanup after a
        // switch, belong to the outer trap alone (the idle loop, the only
        // kernel code that runs with interrupts on, never faults).
        exception(trap);
        return frame;
    }
    dispatch_trap(trap);
    crate::object::run_deferred();
    let resume = super::percpu::take_resume_frame().unwrap_or(frame);
    if resume == frame && !trap.came_from_user() {
        // An interrupt of the idle loop (the only kernel code that runs
        // with interrupts on) that switched to nothing: idle goes on.
        crate::idle_time::enter();
    }
    // The last reference to a retired thread may end its process, whose
    // handles go on the closing list: run it again.
    if crate::sched::drop_retired() {
        crate::object::run_deferred();
    }
    resume
}

/// The Rust side of `syscall_entry`: `trap_dispatch` without what only
/// interrupts and exceptions need (`syscall` has cleared RFLAGS.AC and
/// came from user mode, with the vector known). Returns the frame to
/// return into, or null to return into `frame` by the syscall-only exit
/// (the thread that entered runs on: no switch happened).
#[no_mangle]
extern "C" fn syscall_dispatch(frame: *mut TrapFrame) -> *mut TrapFrame {
    // SAFETY: as in `trap_dispatch`: `syscall_entry` passes the frame it
    // has just built in the running thread's slot, which nothing else
    // refers to during the trap and which stays alive until
    // `drop_retired` below.
    let trap = unsafe { &mut *frame };
    if !crate::syscalls::known(trap.rax) {
        // Nothing runs for an unknown number and no thread switched; work
        // an earlier exit left for later (a long teardown goes on in
        // bounded steps) is still done here.
        crate::syscalls::refuse_unknown(trap);
        if crate::object::deferred_pending() {
            return after_syscall_work();
        }
        return core::ptr::null_mut();
    }
    crate::syscalls::dispatch(trap);
    // One test for "no deferred work and no retired thread", the usual
    // case; otherwise the same steps in the same order, out of line.
    if crate::object::deferred_pending() {
        return after_syscall_work();
    }
    // The same frame (a thread woken and resumed within its own syscall)
    // goes the general way too: only "no switch at all" takes the fast one.
    super::percpu::take_resume_frame().unwrap_or(core::ptr::null_mut())
}

/// The end of `syscall_dispatch` when there is deferred work or a retired
/// thread to drop: returns the frame to resume as `syscall_dispatch` does.
#[cold]
#[inline(never)]
fn after_syscall_work() -> *mut TrapFrame {
    crate::object::run_deferred();
    let resume = super::percpu::take_resume_frame();
    if crate::sched::drop_retired() {
        crate::object::run_deferred();
    }
    resume.unwrap_or(core::ptr::null_mut())
}

fn dispatch_trap(frame: &mut TrapFrame) {
    use super::idt::{SPURIOUS_VECTOR, SYSCALL_VECTOR, TIMER_VECTOR};
    match frame.vector {
        0..=31 => exception(frame),
        SYSCALL_VECTOR => crate::syscalls::dispatch(frame),
        TIMER_VECTOR => {
            super::apic::end_of_interrupt();
            crate::clock::on_timer_tick();
            crate::log::poll_input();
            crate::sched::on_timer_tick(frame);
        }
        SPURIOUS_VECTOR => {}
        vector if crate::object::interrupt::on_vector(vector) => crate::sched::after_interrupt(),
        vector => {
            warn!("unexpected interrupt vector {:#x}", vector);
            super::apic::end_of_interrupt();
        }
    }
}

fn exception(frame: &mut TrapFrame) {
    let cr2 = x86_64::registers::control::Cr2::read_raw();
    if frame.vector == 2 {
        // An NMI is not the interrupted thread's doing: note it, carry on.
        warn!("NMI at rip {:#x}", frame.rip);
        return;
    }
    if frame.vector == 14 && crate::mem::fault::resolve(cr2, frame.error_code) {
        // Demand paging (from user code, or from the kernel's user-copy
        // routine touching a not-yet-committed user page): retry.
        return;
    }
    if frame.came_from_user() {
        crate::sched::kill_current_for_fault(frame, cr2);
        return;
    }
    if frame.vector == 14 && super::usercopy::recover(frame) {
        return;
    }
    let report = ExceptionReport { frame, cr2 };
    if matches!(frame.vector, 8 | 14) {
        if let Some(stack) = super::guard_page_of(cr2) {
            panic!("kernel stack overflow: {stack} ran into its guard page\n{report}");
        }
    }
    panic!("kernel exception: {report}");
}
