//! The storage system tests (`storage.*`): blobfs on a virtio-blk disk,
//! driven by the `blobtest` component (`components/tests/blobtest`), with
//! the host reading, damaging and power-cutting the disk between boots.

use crate::qemu::{self, Captured, Ending, RunOptions};
use crate::systest::{expect_line, guest_results, Harness};
use blobfs_core::{data_offset, Slot, Superblock, Volume, BLOCK_SIZE, NODE_BLOCKS};
use merkle::{root_of, MerkleRoot};
use std::path::Path;
use std::time::Duration;
use zx_abi::guest_exit;

/// blobtest's content number `seed` of `size` bytes (the same function as
/// `pattern` in `components/tests/blobtest`).
fn pattern(size: usize, seed: u32) -> Vec<u8> {
    (0..size as u32)
        .map(|i| (i.wrapping_mul(7).wrapping_add(seed.wrapping_mul(13)) % 251) as u8)
        .collect()
}

/// The bytes of each Merkle vector blobtest prints, by name.
fn vector(name: &str) -> Option<Vec<u8>> {
    Some(match name {
        "empty" => Vec::new(),
        "one_block" => vec![0xff; 8192],
        "eight_blocks" => vec![0xff; 65536],
        "multi_level" => vec![0xff; 2105344],
        "unaligned" => vec![0xff; 2109440],
        "pattern_10000" => pattern(10_000, 3),
        _ => return None,
    })
}

/// Every `blobtest: merkle <name> <size> <root>` line agrees with the
/// host's root of the same bytes, and all six vectors are there.
fn check_guest_roots(run: &Captured) -> Result<(), String> {
    let mut seen = 0;
    for (_, line) in &run.lines {
        let Some(rest) = line.strip_prefix("blobtest: merkle ") else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let [name, size, root] = fields[..] else {
            return Err(format!("a malformed line: {line:?}"));
        };
        let data = vector(name).ok_or_else(|| format!("unknown vector {name}"))?;
        let host = root_of(&data);
        if size != data.len().to_string() || root != host.to_string() {
            return Err(format!(
                "the guest says {name} ({size} bytes) is {root}; the host computes {host} ({} bytes)",
                data.len()
            ));
        }
        seen += 1;
    }
    if seen != 6 {
        return Err(format!(
            "{seen} Merkle vectors printed, not 6\n{}",
            run.text()
        ));
    }
    Ok(())
}

/// The default product's console: `ls /blob` lists every blob the host
/// put on the system disk (`target/images/default/data.blobs`), with its
/// size, and `df` counts them.
pub fn check_console_ls_blob_df(run: &Captured) -> Result<(), String> {
    let listing = crate::systest::workspace_root().join("target/images/default/data.blobs");
    let listing =
        std::fs::read_to_string(&listing).map_err(|e| format!("{}: {e}", listing.display()))?;
    let mut roots: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    roots.sort();
    roots.dedup();
    if roots.is_empty() {
        return Err("the system disk holds no blobs".into());
    }
    expect_line(run, "fshost: blobfs partition ")?;
    for root in &roots {
        expect_line(run, root).map_err(|e| format!("ls /blob: {e}\n{}", run.text()))?;
    }
    let df = run
        .lines
        .iter()
        .map(|(_, line)| line.as_str())
        .find(|line| line.contains("blobfs ") && line.contains(" of 256"))
        .ok_or_else(|| format!("df printed no blobfs line\n{}", run.text()))?;
    if !df.contains(&format!("{} of 256", roots.len())) {
        return Err(format!("df says {df:?}, not {} blobs", roots.len()));
    }
    check_pkg_list(run)?;
    check_package_directory(run)?;
    check_loaded_from_packages(run)?;
    if run.ending != Ending::Guest(guest_exit::SUCCESS) {
        return Err(run.ending.describe());
    }
    Ok(())
}

