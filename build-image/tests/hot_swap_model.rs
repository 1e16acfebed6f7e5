//! The SPIN model of the hot-swap protocol (docs/hot-swap.pml): the
//! verifier must find no error in it, and must find one in each variant
//! that takes away something the protocol relies on (so the model checks
//! what it claims to). SPIN is installed like QEMU when it is missing
//! (`build_image::host`); the verifier is compiled with the host's `cc`.

use build_image::host;
use std::path::{Path, PathBuf};
use std::process::Command;

fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/hot-swap.pml")
}

/// Generates, compiles and runs the verifier with `defines` set (`NAME` or
/// `NAME=VALUE`); returns the number of errors it found and its report.
fn verify(defines: &[&str]) -> (u64, String) {
    let spin = host::ensure(host::SPIN).unwrap_or_else(|e| panic!("{e:#}"));
    let name = if defines.is_empty() {
        "model".to_string()
    } else {
        defines.join("-")
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("hot-swap-model")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(model(), dir.join("hot-swap.pml")).unwrap();
    let run = |command: &mut Command| {
        let output = command.current_dir(&dir).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    };
    let mut generate = Command::new(&spin);
    for define in defines {
        generate.arg(format!("-D{define}"));
    }
    let (ok, text) = run(generate.args(["-a", "hot-swap.pml"]));
    assert!(ok, "spin -a failed:\n{text}");
    // A safety search (assertions and stuck processes), with states
    // stored compressed so the search fits in about 100 MiB.
    let (ok, text) =
        run(Command::new("cc").args(["-O2", "-w", "-DSAFETY", "-DCOLLAPSE", "-o", "pan", "pan.c"]));
    assert!(ok, "cc pan.c failed:\n{text}");
    let (_, report) = run(Command::new(dir.join("pan")).args(["-m100000", "-w22"]));
    let errors = report
        .split("errors: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no error count in the verifier's report:\n{report}"));
    (errors, report)
}

#[test]
fn the_protocol_loses_duplicates_and_blocks_nothing() {
    // The model as it stands (one client connected from the start, one
    // that connects at any moment), and two clients connected from the
    // start without the one that connects (the model before it).
    for defines in [&[][..], &["CLIENTS=2", "NO_OPENER"][..]] {
        let (errors, report) = verify(defines);
        assert_eq!(errors, 0, "{defines:?}: {report}");
        // The whole state space was searched, not cut short.
        assert!(report.contains("Full statespace search"), "{report}");
        assert!(!report.contains("max search depth too small"), "{report}");
    }
}

#[test]
fn each_missing_guarantee_is_caught() {
    for (define, expected) in [
        // The kernel closes a dying server's endpoints: a client sees it.
        ("CLOSE_ON_DEATH", "assertion violated  !(closed)"),
        // The kernel drops a request read by a dying server: its client
        // waits forever.
        ("LOSE_IN_FLIGHT", "invalid end state"),
        // The old version escrows with a request unanswered.
        ("STOP_MID_REQUEST", "invalid end state"),
        // The new version does not get the state.
        ("STATE_NOT_HANDED", "assertion violated"),
        // A new connection is read unbound and bound a step later: a
        // version that dies in between closes it.
        ("UNBOUND_ACCEPT", "assertion violated  !(conn_closed)"),
        // The old version leaves queued `Open`s in the outgoing directory:
        // the new one reads them, and a rollback closes them.
        ("NO_DRAIN", "assertion violated  !(conn_closed)"),
    ] {
        let (errors, report) = verify(&[define]);
        assert!(errors > 0, "{define}: no error found:\n{report}");
        assert!(report.contains(expected), "{define}:\n{report}");
    }
}
