//! Children created and destroyed at run time in a parent's collections
//! (`Realm.CreateChild`, `Realm.DestroyChild`).

use alloc::vec;
use alloc::vec::Vec;
use zx::Status;
use zx_runtime::println;

use super::decl::zx_component::RealmCreateChildRequest;
use super::decl::zx_component_decl::{ComponentDecl, OnTerminate, StartupMode};
use super::State;

/// Most children alive at once in one collection.
const MAX_COLLECTION_CHILDREN: usize = 32;

impl State {
    /// Adds a child to a collection (see `Realm.CreateChild`).
    pub(super) fn create_child(
        &mut self,
        request: &RealmCreateChildRequest,
    ) -> Result<usize, Status> {
        let parent = self.find(&request.parent).ok_or(Status::NOT_FOUND)?;
        if !valid_name(&request.name) || !valid_name(&request.manifest) {
            return Err(Status::INVALID_ARGS);
        }
        let declared = self.instances[parent]
            .decl
            .collections
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|c| c.name == request.collection);
        if !declared {
            return Err(Status::NOT_FOUND);
        }
        let members: Vec<usize> = self.instances[parent]
            .children
            .iter()
            .copied()
            .filter(|&c| self.instances[c].collection.as_deref() == Some(&request.collection))
            .collect();
        if members
            .iter()
            .any(|&c| self.instances[c].name == request.name)
        {
            return Err(Status::ALREADY_EXISTS);
        }
        if members.len() >= MAX_COLLECTION_CHILDREN {
            return Err(Status::NO_RESOURCES);
        }
        self.instance_fits_or_report(parent)
            .map_err(|refusal| refusal.status())?;
        if self.manifest(&request.manifest).is_err() {
            return Err(Status::NOT_FOUND);
        }
        let depth = self.depth(parent) + 1;
        match self.add(
            &request.manifest,
            &request.name,
            Some(&request.collection),
            Some(parent),
            StartupMode::Lazy,
            OnTerminate::None,
            depth,
        ) {
            Ok(index) => {
                self.instances[parent].children.push(index);
                Ok(index)
            }
            Err(why) => {
                println!(
                    "component_manager: cannot create {}/{}:{}: {}",
                    request.parent, request.collection, request.name, why
                );
                // Its static children did not fit the budget.
                if why.starts_with(super::budget::REFUSED) {
                    return Err(Status::NO_RESOURCES);
                }
                Err(Status::INVALID_ARGS)
            }
        }
    }

    /// Removes `index` and everything under it from the tree, killing
    /// what still runs, and frees their slots.
    pub(super) fn destroy(&mut self, index: usize) {
        if let Some(parent) = self.instances[index].parent {
            self.instances[parent].children.retain(|&c| c != index);
        }
        let mut pending = vec![index];
        while let Some(at) = pending.pop() {
            let instance = &mut self.instances[at];
            if let Some(job) = instance.job.take() {
                let _ = zx::task_kill(&job);
            }
            instance.process = None;
            instance.outgoing = None;
            instance.lifecycle = None;
            // The handles its creator gave it go with it.
            instance.startup_handles.clear();
            instance.destroyed = true;
            instance.generation = instance.generation.wrapping_add(1);
            pending.extend(core::mem::take(&mut instance.children));
            // Its manifest is not needed any more.
            instance.decl = ComponentDecl::default();
            self.uncount(at);
            self.release_instance(at);
            self.free.push(at);
        }
    }
}

/// Whether `name` may name a child or a manifest: 1 to 100 of
/// `[a-z0-9_-]`, starting with a letter or digit (as build-image checks).
fn valid_name(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}
