//! Which version of a swapped component runs, kept across reboots
//! (`docs/hot-swap.md`, "After a reboot"; `docs/packages.md`).
//!
//! A final swap of a component of the static tree (from the console, the
//! host or a `rollback`) records the version it runs now — its manifest
//! name, or the package it came from, `pkg://<name>?hash=<meta root>` — in
//! the file `swap-pins` of `/data`, one `<moniker> <version>` line per
//! instance that runs another version than the image's, before the swap
//! is reported. A swap back to the image's version removes the line (and
//! the file with the last line). The file is written whole through
//! `zx.data.DataFs.Write`, which datafs makes atomic and durable
//! (copy-on-write: after a power cut the file is the old one or the new
//! one, `docs/datafs.md`).
//!
//! At boot nothing waits for it: the image's versions start as always.
//! Once the boot's pass over the static tree is done ([`restore`]), the
//! file is read (through the `data` directory that the tree's datafs
//! exposes); each pinned component is swapped, once it runs, to its
//! pinned version through the ordinary swap (load, compatibility check,
//! escrow, grace period), so its clients see no more than a swap's gap. A
//! pin that cannot be applied — its package missing or damaged, the swap
//! refused or rolled back, the moniker no longer in the tree — is logged
//! and removed: the component goes on as the image's version, and the
//! next boot does not try again.
//!
//! A product without a datafs keeps nothing and reads nothing; a child of
//! a collection is not kept (it does not outlive the boot).

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;
use zx::{Channel, Event, Status};
use zx_async::{sleep, with_deadline, Spawner};
use zx_runtime::println;

use super::super::decl::zx_component_decl::CapabilityKind;
use super::super::decl::zx_component_swap::Outcome;
use super::super::decl::zx_data::{
    DataFsAsyncClient, DataFsMarker, DataFsRemoveRequest, DataFsWriteRequest, MAX_WRITE,
};
use super::super::decl::zx_io::{
    DirectoryAsyncClient, DirectoryOpenRequest, FileAsyncClient, FileReadRequest, MAX_READ,
};
use super::super::exposed::open_exposed_as;
use super::super::resolve::{pinned_root, AsyncChannel};
use super::super::State;
use super::{swap, truncated, MAX_REASON};

/// The file in `/data`.
pub(in super::super) const PINS_FILE: &str = "swap-pins";
/// The protocol that writes it, and the directory it is read from.
const DATAFS: &str = "zx.data.DataFs";
const DATA_DIRECTORY: &str = "data";
/// How often a pinned component that does not run yet is looked at, at
/// first and at most (guest time).
const FIRST_WAIT_NANOS: i64 = 50_000_000;
const MAX_WAIT_NANOS: i64 = 1_000_000_000;
/// How long `/data` may take to answer a read or a write of the pins
/// (guest time; the first one at boot may wait for datafs to mount).
const DATA_DEADLINE_NANOS: i64 = 10_000_000_000;

/// The pins as the manager knows them.
#[derive(Default)]
pub(in super::super) struct Pins {
    /// `None` until read from `/data`.
    loaded: Option<BTreeMap<String, String>>,
    /// Changes made to `loaded`, and how many of them the file holds.
    changes: u64,
    durable: u64,
    /// A write is under way (writes go one at a time).
    writing: bool,
    /// The meta root of the package each static instance was first
    /// started from (the image's version), by moniker: a swap back to it
    /// by its root (`pkg://<name>?hash=<root>`) is a swap to the image's.
    image_roots: BTreeMap<String, String>,
}

/// Parses the file: `<moniker> <version>` lines, each word printable
/// ASCII without spaces; other lines are skipped.
pub(in super::super) fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (moniker, version) = line.split_once(' ')?;
            let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
            (valid(moniker) && valid(version)).then(|| (moniker.into(), version.into()))
        })
        .collect()
}

/// The file's text for `pins`.
pub(in super::super) fn render(pins: &BTreeMap<String, String>) -> String {
    pins.iter()
        .map(|(moniker, version)| format!("{moniker} {version}\n"))
        .collect()
}

impl State {
    /// The instance that exposes datafs, if the tree has one.
    fn datafs(&self) -> Option<usize> {
        self.instances.iter().position(|instance| {
            !instance.destroyed
                && instance.decl.program.is_some()
                && instance.decl.exposes.as_ref().is_some_and(|exposes| {
                    exposes
                        .iter()
                        .any(|e| e.kind == CapabilityKind::Protocol && e.name == DATAFS)
                })
        })
    }

