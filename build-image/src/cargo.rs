//! Building the OS binaries with cargo, apart from host builds.
//!
//! The kernel and user programs are built for the host target triple but
//! with bare-metal flags (static relocation model, static CRT, `--cfg
//! baremetal`, their own linker scripts) and the `os` profile (panics
//! abort). Passing `--target` explicitly keeps these flags away from build
//! scripts and proc macros, and separate target directories under
//! `target/os/` keep them away from host builds (see DESIGN §3).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target triple the OS binaries are built for.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";
/// The cargo profile of the OS binaries.
pub const PROFILE: &str = "os";

const COMMON_FLAGS: &[&str] = &[
    "-Crelocation-model=static",
    "-Ctarget-feature=+crt-static",
    "--cfg",
    "baremetal",
];

/// A group of binaries built with one set of flags.
pub enum Group<'a> {
    /// The kernel (linked by its own build script, "kernel" code model).
    Kernel,
    /// User programs, by binary name.
    User(&'a [String]),
}

fn flags(root: &Path, group: &Group<'_>) -> Vec<String> {
    let mut flags: Vec<String> = COMMON_FLAGS.iter().map(|s| s.to_string()).collect();
    match group {
        Group::Kernel => {
            flags.extend(["-Ccode-model=kernel".into(), "-Cno-redzone=yes".into()]);
        }
        Group::User(_) => {
            let script = root.join("sdk/runtime/user.ld");
            for arg in [
                "-nostartfiles",
                "-static",
                "-Wl,--build-id=none",
                "-Wl,--gc-sections",
            ] {
                flags.push(format!("-Clink-arg={arg}"));
            }
            flags.push(format!("-Clink-arg=-Wl,-T,{}", script.display()));
        }
    }
    flags
}

fn target_dir(root: &Path, group: &Group<'_>) -> PathBuf {
    root.join("target/os").join(match group {
        Group::Kernel => "kernel",
        Group::User(_) => "user",
    })
}

/// Maps each binary target of the workspace to the package that holds it.
pub fn binary_owners(root: &Path) -> Result<std::collections::HashMap<String, String>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .context("cannot run cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("cargo metadata output")?;
    let mut owners = std::collections::HashMap::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let package_name = package["name"].as_str().unwrap_or_default();
        for target in package["targets"].as_array().into_iter().flatten() {
            let is_bin = target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
            if let (true, Some(name)) = (is_bin, target["name"].as_str()) {
                owners.insert(name.to_string(), package_name.to_string());
            }
        }
    }
    Ok(owners)
}

/// Builds a group and returns the paths of its binaries.
pub fn build(root: &Path, group: Group<'_>) -> Result<Vec<PathBuf>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = target_dir(root, &group);
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args([
            "build",
            "--profile",
            PROFILE,
            "--target",
            TARGET,
            "--target-dir",
        ])
        .arg(&target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", flags(root, &group).join("\x1f"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR");
    let names: Vec<String> = match &group {
        Group::Kernel => {
            command.args(["-p", "kernel"]);
            vec!["kernel".into()]
        }
        Group::User(programs) => {
            // Select exactly the packages that hold the programs: building
            // with `--workspace` would unify features with host crates and
            // could pull `std` into user programs.
            let owners = binary_owners(root)?;
            for program in programs.iter() {
                let Some(package) = owners.get(program.as_str()) else {
                    bail!("no workspace package has a binary named {program:?}");
                };
                command.args(["-p", package, "--bin", program]);
            }
            programs.to_vec()
        }
    };
    let status = command.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build of {} failed ({status})", names.join(", "));
    }
    let out = target_dir.join(TARGET).join(PROFILE);
    Ok(names.iter().map(|name| out.join(name)).collect())
}
