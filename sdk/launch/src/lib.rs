//! Starting a program from user space, as userboot and the component
//! manager do: create a process in a job, load its ELF image through VMOs
//! mapped into the new process's root VMAR, give it a stack, and start it
//! with a bootstrap channel whose first message (`processargs`) carries its
//! start-up handles and arguments.
//!
//! Every check the kernel's loader makes is made here too (64-bit x86_64
//! executable, segments inside the file and user space, no segment both
//! writable and executable); the kernel then enforces the same rules again
//! on each mapping.
#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use xmas_elf::header::{Class, Machine, Type as ElfType};
use xmas_elf::program::Type as SegmentType;
use xmas_elf::ElfFile;
use zx::processargs;
use zx::{
    Channel, Handle, Job, Process, Rights, Status, Thread, VmOptions, Vmo, ROOT_VMAR_BASE,
    USER_ADDRESS_LIMIT,
};

/// Size of the first thread's stack.
pub const STACK_SIZE: u64 = 256 * 1024;
const PAGE: u64 = 4096;

/// What to start.
pub struct Program<'a> {
    /// Process name (usually the program's bootfs path).
    pub name: &'a str,
    /// The ELF image.
    pub elf: &'a [u8],
    /// Arguments (the first is conventionally the name).
    pub args: &'a [&'a str],
    /// Extra start-up handles with their `processargs` kinds.
    pub handles: Vec<(u32, Handle)>,
    /// Namespace paths, for handles of kind
    /// `processargs::namespace_directory(index)`.
    pub names: &'a [&'a str],
}

/// A started program.
pub struct Launched {
    /// The process.
    pub process: Process,
    /// Its first thread.
    pub thread: Thread,
    /// Our end of its bootstrap channel (for later messages).
    pub bootstrap: Channel,
}

/// Why a program could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchError {
    /// The image is not an ELF file.
    Malformed(&'static str),
    /// An ELF file, but not a 64-bit x86_64 static executable.
    WrongKind,
    /// A segment lies outside the file or user space.
    SegmentOutOfBounds,
    /// A segment is writable and executable.
    WriteAndExecute,
    /// A syscall failed.
    Syscall(Status),
}

impl From<Status> for LaunchError {
    fn from(status: Status) -> Self {
        LaunchError::Syscall(status)
    }
}

impl core::fmt::Display for LaunchError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LaunchError::Malformed(why) => write!(f, "not an ELF file: {why}"),
            LaunchError::WrongKind => write!(f, "not a 64-bit x86_64 static executable"),
            LaunchError::SegmentOutOfBounds => {
                write!(f, "a segment lies outside the file or user space")
            }
            LaunchError::WriteAndExecute => write!(f, "a segment is writable and executable"),
            LaunchError::Syscall(status) => write!(f, "{status}"),
        }
    }
}

