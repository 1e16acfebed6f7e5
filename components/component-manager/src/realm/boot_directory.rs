//! The builtin `boot` directory: the bootfs, read-only.

use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;
use zx_component::bindings::zx_io::{DirEntry, EntryKind};

use super::served::Served;
use super::State;

/// The bootfs as a read-only directory tree (the builtin `boot`
/// directory): its file names are paths such as `bin/console`.
pub(super) struct BootTree {
    pub(super) state: Rc<RefCell<State>>,
    /// Counts this connection against its component's limit.
    pub(super) _served: Served,
}

impl BootTree {
    /// Calls `each` with every file's name and data.
    fn files(&self, mut each: impl FnMut(&str, &[u8])) {
        let state = self.state.borrow();
        if let Ok(fs) = bootfs::Bootfs::parse(&state.bootfs) {
            for file in fs.files() {
                each(file.name, file.data);
            }
        }
    }
}

impl zx_component::fs::Tree for BootTree {
    fn lookup(&self, path: &str) -> Option<zx_component::fs::Node> {
        use zx_component::fs::Node;
        if path.is_empty() {
            return Some(Node::Directory);
        }
        let mut found = None;
        self.files(|name, data| {
            if name == path {
                found = Some(Node::File(data.len() as u64));
            } else if found.is_none()
                && name
                    .strip_prefix(path)
                    .is_some_and(|rest| rest.starts_with('/'))
            {
                found = Some(Node::Directory);
            }
        });
        found
    }

    fn list(&self, path: &str) -> Vec<DirEntry> {
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let mut entries: Vec<DirEntry> = Vec::new();
        self.files(|name, data| {
            let Some(rest) = name.strip_prefix(prefix.as_str()) else {
                return;
            };
            let (entry, kind, size) = match rest.split_once('/') {
                Some((directory, _)) => (directory, EntryKind::Directory, 0),
                None => (rest, EntryKind::File, data.len() as u64),
            };
            if !entries.iter().any(|e| e.name == entry) {
                entries.push(DirEntry {
                    name: entry.to_string(),
                    kind,
                    size,
                });
            }
        });
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries
    }

    fn read(&self, path: &str, offset: u64, count: usize) -> Option<Vec<u8>> {
        let mut out = None;
        self.files(|name, data| {
            if name == path {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let end = start.saturating_add(count).min(data.len());
                out = Some(data[start..end].to_vec());
            }
        });
        out
    }
}
