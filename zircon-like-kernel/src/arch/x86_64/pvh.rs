//! The PVH boot protocol's start-of-day structures (Xen's
//! `include/public/arch-x86/hvm/start_info.h`): memory map, command line,
//! boot modules, and the ACPI RSDP address.
//!
//! [`BootInfo::parse`] copies everything it needs into kernel memory while
//! the boot identity mapping still exists, validating counts and lengths so a
//! corrupt structure cannot make the kernel read wild memory.

use crate::mem::phys_to_virt;
use pmm::{Region, RegionKind};

const START_INFO_MAGIC: u32 = 0x336e_c578;
/// Most memory-map entries kept.
pub const MAX_REGIONS: usize = 64;
/// Most boot modules kept.
pub const MAX_MODULES: usize = 4;
/// Longest command line kept (longer ones are cut).
pub const MAX_CMDLINE: usize = 1024;

#[repr(C)]
struct StartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

#[repr(C)]
struct ModlistEntry {
    paddr: u64,
    size: u64,
    cmdline_paddr: u64,
    reserved: u64,
}

#[repr(C)]
struct MemmapEntry {
    addr: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

/// A boot module: a blob the boot loader placed in memory (QEMU's `-initrd`).
#[derive(Clone, Copy, Debug)]
pub struct Module {
    /// Physical address of its first byte.
    pub phys: u64,
    /// Its length in bytes.
    pub len: u64,
}

/// What the boot loader told the kernel, copied out of boot memory.
pub struct BootInfo {
    regions: [Region; MAX_REGIONS],
    region_count: usize,
    modules: [Module; MAX_MODULES],
    module_count: usize,
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
    /// Physical address of the ACPI RSDP, if the loader gave one.
    pub rsdp: Option<u64>,
}

/// Why the start-of-day structure could not be used.
#[derive(Debug)]
pub enum BootInfoError {
    /// `ebx` did not point to a PVH start-info structure.
    BadMagic(u32),
    /// Version 0 has no memory map, which this kernel needs.
    NoMemoryMap,
}

impl core::fmt::Display for BootInfoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BootInfoError::BadMagic(magic) => write!(
                f,
                "no PVH start info (magic {magic:#x}): boot with QEMU -kernel"
            ),
            BootInfoError::NoMemoryMap => write!(f, "PVH start info version 0 has no memory map"),
        }
    }
}

/// Reads a `T` at physical address `phys` through the boot direct map.
///
/// # Safety
/// `phys` must be below 1 GiB (mapped by the boot tables) and hold a `T`.
unsafe fn read_phys<T>(phys: u64) -> T {
    // SAFETY: the caller guarantees the address is mapped and holds a T; the
    // read is unaligned-tolerant because loaders do not promise alignment.
    unsafe { core::ptr::read_unaligned(phys_to_virt(phys) as *const T) }
}

impl BootInfo {
    /// Copies the boot loader's information.
    ///
    /// # Safety
    /// Must run while the boot page tables are active (first GiB reachable)
    /// and `start_info` is the value the loader passed in `ebx`.
    pub unsafe fn parse(start_info: u64) -> Result<BootInfo, BootInfoError> {
        // SAFETY: per the PVH protocol, ebx points to the start info, which
        // QEMU places in low memory.
        let info: StartInfo = unsafe { read_phys(start_info) };
        if info.magic != START_INFO_MAGIC {
            return Err(BootInfoError::BadMagic(info.magic));
        }
        if info.version < 1 || info.memmap_paddr == 0 {
            return Err(BootInfoError::NoMemoryMap);
        }
        let mut boot = BootInfo {
            regions: [Region {
                start: 0,
                len: 0,
                kind: RegionKind::Reserved,
            }; MAX_REGIONS],
            region_count: 0,
            modules: [Module { phys: 0, len: 0 }; MAX_MODULES],
            module_count: 0,
            cmdline: [0; MAX_CMDLINE],
            cmdline_len: 0,
            rsdp: (info.rsdp_paddr != 0).then_some(info.rsdp_paddr),
        };
        let entries = (info.memmap_entries as usize).min(MAX_REGIONS);
        for i in 0..entries {
            // SAFETY: the memory map lives in low memory, i < entries.
            let entry: MemmapEntry = unsafe { read_phys(info.memmap_paddr + (i * 24) as u64) };
            let kind = match entry.kind {
                1 => RegionKind::Usable,
                3 => RegionKind::AcpiReclaimable,
                4 => RegionKind::AcpiNvs,
                5 => RegionKind::Unusable,
                _ => RegionKind::Reserved,
            };
            boot.regions[i] = Region {
                start: entry.addr,
                len: entry.size,
                kind,
            };
        }
        boot.region_count = entries;
        let modules = (info.nr_modules as usize).min(MAX_MODULES);
        for i in 0..modules {
            // SAFETY: the module list lives in low memory, i < nr_modules.
            let entry: ModlistEntry = unsafe { read_phys(info.modlist_paddr + (i * 32) as u64) };
            boot.modules[i] = Module {
                phys: entry.paddr,
                len: entry.size,
            };
        }
        boot.module_count = modules;
        if info.cmdline_paddr != 0 {
            while boot.cmdline_len < MAX_CMDLINE {
                // SAFETY: the command line is a NUL-terminated string in low
                // memory; we stop at the NUL or at our buffer's end.
                let byte: u8 = unsafe { read_phys(info.cmdline_paddr + boot.cmdline_len as u64) };
                if byte == 0 {
                    break;
                }
                boot.cmdline[boot.cmdline_len] = byte;
                boot.cmdline_len += 1;
            }
        }
        Ok(boot)
    }

    /// The firmware memory map.
    pub fn regions(&self) -> &[Region] {
        &self.regions[..self.region_count]
    }

    /// The boot modules.
    pub fn modules(&self) -> &[Module] {
        &self.modules[..self.module_count]
    }

    /// The kernel command line (invalid UTF-8 is replaced by nothing).
    pub fn cmdline(&self) -> &str {
        let bytes = &self.cmdline[..self.cmdline_len];
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}
