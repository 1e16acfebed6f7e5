//! `build-image ls`, `log [-f]`, `push <component>`, `swap <moniker>
//! <component>` and `rollback <moniker>`: a running system, reached
//! through its bridge socket.

use super::bindings::zx_blob::{BlobRoot, BlobWriterClient, BlobWriterWriteRequest, MAX_WRITE};
use super::bindings::zx_component::ComponentState;
use super::bindings::zx_component_swap::{
    Outcome, SwapControllerClient, SwapControllerMarker, SwapControllerRollbackRequest,
    SwapControllerSwapRequest, SwapReport, Version,
};
use super::bindings::zx_host::{
    ComponentInfo, RemoteControlReadLogRequest, RemoteControlWriteBlobRequest,
};
use super::{status_name, Session};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::Duration;

/// How often `log -f` asks for new records.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(300);

/// The component tree, as `RemoteControl.ListComponents` gives it.
pub fn list(session: &Session) -> Result<Vec<ComponentInfo>> {
    Ok(session
        .control()
        .list_components()
        .map_err(|e| anyhow::anyhow!("ListComponents: {e:?}"))?
        .components)
}

/// `ls`'s table: one line per component.
pub fn render_list(components: &[ComponentInfo]) -> String {
    let width = components
        .iter()
        .map(|c| c.moniker.len())
        .max()
        .unwrap_or(0)
        .max("MONIKER".len());
    let mut out = format!(
        "{:<width$}  {:<8}  {:<24}  {:<8}  RESTARTS\n",
        "MONIKER", "STATE", "BINARY", "VERSION"
    );
    for c in components {
        let state = match c.state {
            ComponentState::Running => "running",
            ComponentState::Stopping => "stopping",
            ComponentState::Stopped => "stopped",
        };
        let binary = if c.binary.is_empty() { "-" } else { &c.binary };
        let version = if c.version.is_empty() {
            "-"
        } else {
            &c.version
        };
        out.push_str(&format!(
            "{:<width$}  {state:<8}  {binary:<24}  {version:<8}  {}\n",
            c.moniker, c.restarts
        ));
    }
    out
}

/// Prints the log from the start; with `follow`, keeps printing new
/// records until the system goes away.
pub fn log(session: &Session, follow: bool, out: &mut dyn std::io::Write) -> Result<()> {
    let control = session.control();
    let mut after = 0;
    loop {
        let read = control
            .read_log(RemoteControlReadLogRequest { after })
            .map_err(|e| anyhow::anyhow!("ReadLog: {e:?}"))?;
        for record in &read.records {
            writeln!(
                out,
                "[{:>6}.{:03}] {}: {}",
                record.time / 1_000_000_000,
                record.time / 1_000_000 % 1000,
                record.component,
                record.message
            )?;
        }
        out.flush()?;
        let caught_up = read.records.is_empty() || read.next == after;
        after = read.next;
        if caught_up {
            if !follow {
                return Ok(());
            }
            std::thread::sleep(FOLLOW_INTERVAL);
        }
    }
}

/// What `push` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// The guest had the blob already: nothing was sent.
    AlreadyThere,
    /// The blob was written (this many bytes).
    Written(u64),
}

/// Writes `data` into the guest's blobfs as a blob, unless it is there.
pub fn push_blob(session: &Session, data: &[u8]) -> Result<(merkle::MerkleRoot, Pushed)> {
    let root = merkle::root_of(data);
    let id = session.new_channel_id();
    let created = session
        .control()
        .write_blob(RemoteControlWriteBlobRequest {
            root: BlobRoot { bytes: root.0 },
            size: data.len() as u64,
            channel: id,
        })
        .map_err(|e| anyhow::anyhow!("WriteBlob: {e:?}"))?;
    match created {
        Ok(_) => {}
        Err(status) if status == zx_abi::Status::ALREADY_EXISTS.0 => {
            return Ok((root, Pushed::AlreadyThere))
        }
        Err(status) => bail!("blobfs refused the blob {root}: {}", status_name(status)),
    }
    let writer = BlobWriterClient::new(session.channel(id));
    for chunk in data.chunks(MAX_WRITE as usize) {
        let written = writer
            .write(BlobWriterWriteRequest {
                data: chunk.to_vec(),
            })
            .map_err(|e| anyhow::anyhow!("BlobWriter.Write: {e:?}"))?;
        if let Err(status) = written {
            bail!("blobfs refused a write of {root}: {}", status_name(status));
        }
    }
    let committed = writer
        .commit()
        .map_err(|e| anyhow::anyhow!("BlobWriter.Commit: {e:?}"))?;
    if let Err(status) = committed {
        bail!("blobfs refused {root}: {}", status_name(status));
    }
    let _ = session.channel(id).close();
    Ok((root, Pushed::Written(data.len() as u64)))
}

