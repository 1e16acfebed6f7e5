//! The kernel's own page tables, replacing the boot tables:
//!
//! - the direct map of all physical memory up to the top of RAM (at least
//!   4 GiB, so the local APIC, I/O APIC and HPET are reachable), with 2 MiB
//!   pages, read-write and never executable; 2 MiB blocks that hold no RAM
//!   (MMIO holes) are uncached;
//! - the kernel image with 4 KiB pages: text read-only + executable, rodata
//!   read-only, data and bss read-write, never both writable and executable.
//!
//! The upper-half top-level entries (256, 510, 511) are created here once and
//! shared by every address space, which copies them at creation.

use super::frames::{self, EARLY_LIMIT};
use super::{phys_to_virt, DIRECT_MAP_BASE, KERNEL_VIRT_BASE};
use crate::arch::x86_64::pvh::BootInfo;
use core::sync::atomic::{AtomicU64, Ordering};
use paging::{Access, PageSize, PageTable, PhysAddr, TableAccess, PAGE_SIZE_2M, PAGE_SIZE_4K};
use pmm::RegionKind;

/// Physical address of the kernel's top-level table.
static KERNEL_ROOT: AtomicU64 = AtomicU64::new(0);

/// Reaches tables through the direct map and allocates them from the frame
/// allocator (below `limit` while the boot tables are active).
pub struct DirectMapTables {
    limit: u64,
}

impl DirectMapTables {
    /// Tables anywhere in RAM (after the kernel's tables are active).
    pub fn new() -> DirectMapTables {
        DirectMapTables { limit: u64::MAX }
    }
}

impl TableAccess for DirectMapTables {
    fn table(&mut self, phys: PhysAddr) -> &mut PageTable {
        // SAFETY: page-table frames are RAM reachable through the direct map,
        // and the walker holds one table reference at a time.
        unsafe { &mut *(phys_to_virt(phys.as_u64()) as *mut PageTable) }
    }

    fn alloc_table(&mut self) -> Option<PhysAddr> {
        frames::alloc_zeroed_below(self.limit).map(|f| PhysAddr::new(f.addr()))
    }

    fn free_table(&mut self, phys: PhysAddr) {
        frames::free(pmm::Frame::containing(phys.as_u64()));
    }
}

/// The kernel's top-level table.
pub fn kernel_root() -> PhysAddr {
    PhysAddr::new(KERNEL_ROOT.load(Ordering::Relaxed))
}

extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __kernel_virt_end: u8;
}

/// What `init` built, for the boot log.
pub struct KernelSpaceStats {
    /// Bytes covered by the direct map.
    pub direct_map_bytes: u64,
    /// Page-table frames the kernel half uses.
    pub table_frames: u64,
}

/// Builds the kernel tables and switches to them.
pub fn init(boot: &BootInfo) -> KernelSpaceStats {
    let mut tables = DirectMapTables { limit: EARLY_LIMIT };
    let free_before = frames::free_frames();
    let root = tables
        .alloc_table()
        .expect("no memory for the kernel page tables");

    let regions = boot.regions();
    let top = pmm::top_of_usable(regions)
        .max(4 << 30)
        .next_multiple_of(PAGE_SIZE_2M);
    let is_ram = |start: u64| {
        regions.iter().any(|r| {
            r.kind != RegionKind::Reserved
                && r.kind != RegionKind::Unusable
                && r.start < start + PAGE_SIZE_2M
                && start < r.end()
        })
    };
    let mut phys = 0;
    while phys < top {
        let access = Access {
            write: true,
            global: true,
            uncached: !is_ram(phys),
            ..Access::READ
        };
        paging::map(
            &mut tables,
            root,
            DIRECT_MAP_BASE + phys,
            PhysAddr::new(phys),
            PageSize::Size2M,
            access,
        )
        .expect("direct map");
        phys += PAGE_SIZE_2M;
    }

    // Linker-script symbols: only their addresses are used.
    use core::ptr::addr_of;
    let (text, rodata, data) = (
        (addr_of!(__text_start) as u64, addr_of!(__text_end) as u64),
        (
            addr_of!(__rodata_start) as u64,
            addr_of!(__rodata_end) as u64,
        ),
        (
            addr_of!(__data_start) as u64,
            addr_of!(__kernel_virt_end) as u64,
        ),
    );
    let sections = [
        (
            text,
            Access {
                execute: true,
                global: true,
                ..Access::READ
            },
        ),
        (
            rodata,
            Access {
                global: true,
                ..Access::READ
            },
        ),
        (
            data,
            Access {
                write: true,
                global: true,
                ..Access::READ
            },
        ),
    ];
    // The guard pages below the kernel stacks stay unmapped.
    let guards = crate::arch::x86_64::guard_pages();
    for ((start, end), access) in sections {
        let mut virt = start & !(PAGE_SIZE_4K - 1);
        while virt < end {
            if !guards.iter().any(|(guard, _)| *guard == virt) {
                let phys = PhysAddr::new(virt - KERNEL_VIRT_BASE);
                paging::map(&mut tables, root, virt, phys, PageSize::Size4K, access)
                    .expect("kernel image map");
            }
            virt += PAGE_SIZE_4K;
        }
    }
    // Make sure the shared upper-half slots exist before any address space
    // copies them.
    for slot in [256usize, 510, 511] {
        if tables.table(root).entries[slot] == 0 {
            let table = tables.alloc_table().expect("kernel page tables");
            tables.table(root).entries[slot] = table.as_u64() | 0x3;
        }
    }

    KERNEL_ROOT.store(root.as_u64(), Ordering::Relaxed);
    // SAFETY: the new tables map the kernel image at the addresses it runs
    // at, the stack (in .bss) and the direct map; enabling global pages and
    // loading CR3 keeps executing the same code.
    unsafe {
        use x86_64::registers::control::{Cr3, Cr3Flags, Cr4, Cr4Flags};
        use x86_64::structures::paging::PhysFrame;
        Cr4::update(|flags| flags.insert(Cr4Flags::PAGE_GLOBAL));
        Cr3::write(
            PhysFrame::containing_address(x86_64::PhysAddr::new(root.as_u64())),
            Cr3Flags::empty(),
        );
    }
    KernelSpaceStats {
        direct_map_bytes: top,
        table_frames: free_before - frames::free_frames(),
    }
}