/// Every default component outside the bootstrap set was loaded from its
/// package: the bootfs holds no program of theirs, and the component
/// manager logged each one's package (with the root the host wrote)
/// before starting it.
fn check_loaded_from_packages(run: &Captured) -> Result<(), String> {
    let images = crate::systest::workspace_root().join("target/images/default");
    let image = std::fs::read(images.join("bootfs.img")).map_err(|e| format!("bootfs: {e}"))?;
    let bootfs = bootfs::Bootfs::parse(&image).map_err(|e| format!("bootfs: {e:?}"))?;
    let listing = std::fs::read_to_string(images.join("data.packages"))
        .map_err(|e| format!("data.packages: {e}"))?;
    let root_of_package = |name: &str| {
        listing.lines().find_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words.get(1) == Some(&name)).then(|| words[0].to_string())
        })
    };
    // (moniker, package, binary): what the default product starts at boot
    // (echo_server on echo_client's call, virtio_net and virtio_console
    // as the driver manager's drivers).
    let expected = [
        ("root/console ", "console", "console"),
        ("root/fshost/datafs ", "datafs", "datafs"),
        ("root/echo_client ", "echo_client", "echo-client"),
        ("root/echo_server ", "echo_server", "echo-server"),
        ("root/netstack ", "netstack", "netstack"),
        ("root/httpd ", "httpd", "httpd"),
        ("root/tcp_echo ", "tcp_echo", "tcp-echo"),
        ("root/bridge ", "bridge", "bridge"),
        ("", "virtio_net", "virtio-net"),
        ("", "virtio_console", "virtio-console"),
    ];
    for (moniker, package, binary) in expected {
        if bootfs.find(&format!("bin/{binary}")).is_some() {
            return Err(format!("the bootfs still holds bin/{binary}"));
        }
        // Its manifest, too, came with its package.
        if bootfs.find(&format!("meta/{package}.cm")).is_some() {
            return Err(format!("the bootfs still holds meta/{package}.cm"));
        }
        let root =
            root_of_package(package).ok_or_else(|| format!("data.packages lists no {package}"))?;
        let line = format!("{moniker}from pkg://{package} ({root})");
        expect_line(run, &line).map_err(|e| format!("{e}\n{}", run.text()))?;
    }
    // The bootfs's manifests: the bootstrap set's and the root's alone;
    // `meta/packages` names every other package of the tree.
    let mut manifests: Vec<&str> = bootfs
        .files()
        .filter_map(|f| f.name.strip_prefix("meta/")?.strip_suffix(".cm"))
        .collect();
    manifests.sort_unstable();
    let mut bootstrap: Vec<&str> = crate::packages::BOOTSTRAP.to_vec();
    bootstrap.push("system");
    bootstrap.sort_unstable();
    if manifests != bootstrap {
        return Err(format!(
            "the bootfs holds the manifests {manifests:?}, not {bootstrap:?}"
        ));
    }
    let index = bootfs
        .find("meta/packages")
        .ok_or("the bootfs has no meta/packages")?;
    let index = String::from_utf8_lossy(index.data);
    for line in listing.lines() {
        let name = line.split_whitespace().nth(1).unwrap_or_default();
        if bootstrap.contains(&name) {
            continue;
        }
        // `<name> <meta root>`: the root of the package the host wrote.
        let root = line.split_whitespace().next().unwrap_or_default();
        let listed = format!("{name} {root}");
        if !index.lines().any(|l| l == listed) {
            return Err(format!("meta/packages does not list {listed}:\n{index}"));
        }
    }
    for kept in [
        "bin/fshost",
        "bin/blobfs",
        "bin/pkg-resolver",
        "bin/virtio-blk",
    ] {
        if bootfs.find(kept).is_none() {
            return Err(format!("the bootfs lacks {kept} (bootstrap)"));
        }
    }
    Ok(())
}

