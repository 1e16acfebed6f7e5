//! `build-image profile`: where one benchmark case's instructions go, per
//! function, kernel and user space alike.
//!
//! The `bench` image runs only the chosen case (`bench.profile=<case>:<n>`
//! on the kernel command line) under QEMU with `-d exec,nochain`, which logs
//! every translated block as it runs, twice: `n` iterations and `3n`. A
//! third boot with `-d in_asm` gives each block's instruction count. The
//! difference between the two runs, divided by `2n`, is one iteration's
//! cost per block — everything else (boot, set-up, the other cases' set-up)
//! cancels out — attributed to the function whose symbol covers the block's
//! address in the kernel or in the bootfs programs' ELF files.
//!
//! The logs go through a pipe, never to disk (a run logs hundreds of MB).
//! User programs share one address range, so a user address is shown with
//! its function in every program that has one there.

use super::machine::{Boot, Machine};
use super::ours;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// What to profile.
#[derive(Debug, Clone)]
pub struct Options {
    /// The case, as `components/bench` names it (`call_roundtrip_0`).
    pub case: String,
    /// Iterations of the shorter run (the longer runs three times as many).
    pub iterations: usize,
    /// How many functions to show.
    pub top: usize,
    /// Show translated blocks (by start address) rather than functions.
    pub blocks: bool,
}

/// One function's share of an iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Instructions per iteration.
    pub instructions: f64,
    /// `kernel: <function>` or `user: <program>: <function> | …`.
    pub function: String,
}

/// A profile: instructions per iteration in all, and by function.
#[derive(Debug, Clone)]
pub struct Profile {
    pub per_iteration: f64,
    pub rows: Vec<Row>,
    /// The same instructions by translated block: (start address, instructions
    /// per iteration, its function), most first.
    pub blocks: Vec<(u64, f64, String)>,
}

/// Functions of one ELF file, sorted by address: (start, end, name).
struct Symbols {
    program: String,
    functions: Vec<(u64, u64, String)>,
}

impl Symbols {
    fn parse(program: &str, elf: &[u8]) -> Result<Symbols> {
        use xmas_elf::sections::SectionData;
        use xmas_elf::symbol_table::{Entry, Type};
        let file = xmas_elf::ElfFile::new(elf).map_err(|e| anyhow::anyhow!("{program}: {e}"))?;
        let mut functions = Vec::new();
        for section in file.section_iter() {
            if let Ok(SectionData::SymbolTable64(entries)) = section.get_data(&file) {
                for entry in entries {
                    // Functions, and the labels of assembly code (which
                    // have no type or size: they reach the next symbol).
                    let code = matches!(entry.get_type(), Ok(Type::Func | Type::NoType));
                    if !code || entry.value() == 0 {
                        continue;
                    }
                    let name = entry.get_name(&file).unwrap_or("?");
                    if name.is_empty() || name.starts_with('.') || name.starts_with('$') {
                        continue;
                    }
                    let name = format!("{:#}", rustc_demangle::demangle(name));
                    functions.push((entry.value(), entry.value() + entry.size(), name));
                }
            }
        }
        functions.sort();
        functions.dedup_by_key(|(start, _, _)| *start);
        for index in 0..functions.len() {
            if functions[index].1 == functions[index].0 {
                let next = functions.get(index + 1).map_or(u64::MAX, |f| f.0);
                functions[index].1 = next;
            }
        }
        Ok(Symbols {
            program: program.into(),
            functions,
        })
    }

    fn lookup(&self, address: u64) -> Option<&str> {
        let index = self
            .functions
            .partition_point(|(start, _, _)| *start <= address);
        let (_, end, name) = self.functions.get(index.checked_sub(1)?)?;
        (address < *end).then_some(name.as_str())
    }
}

/// Addresses at or above this are the kernel's.
const KERNEL_HALF: u64 = 0xffff_8000_0000_0000;

/// Boots the image with `-d <log>` and `bench.profile=<case>:<n>`, and
/// hands each line QEMU logs to `each`.
fn boot_logging(
    machine: &Machine,
    image: &crate::image::Image,
    log: &str,
    case: &str,
    iterations: usize,
    mut each: impl FnMut(&str),
) -> Result<()> {
    let append = format!(
        "{} bench.profile={case}:{iterations}",
        image.product.cmdline
    );
    let args = machine.args(&Boot {
        kernel: &image.kernel,
        initrd: &image.bootfs,
        append: &append,
    });
    // Without `-D`, QEMU logs to standard error.
    let mut child = Command::new(crate::qemu::qemu_binary()?)
        .args(&args)
        .args(["-d", log])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start QEMU")?;
    let stderr = child.stderr.take().context("no QEMU log")?;
    for line in BufReader::with_capacity(1 << 20, stderr).lines() {
        each(&line.context("reading QEMU's log")?);
    }
    child.wait().context("waiting for QEMU")?;
    Ok(())
}

/// Blocks executed, by start address, from a `-d exec,nochain` log.
fn executed(
    machine: &Machine,
    image: &crate::image::Image,
    case: &str,
    iterations: usize,
) -> Result<HashMap<u64, u64>> {
    let mut counts: HashMap<u64, u64> = HashMap::new();
    boot_logging(machine, image, "exec,nochain", case, iterations, |line| {
        // `Trace 0: 0x7f… [cs_base/pc/flags/cflags] …`
        let pc = line
            .split_once('[')
            .and_then(|(_, rest)| rest.split('/').nth(1))
            .and_then(|pc| u64::from_str_radix(pc, 16).ok());
        if let Some(pc) = pc {
            *counts.entry(pc).or_default() += 1;
        }
    })?;
    Ok(counts)
}

