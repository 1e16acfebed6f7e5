//! A swapped version survives a reboot (`swap.pinned_version_survives_reboot`,
//! issue 14, `docs/hot-swap.md` "After a reboot"), on the product
//! `swap-host-tests` (the default product and the steady client), with the
//! same machine directory (so the same disk) for every boot:
//!
//! 1. the host pushes and swaps `root/echo_server` to version 2 (not in the
//!    image) through the bridge; the guest shuts down, and the host reads
//!    `/data/swap-pins` from the disk image: one line pinning the package
//!    the host pushed;
//! 2. the next boot starts the image's version 1 and swaps it to the
//!    pinned version 2 in the background: `ls` (the versions through the
//!    bridge) shows the package and that it came from the pin, version 2's
//!    own method (`Calls`) answers with exactly the boot's echo client's
//!    1,000 calls (none lost or counted twice across the swap), and the echo
//!    client saw every reply; then under the steady client `rollback` goes
//!    back to version 1, the client loses nothing, and `/data/swap-pins` is
//!    gone from the disk after the shutdown; a pin to a package that is
//!    not there is written at the console;
//! 3. the next boot runs version 1, logs that the bad pin was refused and
//!    removed it (the disk holds no pin after the shutdown).

use crate::bridge::bindings::examples_echo::EchoMarker;
use crate::bridge::bindings::examples_echo_v2::EchoClient as EchoV2Client;
use crate::bridge::bindings::zx_component_swap::{Outcome, Version};
use crate::bridge::commands;
use crate::bridge::scenario::Guest;
use crate::bridge::Session;
use crate::systest::Harness;
use std::path::Path;
use std::time::Duration;

/// The echo server's moniker.
const ECHO: &str = "root/echo_server";
/// The steady client, a child of the `dynamic` collection.
const CLIENT: &str = "root/dynamic:swapc";
/// The file the component manager keeps the pins in, in `/data`.
const PINS: &str = "swap-pins";
/// A pin to a package that is not on the system.
const MISSING: &str =
    "pkg://echo_server_v9?hash=0000000000000000000000000000000000000000000000000000000000000001";
/// How long a boot may take to reach a point.
const BOOT: Duration = Duration::from_secs(240);

/// The scenario.
pub fn scenario(harness: &Harness) -> Result<(), String> {
    let dir = harness.fresh_machine_dir("swap-persist");
    let pinned = first_boot(harness, &dir)?;
    second_boot(harness, &dir, &pinned)?;
    third_boot(harness, &dir)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Runs `steps` on a guest booted in `dir`, with its tail on failure.
fn with_guest<T>(
    harness: &Harness,
    dir: &Path,
    boot: &str,
    steps: impl FnOnce(&mut Guest, &Session) -> Result<T, String>,
) -> Result<T, String> {
    let mut guest = Guest::boot_in(harness, "swap-host-tests", dir.to_path_buf())?;
    let result = guest
        .bridge()
        .and_then(|session| steps(&mut guest, &session));
    result.map_err(|why| format!("{boot}: {why}\n{}", guest.tail()))
}

/// The pins on the disk in `dir`, as the host reads its `/data`.
fn pins_on_disk(dir: &Path) -> Result<Option<String>, String> {
    let files = crate::disk::data_files(&dir.join("data.img")).map_err(|e| format!("{e:#}"))?;
    Ok(files
        .into_iter()
        .find(|(name, _)| name == PINS)
        .map(|(_, data)| String::from_utf8_lossy(&data).into_owned()))
}

/// Whether `manifest` is the image's echo server: its manifest name, or
/// its package by the root the image build wrote.
fn is_image_version(manifest: &str) -> Result<bool, String> {
    let listing =
        crate::systest::workspace_root().join("target/images/swap-host-tests/data.packages");
    let listing =
        std::fs::read_to_string(&listing).map_err(|e| format!("{}: {e}", listing.display()))?;
    let root = listing
        .lines()
        .find_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words.get(1) == Some(&"echo_server")).then(|| words[0].to_string())
        })
        .ok_or("data.packages lists no echo_server")?;
    Ok(manifest == "echo_server" || manifest == format!("pkg://echo_server?hash={root}"))
}

