//! Any text, compiled as a library next to the test `zx` library, yields
//! IR (then Rust) or diagnostics, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

const ZX: &str = include_str!("../../tests/libs/zx.idl");

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let mut sources = idlc::source::SourceMap::new();
    sources.add("fuzz.idl", text);
    sources.add("zx.idl", ZX);
    match idlc::compile(&sources, &Default::default()) {
        Ok(ir) => {
            let _ = idlc::backend::rust::generate(&ir);
        }
        Err(diagnostics) => {
            for d in &diagnostics {
                let _ = d.one_line(&sources);
            }
        }
    }
});
