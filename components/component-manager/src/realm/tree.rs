//! The component tree: adding instances from their manifests, finding
//! them, and the bookkeeping of which eager ones are still active.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use zx::{AsHandleRef, Signals};

use super::decl::zx_component_decl::{ComponentDecl, OnTerminate, StartupMode};
use super::routing::LOG_SINK;
use super::{Instance, State};

/// Deepest component tree accepted (guards against manifests that name
/// each other in a loop; build-image rejects those too).
const MAX_DEPTH: usize = 16;
/// Longest moniker: `Realm` carries `string:256`, and the logger is opened
/// as `zx.logger.LogSink/<moniker>` within a `string:256` path.
const MAX_MONIKER: usize = 256 - LOG_SINK.len() - 1;

impl State {
    pub(super) fn bootfs_file(&self, path: &str) -> Result<Vec<u8>, String> {
        self.bootfs_bytes(path).map(<[u8]>::to_vec)
    }

    /// File `path` of the bootfs, in place (the bootfs is mapped).
    pub(super) fn bootfs_bytes(&self, path: &str) -> Result<&[u8], String> {
        let fs = bootfs::Bootfs::parse(&self.bootfs).map_err(|e| format!("bootfs: {e}"))?;
        let file = fs
            .find(path)
            .ok_or_else(|| format!("{path} is not in the bootfs"))?;
        Ok(file.data)
    }

    /// Loads manifest `manifest` and adds an instance for it and, below it,
    /// for all its children.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add(
        &mut self,
        manifest: &str,
        name: &str,
        collection: Option<&str>,
        parent: Option<usize>,
        startup: StartupMode,
        on_terminate: OnTerminate,
        depth: usize,
    ) -> Result<usize, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "component tree deeper than {MAX_DEPTH} at {manifest}"
            ));
        }
        // A package's manifest comes with it (`manifests`): pending.
        let decl = self.manifest(manifest)?;
        let pending = decl.is_none();
        let decl: ComponentDecl = decl.unwrap_or_default();
        let moniker = match (parent, collection) {
            (Some(p), Some(c)) => format!("{}/{}:{}", self.instances[p].moniker, c, name),
            (Some(p), None) => format!("{}/{}", self.instances[p].moniker, name),
            (None, _) => name.to_string(),
        };
        if moniker.len() > MAX_MONIKER {
            return Err(format!(
                "moniker {moniker} is longer than {MAX_MONIKER} bytes"
            ));
        }
        let children: Vec<_> = decl.children.clone().unwrap_or_default();
        self.charge_instance(parent)
            .map_err(|_| format!("{}: {moniker}", super::budget::REFUSED))?;
        let index = self.alloc(Instance {
            moniker,
            name: name.to_string(),
            collection: collection.map(str::to_string),
            destroyed: false,
            generation: 0,
            decl,
            parent,
            children: Vec::new(),
            startup,
            on_terminate,
            job: None,
            process: None,
            outgoing: None,
            lifecycle: None,
            restarts: 0,
            stopping: false,
            restart_pending: false,
            counted: false,
            served: 0,
            refusal_reported: false,
            startup_handles: Vec::new(),
            swap: super::swap::Record::new(manifest),
            package: super::resolve::Package::pending(pending),
        });
        for child in children {
            let added = self.add(
                &child.manifest,
                &child.name,
                None,
                Some(index),
                child.startup,
                child.on_terminate,
                depth + 1,
            );
            match added {
                Ok(id) => self.instances[index].children.push(id),
                Err(why) => {
                    // Leave nothing half-built behind.
                    self.destroy(index);
                    return Err(why);
                }
            }
        }
        Ok(index)
    }

    /// Puts `instance` in a free slot (keeping that slot's generation) or
    /// a new one.
    pub(super) fn alloc(&mut self, mut instance: Instance) -> usize {
        match self.free.pop() {
            Some(index) => {
                instance.generation = self.instances[index].generation;
                self.instances[index] = instance;
                index
            }
            None => {
                self.instances.push(instance);
                self.instances.len() - 1
            }
        }
    }

    /// Counts eager instance `index` as active (once).
    pub(super) fn count(&mut self, index: usize) {
        let instance = &mut self.instances[index];
        if instance.startup == StartupMode::Eager
            && instance.collection.is_none()
            && !instance.counted
        {
            instance.counted = true;
            self.active_eager += 1;
        }
    }

    /// Stops counting instance `index`; once no eager instance is active,
    /// the manager's work is done.
    pub(super) fn uncount(&mut self, index: usize) {
        if core::mem::take(&mut self.instances[index].counted) {
            self.active_eager -= 1;
            if self.active_eager == 0 {
                let _ = self.idle.signal(Signals::empty(), Signals::USER_0);
            }
        }
    }

    /// Whether slot `index` still holds the instance of `generation`.
    pub(super) fn live(&self, index: usize, generation: u32) -> bool {
        let instance = &self.instances[index];
        !instance.destroyed && instance.generation == generation
    }

    /// The static child `name` of `parent` (children in collections are
    /// never the source of a route).
    pub(super) fn child(&self, parent: usize, name: &str) -> Option<usize> {
        self.instances[parent]
            .children
            .iter()
            .copied()
            .find(|&c| self.instances[c].name == name && self.instances[c].collection.is_none())
    }

    /// The live instance at `moniker`.
    pub(super) fn find(&self, moniker: &str) -> Option<usize> {
        self.instances
            .iter()
            .position(|i| !i.destroyed && i.moniker == moniker)
    }

    /// Whether `index` or anything under it runs (or is about to be
    /// restarted).
    pub(super) fn subtree_runs(&self, index: usize) -> bool {
        self.instances[index].process.is_some()
            || self.instances[index].restart_pending
            || self.instances[index]
                .children
                .iter()
                .any(|&c| self.subtree_runs(c))
    }

    /// Whether a strict ancestor of `index` was stopped through `Realm`
    /// (and not started since).
    pub(super) fn ancestor_stopping(&self, index: usize) -> bool {
        let mut at = self.instances[index].parent;
        while let Some(parent) = at {
            if self.instances[parent].stopping {
                return true;
            }
            at = self.instances[parent].parent;
        }
        false
    }

    /// How deep `index` is in the tree (the root is 0).
    pub(super) fn depth(&self, index: usize) -> usize {
        let mut depth = 0;
        let mut at = index;
        while let Some(parent) = self.instances[at].parent {
            depth += 1;
            at = parent;
        }
        depth
    }
}
