//! Where an instance's manifest comes from (`docs/packages.md`).
//!
//! The bootfs of a product that loads its components from packages holds
//! only the bootstrap set's compiled manifests (and the root's), plus
//! `meta/packages`, the names of the product's other components, one a
//! line. An instance of one of those is added with an empty declaration,
//! *pending*: its manifest is the compiled one in its package's meta
//! blob, installed (with the children it declares) once the package
//! resolver has read the package, verified, from `/blob`.
//!
//! At boot, [`resolve_static`] resolves every pending instance of the
//! static tree in turn while the bootstrap set runs; the eager ones are
//! started only once every static manifest is known, so that a route
//! through any of them finds its `offer`s and `expose`s. The programs read
//! in that pass are kept for each instance's first launch. A pending
//! instance asked to start later (a child created in a collection, or
//! one whose package failed at boot) is resolved then (`resolve`).

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use zx::Event;
use zx_async::Spawner;
use zx_runtime::println;

use super::decl::zx_component_decl::ComponentDecl;
use super::resolve::resolve;
use super::start::start;
use super::State;

/// The bootfs file naming the product's packages.
const PACKAGES: &str = "meta/packages";

impl State {
    /// Manifest `name`'s declaration from the bootfs, or `None` if it is
    /// one of the product's packages (its manifest comes with it).
    pub(super) fn manifest(&self, name: &str) -> Result<Option<ComponentDecl>, String> {
        let path = format!("meta/{name}.cm");
        match self.bootfs_file(&path) {
            Ok(bytes) => idlc_runtime::decode(&bytes, &mut [])
                .map(Some)
                .map_err(|e| format!("{path}: {e:?}")),
            Err(_) if self.is_package(name) => Ok(None),
            Err(why) => Err(why),
        }
    }

    /// Whether `name` is one of the product's packages.
    pub(super) fn is_package(&self, name: &str) -> bool {
        self.image_package(name).is_some()
    }

    /// The meta root (hex) of the image's own package `name`, if it is one
    /// of the product's packages: `meta/packages` lists each as
    /// `<name> <meta root>`. `Some("")` for a line without a root.
    pub(super) fn image_package(&self, name: &str) -> Option<String> {
        let list = self.bootfs_bytes(PACKAGES).ok()?;
        list.split(|&b| b == b'\n').find_map(|line| {
            let line = core::str::from_utf8(line).ok()?;
            let mut words = line.split_whitespace();
            (words.next()? == name).then(|| words.next().unwrap_or_default().into())
        })
    }

    /// `url` (`pkg://<name>`, or with `?hash=<root>`) as the resolver is
    /// asked for it: a bare name of one of the product's packages names
    /// the image's own (`pkg://<name>?hash=<its root>`), so that a version
    /// of the same name pushed beside it (`build-image swap`) is run only
    /// where it is named by its root (a swap, a pin).
    pub(super) fn image_url(&self, url: &str) -> String {
        let root = url
            .strip_prefix("pkg://")
            .filter(|name| !name.contains('?'))
            .and_then(|name| self.image_package(name))
            .filter(|root| !root.is_empty());
        match root {
            Some(root) => format!("{url}?hash={root}"),
            None => url.into(),
        }
    }

    /// Installs `bytes`, the compiled manifest of pending instance
    /// `index`'s package, and adds the children it declares. On failure
    /// the instance stays pending and nothing is added.
    pub(super) fn install(&mut self, index: usize, bytes: &[u8]) -> Result<(), String> {
        let decl: ComponentDecl = idlc_runtime::decode(bytes, &mut [])
            .map_err(|e| format!("its manifest does not decode: {e:?}"))?;
        let depth = self.depth(index);
        let children = decl.children.clone().unwrap_or_default();
        self.instances[index].decl = decl;
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
                    for child in core::mem::take(&mut self.instances[index].children) {
                        self.destroy(child);
                    }
                    self.instances[index].decl = ComponentDecl::default();
                    return Err(why);
                }
            }
        }
        let package = &mut self.instances[index].package;
        package.pending = false;
        package.manifest = Some(bytes.to_vec());
        Ok(())
    }
}

/// Resolves the manifest of every pending instance of the static tree,
/// then starts the instances whose start waited for it.
pub(super) async fn resolve_static(state: Rc<RefCell<State>>, spawner: Spawner, idle: Rc<Event>) {
    loop {
        let next = {
            let s = state.borrow();
            s.instances
                .iter()
                .enumerate()
                .find(|(_, i)| {
                    !i.destroyed && i.collection.is_none() && i.package.pending && !i.package.swept
                })
                .map(|(index, i)| {
                    (
                        index,
                        i.generation,
                        i.swap.manifest.clone(),
                        i.moniker.clone(),
                    )
                })
        };
        let Some((index, generation, name, moniker)) = next else {
            break;
        };
        state.borrow_mut().instances[index].package.swept = true;
        let resolved = resolve(&state, &spawner, &idle, &name).await;
        let s = &mut *state.borrow_mut();
        if !s.live(index, generation) {
            continue;
        }
        match resolved.and_then(|r| s.install(index, &r.manifest).map(|()| r)) {
            Ok(resolved) => {
                println!(
                    "component_manager: {} from pkg://{} ({})",
                    moniker, name, resolved.root
                );
                // Kept for its first launch, which then needs no second
                // resolution (a lazy one's first client does not wait).
                let instance = &mut s.instances[index];
                instance.package.program = Some(resolved.program);
                instance.package.root = Some(resolved.root);
            }
            Err(why) => println!(
                "component_manager: cannot start {}: pkg://{}: {}",
                moniker, name, why
            ),
        }
    }
    let wanted: Vec<usize> = {
        let s = &mut *state.borrow_mut();
        s.static_resolved = true;
        s.instances
            .iter_mut()
            .enumerate()
            .filter_map(|(index, i)| {
                let wanted = core::mem::take(&mut i.package.start_wanted);
                (wanted && !i.destroyed).then_some(index)
            })
            .collect()
    };
    for index in wanted {
        if let Err(why) = start(&state, &spawner, &idle, index) {
            let moniker = state.borrow().instances[index].moniker.clone();
            println!("component_manager: cannot start {}: {}", moniker, why);
        }
    }
    // The versions swapped in before a reboot, in the background.
    spawner.spawn(super::swap::pins::restore(state, spawner.clone(), idle));
}
