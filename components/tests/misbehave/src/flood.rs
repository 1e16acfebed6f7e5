//! `misbehave flood`: floods the component manager the way a hostile
//! component with a small handle limit can. It opens `Realm` connections
//! without end, parking the client ends in a channel of its own (handles
//! in a queue have left its table); sends requests carrying handles,
//! 64 KiB of garbage, and a thousand requests without reading a reply.
//! The manager must keep at most its per-component number of connections,
//! hang up on what is malformed, answer what is not, and serve everyone
//! else all along; once the flood is over, this component gets a `Realm`
//! again. Prints one line per check and returns how many failed.

use crate::bindings::zx_component::RealmClient;
use alloc::vec;
use alloc::vec::Vec;
use zx::{processargs, AsHandleRef, Channel, MessageBuf, Signals, Status};
use zx_idl::ChannelTransport;
use zx_runtime::println;

const MS: i64 = 1_000_000;

struct Checks {
    failed: i64,
}

impl Checks {
    fn check(&mut self, what: &str, ok: bool) {
        self.failed += i64::from(!ok);
        let verdict = if ok { "ok" } else { "FAILED" };
        println!("misbehave: flood: {} ... {}", what, verdict);
    }
}

/// Opens the component's `Realm`; the client end, or why not.
fn connect(svc: &Channel) -> Result<Channel, Status> {
    let (client, server) = Channel::create()?;
    zx_component::open(svc.raw_handle(), "zx.component.Realm", server)?;
    Ok(client)
}

fn closed_within(channel: &Channel, nanos: i64) -> bool {
    channel
        .as_handle_ref()
        .wait_one(Signals::PEER_CLOSED, zx::deadline_after(nanos))
        .is_ok()
}

pub fn run() -> i64 {
    let Some(svc) = zx_runtime::take_startup_handle(processargs::SVC_DIRECTORY) else {
        println!("misbehave: flood: no /svc");
        return 1;
    };
    let svc = Channel::from_handle(svc);
    let mut checks = Checks { failed: 0 };

    // 1. Connections, parked where the handle table does not see them.
    let Ok((park, parked_end)) = Channel::create() else {
        return 1;
    };
    let mut opened = 0;
    let refused = loop {
        let client = match connect(&svc) {
            Ok(client) => client,
            Err(status) => break status,
        };
        if let Err(status) = park.write(b"parked", vec![client.into_handle()]) {
            break status;
        }
        opened += 1;
        if opened == 10_000 {
            break Status::OK;
        }
    };
    println!(
        "misbehave: flood: opened {} Realm connections, then {}",
        opened, refused
    );
    checks.check(
        "parking handles stops at the job's handle limit",
        refused == Status::NO_RESOURCES && opened < 200,
    );
    // Which of them does the manager keep? Each refused one is closed.
    let mut kept = Vec::new();
    let mut buffer = MessageBuf::default();
    while parked_end.read(&mut buffer).is_ok() {
        for handle in buffer.handles.drain(..) {
            let client = Channel::from_handle(handle);
            if !closed_within(&client, 50 * MS) {
                kept.push(client);
            }
        }
    }
    println!("misbehave: flood: the manager kept {} of them", kept.len());
    checks.check(
        "the manager keeps at most 16 connections of one component",
        (1..=16).contains(&kept.len()),
    );
    drop((park, parked_end));

    // 2. Malformed requests on connections the manager kept: each is
    // hung up on.
    let mut kept = kept.into_iter();
    if let Some(realm) = kept.next() {
        let events: Vec<zx::Handle> = (0..4)
            .filter_map(|_| zx::Event::create().ok().map(zx::Event::into_handle))
            .collect();
        let header = idlc_runtime::TransactionHeader::new(1, 0x0bad_0bad_0bad_0bad, false);
        let _ = realm.write(&header.to_bytes(), events);
        checks.check(
            "a request carrying handles: hung up",
            closed_within(&realm, 2_000 * MS),
        );
    }
    if let Some(realm) = kept.next() {
        let _ = realm.write(&vec![0xee; 65_536], vec![]);
        checks.check(
            "64 KiB of garbage: hung up",
            closed_within(&realm, 2_000 * MS),
        );
    }
    // 3. A thousand requests without reading the replies: all answered,
    // in order, none lost.
    if let Some(realm) = kept.next() {
        let client = RealmClient::new(ChannelTransport::new(realm));
        let mut answered = 0;
        for _ in 0..1000 {
            if client.list().is_ok() {
                answered += 1;
            }
        }
        checks.check("1000 List requests answered", answered == 1000);
    }
    // 4. The flood is over: let go of everything; a new Realm works again.
    drop(kept);
    let mut listed = false;
    for _ in 0..50 {
        if let Ok(realm) = connect(&svc) {
            let client = RealmClient::new(ChannelTransport::new(realm));
            if client.list().is_ok() {
                listed = true;
                break;
            }
        }
        let _ = zx::nanosleep(zx::deadline_after(20 * MS));
    }
    checks.check("after the flood, a new Realm answers", listed);
    println!("misbehave: flood: done, {} failed", checks.failed);
    checks.failed
}
