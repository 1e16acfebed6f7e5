//! The component manager: the process that turns compiled manifests into
//! running components.
//!
//! userboot starts it with the root job and the bootfs. It reads the root
//! manifest (`meta/<root>.cm`; `component_manager.root=<name>` on the
//! kernel command line, default `root`), builds the component tree, and:
//!
//! - starts each component in its own job (a child of its parent's job,
//!   with the manifest's limits), from the ELF its manifest names, with its
//!   start-up handles: its `/svc` directory (served here), the server end of
//!   its outgoing directory (the client end is kept here, to open what it
//!   exposes), its lifecycle channel, a log sink, and a namespace directory
//!   per directory it uses;
//! - starts eager children with their parent, lazy ones on the first
//!   connection to something they expose;
//! - routes: a `Directory.Open(name)` on a component's `/svc` is allowed
//!   only if its manifest `use`s `name`; the parent's `offer` for it says
//!   where it comes from (the parent itself, a sibling's `expose`, or the
//!   parent's own parent); the request is forwarded to the providing
//!   component's outgoing directory. Anything unrouted is closed;
//! - watches components: when one ends it is reported, and restarted (with
//!   back-off) if its manifest says `on_terminate: restart`;
//! - serves `zx.component.Realm` to the root (list, start, stop through
//!   the lifecycle protocol, create and destroy children in collections)
//!   and the bootfs as the directory `boot`.
//!
//! It exits once every eager component has ended and none is due to be
//! restarted, which ends userboot's step and lets the machine power off.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod realm;

use zx_runtime::println;

zx_runtime::entry!(main);

fn main() -> i64 {
    let root_name = zx_runtime::args()
        .iter()
        .find_map(|arg| arg.strip_prefix("component_manager.root="))
        .unwrap_or("root");
    let mut realm = match realm::Realm::new() {
        Ok(realm) => realm,
        Err(why) => {
            println!("component_manager: {}", why);
            return 1;
        }
    };
    match realm.run(root_name) {
        Ok(()) => 0,
        Err(why) => {
            println!("component_manager: {}", why);
            1
        }
    }
}