/// Instructions per block, by start address, from a `-d in_asm` log.
fn block_sizes(
    machine: &Machine,
    image: &crate::image::Image,
    case: &str,
    iterations: usize,
) -> Result<HashMap<u64, u64>> {
    let mut sizes: HashMap<u64, u64> = HashMap::new();
    let mut block: Option<u64> = None;
    boot_logging(machine, image, "in_asm,nochain", case, iterations, |line| {
        if line.starts_with("IN:") || line.starts_with("---") {
            block = None;
            return;
        }
        // `0xffffffff80123456:  48 89 e5   movq %rsp, %rbp`
        let address = line
            .strip_prefix("0x")
            .and_then(|rest| rest.split_once(':'))
            .and_then(|(address, _)| u64::from_str_radix(address, 16).ok());
        match (address, block) {
            (Some(address), None) => {
                // A block starts (a block translated again starts afresh).
                block = Some(address);
                sizes.insert(address, 1);
            }
            (Some(_), Some(start)) => *sizes.entry(start).or_default() += 1,
            (None, _) => {}
        }
    })?;
    Ok(sizes)
}

/// Runs the three boots and attributes one iteration's instructions.
pub fn run(root: &Path, options: &Options) -> Result<Profile> {
    if options.iterations == 0 || options.iterations > 3_000 {
        bail!("--iterations must be 1 to 3000 (the long run does three times as many)");
    }
    let product = ours::product(root)?;
    let machine = Machine {
        memory: product.qemu.memory.clone(),
        cpus: product.qemu.cpus,
        disk: None,
        net: None,
    };
    let image = ours::build(root, &product, &mut |line| {
        eprintln!("build-image profile: {line}")
    })?;
    let mut symbols = vec![Symbols::parse(
        "kernel",
        &std::fs::read(&image.kernel).context("reading the kernel")?,
    )?];
    let bootfs_image = std::fs::read(&image.bootfs).context("reading the bootfs")?;
    let bootfs = bootfs::Bootfs::parse(&bootfs_image).map_err(|e| anyhow::anyhow!("{e}"))?;
    for file in bootfs.files() {
        if let Some(program) = file.name.strip_prefix("bin/") {
            symbols.push(Symbols::parse(program, file.data)?);
        }
    }
    let (short, long) = (options.iterations, 3 * options.iterations);
    eprintln!(
        "build-image profile: {} × {short}, then × {long}",
        options.case
    );
    let first = executed(&machine, &image, &options.case, short)?;
    let second = executed(&machine, &image, &options.case, long)?;
    let sizes = block_sizes(&machine, &image, &options.case, short)?;
    if second.values().sum::<u64>() <= first.values().sum::<u64>() {
        bail!(
            "the longer run executed no more blocks: is `{}` a case of components/bench?",
            options.case
        );
    }
    let iterations = (long - short) as f64;
    let mut by_function: HashMap<String, f64> = HashMap::new();
    let mut blocks = Vec::new();
    for (&pc, &count) in &second {
        let extra = count as f64 - *first.get(&pc).unwrap_or(&0) as f64;
        if extra == 0.0 {
            continue;
        }
        let instructions = extra * *sizes.get(&pc).unwrap_or(&1) as f64;
        let function = describe(&symbols, pc);
        *by_function.entry(function.clone()).or_default() += instructions / iterations;
        blocks.push((pc, instructions / iterations, function));
    }
    blocks.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let per_iteration = by_function.values().sum();
    let mut rows: Vec<Row> = by_function
        .into_iter()
        .map(|(function, instructions)| Row {
            instructions,
            function,
        })
        .collect();
    rows.sort_by(|a, b| b.instructions.total_cmp(&a.instructions));
    Ok(Profile {
        per_iteration,
        rows,
        blocks,
    })
}

/// The function an address belongs to.
fn describe(symbols: &[Symbols], pc: u64) -> String {
    if pc >= KERNEL_HALF {
        let name = symbols[0].lookup(pc).unwrap_or("?");
        return format!("kernel: {name}");
    }
    let names: Vec<String> = symbols[1..]
        .iter()
        .filter_map(|s| s.lookup(pc).map(|name| format!("{}: {name}", s.program)))
        .collect();
    if names.is_empty() {
        format!("user: {pc:#x}")
    } else {
        format!("user: {}", names.join(" | "))
    }
}

impl Profile {
    /// The table `build-image profile` prints.
    pub fn render(&self, case: &str, top: usize) -> String {
        let mut out = format!(
            "{case}: {:.0} instructions per iteration, by function (top {top}):\n",
            self.per_iteration
        );
        for row in self.rows.iter().take(top) {
            out += &format!("{:9.1}  {}\n", row.instructions, row.function);
        }
        out
    }

    /// The table `build-image profile --blocks` prints: the blocks with the
    /// most instructions per iteration, by start address.
    pub fn render_blocks(&self, case: &str, top: usize) -> String {
        let mut out = format!(
            "{case}: {:.0} instructions per iteration, by translated block (top {top}):\n",
            self.per_iteration
        );
        for (pc, instructions, function) in self.blocks.iter().take(top) {
            out += &format!("{instructions:9.1}  {pc:#018x}  {function}\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_cover_their_functions_only() {
        let symbols = Symbols {
            program: "p".into(),
            functions: vec![(0x100, 0x110, "a".into()), (0x200, 0x280, "b".into())],
        };
        assert_eq!(symbols.lookup(0x100), Some("a"));
        assert_eq!(symbols.lookup(0x10f), Some("a"));
        assert_eq!(symbols.lookup(0x110), None);
        assert_eq!(symbols.lookup(0x27f), Some("b"));
        assert_eq!(symbols.lookup(0x50), None);
    }
}
