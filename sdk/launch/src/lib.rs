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
pub fn launch(job: &Job, program: Program<'_>) -> Result<Launched, LaunchError> {
    let elf = ElfFile::new(program.elf).map_err(LaunchError::Malformed)?;
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