/// `push <component>`: builds the program `component` (a workspace binary,
/// as a manifest's `bin/<name>` names it) and writes it into the guest's
/// blobfs if the guest does not have it.
pub fn push(
    root: &Path,
    session: &Session,
    component: &str,
) -> Result<(merkle::MerkleRoot, Pushed)> {
    let name = component.strip_prefix("bin/").unwrap_or(component);
    let built = crate::cargo::build(root, crate::cargo::Group::User(&[name.to_string()]))?;
    let path = &built[0];
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    push_blob(session, &data)
}

/// A component's package as `build-image swap` pushes it: the meta blob
/// and the program's blob.
pub struct Built {
    /// The manifest's name (the package's name).
    pub name: String,
    /// The meta blob's Merkle root: the package's name in blobfs.
    pub root: merkle::MerkleRoot,
    pub meta: Vec<u8>,
    /// `(path, bytes)` of each content blob (`bin/<binary>`).
    pub files: Vec<(String, Vec<u8>)>,
}

/// Builds the package of manifest `component`
/// (`manifests/components/<component>.json5`): compiles the manifest
/// (with the ABIs of `idl/`, as the image build does), builds its program
/// and makes the meta blob (`docs/packages.md`).
pub fn build_package(root: &Path, component: &str) -> Result<Built> {
    let context = crate::manifest::Context::from_workspace(root)?;
    let dir = Path::new(crate::manifest::COMPONENTS_DIR);
    if !root.join(dir).join(format!("{component}.json5")).is_file() {
        bail!(
            "no component {component:?}: {} has no {component}.json5",
            dir.display()
        );
    }
    // Checked as a child of a collection: what it uses is the running
    // instance's to route, and the swap checks it against that one.
    let compiled = crate::manifest::check_tree_at(
        root,
        dir,
        component,
        crate::manifest::RootPlace::Collection,
        None,
        &context,
    )
    .map_err(|diagnostics| anyhow::anyhow!("{component}: {diagnostics}"))?;
    let manifest = compiled
        .manifests
        .iter()
        .find(|m| m.name == component)
        .context("the compiled tree lacks its root")?
        .clone();
    let binary = manifest
        .binary
        .clone()
        .with_context(|| format!("{component} has no program to swap in"))?;
    let name = binary.strip_prefix("bin/").unwrap_or(&binary).to_string();
    let built = crate::cargo::build(root, crate::cargo::Group::User(std::slice::from_ref(&name)))?;
    let data =
        std::fs::read(&built[0]).with_context(|| format!("cannot read {}", built[0].display()))?;
    let only = crate::manifest::Compiled {
        manifests: vec![manifest],
        programs: vec![binary.clone()],
    };
    let programs = vec![(binary.clone(), data.clone())];
    let (package, meta) = crate::packages::build(&only, &programs)?
        .into_iter()
        .next()
        .context("no package was built")?;
    let files = package
        .files
        .iter()
        .map(|f| (f.path.clone(), data.clone()))
        .collect();
    Ok(Built {
        name: component.into(),
        root: merkle::root_of(&meta),
        meta,
        files,
    })
}

/// Pushes a package: its content blobs first, its meta blob last (so the
/// resolver never finds a package whose files are missing). Returns the
/// bytes written (0: the guest had every blob).
pub fn push_package(session: &Session, built: &Built) -> Result<u64> {
    let mut written = 0;
    for (_, data) in &built.files {
        if let (_, Pushed::Written(bytes)) = push_blob(session, data)? {
            written += bytes;
        }
    }
    if let (_, Pushed::Written(bytes)) = push_blob(session, &built.meta)? {
        written += bytes;
    }
    Ok(written)
}