/// `root/echo_server`'s version as `ls` gets it through the bridge.
fn echo_version(session: &Session) -> Result<Version, String> {
    let versions = commands::versions(session).map_err(|e| format!("{e:#}"))?;
    print!("{}", commands::render_versions(&versions));
    versions
        .into_iter()
        .find(|v| v.moniker == ECHO)
        .ok_or_else(|| format!("Versions lists no {ECHO}"))
}

/// Version 2's call counter (a method version 1 does not have).
fn calls(session: &Session) -> Result<u64, String> {
    let channel = session
        .connect_to(ECHO, EchoMarker::DISCOVERABLE_NAME.unwrap())
        .map_err(|e| format!("{e:#}"))?;
    let count = EchoV2Client::new(channel.clone())
        .calls()
        .map_err(|e| format!("Calls (version 2's method): {e:?}"))?
        .calls;
    channel.close().map_err(|e| format!("{e:#}"))?;
    Ok(count)
}

/// The boot's echo client made all its calls and saw every reply.
fn echo_client_ok(guest: &Guest) -> Result<(), String> {
    guest.wait_for("echo-client: 1000 calls answered", BOOT)?;
    match guest
        .lines_with("echo-client: ")
        .into_iter()
        .find(|l| l.contains("came back as") || l.contains("failed"))
    {
        Some(line) => Err(format!("the echo client: {line}")),
        None => Ok(()),
    }
}

fn shutdown(guest: &mut Guest) -> Result<(), String> {
    guest.type_line("shutdown")?;
    guest.wait_exit(Duration::from_secs(120))
}

/// Swaps to version 2 from the host; returns the pinned version.
fn first_boot(harness: &Harness, dir: &Path) -> Result<String, String> {
    let pinned = with_guest(harness, dir, "first boot", |guest, session| {
        guest.wait_for("component_manager: root/echo_client exited", BOOT)?;
        let report = commands::swap(harness.root(), session, ECHO, "echo_server_v2")
            .map_err(|e| format!("swap to echo_server_v2: {e:#}"))?;
        if report.outcome != Outcome::Swapped {
            return Err(format!("the swap to version 2: {report:?}"));
        }
        let version = echo_version(session)?;
        if !version.manifest.starts_with("pkg://echo_server_v2?hash=") {
            return Err(format!("{ECHO} runs {version:?}"));
        }
        guest.wait_for(
            &format!(
                "{ECHO} runs {} from now on, also after a reboot",
                version.manifest
            ),
            Duration::from_secs(30),
        )?;
        shutdown(guest)?;
        Ok(version.manifest)
    })?;
    let on_disk = pins_on_disk(dir)?;
    if on_disk.as_deref() != Some(&format!("{ECHO} {pinned}\n")) {
        return Err(format!(
            "after the first boot /data/{PINS} holds {on_disk:?}, not the pin of {pinned}"
        ));
    }
    println!("swap.pinned_version_survives_reboot: first boot: {ECHO} pinned to {pinned}");
    Ok(pinned)
}

