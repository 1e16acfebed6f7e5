//! Generates the Realm's bindings and the two paddings: `pad.bin`, which
//! brings `bigprog` near the package resolver's 16 MiB program limit
//! (`zx.pkg.MAX_PROGRAM`), and `pad-over.bin`, which takes `bigprog-over`
//! past it. The bytes are `pattern` below (the system test computes the
//! same).
use std::io::Write;

/// Bytes of `bigprog`'s padding: 15 MiB (the rest of the program is well
/// under 1 MiB).
const PAD: usize = 15 << 20;
/// Bytes of `bigprog-over`'s: the limit itself, so the program is over it.
const PAD_OVER: usize = 16 << 20;

/// Byte `i` of the padding: xorshift64 output, one byte per step, so no
/// block repeats and a misplaced or lost block changes the checksum.
fn pattern(size: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn write(name: &str, size: usize) {
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let path = out.join(name);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == size as u64) {
        return;
    }
    let mut file = std::fs::File::create(&path).expect("create the padding");
    file.write_all(&pattern(size)).expect("write the padding");
}

fn main() {
    idlc_build::Builder::new()
        .file("../../../idl/realm.idl")
        .library_path("../../../idl")
        .compile()
        .unwrap_or_else(|error| panic!("{error}"));
    write("pad.bin", PAD);
    write("pad-over.bin", PAD_OVER);
    println!("cargo::rerun-if-changed=build.rs");
}
