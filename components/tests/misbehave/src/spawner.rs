//! `misbehave spawner`: a component that manages children of its own
//! through `zx.component.Realm` used `from: "framework"`, a connection
//! scoped to itself. It creates, starts, lists and destroys a child in its
//! collection, checks that its job's process limit stops a second child,
//! that nothing outside its subtree can be named and that it may not shut
//! the system down. Prints one line per check and
//! returns how many failed.

use crate::bindings::zx_component::{
    RealmClient, RealmCreateChildRequest, RealmDestroyChildRequest, RealmShutdownRequest,
    RealmStartRequest, RealmStopRequest,
};
use crate::status;
use zx::Status;
use zx_idl::ChannelTransport;
use zx_runtime::println;

pub fn run() -> i64 {
    let realm = match zx_component::connect("zx.component.Realm") {
        Ok(channel) => RealmClient::new(ChannelTransport::new(channel)),
        Err(status) => {
            println!("misbehave: spawner: no Realm: {}", status);
            return 1;
        }
    };
    let mut failed = 0;
    let mut check = |what: &str, ok: bool| {
        println!(
            "misbehave: spawner: {} ... {}",
            what,
            if ok { "ok" } else { "FAILED" }
        );
        failed += i64::from(!ok);
    };
    let listed = |realm: &RealmClient<ChannelTransport>| -> alloc::vec::Vec<alloc::string::String> {
        realm
            .list()
            .map(|list| list.components.into_iter().map(|c| c.moniker).collect())
            .unwrap_or_default()
    };

    check(
        "its Realm lists nothing at first",
        listed(&realm).is_empty(),
    );
    let create = realm.create_child(RealmCreateChildRequest {
        parent: "".into(),
        collection: "workers".into(),
        name: "w1".into(),
        manifest: "echo_server".into(),
    });
    check("CreateChild workers:w1", status(create) == Status::OK);
    let start = realm.start(RealmStartRequest {
        moniker: "workers:w1".into(),
    });
    check("Start workers:w1", status(start) == Status::OK);
    let names = listed(&realm);
    check(
        "List shows workers:w1, relative to itself",
        names.iter().any(|m| m == "workers:w1") && names.len() == 1,
    );
    // Its manifest allows two processes in its job's subtree: itself and
    // w1. A second worker is created but cannot start.
    let create = realm.create_child(RealmCreateChildRequest {
        parent: "".into(),
        collection: "workers".into(),
        name: "w2".into(),
        manifest: "echo_server".into(),
    });
    check("CreateChild workers:w2", status(create) == Status::OK);
    let start = realm.start(RealmStartRequest {
        moniker: "workers:w2".into(),
    });
    check(
        "Start workers:w2 is refused: a third process",
        status(start) != Status::OK,
    );
    let destroy = realm.destroy_child(RealmDestroyChildRequest {
        moniker: "workers:w2".into(),
    });
    check("DestroyChild workers:w2", status(destroy) == Status::OK);
    // Nothing outside its own subtree can be named.
    for outside in ["root/echo_server", "../echo_server", "echo_server"] {
        let stop = realm.stop(RealmStopRequest {
            moniker: outside.into(),
        });
        check(
            &alloc::format!("Stop {outside}: NOT_FOUND"),
            status(stop) == Status::NOT_FOUND,
        );
    }
    let stop_self = realm.stop(RealmStopRequest { moniker: "".into() });
    check(
        "Stop of itself: ACCESS_DENIED",
        status(stop_self) == Status::ACCESS_DENIED,
    );
    let destroy = realm.destroy_child(RealmDestroyChildRequest {
        moniker: "workers:w1".into(),
    });
    check("DestroyChild workers:w1", status(destroy) == Status::OK);
    check("List is empty again", listed(&realm).is_empty());
    // Refused (the manager says so on the console); the system runs on.
    let _ = realm.shutdown(RealmShutdownRequest { status: 7 });
    check(
        "the Realm still answers after Shutdown",
        realm.list().is_ok(),
    );
    println!("misbehave: spawner: done, {} failed", failed);
    failed
}