    /// Whether instance `index` runs the image's version: the manifest
    /// the tree gives it, or that package by its root.
    fn runs_image(&self, index: usize) -> bool {
        let instance = &self.instances[index];
        let Some(image) = self.image_manifest(index) else {
            return false;
        };
        let running = &instance.swap.manifest;
        if *running == image {
            return true;
        }
        let Some(root) = pinned_root(running) else {
            return false;
        };
        running.starts_with(&format!("pkg://{image}?"))
            && self
                .pins
                .image_roots
                .get(&instance.moniker)
                .is_some_and(|image_root| image_root.eq_ignore_ascii_case(root))
    }

    /// The manifest the tree gives instance `index` (its parent's `children`
    /// entry): the image's version. `None` for a child of a collection or
    /// the root.
    fn image_manifest(&self, index: usize) -> Option<String> {
        let instance = &self.instances[index];
        if instance.collection.is_some() {
            return None;
        }
        let parent = &self.instances[instance.parent?];
        parent
            .decl
            .children
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|child| child.name == instance.name)
            .map(|child| child.manifest.clone())
    }
}

/// Reads the file through datafs's `data` directory: nothing if there is
/// no datafs or no file; an error if `/data` does not answer.
async fn read(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
) -> Result<Vec<u8>, String> {
    let Some(datafs) = state.borrow().datafs() else {
        return Ok(Vec::new());
    };
    let (directory, server) = Channel::create().map_err(|s| format!("channel: {s}"))?;
    open_exposed_as(
        state,
        spawner,
        idle,
        datafs,
        CapabilityKind::Directory,
        DATA_DIRECTORY,
        server,
    )
    .map_err(|s| format!("/data: {s}"))?;
    let directory = DirectoryAsyncClient::new(AsyncChannel(directory));
    // Listing it tells a missing file from a datafs that does not answer.
    let entries = directory
        .read_dir()
        .await
        .map_err(|e| format!("/data does not answer: {e:?}"))?
        .map_err(|status| format!("/data: {}", Status(status)))?
        .entries;
    if !entries.iter().any(|entry| entry.name == PINS_FILE) {
        return Ok(Vec::new());
    }
    let (file, server) = Channel::create().map_err(|s| format!("channel: {s}"))?;
    directory
        .open(DirectoryOpenRequest {
            path: PINS_FILE.into(),
            object: idlc_runtime::Handle::from_raw(server.into_handle().into_raw()),
        })
        .await
        .map_err(|e| format!("/data: {e:?}"))?;
    let file = FileAsyncClient::new(AsyncChannel(file));
    let mut data = Vec::new();
    loop {
        let read = file
            .read(FileReadRequest {
                offset: data.len() as u64,
                count: MAX_READ,
            })
            .await
            .map_err(|e| format!("{PINS_FILE}: {e:?}"))?
            .map_err(|status| format!("{PINS_FILE}: {}", Status(status)))?;
        if read.data.is_empty() {
            break;
        }
        data.extend_from_slice(&read.data);
        if data.len() > MAX_WRITE as usize {
            break; // too long: not a file this module wrote
        }
    }
    Ok(data)
}

/// The pins, read once. A `/data` that does not answer is an error (read
/// again at the next use: a change is not written over pins that could
/// not be read); a file that is not pins (too long, not UTF-8) counts as
/// none, logged, and is replaced at the next change.
async fn loaded(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
) -> Result<BTreeMap<String, String>, String> {
    if let Some(pins) = &state.borrow().pins.loaded {
        return Ok(pins.clone());
    }
    let data = with_deadline(
        zx::deadline_after(DATA_DEADLINE_NANOS),
        read(state, spawner, idle),
    )
    .await
    .map_err(|status| format!("/data does not answer: {status}"))??;
    let pins = match core::str::from_utf8(&data) {
        Ok(_) if data.len() > MAX_WRITE as usize => {
            println!("component_manager: /data/{PINS_FILE} is longer than {MAX_WRITE} bytes: not pins, ignored");
            BTreeMap::new()
        }
        Ok(text) => parse(text),
        Err(_) => {
            println!("component_manager: /data/{PINS_FILE} is not UTF-8: not pins, ignored");
            BTreeMap::new()
        }
    };
    let mut guard = state.borrow_mut();
    Ok(guard.pins.loaded.get_or_insert(pins).clone())
}

/// Applies `change` to the pins and waits until the file holds it;
/// whether anything changed.
async fn update(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
    change: impl FnOnce(&mut BTreeMap<String, String>) -> bool,
) -> Result<bool, String> {
    loaded(state, spawner, idle).await?;
    let wanted = {
        let mut guard = state.borrow_mut();
        let pins = &mut guard.pins;
        if !change(pins.loaded.get_or_insert_with(BTreeMap::new)) {
            return Ok(false);
        }
        pins.changes += 1;
        pins.changes
    };
    loop {
        let job = {
            let mut guard = state.borrow_mut();
            let pins = &mut guard.pins;
            if pins.durable >= wanted {
                return Ok(true);
            }
            if pins.writing {
                None
            } else {
                pins.writing = true;
                Some((
                    pins.loaded.as_ref().map(render).unwrap_or_default(),
                    pins.changes,
                ))
            }
        };
        let Some((text, version)) = job else {
            // Another task writes: wait for it, then look again.
            let _ = sleep(zx::deadline_after(FIRST_WAIT_NANOS / 10)).await;
            continue;
        };
        let written = with_deadline(
            zx::deadline_after(DATA_DEADLINE_NANOS),
            write(state, spawner, idle, text),
        )
        .await
        .unwrap_or_else(|status| Err(format!("datafs does not answer: {status}")));
        let mut guard = state.borrow_mut();
        guard.pins.writing = false;
        written?;
        guard.pins.durable = guard.pins.durable.max(version);
    }
}

