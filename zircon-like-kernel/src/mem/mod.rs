//! Memory management: the physical frame allocator, the kernel's own page
//! tables with the direct map, the kernel heap, user address spaces, and
//! validated access to user memory.
//!
//! Virtual layout (x86_64, 4-level paging):
//!
//! ```text
//! 0x0000_0000_0000_0000 ┐ user space (per process), below USER_ADDRESS_LIMIT
//! 0x0000_7fff_ffff_f000 ┘
//! 0xffff_8000_0000_0000   direct map of physical memory (PML4 slot 256)
//! 0xffff_ff00_0000_0000   reserved for kernel mappings (PML4 slot 510)
//! 0xffff_ffff_8000_0000   kernel image (PML4 slot 511, "kernel" code model)
//! ```

pub mod address_space;
pub mod fault;
pub mod frames;
pub mod heap;
pub mod kernel_space;
pub mod user_ptr;

/// Where physical address 0 appears in the direct map.
pub const DIRECT_MAP_BASE: u64 = 0xffff_8000_0000_0000;
/// Where the kernel image is linked (physical address + this).
pub const KERNEL_VIRT_BASE: u64 = 0xffff_ffff_8000_0000;

/// The direct-map address of physical address `phys`.
pub fn phys_to_virt(phys: u64) -> *mut u8 {
    (DIRECT_MAP_BASE + phys) as *mut u8
}