/// Starts `program` in `job`.
///
/// The ELF and program headers are parsed from a private copy
/// ([`HeaderCopy`]): `program.elf` may be another process's memory (the
/// component manager launches in place from the package resolver's VMO),
/// and a header that changed between a check and its use must not be able
/// to make this code index out of bounds. The segments' bytes are then
/// copied from `program.elf` at offsets checked against its length, so a
/// concurrent writer can change only what the new program runs.
pub fn launch(job: &Job, program: Program<'_>) -> Result<Launched, LaunchError> {
    let headers = HeaderCopy::new(program.elf)?;
    let elf = ElfFile::new(headers.bytes()).map_err(LaunchError::Malformed)?;
    let header = &elf.header;
    if header.pt1.class() != Class::SixtyFour
        || header.pt2.machine().as_machine() != Machine::X86_64
        || header.pt2.type_().as_type() != ElfType::Executable
    {
        return Err(LaunchError::WrongKind);
    }
    let entry = header.pt2.entry_point();
    if !(ROOT_VMAR_BASE..USER_ADDRESS_LIMIT).contains(&entry) {
        return Err(LaunchError::SegmentOutOfBounds);
    }
    let (process, vmar) = job.create_process(program.name)?;
    for segment in elf.program_iter() {
        if segment.get_type() != Ok(SegmentType::Load) || segment.mem_size() == 0 {
            continue;
        }
        let (vaddr, memsz) = (segment.virtual_addr(), segment.mem_size());
        let (offset, filesz) = (segment.offset(), segment.file_size());
        let file_end = offset
            .checked_add(filesz)
            .ok_or(LaunchError::SegmentOutOfBounds)?;
        let mem_end = vaddr
            .checked_add(memsz)
            .ok_or(LaunchError::SegmentOutOfBounds)?;
        if filesz > memsz
            || file_end > program.elf.len() as u64
            || vaddr < ROOT_VMAR_BASE
            || mem_end > USER_ADDRESS_LIMIT
        {
            return Err(LaunchError::SegmentOutOfBounds);
        }
        let flags = segment.flags();
        if flags.is_write() && flags.is_execute() {
            return Err(LaunchError::WriteAndExecute);
        }
        let first_page = vaddr & !(PAGE - 1);
        let span = mem_end.next_multiple_of(PAGE) - first_page;
        let vmo = Vmo::create(span, 0)?;
        vmo.write(
            &program.elf[offset as usize..file_end as usize],
            vaddr - first_page,
        )?;
        let mut options = VmOptions::PERM_READ | VmOptions::SPECIFIC;
        if flags.is_write() {
            options |= VmOptions::PERM_WRITE;
        }
        if flags.is_execute() {
            options |= VmOptions::PERM_EXECUTE;
        }
        vmar.map(first_page - ROOT_VMAR_BASE, &vmo, 0, span, options)?;
    }
    let stack = Vmo::create(STACK_SIZE, 0)?;
    let stack_base = vmar.map(
        0,
        &stack,
        0,
        STACK_SIZE,
        VmOptions::PERM_READ | VmOptions::PERM_WRITE,
    )?;
    let thread = process.create_thread("main")?;

    let mut kinds = Vec::from([processargs::PROCESS_SELF, processargs::VMAR_ROOT]);
    let mut handles = Vec::from([
        process.handle().duplicate(Rights::SAME_RIGHTS)?,
        vmar.into_handle(),
    ]);
    for (kind, handle) in program.handles {
        kinds.push(kind);
        handles.push(handle);
    }
    let mut bytes = alloc::vec![0u8; processargs::encoded_len(&kinds, program.args, program.names)];
    processargs::encode(&kinds, program.args, program.names, &mut bytes);
    let (ours, theirs) = Channel::create()?;
    ours.write(&bytes, handles)?;
    process.start(
        &thread,
        entry as usize,
        stack_base + STACK_SIZE as usize,
        theirs.into_handle(),
        0,
    )?;
    Ok(Launched {
        process,
        thread,
        bootstrap: ours,
    })
}

/// Size of a 64-bit ELF header.
const ELF_HEADER: usize = 64;
/// Size of a 64-bit ELF program header.
const PROGRAM_HEADER: usize = 56;
/// The most bytes of headers copied: the ELF header, any gap, and the
/// program header table must end within the first 64 KiB.
const MAX_HEADERS: usize = 64 * 1024;

/// An 8-byte-aligned private copy of an image's ELF header and program
/// header table, so that `xmas_elf` (which slices and asserts alignment on
/// what it reads) sees bytes that cannot change and are known to be in
/// bounds: a program header table outside the copied range, misaligned, or
/// with an entry size other than 56 bytes is `Malformed` here instead of a
/// panic there.
struct HeaderCopy {
    words: Vec<u64>,
    len: usize,
}

