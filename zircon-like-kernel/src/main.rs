//! The zircon-like kernel.
//!
//! A small object-based kernel in the style of Zircon, for x86_64. It boots
//! through the PVH protocol (QEMU `-kernel`), takes over the machine with
//! its own page tables, interrupt tables and timers, and runs user programs
//! in ring 3 that talk to it through `syscall`.
//!
//! Design choices a reader should know first:
//! - **One kernel stack per CPU, not per thread.** Every kernel entry saves
//!   the user context in a `TrapFrame` and runs to completion with
//!   interrupts off; switching threads means switching frames (see
//!   `arch/x86_64/trap.rs`). Kernel paths are short and never sleep.
//! - **Validate, then act.** Syscalls decode untrusted arguments into typed
//!   values (`mem::user_ptr::UserSlice`, ...) before doing anything.
//! - **Host-testable logic lives in `lib/`** (`pmm`, `paging`): the kernel
//!   binary wires it to the hardware.
//!
//! Boot path (`docs/architecture.md` has the long version):
//! `arch::x86_64::boot` (32-bit PVH entry → long mode) → [`kernel_entry`]:
//! console → boot info → frame allocator → kernel page tables → heap →
//! GDT/IDT/syscall → ACPI → APIC + timer calibration → boot programs.
#![cfg_attr(not(test), no_std)]
#![cfg_attr(not(test), no_main)]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;
// Host check only: see `panic.rs`.
#[cfg(all(not(baremetal), not(test)))]
extern crate std;
// memcpy & co. for the precompiled core.
extern crate baremetal;

#[macro_use]
mod log;
mod arch;
mod clock;
mod cmdline;
mod idle_time;
mod koid;
mod loader;
mod mem;
mod object;
mod panic;
mod platform;
mod programs;
mod sched;
mod syscalls;

use arch::x86_64::{apic, pvh::BootInfo, timer::Reference};
use cmdline::Cmdline;
use spin::Once;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const MIB: u64 = 1024 * 1024;

pub static BOOT_INFO: Once<BootInfo> = Once::new();

