//! Loads a static ELF executable into a process, through VMOs and its root
//! VMAR — the same objects user space uses.
//!
//! Everything in the file is checked before use: the header (64-bit,
//! x86_64, executable), every loadable segment's bounds in the file and in
//! user space, and W^X (a segment may not be writable and executable).
//! Each segment becomes a VMO holding its file bytes (the rest zero-filled
//! on demand), mapped at its address with its permissions.
//!
//! Known gap: the design moves ELF loading to user space (userboot, through
//! the VMO/VMAR syscalls this loader mirrors); the kernel starts the boot
//! programs itself until process creation syscalls exist.

use crate::object::process::Process;
use crate::object::vmo::Vmo;
use paging::Access;
use xmas_elf::header::{Class, Machine, Type as ElfType};
use xmas_elf::program::Type as SegmentType;
use xmas_elf::ElfFile;
use zx_abi::{Status, USER_ADDRESS_LIMIT};

/// Lowest address a program may use (`zx_abi::ROOT_VMAR_BASE`).
pub const USER_ADDRESS_MIN: u64 = zx_abi::ROOT_VMAR_BASE;
/// Top of the initial thread's stack.
pub const STACK_TOP: u64 = 0x0000_7fff_0000_0000;
/// Size of the initial thread's stack (unmapped memory lies around it).
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
    /// A VMO or mapping could not be made (overlap, no memory).
    Memory(Status),
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
            LoadError::Memory(status) => write!(f, "cannot map a segment: {status}"),
        }
    }
}

const PAGE: u64 = 4096;

/// Loads `image` into `process` and maps a stack; returns (entry, stack top).
pub fn load(process: &Process, image: &[u8]) -> Result<(u64, u64), LoadError> {
    let elf = ElfFile::new(image).map_err(LoadError::Malformed)?;
    let header = &elf.header;
    if header.pt1.class() != Class::SixtyFour
        || header.pt2.machine().as_machine() != Machine::X86_64
        || header.pt2.type_().as_type() != ElfType::Executable
    {
        return Err(LoadError::WrongKind);
    }
    let root = process.root_vmar();
    for segment in elf.program_iter() {
        if segment.get_type() != Ok(SegmentType::Load) || segment.mem_size() == 0 {
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
        let first_page = vaddr & !(PAGE - 1);
        let span = mem_end.next_multiple_of(PAGE) - first_page;
        let vmo = Vmo::new_paged(span, false).map_err(LoadError::Memory)?;
        vmo.write_bytes(
            vaddr - first_page,
            &image[offset as usize..file_end as usize],
        )
        .map_err(LoadError::Memory)?;
        let access = Access {
            write: flags.is_write(),
            execute: flags.is_execute(),
            ..Access::READ
        };
        root.map(
            Some(first_page - root.start()),
            vmo,
            0,
            span,
            access,
            access,
        )
        .map_err(LoadError::Memory)?;
    }
    let entry = header.pt2.entry_point();
    if !(USER_ADDRESS_MIN..USER_ADDRESS_LIMIT).contains(&entry) {
        return Err(LoadError::SegmentOutOfBounds);
    }
    let stack = Vmo::new_paged(STACK_SIZE, false).map_err(LoadError::Memory)?;
    let stack_access = Access {
        write: true,
        ..Access::READ
    };
    root.map(
        Some(STACK_TOP - STACK_SIZE - root.start()),
        stack,
        0,
        STACK_SIZE,
        stack_access,
        stack_access,
    )
    .map_err(LoadError::Memory)?;
    Ok((entry, STACK_TOP))
}
