//! Links the kernel with its own linker script and generates the 256
//! interrupt entry stubs (see `src/arch/x86_64/idt.rs`).
use std::fmt::Write;
use std::path::PathBuf;

/// Exceptions for which the CPU pushes an error code (Intel SDM Vol. 3A,
/// Table 6-1).
const HAS_ERROR_CODE: [u8; 9] = [8, 10, 11, 12, 13, 14, 17, 21, 29];

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let script = dir.join("linker.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    for arg in [
        "-nostartfiles",
        "-static",
        "-Wl,--build-id=none",
        "-Wl,--gc-sections",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());

    // One stub per vector: push a zero error code when the CPU does not, push
    // the vector number, and join the common path. Every stub is 16 bytes so
    // the IDT setup computes addresses from the table start.
    let mut asm = String::new();
    asm.push_str(".section .text.isr_stubs, \"ax\"\n.balign 16\n.globl isr_stubs\nisr_stubs:\n");
    for vector in 0..=255u32 {
        asm.push_str(".balign 16\n");
        if !HAS_ERROR_CODE.contains(&(vector as u8)) {
            asm.push_str("    pushq $0\n");
        }
        writeln!(asm, "    pushq ${vector}").unwrap();
        asm.push_str("    jmp trap_common\n");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("isr_stubs.s");
    std::fs::write(out, asm).unwrap();
    println!("cargo:rerun-if-changed=build.rs");
}
