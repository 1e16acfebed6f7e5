//! The GDT and TSS: code and data segments for rings 0 and 3, and the
//! interrupt stacks (IST) every IDT gate switches to.
//!
//! Why every gate has an IST stack: the precompiled `core` uses the red zone
//! (128 bytes below `rsp` that leaf functions use without moving `rsp`). An
//! interrupt taken in kernel mode on the current stack would overwrite it.
//! With IST the CPU always switches to a known stack, so kernel code can run
//! with the red zone. The kernel runs with interrupts off, so only the idle
//! loop and faults inside the kernel ever use an IST stack from ring 0.
//! The exception is the page fault: it has no IST slot (see
//! `idt::ist_for`), because a page fault can nest inside another handler
//! (the user-copy routine runs from the scheduler), and two frames on the
//! same IST stack would overwrite each other.
//!
//! Selector layout (fixed by `syscall`/`sysret`, see `syscall.rs`):
//! 0x08 kernel code, 0x10 kernel data, 0x18 user data, 0x20 user code,
//! 0x28 TSS.

use super::percpu::{guard_and_top, GuardedStack};
use spin::Once;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::{PrivilegeLevel, VirtAddr};

/// Kernel code selector.
pub const KERNEL_CS: u16 = 0x08;
/// Kernel data selector.
pub const KERNEL_DS: u16 = 0x10;
/// User data selector, with RPL 3.
pub const USER_DS: u16 = 0x18 | 3;
/// User code selector, with RPL 3.
pub const USER_CS: u16 = 0x20 | 3;

/// IST slots (1-based, as the IDT encodes them).
pub mod ist {
    /// Double fault: the last resort, never shared.
    pub const DOUBLE_FAULT: u8 = 1;
    /// NMI and machine check: can arrive at any instruction.
    pub const NMI: u8 = 2;
    /// Every other exception and all interrupts. (Slot 3 is spare: page
    /// faults use no IST stack, see `idt::ist_for`.)
    pub const GENERAL: u8 = 4;
}

const IST_STACK_SIZE: usize = 16 * 1024;

static mut IST_STACKS: [GuardedStack<IST_STACK_SIZE>; 4] = [const { GuardedStack::new() }; 4];

/// The guard pages below the IST stacks.
pub fn ist_guards() -> [u64; 4] {
    // SAFETY: only addresses of the static are taken.
    core::array::from_fn(|slot| guard_and_top(unsafe { core::ptr::addr_of!(IST_STACKS[slot]) }).0)
}

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<GlobalDescriptorTable<8>> = Once::new();

/// Loads the GDT, the TSS, and the segment registers on this CPU.
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        // The TSS is packed: build the table aside, then store it whole.
        let mut table = tss.interrupt_stack_table;
        for (slot, entry) in table.iter_mut().take(4).enumerate() {
            // SAFETY: only the address of the static is taken (no reference
            // to the mutable static exists); each stack is used by the CPU
            // alone, through the TSS.
            let (_, top) = guard_and_top(unsafe { core::ptr::addr_of!(IST_STACKS[slot]) });
            *entry = VirtAddr::new(top);
        }
        tss.interrupt_stack_table = table;
        // Entries from ring 3 without an IST slot (page faults) use the
        // CPU's kernel stack.
        let mut privilege = tss.privilege_stack_table;
        privilege[0] = VirtAddr::new(super::percpu::cpu0_stack_top());
        tss.privilege_stack_table = privilege;
        tss
    });
    let gdt = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        gdt.append(Descriptor::kernel_code_segment());
        gdt.append(Descriptor::kernel_data_segment());
        gdt.append(Descriptor::user_data_segment());
        gdt.append(Descriptor::user_code_segment());
        gdt.append(Descriptor::tss_segment(tss));
        gdt
    });
    gdt.load();
    // SAFETY: the selectors name the descriptors appended above, in order.
    unsafe {
        CS::set_reg(SegmentSelector::new(KERNEL_CS >> 3, PrivilegeLevel::Ring0));
        SS::set_reg(SegmentSelector::new(KERNEL_DS >> 3, PrivilegeLevel::Ring0));
        DS::set_reg(SegmentSelector::new(0, PrivilegeLevel::Ring0));
        ES::set_reg(SegmentSelector::new(0, PrivilegeLevel::Ring0));
        load_tss(SegmentSelector::new(5, PrivilegeLevel::Ring0));
    }
}
