//! Everything specific to x86_64: boot, CPU tables, traps, syscall entry,
//! interrupt controllers, timers.

pub mod apic;
pub mod boot;
pub mod gdt;
pub mod idle;
pub mod idt;
pub mod ioapic;
pub mod percpu;
pub mod power;
pub mod protect;
pub mod pvh;
pub mod serial;
pub mod syscall;
pub mod timer;
pub mod trap;
pub mod usercopy;

/// Brings up the boot CPU: segments, interrupt table, per-CPU block,
/// syscall entry.
pub fn init_boot_cpu() {
    gdt::init();
    idt::init();
    percpu::init_boot_cpu();
    syscall::init();
}

/// Reads the time-stamp counter.
pub fn read_tsc() -> u64 {
    // SAFETY: rdtsc has no side effects; the kernel does not restrict it.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The guard pages below every kernel stack (the boot CPU's stack and the
/// interrupt stacks): the kernel's page tables leave them unmapped, so an
/// overflow faults, and the fault is reported as an overflow.
pub fn guard_pages() -> [(u64, &'static str); 6] {
    extern "C" {
        static boot_stack_guard: u8;
    }
    let ist = gdt::ist_guards();
    [
        (
            core::ptr::addr_of!(boot_stack_guard) as u64,
            "the boot stack",
        ),
        (percpu::cpu0_stack_guard(), "the kernel stack"),
        (ist[0], "the double-fault stack"),
        (ist[1], "the NMI stack"),
        (ist[2], "the spare interrupt stack"),
        (ist[3], "the interrupt stack"),
    ]
}

/// Which stack's guard page `address` is in, if any.
pub fn guard_page_of(address: u64) -> Option<&'static str> {
    guard_pages()
        .into_iter()
        .find(|(guard, _)| (*guard..*guard + 4096).contains(&address))
        .map(|(_, name)| name)
}
