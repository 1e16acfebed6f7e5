//! Per-CPU data, reached through the `gs` segment base while in the kernel.
//!
//! The assembly entry paths depend on the first fields' offsets
//! ([`SYSCALL_FRAME_OFFSET`], [`USER_RSP_OFFSET`], [`CPU_STACK_OFFSET`]),
//! hence `repr(C)`.
//!
//! Each CPU has one kernel stack. The kernel never blocks in the middle of
//! a kernel path: a syscall that must wait records that in the thread and
//! the CPU picks another thread's saved frame (see `trap.rs`). So a stack
//! per CPU suffices, as in seL4 and Hubris.
//!
//! `syscall_entry` builds its frame not on that stack but in the running
//! thread's own frame slot ([`set_syscall_frame`]), so a thread that blocks
//! in a syscall has its registers saved already, without a copy; the Rust
//! code then runs on the CPU's stack ([`CPU_STACK_OFFSET`]).

use x86_64::registers::model_specific::{GsBase, KernelGsBase};
use x86_64::VirtAddr;

/// Offset of `syscall_frame_top` (used by `syscall_entry`).
pub const SYSCALL_FRAME_OFFSET: usize = 8;
/// Offset of `user_rsp_scratch` (used by `syscall_entry`).
pub const USER_RSP_OFFSET: usize = 16;
/// Offset of `cpu_stack_top` (used by `syscall_entry`).
pub const CPU_STACK_OFFSET: usize = 24;

const KERNEL_STACK_SIZE: usize = 64 * 1024;

/// A kernel stack with an unmapped guard page below it (see
/// [`super::guard_pages`]): an overflow faults instead of overwriting what
/// lies below.
#[repr(C, align(4096))]
pub struct GuardedStack<const SIZE: usize> {
    guard: [u8; 4096],
    stack: [u8; SIZE],
}

impl<const SIZE: usize> GuardedStack<SIZE> {
    /// A zeroed stack (lives in `.bss`).
    pub const fn new() -> Self {
        GuardedStack {
            guard: [0; 4096],
            stack: [0; SIZE],
        }
    }
}

/// The guard page and the top of the stack at `stack`.
pub fn guard_and_top<const SIZE: usize>(stack: *const GuardedStack<SIZE>) -> (u64, u64) {
    let guard = stack as u64;
    (guard, guard + 4096 + SIZE as u64)
}

static mut CPU0_STACK: GuardedStack<KERNEL_STACK_SIZE> = GuardedStack::new();

/// The per-CPU block.
#[repr(C)]
pub struct PerCpu {
    self_pointer: u64,
    /// Where `syscall_entry` builds its frame: the top of the running
    /// thread's frame slot (the CPU stack's top while none runs).
    syscall_frame_top: u64,
    user_rsp_scratch: u64,
    /// Top of this CPU's kernel stack.
    cpu_stack_top: u64,
    /// This CPU's number (0 is the boot CPU).
    pub cpu_number: u32,
    /// The saved frame the exit path returns into instead of the one on
    /// the stack (0: none); see [`set_resume_frame`].
    resume_frame: u64,
    /// The running thread (`Arc::as_ptr` of the scheduler's own
    /// reference; 0 while idle): finding it takes no lock and no clone.
    current_thread: u64,
}

static mut CPU0: PerCpu = PerCpu {
    self_pointer: 0,
    syscall_frame_top: 0,
    user_rsp_scratch: 0,
    cpu_stack_top: 0,
    cpu_number: 0,
    resume_frame: 0,
    current_thread: 0,
};

/// Where the boot CPU's idle frame is kept while it runs the idle loop.
static mut CPU0_IDLE_FRAME: core::mem::MaybeUninit<super::trap::TrapFrame> =
    core::mem::MaybeUninit::uninit();

