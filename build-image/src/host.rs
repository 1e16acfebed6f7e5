//! Tools the host needs, installed when they are missing.
//!
//! The README promises two commands on a fresh machine (`build-image run`
//! and `cargo test`), so whatever those need beyond Rust is found or
//! installed here: as root on Debian or Ubuntu with `apt-get update` and
//! `apt-get install -y <package>` (one progress line on stderr, apt's own
//! output only if it fails); anywhere else the run stops with one message
//! that gives the exact command to type.

use anyhow::{bail, Context, Result};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// A program the host must have, and the Debian package that provides it.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    /// The executable looked up on `PATH`.
    pub binary: &'static str,
    /// The Debian/Ubuntu package that installs it.
    pub package: &'static str,
}

/// QEMU, which boots every image.
pub const QEMU: Tool = Tool {
    binary: "qemu-system-x86_64",
    package: "qemu-system-x86",
};

/// SPIN, which checks the hot-swap protocol's model (docs/hot-swap.pml).
pub const SPIN: Tool = Tool {
    binary: "spin",
    package: "spin",
};

/// curl, with which the network system test fetches pages from the guest.
pub const CURL: Tool = Tool {
    binary: "curl",
    package: "curl",
};

/// make, which builds the C part of an SDK bundle.
pub const MAKE: Tool = Tool {
    binary: "make",
    package: "make",
};

/// Python 3, which runs the Python part of an SDK bundle.
pub const PYTHON: Tool = Tool {
    binary: "python3",
    package: "python3",
};

/// Whether `binary` is an executable file on `PATH`.
pub fn on_path(binary: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(binary).is_file()))
        .unwrap_or(false)
}

/// Returns `tool`'s binary, installing its package first if it is missing
/// and this is root on a Debian-like host; otherwise fails with the exact
/// command to run. Installs at most once per process, even when system
/// tests ask from several threads at once.
pub fn ensure(tool: Tool) -> Result<String> {
    static INSTALLING: Mutex<()> = Mutex::new(());
    if on_path(tool.binary) {
        return Ok(tool.binary.into());
    }
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if on_path(tool.binary) {
        return Ok(tool.binary.into());
    }
    let command = format!("apt-get update && apt-get install -y {}", tool.package);
    let debian_like = std::path::Path::new("/etc/debian_version").exists() && on_path("apt-get");
    if !debian_like {
        if tool.binary == QEMU.binary {
            bail!(
                "{} not found: install QEMU with your package manager \
                 (Debian/Ubuntu: sudo {command}; Fedora: sudo dnf install qemu-system-x86; \
                 macOS: brew install qemu)",
                tool.binary
            );
        }
        bail!(
            "{} not found: install it with your package manager (Debian/Ubuntu: sudo {command})",
            tool.binary
        );
    }
    if !is_root() {
        bail!(
            "{} not found; install it with: sudo sh -c '{command}'",
            tool.binary
        );
    }
    eprintln!(
        "build-image: {} not found; installing {} ({command})",
        tool.binary, tool.package
    );
    apt(&["update"])?;
    apt(&["install", "-y", tool.package])?;
    if !on_path(tool.binary) {
        bail!(
            "installed {} but {} is still not on PATH",
            tool.package,
            tool.binary
        );
    }
    eprintln!("build-image: installed {}", tool.package);
    Ok(tool.binary.into())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Runs `apt-get <args>` quietly; on failure its output is the error.
fn apt(args: &[&str]) -> Result<()> {
    let output = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run apt-get {}", args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "apt-get {} failed ({}):\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