/// Writes the file (removes it if `text` is empty).
async fn write(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
    text: String,
) -> Result<(), String> {
    if text.len() > MAX_WRITE as usize {
        return Err(format!("{PINS_FILE} would exceed {MAX_WRITE} bytes"));
    }
    let Some(datafs) = state.borrow().datafs() else {
        return Ok(()); // nothing is kept on this system
    };
    let (client, server) = Channel::create().map_err(|s| format!("channel: {s}"))?;
    let protocol = DataFsMarker::DISCOVERABLE_NAME.unwrap_or(DATAFS);
    open_exposed_as(
        state,
        spawner,
        idle,
        datafs,
        CapabilityKind::Protocol,
        protocol,
        server,
    )
    .map_err(|s| format!("datafs: {s}"))?;
    let client = DataFsAsyncClient::new(AsyncChannel(client));
    let answer = if text.is_empty() {
        client
            .remove(DataFsRemoveRequest {
                name: PINS_FILE.into(),
            })
            .await
            .map(|reply| match reply {
                Err(status) if Status(status) == Status::NOT_FOUND => Ok(()),
                other => other.map(drop),
            })
    } else {
        client
            .write(DataFsWriteRequest {
                name: PINS_FILE.into(),
                data: text.into_bytes(),
                append: false,
            })
            .await
            .map(|reply| reply.map(drop))
    };
    answer
        .map_err(|e| format!("datafs does not answer: {e:?}"))?
        .map_err(|status| format!("datafs: {}", Status(status)))
}

/// After a final swap of instance `index` (generation `generation`): keeps
/// the version it runs now, or forgets its pin if that is the image's.
/// Called before the swap is reported, so a reported swap is durable.
pub(in super::super) async fn swapped(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
    (index, generation): (usize, u32),
) {
    let (moniker, running, image) = {
        let guard = state.borrow();
        if !guard.live(index, generation) || guard.datafs().is_none() {
            return;
        }
        if guard.image_manifest(index).is_none() {
            return; // a child of a collection: not kept
        }
        let instance = &guard.instances[index];
        (
            instance.moniker.clone(),
            instance.swap.manifest.clone(),
            guard.runs_image(index),
        )
    };
    let pin = (!image).then(|| running.clone());
    let key = moniker.clone();
    let updated = update(state, spawner, idle, move |pins| match pin {
        Some(version) => pins.insert(key, version.clone()).as_ref() != Some(&version),
        None => pins.remove(&key).is_some(),
    })
    .await;
    match updated {
        Ok(false) => {}
        Ok(true) if image => println!(
            "component_manager: {} runs the image's version again: its pin is removed from /data/{}",
            moniker, PINS_FILE
        ),
        Ok(true) => println!(
            "component_manager: {} runs {} from now on, also after a reboot (/data/{})",
            moniker, running, PINS_FILE
        ),
        Err(why) => println!(
            "component_manager: {} runs {}, but /data/{} could not be written: {}",
            moniker, running, PINS_FILE, why
        ),
    }
}

/// Removes `moniker`'s pin if it still is `version`.
async fn forget(
    state: &Rc<RefCell<State>>,
    spawner: &Spawner,
    idle: &Rc<Event>,
    moniker: &str,
    version: &str,
) {
    let key = moniker.to_string();
    let pinned = version.to_string();
    let removed = update(state, spawner, idle, move |pins| {
        if pins.get(&key) == Some(&pinned) {
            pins.remove(&key);
            true
        } else {
            false
        }
    })
    .await;
    if let Err(why) = removed.map(drop) {
        println!(
            "component_manager: the pin of {} could not be removed from /data/{}: {}",
            moniker, PINS_FILE, why
        );
    }
}

