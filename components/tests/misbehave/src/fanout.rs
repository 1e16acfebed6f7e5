//! `misbehave fanout`: a component that holds as many connections to the
//! component manager as it may (`zx.component.Realm`, 16), then fills its
//! collection with copies of itself (32, each doing the same), so the
//! number of connections the manager serves grows with the tree while
//! each component stays within its caps. Prints what it managed and
//! holds everything until the manager asks it to stop.

use crate::bindings::zx_component::{RealmClient, RealmCreateChildRequest, RealmStartRequest};
use crate::status;
use alloc::vec::Vec;
use zx::Status;
use zx_idl::ChannelTransport;
use zx_runtime::println;

/// Children per component (the manager's cap per collection).
const CHILDREN: usize = 32;

pub fn run(depth: u32) -> i64 {
    let mut held = Vec::new();
    for _ in 0..15 {
        match zx_component::connect("zx.component.Realm") {
            Ok(channel) => held.push(channel),
            Err(_) => break,
        }
    }
    let realm = match zx_component::connect("zx.component.Realm") {
        Ok(channel) => RealmClient::new(ChannelTransport::new(channel)),
        Err(status) => {
            println!("misbehave: fanout: no Realm: {}", status);
            return 1;
        }
    };
    let mut started = 0;
    let mut last = Status::OK;
    if depth > 0 {
        for child in 0..CHILDREN {
            let name = alloc::format!("f{child}");
            let create = realm.create_child(RealmCreateChildRequest {
                parent: "".into(),
                collection: "workers".into(),
                name: name.clone(),
                manifest: alloc::format!("attack_fanout{}", depth - 1),
            });
            last = status(create);
            if last != Status::OK {
                break;
            }
            last = status(realm.start(RealmStartRequest {
                moniker: alloc::format!("workers:{name}"),
            }));
            if last != Status::OK {
                break;
            }
            started += 1;
        }
    }
    println!(
        "misbehave: fanout{depth}: {} connections held, {started} children started, then {last}",
        held.len() + 1
    );
    // Holds everything until the manager asks it to stop (so that a
    // shutdown does not wait out every stop deadline).
    let stopped = zx_component::Lifecycle::take().and_then(|lifecycle| {
        let mut executor = zx_async::Executor::new().ok()?;
        Some(executor.run(async move { lifecycle.stopped().await }))
    });
    if stopped.is_none() {
        let _ = zx::nanosleep(zx::TIME_INFINITE);
    }
    0
}