/// The padding of `bigprog` (15 MiB) and `bigprog-over` (16 MiB): the
/// same bytes as `components/tests/bigprog/build.rs` writes.
fn bigprog_padding(size: usize) -> Vec<u8> {
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

/// A program near the 16 MiB limit loads from its package, and one past
/// it is refused (product `storage-large`): `bigprog`'s program blob
/// (about 15 MiB, on the system disk) is verified by blobfs, streamed
/// into a VMO by the resolver and launched from it by the component
/// manager, and its checksum of its 15 MiB of padding is the host's of
/// the same bytes; `bigprog_over` (16 MiB of padding) is refused by the
/// resolver with `OUT_OF_RANGE` before it is read, the component manager
/// names the package, and it never runs; then bigprog shuts the system
/// down.
pub fn check_large_program(run: &Captured) -> Result<(), String> {
    let with_log = |e: String| format!("{e}\n{}", run.text());
    let pad = bigprog_padding(15 << 20);
    let fnv = pad.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    expect_line(run, "component_manager: root/bigprog from pkg://bigprog (").map_err(with_log)?;
    expect_line(
        run,
        &format!("bigprog: {} bytes of padding, fnv1a {fnv:016x}", pad.len()),
    )
    .map_err(with_log)?;
    // The resolver refused the other by the size its meta blob gives,
    // which is past the limit; the manager asked for the image's own
    // package, by the root `meta/packages` gives it.
    let listing = std::fs::read_to_string(
        crate::systest::workspace_root().join("target/images/storage-large/data.packages"),
    )
    .map_err(|e| format!("data.packages: {e}"))?;
    let root = listing
        .lines()
        .find_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words.get(1) == Some(&"bigprog_over")).then(|| words[0].to_string())
        })
        .ok_or("data.packages lists no bigprog_over")?;
    let refused = expect_line(
        run,
        &format!("pkg-resolver: pkg://bigprog_over?hash={root}: bin/bigprog-over is "),
    )
    .map_err(with_log)?;
    let size = refused
        .split(" is ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok());
    if size.is_none_or(|n| n <= 16 << 20)
        || !refused.ends_with(" bytes, over the 16 MiB limit: OUT_OF_RANGE")
    {
        return Err(with_log(format!("the resolver said {refused:?}")));
    }
    expect_line(
        run,
        "component_manager: cannot start root/bigprog_over: pkg://bigprog_over: OUT_OF_RANGE: its program is over the 16 MiB limit",
    )
    .map_err(with_log)?;
    if run
        .lines
        .iter()
        .any(|(_, l)| l.contains("bigprog-over: started"))
    {
        return Err(with_log("bigprog_over was launched".into()));
    }
    if run.ending != Ending::Guest(guest_exit::SUCCESS) {
        return Err(with_log(run.ending.describe()));
    }
    Ok(())
}

/// `pkg list` printed every package the host wrote onto the system disk
/// (`target/images/default/data.packages`), with its version and root.
fn check_pkg_list(run: &Captured) -> Result<(), String> {
    let listing = crate::systest::workspace_root().join("target/images/default/data.packages");
    let listing =
        std::fs::read_to_string(&listing).map_err(|e| format!("{}: {e}", listing.display()))?;
    let mut count = 0;
    for line in listing.lines() {
        let [root, name, version] = line.split_whitespace().collect::<Vec<_>>()[..] else {
            return Err(format!("data.packages has {line:?}"));
        };
        let printed = run.lines.iter().any(|(_, l)| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words == [name, version, root]
        });
        if !printed {
            return Err(format!(
                "pkg list did not print {name} {version} {root}\n{}",
                run.text()
            ));
        }
        count += 1;
    }
    if count == 0 {
        return Err("the system disk holds no packages".into());
    }
    expect_line(run, &format!("{count} packages"))?;
    Ok(())
}