/// Spawned once the boot's pass over the static tree is done: reads the
/// pins and swaps each pinned component to its version once it runs, in
/// the background. Nothing waits for it.
pub(in super::super) async fn restore(
    state: Rc<RefCell<State>>,
    spawner: Spawner,
    idle: Rc<Event>,
) {
    {
        let mut guard = state.borrow_mut();
        // Only a component that declares a `state` can have been swapped:
        // a tree without one has no pins, and `/data` is not asked (nor
        // datafs started for it).
        let swappable = guard
            .instances
            .iter()
            .any(|i| !i.destroyed && i.collection.is_none() && i.decl.state_type.is_some());
        if guard.datafs().is_none() || !swappable {
            return;
        }
        // The image's packages, before any swap replaces them.
        let roots: Vec<(String, String)> = guard
            .instances
            .iter()
            .filter(|i| !i.destroyed && i.collection.is_none() && i.swap.previous.is_none())
            .filter_map(|i| Some((i.moniker.clone(), i.package.root.clone()?)))
            .collect();
        guard.pins.image_roots.extend(roots);
    }
    let pins = match loaded(&state, &spawner, &idle).await {
        Ok(pins) => pins,
        Err(why) => {
            println!("component_manager: /data/{PINS_FILE}: {why}; no pins applied");
            return;
        }
    };
    for (moniker, version) in pins {
        spawner.spawn(apply(
            Rc::clone(&state),
            spawner.clone(),
            Rc::clone(&idle),
            moniker,
            version,
        ));
    }
}

/// Where a pinned instance is.
enum Found {
    /// It runs and is not being swapped or stopped: swap it now.
    Ready(usize),
    /// Not running yet (a lazy component, or one about to be restarted).
    NotYet,
    /// Its pin changed meanwhile (a swap from the console or the host).
    Superseded,
    /// No such component of the static tree.
    Gone,
}

fn find(state: &Rc<RefCell<State>>, moniker: &str, version: &str) -> Found {
    let guard = state.borrow();
    if guard
        .pins
        .loaded
        .as_ref()
        .is_some_and(|pins| pins.get(moniker).map(String::as_str) != Some(version))
    {
        return Found::Superseded;
    }
    let Some(index) = guard.find(moniker) else {
        return Found::Gone;
    };
    let instance = &guard.instances[index];
    if instance.collection.is_some() {
        return Found::Gone;
    }
    let running = instance.process.is_some() && instance.lifecycle.is_some();
    if running && !instance.stopping && !instance.swap.busy {
        Found::Ready(index)
    } else {
        Found::NotYet
    }
}

/// Swaps `moniker` to its pinned `version` once it runs.
async fn apply(
    state: Rc<RefCell<State>>,
    spawner: Spawner,
    idle: Rc<Event>,
    moniker: String,
    version: String,
) {
    let mut wait = FIRST_WAIT_NANOS;
    let index = loop {
        match find(&state, &moniker, &version) {
            Found::Ready(index) => break index,
            Found::Superseded => return,
            Found::Gone => {
                println!(
                    "component_manager: /data/{} pins {} to {}, but the tree has no such component; pin removed",
                    PINS_FILE, moniker, version
                );
                forget(&state, &spawner, &idle, &moniker, &version).await;
                return;
            }
            Found::NotYet => {
                let _ = sleep(zx::deadline_after(wait)).await;
                wait = (wait * 2).min(MAX_WAIT_NANOS);
            }
        }
    };
    let (current, root) = {
        let guard = state.borrow();
        let instance = &guard.instances[index];
        (
            instance.swap.manifest.clone(),
            instance.package.root.clone(),
        )
    };
    // Already that version (the image's own package, say): nothing to do.
    let same_package = pinned_root(&version)
        .zip(root.as_deref())
        .is_some_and(|(pinned, root)| pinned.eq_ignore_ascii_case(root));
    if current == version || same_package {
        if state.borrow().runs_image(index) {
            forget(&state, &spawner, &idle, &moniker, &version).await;
        }
        return;
    }
    println!(
        "component_manager: {} was pinned to {} before the reboot: swapping to it",
        moniker, version
    );
    let report = swap(&state, &spawner, &idle, &moniker, &version).await;
    if report.outcome == Outcome::Swapped {
        let mut guard = state.borrow_mut();
        if let Some(index) = guard.find(&moniker) {
            let record = &mut guard.instances[index].swap;
            record.last = truncated(
                format!("restored from /data/{PINS_FILE} after a reboot (swapped from {current})"),
                MAX_REASON,
            );
        }
        return;
    }
    println!(
        "component_manager: {} stays {}: its pinned version {} was {} ({}); pin removed",
        moniker,
        current,
        version,
        if report.outcome == Outcome::Refused {
            "refused"
        } else {
            "rolled back"
        },
        report.reason
    );
    let found = state.borrow().find(&moniker);
    if let Some(index) = found {
        let mut guard = state.borrow_mut();
        let record = &mut guard.instances[index].swap;
        record.last = truncated(
            format!(
                "its pin in /data/{PINS_FILE} to {version} was not applied and is removed: {}",
                report.reason
            ),
            MAX_REASON,
        );
    }
    forget(&state, &spawner, &idle, &moniker, &version).await;
}