/// Calls `zx.component.swap.SwapController` of the running system's
/// component manager through the bridge (`Connect("", ...)`), then closes
/// the channel.
fn with_swap_controller<T>(
    session: &Session,
    call: impl FnOnce(&SwapControllerClient<super::BridgeChannel>) -> Result<T>,
) -> Result<T> {
    let name =
        SwapControllerMarker::DISCOVERABLE_NAME.unwrap_or("zx.component.swap.SwapController");
    let channel = session.connect_to("", name)?;
    let result = call(&SwapControllerClient::new(channel.clone()));
    let _ = channel.close();
    result
}

/// `swap <moniker> <component>`: builds and pushes `component`'s package,
/// then swaps `moniker` to it (`pkg://<name>?hash=<meta root>`).
pub fn swap(root: &Path, session: &Session, moniker: &str, component: &str) -> Result<SwapReport> {
    let built = build_package(root, component)?;
    let written = push_package(session, &built)?;
    if written == 0 {
        println!(
            "pushed {} {} (the system has it: nothing sent)",
            built.name, built.root
        );
    } else {
        println!(
            "pushed {} {} ({written} bytes written to blobfs)",
            built.name, built.root
        );
    }
    let source = format!("pkg://{}?hash={}", built.name, built.root);
    with_swap_controller(session, |controller| {
        Ok(controller
            .swap(SwapControllerSwapRequest {
                moniker: moniker.into(),
                source,
            })
            .map_err(|e| anyhow::anyhow!("SwapController.Swap: {e:?}"))?
            .report)
    })
}

/// Every component's version (the manifest or package it runs) and last
/// swap, as the component manager's `SwapController.Versions` gives them.
pub fn versions(session: &Session) -> Result<Vec<Version>> {
    with_swap_controller(session, |controller| {
        Ok(controller
            .versions()
            .map_err(|e| anyhow::anyhow!("SwapController.Versions: {e:?}"))?
            .versions)
    })
}

/// `ls`'s second table: the components that were swapped (this boot, or
/// before a reboot and restored from `/data/swap-pins`), the version each
/// runs and what became of its last swap.
pub fn render_versions(versions: &[Version]) -> String {
    let swapped: Vec<&Version> = versions
        .iter()
        .filter(|v| !v.last_swap.is_empty())
        .collect();
    if swapped.is_empty() {
        return String::new();
    }
    let width = swapped
        .iter()
        .map(|v| v.moniker.len())
        .max()
        .unwrap_or(0)
        .max("SWAPPED".len());
    let mut out = format!("\n{:<width$}  VERSION / LAST SWAP\n", "SWAPPED");
    for v in swapped {
        out.push_str(&format!(
            "{:<width$}  {}\n{:<width$}    {}\n",
            v.moniker, v.manifest, "", v.last_swap
        ));
    }
    out
}

/// `rollback <moniker>`: back to the version `moniker` ran before its last
/// swap.
pub fn rollback(session: &Session, moniker: &str) -> Result<SwapReport> {
    with_swap_controller(session, |controller| {
        Ok(controller
            .rollback(SwapControllerRollbackRequest {
                moniker: moniker.into(),
            })
            .map_err(|e| anyhow::anyhow!("SwapController.Rollback: {e:?}"))?
            .report)
    })
}

/// A swap's outcome as `build-image swap` prints it: `swapped`, `refused:
/// <reason>` or `rolled back: <reason>`, and the gap.
pub fn render_report(report: &SwapReport) -> String {
    let gap = format!(
        "gap {}.{:03} ms",
        report.gap_nanos / 1_000_000,
        report.gap_nanos / 1000 % 1000
    );
    match report.outcome {
        Outcome::Swapped => format!("swapped ({gap})"),
        Outcome::Refused => format!("refused: {}", report.reason),
        Outcome::RolledBack => format!("rolled back: {} ({gap})", report.reason),
    }
}
