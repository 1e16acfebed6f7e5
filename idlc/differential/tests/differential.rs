//! Every message type of the system's IDL libraries (`idl/*.idl`) through
//! the C and Rust decoders: seeds accepted by both, a deterministic
//! mutation loop where both must reach the same verdict and re-encode to
//! the same bytes, and the C decoder under libFuzzer (clang's ASan and
//! UBSan) whose corpus then goes through the same differential check.
//! `docs/sdk.md` ("Robustness") gives the longer runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use idlc_differential::{c_type_count, differ, rust, seeds, split_input, C_SOURCES, TYPES};

/// Every seed (a small and a fuller value of each type, encoded by the
/// Rust bindings) decodes in both codecs to the same re-encoding, which
/// is the seed itself; nearly every type has one.
#[test]
fn seeds_cover_the_system_libraries_and_both_decoders_accept_them() {
    assert_eq!(c_type_count(), TYPES.len());
    let seeds = seeds();
    let mut covered = vec![false; TYPES.len()];
    for (index, bytes, handles) in &seeds {
        assert_eq!(differ(*index, bytes, *handles), None);
        let (again, _) = rust(*index, bytes, *handles).expect("a seed decodes");
        assert_eq!(&again, bytes, "{} seed re-encodes to itself", TYPES[*index]);
        covered[*index] = true;
    }
    let missing: Vec<&str> = TYPES
        .iter()
        .zip(&covered)
        .filter(|(_, c)| !**c)
        .map(|(t, _)| *t)
        .collect();
    println!(
        "{} types, {} seeds, types without a seed: {missing:?}",
        TYPES.len(),
        seeds.len()
    );
    assert!(
        TYPES.len() > 300,
        "the system libraries have {} message types",
        TYPES.len()
    );
    assert!(
        missing.len() * 50 < TYPES.len(),
        "too many types without a seed: {missing:?}"
    );
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Mutates a seed the way the conformance fuzzers do: bits flipped,
/// bytes set to edge values, random bytes inserted, bytes deleted, the
/// message cut, the handle count changed.
fn mutate(rng: &mut Rng, bytes: &[u8], handles: usize) -> (Vec<u8>, usize) {
    let mut data = bytes.to_vec();
    let mut handles = handles;
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len());
        match rng.below(6) {
            0 if !data.is_empty() => data[at] ^= 1 << rng.below(8),
            1 if !data.is_empty() => data[at] = [0, 1, 2, 0x7f, 0x80, 0xff][rng.below(6)],
            2 => {
                let insert: Vec<u8> = (0..8).map(|_| rng.next() as u8).collect();
                data.splice(at..at, insert);
            }
            3 if !data.is_empty() => {
                data.remove(at);
            }
            4 => data.truncate(at),
            _ => handles = rng.below(4),
        }
    }
    (data, handles)
}

/// The differential check: 100,000 mutated messages (fixed seed), each
/// decoded by both codecs; they must reject with the same error kind or
/// accept and re-encode to the same bytes and handles. Some must be
/// accepted, or the check checks little.
#[test]
fn c_and_rust_decoders_agree_on_mutated_messages() {
    let seeds = seeds();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    let mut differences = Vec::new();
    const INPUTS: usize = 100_000;
    for _ in 0..INPUTS {
        let (index, bytes, handles) = &seeds[rng.below(seeds.len())];
        let (data, handles) = mutate(&mut rng, bytes, *handles);
        if let Some(difference) = differ(*index, &data, handles) {
            differences.push(difference);
        } else if rust(*index, &data, handles).is_ok() {
            accepted += 1;
        }
    }
    println!(
        "{INPUTS} mutated messages, {accepted} accepted by both, {} differences",
        differences.len()
    );
    assert!(
        differences.is_empty(),
        "{}",
        differences[..differences.len().min(20)].join("\n")
    );
    assert!(accepted > INPUTS / 50, "only {accepted} accepted");
}

fn have_clang() -> bool {
    Command::new("clang").arg("--version").output().is_ok()
}