/// The package directory (`/pkg`, served by the resolver): `ls /pkg`
/// lists every package the host wrote; `ls /pkg/echo_server` shows its
/// meta blob and `bin`; `ls /pkg/echo_server/bin` its program, with the
/// size of the host's file; `cat /pkg/echo_server/meta` prints the meta
/// blob's head.
fn check_package_directory(run: &Captured) -> Result<(), String> {
    let with_log = |e: String| format!("{e}\n{}", run.text());
    let images = crate::systest::workspace_root().join("target/images/default");
    let listing = std::fs::read_to_string(images.join("data.packages"))
        .map_err(|e| format!("data.packages: {e}"))?;
    for line in listing.lines() {
        let name = line.split_whitespace().nth(1).unwrap_or_default();
        expect_line(run, &format!("{:<8} {:>8} {name}", "dir", 0))
            .map_err(|e| with_log(format!("ls /pkg: {e}")))?;
    }
    expect_line(run, &format!("{:<8} {:>8} bin", "dir", 0)).map_err(with_log)?;
    let meta = run
        .lines
        .iter()
        .find_map(|(_, l)| {
            l.strip_prefix("file")
                .filter(|rest| rest.ends_with(" meta"))
        })
        .ok_or_else(|| with_log("ls /pkg/echo_server listed no meta".into()))?;
    let meta_size: u64 = meta
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("ls /pkg/echo_server: {meta:?}"))?;
    if meta_size == 0 {
        return Err(with_log("the meta blob is listed empty".into()));
    }
    let program = run
        .lines
        .iter()
        .find_map(|(_, l)| {
            l.strip_prefix("file")
                .filter(|rest| rest.ends_with(" echo-server"))
        })
        .ok_or_else(|| with_log("ls /pkg/echo_server/bin listed no echo-server".into()))?;
    let size: u64 = program
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("ls /pkg/echo_server/bin: {program:?}"))?;
    // The meta blob, as `cat` printed it, names the program by the root
    // the host wrote (`data.blobs`), with the size `ls` listed.
    let blobs = std::fs::read_to_string(images.join("data.blobs"))
        .map_err(|e| format!("data.blobs: {e}"))?;
    let root = blobs
        .lines()
        .find_map(|l| l.strip_suffix("  bin/echo-server"))
        .ok_or("data.blobs lists no bin/echo-server")?;
    expect_line(run, &format!("file bin/echo-server {root} {size}")).map_err(with_log)?;
    expect_line(run, "zx-package 1").map_err(with_log)?;
    expect_line(run, "name echo_server").map_err(with_log)?;
    Ok(())
}

fn expect_passes(run: &Captured, names: &[&str]) -> Result<(), String> {
    for (name, result) in guest_results(run) {
        if let Err(why) = result {
            return Err(format!("[FAIL] {name}: {why}\n{}", run.text()));
        }
    }
    for name in names {
        expect_line(run, &format!("[PASS] {name}")).map_err(|e| format!("{e}\n{}", run.text()))?;
    }
    Ok(())
}

fn boot(
    harness: &Harness,
    product: &'static str,
    dir: &Path,
    timeout: Duration,
) -> Result<Captured, String> {
    let image = harness.image(product)?;
    let options = RunOptions {
        timeout,
        machine_dir: Some(dir.to_path_buf()),
        ..RunOptions::default()
    };
    qemu::run_captured(&image, &options).map_err(|e| format!("{e:#}"))
}

/// The superblock and the listed nodes of the blobfs in a disk image.
fn read_volume(disk: &[u8]) -> Result<(Superblock, Volume), String> {
    let blocks = disk.len() as u64 / BLOCK_SIZE as u64;
    let superblock = Superblock::decode(disk.get(..BLOCK_SIZE).unwrap_or(&[]), blocks)
        .map_err(|e| format!("the disk's blobfs: {e}"))?;
    let start = superblock.nodes_start as usize * BLOCK_SIZE;
    let table = &disk[start..start + NODE_BLOCKS as usize * BLOCK_SIZE];
    Ok((superblock, Volume::new(superblock, table)))
}

