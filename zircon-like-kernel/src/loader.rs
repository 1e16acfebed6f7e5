//! Loads a static ELF executable into a fresh address space.
//!
//! Everything in the file is checked before use: the header (64-bit,
//! x86_64, executable), every loadable segment's bounds in the file and in
//! user space, and W^X (a segment may not be writable and executable).
//!
//! Known gap: the design moves ELF loading to user space (userboot, through
//! VMO/VMAR syscalls); this in-kernel loader starts the first program
//! until then.

use crate::mem::address_space::AddressSpace;
use crate::mem::phys_to_virt;
use paging::{Access, MapError};
use xmas_elf::header::{Class, Machine, Type as ElfType};
use xmas_elf::program::Type as SegmentType;
use xmas_elf::ElfFile;
use zx_abi::USER_ADDRESS_LIMIT;

/// Lowest address a program may use: the first 64 KiB stay unmapped so
/// that null-pointer accesses fault.
pub const USER_ADDRESS_MIN: u64 = 0x1_0000;
/// Top of the initial thread's stack.
pub const STACK_TOP: u64 = 0x0000_7fff_0000_0000;
/// Size of the initial thread's stack (a guard gap lies below it).
pub const STACK_SIZE: u64 = 64 * 1024;

/// Why a program could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// Not a parseable ELF file.
    Malformed(&'static str),
    /// An ELF file, but not a 64-bit x86_64 static executable.
    WrongKind,
    /// A segment lies outside the file or outside user space.
    SegmentOutOfBounds,
    /// A segment is both writable and executable.
    WriteAndExecute,
    /// The page tables refused a mapping (overlap, no memory).
    Map(MapError),
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::Malformed(why) => write!(f, "not an ELF file: {why}"),
            LoadError::WrongKind => write!(f, "not a 64-bit x86_64 static executable"),
            LoadError::SegmentOutOfBounds => {
                write!(f, "a segment lies outside the file or user space")
            }
            LoadError::WriteAndExecute => write!(f, "a segment is writable and executable"),
            LoadError::Map(error) => write!(f, "cannot map a segment: {error:?}"),
        }
    }
}

const PAGE: u64 = 4096;

/// Loads `image` into `space` and maps a stack; returns (entry, stack top).
pub fn load(space: &mut AddressSpace, image: &[u8]) -> Result<(u64, u64), LoadError> {
    let elf = ElfFile::new(image).map_err(LoadError::Malformed)?;
    let header = &elf.header;
    if header.pt1.class() != Class::SixtyFour
        || header.pt2.machine().as_machine() != Machine::X86_64
        || header.pt2.type_().as_type() != ElfType::Executable
    {
        return Err(LoadError::WrongKind);
    }
    for segment in elf.program_iter() {
        if segment.get_type() != Ok(SegmentType::Load) {
            continue;
        }
        let (vaddr, memsz) = (segment.virtual_addr(), segment.mem_size());
        let (offset, filesz) = (segment.offset(), segment.file_size());
        let file_end = offset
            .checked_add(filesz)
            .ok_or(LoadError::SegmentOutOfBounds)?;
        let mem_end = vaddr
            .checked_add(memsz)
            .ok_or(LoadError::SegmentOutOfBounds)?;
        if filesz > memsz
            || file_end > image.len() as u64
            || vaddr < USER_ADDRESS_MIN
            || mem_end > USER_ADDRESS_LIMIT
        {
            return Err(LoadError::SegmentOutOfBounds);
        }
        let flags = segment.flags();
        if flags.is_write() && flags.is_execute() {
            return Err(LoadError::WriteAndExecute);
        }
        let access = Access {
            write: flags.is_write(),
            execute: flags.is_execute(),
            ..Access::READ
        };
        let mut page = vaddr & !(PAGE - 1);
        while page < mem_end {
            let phys = space.map_new_page(page, access).map_err(LoadError::Map)?;
            // Copy the part of the file image that falls in this page.
            let copy_start = page.max(vaddr);
            let copy_end = (page + PAGE).min(vaddr + filesz);
            if copy_start < copy_end {
                let source = &image
                    [(offset + copy_start - vaddr) as usize..(offset + copy_end - vaddr) as usize];
                let destination = phys_to_virt(phys.as_u64() + (copy_start - page));
                // SAFETY: the destination is the frame just mapped (a fresh,
                // exclusively owned page) at an offset within it, and the
                // source slice was bounds-checked against the file.
                unsafe {
                    core::ptr::copy_nonoverlapping(source.as_ptr(), destination, source.len())
                };
            }
            page += PAGE;
        }
    }
    let entry = header.pt2.entry_point();
    if !(USER_ADDRESS_MIN..USER_ADDRESS_LIMIT).contains(&entry) {
        return Err(LoadError::SegmentOutOfBounds);
    }
    let stack_access = Access {
        write: true,
        ..Access::READ
    };
    let mut page = STACK_TOP - STACK_SIZE;
    while page < STACK_TOP {
        space
            .map_new_page(page, stack_access)
            .map_err(LoadError::Map)?;
        page += PAGE;
    }
    Ok((entry, STACK_TOP))
}