impl HeaderCopy {
    fn new(elf: &[u8]) -> Result<Self, LaunchError> {
        if elf.len() < ELF_HEADER {
            return Err(LaunchError::Malformed("shorter than an ELF header"));
        }
        let mut first = [0u8; ELF_HEADER];
        first.copy_from_slice(&elf[..ELF_HEADER]);
        if first[..4] != *b"\x7fELF" {
            return Err(LaunchError::Malformed("no ELF magic number"));
        }
        if first[4] != 2 {
            return Err(LaunchError::WrongKind);
        }
        let ph_offset = u64::from_le_bytes(first[32..40].try_into().unwrap_or([0; 8]));
        let ph_entry = u16::from_le_bytes([first[54], first[55]]) as usize;
        let ph_count = u16::from_le_bytes([first[56], first[57]]) as usize;
        if ph_entry != PROGRAM_HEADER {
            return Err(LaunchError::Malformed("program header size is not 56"));
        }
        if ph_offset % 8 != 0 || ph_offset < ELF_HEADER as u64 {
            return Err(LaunchError::Malformed("misplaced program header table"));
        }
        let end = (ph_offset as usize)
            .checked_add(ph_count * PROGRAM_HEADER)
            .filter(|&end| end <= MAX_HEADERS && end <= elf.len())
            .ok_or(LaunchError::Malformed(
                "program header table outside the file's first 64 KiB",
            ))?;
        let mut words = alloc::vec![0u64; end.div_ceil(8)];
        for (word, chunk) in words.iter_mut().zip(elf[..end].chunks(8)) {
            let mut bytes = [0u8; 8];
            bytes[..chunk.len()].copy_from_slice(chunk);
            *word = u64::from_ne_bytes(bytes);
        }
        // The header as it was copied, not as it may read now.
        words[0..ELF_HEADER / 8]
            .iter_mut()
            .zip(first.chunks(8))
            .for_each(|(word, chunk)| {
                *word = u64::from_ne_bytes(chunk.try_into().unwrap_or([0; 8]))
            });
        Ok(HeaderCopy { words, len: end })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `words` owns `words.len() * 8` initialised bytes, `len`
        // is at most that (it rounds up to `words.len()`), and `u8` has no
        // alignment or validity requirement; the slice borrows `self`.
        unsafe { core::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    /// A 64-bit ELF header whose program header table is `count` entries
    /// at `offset`.
    fn image(offset: u64, entry: u16, count: u16, len: usize) -> Vec<u8> {
        let mut elf = alloc::vec![0u8; len];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        elf[6] = 1;
        elf[32..40].copy_from_slice(&offset.to_le_bytes());
        elf[54..56].copy_from_slice(&entry.to_le_bytes());
        elf[56..58].copy_from_slice(&count.to_le_bytes());
        elf
    }

    #[test]
    fn a_well_formed_table_is_copied_whole() {
        let elf = image(64, 56, 3, 4096);
        let copy = HeaderCopy::new(&elf).unwrap();
        assert_eq!(copy.bytes(), &elf[..64 + 3 * 56]);
        assert_eq!(copy.bytes().as_ptr() as usize % 8, 0);
    }

    #[test]
    fn tables_out_of_bounds_are_malformed_not_a_panic() {
        let cases = [
            image(64, 56, 100, 1024),            // runs past the end
            image(u64::MAX - 7, 56, 1, 4096),    // offset overflows
            image(1 << 20, 56, 1, 2 << 20),      // beyond the first 64 KiB
            image(68, 56, 1, 4096),              // misaligned
            image(8, 56, 1, 4096),               // inside the ELF header
            image(64, 32, 1, 4096),              // wrong entry size
            image(64, 56, 1, 64)[..40].to_vec(), // shorter than a header
        ];
        for elf in &cases {
            assert!(
                matches!(HeaderCopy::new(elf), Err(LaunchError::Malformed(_))),
                "accepted {:?}",
                &elf[..elf.len().min(64)]
            );
        }
        let mut not_elf = image(64, 56, 1, 4096);
        not_elf[0] = 0;
        assert!(matches!(
            HeaderCopy::new(&not_elf),
            Err(LaunchError::Malformed(_))
        ));
        let mut elf32 = image(64, 56, 1, 4096);
        elf32[4] = 1;
        assert_eq!(HeaderCopy::new(&elf32).err(), Some(LaunchError::WrongKind));
    }

    #[test]
    fn an_unaligned_image_still_parses_from_the_copy() {
        let elf = image(64, 56, 2, 4096);
        let mut shifted = alloc::vec![0u8; 4097];
        shifted[1..].copy_from_slice(&elf);
        let copy = HeaderCopy::new(&shifted[1..]).unwrap();
        assert!(ElfFile::new(copy.bytes()).is_ok());
    }
}
