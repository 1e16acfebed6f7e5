//! Reading the time-stamp counter, which counts guest instructions under
//! QEMU `-icount shift=0,sleep=off` (DESIGN §8).
//!
//! The only `unsafe` of this program: an instruction the SDK has no
//! wrapper for (a benchmark is its only user).

/// The TSC, after every earlier instruction has completed (`lfence`), as
/// the Linux peer reads it.
#[inline(always)]
#[allow(unsafe_code)]
pub fn read() -> u64 {
    #[cfg(baremetal)]
    {
        let (low, high): (u32, u32);
        // SAFETY: `lfence` and `rdtsc` only read the counter into eax:edx;
        // the kernel leaves CR4.TSD clear, so ring 3 may execute `rdtsc`.
        // No memory is touched, but the asm is not `nomem` so the compiler
        // cannot move memory accesses of the measured code across it.
        unsafe {
            core::arch::asm!(
                "lfence",
                "rdtsc",
                out("eax") low,
                out("edx") high,
                options(nostack, preserves_flags)
            );
        }
        ((high as u64) << 32) | low as u64
    }
    #[cfg(not(baremetal))]
    {
        0
    }
}

/// Instructions run by the whole system so far: the TSC less the ticks
/// the CPU spent halted (`info::CPU_STATS`, through the debug resource).
/// Under `-icount sleep=off` a halted CPU skips virtual time, so a case
/// that waits for a device counts only what ran. Used by the benchmarks
/// that wait for a device (netbench, blobbench).
#[allow(dead_code)]
pub fn busy(debug: &zx::Resource) -> Result<u64, zx::Status> {
    let idle = debug.cpu_stats()?.idle_ticks;
    Ok(read().saturating_sub(idle))
}