/// Builds the libFuzzer target: the C codec of every system library and
/// `fuzz_harness.c` with `-fsanitize=fuzzer,address,undefined`.
pub fn build_fuzzer(out: &Path) -> PathBuf {
    let sources = Path::new(C_SOURCES);
    let mut files: Vec<PathBuf> = std::fs::read_dir(sources)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "c")
                && !p
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("idl_bridge")
        })
        .collect();
    files.sort();
    let binary = out.join("fuzzer");
    let output = Command::new("clang")
        .args(["-std=c11", "-g", "-O1", "-Wall", "-Wextra", "-Werror"])
        .args([
            "-fsanitize=fuzzer,address,undefined",
            "-fno-sanitize-recover=all",
            "-DIDL_LIBFUZZER",
        ])
        .arg("-I")
        .arg(sources)
        .args(&files)
        .arg("-o")
        .arg(&binary)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "clang failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    binary
}

/// Writes every seed as a fuzz input (selector + message) into `dir`.
fn write_seeds(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for (n, (index, bytes, handles)) in seeds().into_iter().enumerate() {
        let mut input = (index as u16).to_le_bytes().to_vec();
        input.push(handles as u8);
        input.extend(bytes);
        std::fs::write(dir.join(format!("seed-{n:04}")), input).unwrap();
    }
}

/// The C decoder under libFuzzer, bounded (200,000 runs, seed 1, from the
/// seeds): no crash, no sanitizer report, no accepted message that does
/// not re-encode canonically (the harness aborts); then every input of
/// the corpus it grew goes through the differential check against Rust.
#[test]
fn c_decoder_under_libfuzzer_and_its_corpus_against_rust() {
    assert!(
        have_clang(),
        "clang not found: the C decoder's libFuzzer run needs it (apt-get install clang; .ci/run installs it)"
    );
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("libfuzzer-system");
    std::fs::create_dir_all(&out).unwrap();
    let fuzzer = build_fuzzer(&out);
    let seeds = out.join("seeds");
    write_seeds(&seeds);
    let corpus = out.join("corpus");
    let _ = std::fs::remove_dir_all(&corpus);
    std::fs::create_dir_all(&corpus).unwrap();
    let run = Command::new(&fuzzer)
        .args([
            "-runs=200000",
            "-seed=1",
            "-max_len=4096",
            "-print_final_stats=1",
        ])
        .arg(format!("-artifact_prefix={}/", out.display()))
        .arg(&corpus)
        .arg(&seeds)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "libFuzzer found a problem:\n{stderr}");
    assert!(stderr.contains("Done 200000 runs"), "{stderr}");
    let mut checked = 0;
    let mut accepted = 0;
    let mut differences = Vec::new();
    for dir in [&corpus, &seeds] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let input = std::fs::read(entry.unwrap().path()).unwrap();
            let Some((index, handles, message)) = split_input(&input) else {
                continue;
            };
            checked += 1;
            match differ(index, message, handles) {
                Some(difference) => differences.push(difference),
                None => accepted += usize::from(rust(index, message, handles).is_ok()),
            }
        }
    }
    println!(
        "libFuzzer: 200000 runs; corpus and seeds: {checked} inputs, {accepted} accepted, {} differences",
        differences.len()
    );
    assert!(
        differences.is_empty(),
        "{}",
        differences[..differences.len().min(20)].join("\n")
    );
    assert!(checked > 500, "{checked}");
}

/// The Python decoder of the same libraries under hypothesis, against
/// the Rust one (served by this crate's binary): 3,000 inputs (mutated
/// seeds and random bytes, derandomized), no exception but
/// `DecodeError`, no invalid message accepted, and the same verdict and
/// re-encoding as Rust. Installs hypothesis with pip when it is missing.
#[test]
fn python_decoder_under_hypothesis_against_rust() {
    let probe = Command::new("python3")
        .args(["-c", "import hypothesis"])
        .output()
        .expect("python3 runs");
    if !probe.status.success() {
        eprintln!("hypothesis is not installed; installing it (python3 -m pip install hypothesis)");
        let install = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "hypothesis"])
            .output()
            .unwrap();
        assert!(
            install.status.success(),
            "cannot install hypothesis (run: python3 -m pip install hypothesis): {}",
            String::from_utf8_lossy(&install.stderr)
        );
    }
    let python = Path::new(idlc_differential::PYTHON_PACKAGE);
    let runner =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/runners/python_differential.py");
    let run = Command::new("python3")
        .arg(runner)
        .arg("system_idl")
        .arg(python.join("types.txt"))
        .arg(env!("CARGO_BIN_EXE_idlc-differential"))
        .arg("3000")
        .env("PYTHONPATH", python)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    println!("{stdout}");
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("Rust agrees"), "{stdout}");
}