/// Restored as version 2; rolled back to version 1 under a steady client.
fn second_boot(harness: &Harness, dir: &Path, pinned: &str) -> Result<(), String> {
    with_guest(harness, dir, "second boot", |guest, session| {
        guest.wait_for(
            &format!("component_manager: swap of {ECHO} to {pinned}: swapped"),
            BOOT,
        )?;
        guest.wait_for("echo-server-v2: serving, ", Duration::from_secs(30))?;
        echo_client_ok(guest)?;
        guest.wait_for("component_manager: root/echo_client exited", BOOT)?;
        let version = echo_version(session)?;
        if version.manifest != pinned
            || version.binary != "bin/echo-server-v2"
            || !version.last_swap.contains("restored from /data/swap-pins")
        {
            return Err(format!("after the reboot {ECHO} runs {version:?}"));
        }
        // Version 1 counted the echo client's calls until the swap,
        // version 2 the rest: 1,000 in all, the state carried over.
        let counted = calls(session)?;
        if counted != 1000 {
            return Err(format!(
                "version 2 counted {counted} calls, the echo client made 1000"
            ));
        }
        // `rollback` to the image's version under a steady client.
        guest.type_line("create root dynamic swapc swap_client")?;
        guest.wait_for("swap-client: calling", Duration::from_secs(120))?;
        std::thread::sleep(Duration::from_secs(1));
        let back = commands::rollback(session, ECHO).map_err(|e| format!("rollback: {e:#}"))?;
        if back.outcome != Outcome::Swapped {
            return Err(format!("rollback: {back:?}"));
        }
        let version = echo_version(session)?;
        if !is_image_version(&version.manifest)? || version.binary != "bin/echo-server" {
            return Err(format!("after the rollback {ECHO} runs {version:?}"));
        }
        guest.wait_for(
            &format!("swap of {ECHO} to echo_server: swapped"),
            Duration::from_secs(30),
        )?;
        guest.wait_for(
            &format!("{ECHO} runs the image's version again: its pin is removed"),
            Duration::from_secs(30),
        )?;
        // The restore did not pin again what was pinned.
        if !guest
            .lines_with(" from now on, also after a reboot")
            .is_empty()
        {
            return Err("the restored version was pinned again".into());
        }
        std::thread::sleep(Duration::from_secs(1));
        guest.type_line(&format!("stop {CLIENT}"))?;
        guest.wait_for(" calls, ", Duration::from_secs(60))?;
        let report = guest
            .lines_with("swap-client: ")
            .into_iter()
            .find(|l| l.contains(" calls, "))
            .ok_or("the steady client did not report")?;
        if !report.contains("0 wrong replies, none failed") {
            return Err(format!("the steady client: {report}"));
        }
        let restored = guest
            .lines_with(&format!("swap of {ECHO} to {pinned}: swapped"))
            .concat();
        let taken_over = guest
            .lines_with("echo-server-v2: serving, ")
            .into_iter()
            .find(|l| l.starts_with("echo-server-v2"))
            .unwrap_or_default();
        println!("swap.pinned_version_survives_reboot: second boot: {restored}; {taken_over}; 1000 calls counted across the swap; rollback under the steady client: {report}");
        // A pin to a package the system does not have, for the next boot.
        guest.type_line(&format!("write /data/{PINS} {ECHO} {MISSING}"))?;
        guest.wait_for(&format!("bytes to /data/{PINS}"), Duration::from_secs(60))?;
        shutdown(guest)
    })?;
    let on_disk = pins_on_disk(dir)?;
    if on_disk.as_deref() != Some(&format!("{ECHO} {MISSING}\n")) {
        return Err(format!(
            "after the second boot /data/{PINS} holds {on_disk:?}"
        ));
    }
    Ok(())
}

/// The image's version runs; the bad pin is refused and removed.
fn third_boot(harness: &Harness, dir: &Path) -> Result<(), String> {
    with_guest(harness, dir, "third boot", |guest, session| {
        guest.wait_for(
            &format!("component_manager: {ECHO} stays echo_server: its pinned version {MISSING} was refused"),
            BOOT,
        )?;
        guest.wait_for("; pin removed", Duration::from_secs(10))?;
        echo_client_ok(guest)?;
        let version = echo_version(session)?;
        if version.manifest != "echo_server" || version.binary != "bin/echo-server" {
            return Err(format!("{ECHO} runs {version:?}"));
        }
        let connection = session
            .connect_to(ECHO, EchoMarker::DISCOVERABLE_NAME.unwrap())
            .map_err(|e| format!("{e:#}"))?;
        if EchoV2Client::new(connection.clone()).calls().is_ok() {
            return Err("version 1 answered version 2's Calls".into());
        }
        let _ = connection.close();
        shutdown(guest)
    })?;
    let on_disk = pins_on_disk(dir)?;
    if on_disk.is_some() {
        return Err(format!(
            "after the third boot /data/{PINS} still holds {on_disk:?}"
        ));
    }
    println!("swap.pinned_version_survives_reboot: third boot: the pin to a missing package refused and removed; version 1 runs");
    Ok(())
}