/// Sets up the boot CPU's block and points `gs` at it.
pub fn init_boot_cpu() {
    // SAFETY: runs once on the boot CPU before anything reads CPU0; only raw
    // pointers are taken, so no aliasing references to the statics exist.
    unsafe {
        let cpu = core::ptr::addr_of_mut!(CPU0);
        let top = cpu0_stack_top();
        (*cpu).self_pointer = cpu as u64;
        (*cpu).cpu_stack_top = top;
        (*cpu).syscall_frame_top = top;
        GsBase::write(VirtAddr::new(cpu as u64));
        KernelGsBase::write(VirtAddr::new(0));
    }
}

/// Top of the boot CPU's kernel stack (for the TSS, before `gs` is set).
pub fn cpu0_stack_top() -> u64 {
    guard_and_top(core::ptr::addr_of!(CPU0_STACK)).1
}

/// The guard page below the boot CPU's kernel stack.
pub fn cpu0_stack_guard() -> u64 {
    guard_and_top(core::ptr::addr_of!(CPU0_STACK)).0
}

/// Top of this CPU's kernel stack.
pub fn cpu_stack_top() -> u64 {
    // SAFETY: written once by init_boot_cpu before any call; read-only after.
    unsafe { (*core::ptr::addr_of!(CPU0)).cpu_stack_top }
}

/// Makes `syscall_entry` build its next frame in `slot` (the frame slot of
/// the thread about to run), or on the CPU's stack (`None`). The slot must
/// stay allocated while that thread can enter the kernel.
pub fn set_syscall_frame(slot: Option<*mut super::trap::TrapFrame>) {
    let top = match slot {
        Some(slot) => slot as u64 + core::mem::size_of::<super::trap::TrapFrame>() as u64,
        None => cpu_stack_top(),
    };
    // SAFETY: only this CPU touches its block, with interrupts off.
    unsafe { (*core::ptr::addr_of_mut!(CPU0)).syscall_frame_top = top }
}

/// Where this CPU keeps its idle frame.
pub fn idle_frame_slot() -> *mut super::trap::TrapFrame {
    // Only the address is taken; the scheduler writes the slot before it
    // returns into it, and nothing else uses it.
    core::ptr::addr_of_mut!(CPU0_IDLE_FRAME).cast()
}

/// Makes the current kernel exit return into `frame` (a thread's saved
/// frame) rather than the frame on the stack, so that switching to a thread
/// needs no copy of its registers. The caller keeps `frame` alive and
/// untouched until the exit path has left it (a running thread's saved
/// frame is only written when the thread stops running).
pub fn set_resume_frame(frame: *mut super::trap::TrapFrame) {
    // SAFETY: only this CPU touches its block, with interrupts off.
    unsafe { (*core::ptr::addr_of_mut!(CPU0)).resume_frame = frame as u64 }
}

/// Takes the frame set by [`set_resume_frame`] for this exit, if any.
pub fn take_resume_frame() -> Option<*mut super::trap::TrapFrame> {
    // SAFETY: only this CPU touches its block, with interrupts off.
    let value = unsafe { core::mem::take(&mut (*core::ptr::addr_of_mut!(CPU0)).resume_frame) };
    (value != 0).then_some(value as *mut super::trap::TrapFrame)
}

/// Records the running thread (`Arc::as_ptr` of the reference the
/// scheduler holds while it runs; null while idle).
#[inline]
pub fn set_current_thread(thread: *const crate::object::thread::Thread) {
    // SAFETY: only this CPU touches its block, with interrupts off.
    unsafe { (*core::ptr::addr_of_mut!(CPU0)).current_thread = thread as u64 }
}

/// The running thread as recorded by [`set_current_thread`] (null while
/// idle).
#[inline]
pub fn current_thread() -> *const crate::object::thread::Thread {
    // SAFETY: only this CPU touches its block, with interrupts off.
    unsafe { (*core::ptr::addr_of!(CPU0)).current_thread as *const crate::object::thread::Thread }
}
