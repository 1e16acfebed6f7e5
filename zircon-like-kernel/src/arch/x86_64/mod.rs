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
