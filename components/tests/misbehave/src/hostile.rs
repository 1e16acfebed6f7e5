//! `misbehave hostile`: sends the component manager malformed and
//! out-of-bounds requests on every channel it has, and checks that each
//! is refused with a typed error (or a closed channel) while the manager
//! keeps serving. Prints one line per check and returns how many failed.

use crate::status;
use alloc::string::String;
use alloc::vec;
use zx::{processargs, AsHandleRef, Channel, Signals, Status};
use zx_idl::ChannelTransport;
use zx_runtime::println;

use crate::bindings::zx_component::{
    RealmClient, RealmCreateChildRequest, RealmDestroyChildRequest, RealmStartRequest,
    RealmStopRequest,
};
use zx_component::bindings::zx_io::{FileClient, FileReadRequest};

/// How long the manager may take to hang up on a bad request.
const HANG_UP_NANOS: i64 = 2_000_000_000;

struct Checks {
    failed: i64,
    total: i64,
}

impl Checks {
    /// Records whether the manager answered `what` as it should.
    fn check(&mut self, what: &str, as_expected: bool) {
        self.total += 1;
        if !as_expected {
            self.failed += 1;
        }
        let verdict = if as_expected { "ok" } else { "FAILED" };
        println!("misbehave: hostile: {} ... {}", what, verdict);
    }
}

/// Whether the peer of `channel` closes within the deadline.
fn hung_up(channel: &Channel) -> bool {
    channel
        .as_handle_ref()
        .wait_one(Signals::PEER_CLOSED, zx::deadline_after(HANG_UP_NANOS))
        .is_ok()
}

/// Opens `name` in the `/svc` directory `svc`.
fn connect(svc: &Channel, name: &str) -> Channel {
    let (client, server) = Channel::create().expect("channel");
    let _ = zx_component::open(svc.raw_handle(), name, server);
    client
}

pub fn run() -> i64 {
    let Some(svc) = zx_runtime::take_startup_handle(processargs::SVC_DIRECTORY) else {
        println!("misbehave: hostile: no /svc");
        return 1;
    };
    let svc = Channel::from_handle(svc);
    let mut checks = Checks {
        failed: 0,
        total: 0,
    };

    // Bytes that are no message: the manager hangs up on that connection.
    let realm = connect(&svc, "zx.component.Realm");
    let _ = realm.write(&[1, 2, 3], vec![]);
    checks.check(
        "three bytes on Realm: the connection closes",
        hung_up(&realm),
    );
    // A well-formed header with an ordinal Realm does not have.
    let realm = connect(&svc, "zx.component.Realm");
    let header = idlc_runtime::TransactionHeader::new(1, 0x0bad_0bad_0bad_0bad, false);
    let _ = realm.write(&header.to_bytes(), vec![]);
    checks.check(
        "an unknown Realm ordinal: the connection closes",
        hung_up(&realm),
    );

    // Requests that decode but make no sense get typed errors.
    let realm = RealmClient::new(ChannelTransport::new(connect(&svc, "zx.component.Realm")));
    let stop = realm.stop(RealmStopRequest {
        moniker: "root/nobody".into(),
    });
    checks.check(
        "Stop of no component: NOT_FOUND",
        status(stop) == Status::NOT_FOUND,
    );
    let start = realm.start(RealmStartRequest {
        moniker: String::new(),
    });
    checks.check(
        "Start of an empty moniker: NOT_FOUND",
        status(start) == Status::NOT_FOUND,
    );
    let create = |parent: &str, collection: &str, name: &str, manifest: &str| {
        status(realm.create_child(RealmCreateChildRequest {
            parent: parent.into(),
            collection: collection.into(),
            name: name.into(),
            manifest: manifest.into(),
        }))
    };
    checks.check(
        "CreateChild named ../x: INVALID_ARGS",
        create("root", "dynamic", "../x", "echo_client") == Status::INVALID_ARGS,
    );
    checks.check(
        "CreateChild of manifest ../../bin/x: INVALID_ARGS",
        create("root", "dynamic", "x", "../../bin/x") == Status::INVALID_ARGS,
    );
    checks.check(
        "CreateChild in an undeclared collection: NOT_FOUND",
        create("root", "nowhere", "x", "echo_client") == Status::NOT_FOUND,
    );
    let destroy = realm.destroy_child(RealmDestroyChildRequest {
        moniker: "root/echo_server".into(),
    });
    checks.check(
        "DestroyChild of a static child: ACCESS_DENIED",
        status(destroy) == Status::ACCESS_DENIED,
    );
    let listed = realm.list().map(|list| list.components.len()).unwrap_or(0);
    checks.check("the manager still lists the tree", listed > 0);

    // The boot directory: paths that climb out, or are empty, are refused;
    // a read far past the end returns nothing.
    let escape = zx_component::namespace::open("/boot/../etc").and_then(zx_component::fs::read_dir);
    checks.check(
        "/boot/../etc: NOT_FOUND",
        escape.err() == Some(Status::NOT_FOUND),
    );
    let doubled = zx_component::namespace::open("/boot//etc").and_then(zx_component::fs::read_dir);
    checks.check(
        "/boot//etc: NOT_FOUND",
        doubled.err() == Some(Status::NOT_FOUND),
    );
    match zx_component::namespace::open("/boot/etc/product") {
        Ok(file) => {
            let file = FileClient::new(ChannelTransport::new(file));
            let read = file.read(FileReadRequest {
                offset: u64::MAX,
                count: u32::MAX,
            });
            let empty = matches!(read, Ok(Ok(ref response)) if response.data.is_empty());
            checks.check("File.Read at offset 2^64-1: no bytes", empty);
        }
        Err(status) => {
            println!(
                "misbehave: hostile: cannot open /boot/etc/product: {}",
                status
            );
            checks.check("File.Read at offset 2^64-1: no bytes", false);
        }
    }

    // /svc: names the manifest does not use are closed.
    let odd = connect(&svc, "zx.component.Realm\0x");
    checks.check("a name with a NUL in /svc: closed", hung_up(&odd));
    let long: String = core::iter::repeat_n('a', 256).collect();
    let long = connect(&svc, &long);
    checks.check("a 256-byte name in /svc: closed", hung_up(&long));
    // Garbage on /svc itself: the manager hangs up on this component's
    // /svc (it can open nothing more) and keeps serving the others.
    let _ = svc.write(&[0xff; 7], vec![]);
    checks.check("seven bytes on /svc: /svc closes", hung_up(&svc));

    println!(
        "misbehave: hostile: {} of {} checks passed",
        checks.total - checks.failed,
        checks.total
    );
    checks.failed
}