/// blobfs end to end: Merkle roots computed in the guest equal the
/// host's; blobs written, listed, read back verified; a wrong-content
/// write refused leaving nothing; a duplicate refused; a delete; then the
/// host flips one byte of a blob's data on the disk and the next boot's
/// read of it fails with an integrity error while another blob reads.
pub fn blobfs_scenario(harness: &Harness) -> Result<(), String> {
    let dir = harness.fresh_machine_dir("storage-tests");
    let first = boot(harness, "storage-tests", &dir, harness.timeout())?;
    expect_line(&first, "blobfs: formatted a blank volume")?;
    expect_passes(
        &first,
        &[
            "blob.write",
            "blob.list",
            "blob.read_verified",
            "blob.wrong_content_refused",
            "blob.duplicate_refused",
            "blob.delete",
        ],
    )?;
    check_guest_roots(&first)?;
    if first.ending != Ending::Guest(guest_exit::SUCCESS) {
        return Err(format!("first boot: {}", first.ending.describe()));
    }
    // Flip one byte in the second data block of the blob blobtest names.
    let damaged: MerkleRoot = first
        .lines
        .iter()
        .find_map(|(_, l)| l.strip_prefix("blobtest: damage "))
        .ok_or("blobtest did not name the blob to damage")?
        .trim()
        .parse()
        .map_err(|e| format!("{e}"))?;
    let path = dir.join("data.img");
    let mut disk = std::fs::read(&path).map_err(|e| format!("disk image: {e}"))?;
    let (superblock, volume) = read_volume(&disk)?;
    let node = volume
        .slots
        .iter()
        .find_map(|slot| match slot {
            Slot::Blob(node) if node.root == damaged => Some(*node),
            _ => None,
        })
        .ok_or_else(|| format!("the host finds no node for {damaged} on the disk"))?;
    let at = data_offset(&superblock, node.data_block(1)) as usize + 100;
    disk[at] ^= 0x20;
    std::fs::write(&path, &disk).map_err(|e| format!("disk image: {e}"))?;
    let second = boot(harness, "storage-tests", &dir, harness.timeout())?;
    expect_line(&second, "blobfs: mounted: ")?;
    expect_passes(
        &second,
        &["blob.integrity_error", "blob.intact_after_damage"],
    )?;
    expect_line(&second, &format!("blobfs: {damaged}: integrity error"))?;
    if second.ending != Ending::Guest(guest_exit::SUCCESS) {
        return Err(format!("second boot: {}", second.ending.describe()));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// How many power cuts the bounded test makes (`BLOBFS_CRASH_KILLS`
/// overrides it for a longer run; `BLOBFS_CRASH_SEED` replays one).
const DEFAULT_KILLS: usize = 30;

/// A small deterministic generator (xorshift64*), so a failing run can be
/// replayed from its seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// Crash consistency: the blobtest workload writes and deletes blobs
/// without end; the host kills QEMU (SIGKILL: a power cut, queued writes
/// lost) at a random instant while it writes, many times over the same
/// disk. After every cut blobfs must mount and every listed blob read back
/// whole with its root as its name; the host also checks the disk itself:
/// every listed node's extent holds bytes whose root is the node's name.
pub fn crash_scenario(harness: &Harness) -> Result<(), String> {
    let kills = env_number("BLOBFS_CRASH_KILLS").map_or(DEFAULT_KILLS, |n| n as usize);
    let seed = env_number("BLOBFS_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1
    });
    let mut random = Random(seed);
    let dir = harness.fresh_machine_dir("storage-crash");
    let context = |why: String| format!("{why} (seed {seed}; BLOBFS_CRASH_SEED={seed} replays it)");
    // The first boot finds when writing starts on this machine.
    let first = boot(harness, "storage-crash", &dir, Duration::from_secs(40)).map_err(context)?;
    let start = first.time_of("blobtest: writing").ok_or_else(|| {
        context(format!(
            "the workload never started writing\n{}",
            first.text()
        ))
    })?;
    let mut cuts_while_writing = 0;
    for kill in 0..=kills {
        let last = kill == kills;
        // Cut within the first 4 s of writing; the last boot only checks.
        let timeout = if last {
            start + Duration::from_secs(20)
        } else {
            start + Duration::from_millis(random.next() % 4000)
        };
        let run = boot(harness, "storage-crash", &dir, timeout).map_err(context)?;
        for (name, result) in guest_results(&run) {
            if let Err(why) = result {
                return Err(context(format!(
                    "after cut {kill}: [FAIL] {name}: {why}\n{}",
                    run.text()
                )));
            }
        }
        if run
            .lines
            .iter()
            .any(|(_, l)| l.contains("blobfs: cannot mount"))
        {
            return Err(context(format!(
                "after cut {kill}: blobfs did not mount\n{}",
                run.text()
            )));
        }
        if run.time_of("blobtest: writing").is_some() {
            cuts_while_writing += 1;
        }
        if last {
            let line = expect_line(&run, " verified")
                .map_err(|e| context(format!("the final boot: {e}\n{}", run.text())))?;
            let counts: Vec<&str> = line.split_whitespace().collect();
            if counts.get(1) != counts.get(4) || counts.get(1).is_none() {
                return Err(context(format!("the final boot: {line}")));
            }
        }
        check_disk(&dir.join("data.img")).map_err(|e| context(format!("after cut {kill}: {e}")))?;
    }
    if cuts_while_writing < kills / 2 {
        return Err(context(format!(
            "only {cuts_while_writing} of {kills} cuts landed while blobs were being written"
        )));
    }
    eprintln!(
        "storage: {kills} power cuts (seed {seed}), {cuts_while_writing} while blobs were being written; every listed blob verified after each"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Reads every listed blob straight from the disk image and checks its
/// root: the host's own proof that nothing partial is listed.
fn check_disk(path: &Path) -> Result<(), String> {
    let disk = std::fs::read(path).map_err(|e| format!("disk image: {e}"))?;
    let (superblock, volume) = read_volume(&disk)?;
    let (listed, _) = volume.nodes();
    for (_, node) in listed {
        let mut data = Vec::with_capacity(node.size as usize);
        let blocks = node.size.div_ceil(BLOCK_SIZE as u64);
        for index in 0..blocks {
            let at = data_offset(&superblock, node.data_block(index)) as usize;
            let length = (node.size - index * BLOCK_SIZE as u64).min(BLOCK_SIZE as u64) as usize;
            data.extend_from_slice(
                disk.get(at..at + length)
                    .ok_or("a listed extent is past the disk's end")?,
            );
        }
        if root_of(&data) != node.root {
            return Err(format!("the disk lists {} but its bytes differ", node.root));
        }
    }
    Ok(())
}

/// Boots the default product on the machine in `dir`, typing `input`.
fn boot_typing(
    harness: &Harness,
    dir: &Path,
    input: &str,
    timeout: Duration,
) -> Result<Captured, String> {
    let image = harness.image("default")?;
    let options = RunOptions {
        timeout,
        machine_dir: Some(dir.to_path_buf()),
        ..RunOptions::default()
    };
    qemu::run_captured_with_input(&image, &options, input.as_bytes()).map_err(|e| format!("{e:#}"))
}

/// The text the first boot writes to `/data/greeting`.
const GREETING: &str = "hello from the first boot";

/// `/data` survives a reboot: the first boot of the default product
/// writes a file at the console (datafs formats the blank data partition)
/// and shuts down; the host finds the file in the disk image's data
/// partition (mounted with `datafs-core`); a second boot, QEMU started
/// anew on the same disk, lists and prints it. A third boot is cut
/// (SIGKILL) while the console writes the file over and over: the next
/// boot mounts, and the file holds one whole version (`docs/datafs.md`).
pub fn data_scenario(harness: &Harness) -> Result<(), String> {
    let dir = harness.fresh_machine_dir("default");
    let first = boot_typing(
        harness,
        &dir,
        &format!("write /data/greeting {GREETING}\nls /data\ndf\nshutdown\n"),
        harness.timeout(),
    )?;
    expect_line(&first, "datafs: formatted a blank volume")
        .map_err(|e| format!("{e}\n{}", first.text()))?;
    expect_line(&first, "wrote 26 bytes to /data/greeting")
        .map_err(|e| format!("{e}\n{}", first.text()))?;
    expect_line(&first, " 26 greeting")?;
    expect_line(&first, "1 files")?;
    if first.ending != Ending::Guest(guest_exit::SUCCESS) {
        return Err(format!("first boot: {}", first.ending.describe()));
    }
    let disk = dir.join("data.img");
    let files = crate::disk::data_files(&disk).map_err(|e| format!("{e:#}"))?;
    let expected = vec![("greeting".to_string(), format!("{GREETING}\n").into_bytes())];
    if files != expected {
        return Err(format!("the host reads /data as {files:?}"));
    }
    let second = boot_typing(
        harness,
        &dir,
        "ls /data\ncat /data/greeting\nshutdown\n",
        harness.timeout(),
    )?;
    expect_line(&second, "datafs: mounted generation 2: 1 files")
        .map_err(|e| format!("{e}\n{}", second.text()))?;
    expect_line(&second, " 26 greeting")?;
    let printed = second
        .lines
        .iter()
        .filter(|(_, line)| line.trim_end() == GREETING)
        .count();
    if printed == 0 {
        return Err(format!(
            "cat /data/greeting did not print it\n{}",
            second.text()
        ));
    }
    if second.ending != Ending::Guest(guest_exit::SUCCESS) {
        return Err(format!("second boot: {}", second.ending.describe()));
    }
    // A power cut while the console rewrites the file.
    let rewrites: String = (0..40)
        .map(|i| format!("write /data/greeting version {i}\n"))
        .collect();
    let third = boot_typing(harness, &dir, &rewrites, Duration::from_secs(14))?;
    if !matches!(third.ending, Ending::Timeout) {
        return Err(format!("the cut boot ended: {}", third.ending.describe()));
    }
    let written = third
        .lines
        .iter()
        .filter(|(_, line)| line.contains("bytes to /data/greeting"))
        .count();
    let files = crate::disk::data_files(&disk).map_err(|e| format!("after the cut: {e:#}"))?;
    let [(name, content)] = &files[..] else {
        return Err(format!("after the cut the host reads /data as {files:?}"));
    };
    let content = String::from_utf8_lossy(content);
    let whole =
        content == format!("{GREETING}\n") || (0..40).any(|i| content == format!("version {i}\n"));
    if name != "greeting" || !whole {
        return Err(format!("after the cut /data/{name} holds {content:?}"));
    }
    let fourth = boot_typing(
        harness,
        &dir,
        "cat /data/greeting\nshutdown\n",
        harness.timeout(),
    )?;
    expect_line(&fourth, "datafs: mounted generation ")
        .map_err(|e| format!("after the cut: {e}\n{}", fourth.text()))?;
    expect_line(&fourth, content.trim_end())?;
    eprintln!(
        "storage: /data kept across reboots; cut after {written} rewrites, the file held {:?}",
        content.trim_end()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A damaged package: the default product's packages resolve through the
/// package resolver (`pkg resolve`); then the host flips one byte of
/// echo_server's program blob and one of tcp_echo's meta blob in the
/// machine's disk, and the next boot's resolver refuses both packages
/// with `IO_DATA_INTEGRITY` (blobfs names the blobs), the component
/// manager starts neither, while other packages resolve and the system
/// runs on to a clean shutdown.
pub fn damaged_package_scenario(harness: &Harness) -> Result<(), String> {
    let dir = harness.fresh_machine_dir("default");
    let first = boot_typing(
        harness,
        &dir,
        "pkg resolve echo_server\npkg resolve system\npkg resolve nothing\nshutdown\n",
        harness.timeout(),
    )?;
    let resolved = expect_line(&first, "resolved pkg://echo_server: version ")
        .map_err(|e| format!("{e}\n{}", first.text()))?;
    if !resolved.contains(" bytes, program ") || resolved.ends_with(" program 0 bytes") {
        return Err(format!("the resolver said {resolved:?}"));
    }
    expect_line(&first, "program 0 bytes")?; // `system` groups, no program
    expect_line(&first, "pkg: cannot resolve pkg://nothing: NOT_FOUND")?;
    if first.ending != Ending::Guest(guest_exit::SUCCESS) {
        return Err(format!("first boot: {}", first.ending.describe()));
    }
    // echo_server's program: its root from the host's listing.
    let listing = crate::systest::workspace_root().join("target/images/default/data.blobs");
    let listing =
        std::fs::read_to_string(&listing).map_err(|e| format!("{}: {e}", listing.display()))?;
    let program: MerkleRoot = listing
        .lines()
        .find_map(|l| l.strip_suffix("  bin/echo-server"))
        .ok_or("data.blobs lists no bin/echo-server")?
        .parse()
        .map_err(|e| format!("{e}"))?;
    let path = dir.join("data.img");
    let layout = crate::disk::layout(&path)
        .map_err(|e| format!("{e:#}"))?
        .ok_or("the machine's disk has no system GPT")?;
    let mut disk = std::fs::read(&path).map_err(|e| format!("disk image: {e}"))?;
    let base = (layout.blobfs.first * 512) as usize;
    let end = base + (layout.blobfs.sectors * 512) as usize;
    let (superblock, volume) = read_volume(&disk[base..end])?;
    // tcp_echo's meta blob: its root from the host's package listing.
    let packages = crate::systest::workspace_root().join("target/images/default/data.packages");
    let packages =
        std::fs::read_to_string(&packages).map_err(|e| format!("{}: {e}", packages.display()))?;
    let meta: MerkleRoot = packages
        .lines()
        .find_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let wanted = ["tcp_echo", crate::packages::VERSION];
            (words.get(1..) == Some(&wanted[..])).then(|| words[0])
        })
        .ok_or("data.packages lists no tcp_echo")?
        .parse()
        .map_err(|e| format!("{e}"))?;
    // One byte of echo_server's program (its second block) and one of
    // tcp_echo's meta blob (its first).
    for (root, block) in [(program, 1), (meta, 0)] {
        let node = volume
            .slots
            .iter()
            .find_map(|slot| match slot {
                Slot::Blob(node) if node.root == root => Some(*node),
                _ => None,
            })
            .ok_or_else(|| format!("the host finds no node for {root}"))?;
        let at = base + data_offset(&superblock, node.data_block(block)) as usize + 10;
        disk[at] ^= 0x08;
    }
    std::fs::write(&path, &disk).map_err(|e| format!("disk image: {e}"))?;
    let second = boot_typing(
        harness,
        &dir,
        "pkg resolve echo_server\npkg resolve httpd\npkg resolve tcp_echo\ncat /pkg/echo_server/bin/echo-server\nshutdown\n",
        harness.timeout(),
    )?;
    expect_line(
        &second,
        "pkg: cannot resolve pkg://echo_server: IO_DATA_INTEGRITY",
    )
    .map_err(|e| format!("{e}\n{}", second.text()))?;
    expect_line(&second, &format!("blobfs: {program}: integrity error"))?;
    // Read through the package directory, the damaged block is an error
    // too, never wrong bytes.
    expect_line(
        &second,
        "cannot read /pkg/echo_server/bin/echo-server: IO_DATA_INTEGRITY",
    )
    .map_err(|e| format!("{e}\n{}", second.text()))?;
    expect_line(&second, &format!("(blob {program}): IO_DATA_INTEGRITY"))?;
    expect_line(&second, "resolved pkg://httpd: version ")?;
    // The component manager could not start echo_server (echo_client's
    // call started it) and said why; the rest runs: httpd came from its
    // package, the console answered.
    expect_line(
        &second,
        "component_manager: cannot start root/echo_server: pkg://echo_server: IO_DATA_INTEGRITY",
    )
    .map_err(|e| format!("{e}\n{}", second.text()))?;
    expect_line(&second, "component_manager: root/httpd from pkg://httpd (")?;
    // A damaged meta blob: the package is refused the same way.
    expect_line(
        &second,
        &format!("pkg-resolver: blob {meta}: IO_DATA_INTEGRITY"),
    )?;
    expect_line(
        &second,
        "pkg: cannot resolve pkg://tcp_echo: IO_DATA_INTEGRITY",
    )?;
    expect_line(
        &second,
        "component_manager: cannot start root/tcp_echo: pkg://tcp_echo: IO_DATA_INTEGRITY",
    )?;
    if second
        .lines
        .iter()
        .any(|(_, l)| l.contains("started root/tcp_echo") || l.contains("started root/echo_server"))
    {
        return Err(format!("a damaged package was started\n{}", second.text()));
    }
    if second.ending != Ending::Guest(guest_exit::SUCCESS) {
        return Err(format!("second boot: {}", second.ending.describe()));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
