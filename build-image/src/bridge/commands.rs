//! `build-image ls`, `log [-f]` and `push <component>`: a running system,
//! reached through its bridge socket.

use super::bindings::zx_blob::{BlobRoot, BlobWriterClient, BlobWriterWriteRequest, MAX_WRITE};
use super::bindings::zx_component::ComponentState;
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