/// Called by the boot assembly, on the boot stack, with the physical
/// address of the PVH start-info structure.
#[no_mangle]
extern "C" fn kernel_entry(start_info: u64) -> ! {
    clock::record_boot_tsc();
    log::init();
    info!("zircon-like kernel {} (x86_64) booting", VERSION);

    // SAFETY: the boot tables are still active and `start_info` is what the
    // loader passed in ebx.
    let boot = match unsafe { BootInfo::parse(start_info) } {
        Ok(boot) => BOOT_INFO.call_once(|| boot),
        Err(error) => panic!("unusable boot information: {error}"),
    };
    let cmdline = Cmdline::new(boot.cmdline());
    if let Some(level) = cmdline.get("loglevel") {
        match log::Level::parse(level) {
            Some(level) => log::set_max_level(level),
            None => warn!("unknown loglevel {level:?}"),
        }
    }
    for option in cmdline.unknown() {
        warn!("ignoring unknown command-line option {option:?}");
    }

    let memory = mem::frames::init(boot);
    let space = mem::kernel_space::init(boot);
    info!(
        "memory: {} MiB usable in {} ranges (top {:#x}), {} MiB free; direct map {} MiB in {} table pages",
        memory.usable_bytes / MIB,
        memory.usable_ranges,
        memory.top,
        memory.free_bytes / MIB,
        space.direct_map_bytes / MIB,
        space.table_frames,
    );

    // One job's queued channel messages may use up to a quarter of RAM.
    object::account::set_default_limit(memory.usable_bytes / 4);
    arch::x86_64::init_boot_cpu();
    let protections = arch::x86_64::protect::init();
    info!(
        "SMEP {}, SMAP {}",
        if protections.smep {
            "on"
        } else {
            "not offered by this CPU"
        },
        if protections.smap {
            "on"
        } else {
            "not offered by this CPU"
        }
    );
    debug!("GDT, TSS (4 IST stacks), IDT (256 vectors), syscall MSRs loaded");

    let platform = match platform::discover(boot.rsdp) {
        Ok(platform) => platform,
        Err(error) => panic!("ACPI: {error}"),
    };
    apic::init_local(platform.local_apic);
    let mut io_apics = alloc::vec::Vec::new();
    for io_apic in &platform.io_apics {
        let lines = apic::init_io_apic(io_apic.address);
        info!(
            "ioapic at {:#x}: {} lines from GSI {}, all masked",
            io_apic.address, lines, io_apic.gsi_base
        );
        io_apics.push((*io_apic, lines));
    }
    arch::x86_64::ioapic::init(io_apics, platform.overrides.clone());
    platform::record(&platform);
    let reference = match platform.hpet {
        Some(address) => Reference::hpet(address),
        None => Reference::Pit,
    };
    // Several short windows, keeping the least disturbed one: a host stall
    // between a TSC read and a reference read must not skew the clock.
    const CALIBRATION_MS: u64 = 2;
    const WINDOWS: usize = 7;
    apic::timer_start_calibration();
    let windows: [calibrate::Window; WINDOWS] =
        core::array::from_fn(|_| reference.window(CALIBRATION_MS));
    let rates = match calibrate::estimate(&windows) {
        Some(rates) => rates,
        None => panic!(
            "timer calibration: no usable window against the {}",
            reference.name()
        ),
    };
    let (tsc_hz, lapic_hz) = (rates.tsc_hz, rates.lapic_hz);
    clock::init(tsc_hz);
    apic::timer_start_periodic((lapic_hz / clock::TIMER_HZ) as u32);
    info!(
        "timer: local APIC {:#x} (id {}), {} kHz after /16, TSC {} MHz, both calibrated against the {} (best of {} windows, +/-{} TSC ticks); tick {} Hz",
        platform.local_apic,
        apic::local_id(),
        lapic_hz / 1000,
        tsc_hz / 1_000_000,
        reference.name(),
        WINDOWS,
        rates.uncertainty,
        clock::TIMER_HZ
    );
    info!(
        "boot: {} MiB RAM, {} CPUs (boot CPU online), cmdline \"{}\"",
        memory.usable_bytes / MIB,
        platform.cpu_apic_ids.len(),
        cmdline.as_str()
    );

    // Let the timer run for a few ticks so the log shows it working.
    let start = clock::monotonic_nanos();
    while clock::timer_ticks() < 3 {
        x86_64::instructions::interrupts::enable_and_hlt();
        x86_64::instructions::interrupts::disable();
    }
    info!(
        "clock: {} timer ticks in {} us of monotonic time",
        clock::timer_ticks(),
        (clock::monotonic_nanos() - start) / 1000
    );

    match cmdline.get("kernel.crash") {
        Some("panic") => panic!("crash requested on the command line (kernel.crash=panic)"),
        Some("page-fault") => {
            // SAFETY: deliberately faulting to test the exception report:
            // the address is non-canonical-free, unmapped user space.
            let value = unsafe { core::ptr::read_volatile(0x10 as *const u64) };
            panic!("read from an unmapped page returned {value}");
        }
        Some("stack-overflow") => {
            let depth = overflow_the_stack(0);
            panic!("recursed {depth} levels without overflowing the stack");
        }
        Some(other) => warn!("unknown kernel.crash={other:?}"),
        None => {}
    }

    let Some(module) = boot.modules().first() else {
        panic!("no bootfs: boot with the image's bootfs as the first module (QEMU -initrd)");
    };
    // SAFETY: the module lies in RAM reserved from the frame allocator and
    // is never written; the direct map covers it.
    let image =
        unsafe { core::slice::from_raw_parts(mem::phys_to_virt(module.phys), module.len as usize) };
    let bootfs = match bootfs::Bootfs::parse(image) {
        Ok(bootfs) => bootfs,
        Err(error) => panic!("bootfs module: {error}"),
    };
    info!("bootfs: {} files, {} KiB", bootfs.len(), module.len / 1024);
    programs::start_userboot(bootfs, image, cmdline.as_str());
    sched::enter()
}

/// Recurses until the stack runs into its guard page (`kernel.crash=
/// stack-overflow`, testing the guard); each level keeps 512 bytes live.
#[inline(never)]
fn overflow_the_stack(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    if core::hint::black_box(depth) == u64::MAX {
        return depth;
    }
    overflow_the_stack(depth + 1).wrapping_add(frame[(depth % 64) as usize])
}
