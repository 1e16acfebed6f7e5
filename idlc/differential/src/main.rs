//! Serves the Rust decoder to other languages' fuzzers (the Python
//! decoder's hypothesis run, `idlc/conformance/runners/python_differential.py`).
//!
//! `idlc-differential types` prints the message types, one per line, in
//! index order; `idlc-differential seeds` prints the seeds as
//! `INDEX HANDLES HEX`; `idlc-differential serve` reads `INDEX HANDLES HEX`
//! lines and answers each with `ok HEX HANDLE,...` (what the message
//! re-encodes to) or `err KIND`; `idlc-differential replay DIR...` puts
//! every fuzz input in the directories (a libFuzzer corpus) through the C
//! and Rust decoders and fails on any difference.

use std::io::{BufRead, Write};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn main() -> std::process::ExitCode {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match std::env::args().nth(1).as_deref() {
        Some("types") => {
            for ty in idlc_differential::TYPES {
                let _ = writeln!(out, "{ty}");
            }
        }
        Some("seeds") => {
            for (index, bytes, handles) in idlc_differential::seeds() {
                let _ = writeln!(out, "{index} {handles} {}", hex(&bytes));
            }
        }
        Some("serve") => {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                let mut words = line.split_whitespace();
                let parsed = (|| {
                    let index: usize = words.next()?.parse().ok()?;
                    let handles: usize = words.next()?.parse().ok()?;
                    let bytes = unhex(words.next().unwrap_or(""))?;
                    (index < idlc_differential::TYPES.len() && handles <= 3)
                        .then_some((index, handles, bytes))
                })();
                let Some((index, handles, bytes)) = parsed else {
                    let _ = writeln!(out, "bad request");
                    let _ = out.flush();
                    continue;
                };
                let _ = match idlc_differential::rust(index, &bytes, handles) {
                    Ok((bytes, handles)) => {
                        let handles: Vec<String> = handles.iter().map(u32::to_string).collect();
                        writeln!(out, "ok {} {}", hex(&bytes), handles.join(","))
                    }
                    Err(kind) => writeln!(out, "err {kind}"),
                };
                let _ = out.flush();
            }
        }
        Some("replay") => {
            let (mut inputs, mut accepted, mut differences) = (0, 0, 0);
            for dir in std::env::args().skip(2) {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    eprintln!("cannot read {dir}");
                    return std::process::ExitCode::FAILURE;
                };
                for entry in entries.flatten() {
                    let Ok(input) = std::fs::read(entry.path()) else {
                        continue;
                    };
                    let Some((index, handles, message)) = idlc_differential::split_input(&input)
                    else {
                        continue;
                    };
                    inputs += 1;
                    match idlc_differential::differ(index, message, handles) {
                        Some(difference) => {
                            differences += 1;
                            let _ = writeln!(out, "{}: {difference}", entry.path().display());
                        }
                        None => {
                            accepted += usize::from(
                                idlc_differential::rust(index, message, handles).is_ok(),
                            )
                        }
                    }
                }
            }
            let _ = writeln!(
                out,
                "{inputs} inputs, {accepted} accepted, {differences} differences between C and Rust"
            );
            let _ = out.flush();
            if differences > 0 {
                return std::process::ExitCode::FAILURE;
            }
        }
        _ => {
            eprintln!("usage: idlc-differential types | seeds | serve | replay DIR...");
            return std::process::ExitCode::FAILURE;
        }
    }
    let _ = out.flush();
    std::process::ExitCode::SUCCESS
}
