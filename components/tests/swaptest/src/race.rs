//! Attack (adversarial review): a swap of a child in a collection whose
//! slot is destroyed and reused while the new version prepares. The
//! manager must not escrow, stop or take the lifecycle channel of the
//! component that now holds the slot.

use alloc::vec::Vec;
use idlc_runtime::{OutgoingMessage, TransactionHeader};
use zx::{AsHandleRef, Signals};
use zx_idl::ChannelTransport;
use zx_runtime::println;

use crate::bindings::examples_echo::{EchoClient, EchoEchoStringRequest, EchoMarker};
use crate::bindings::zx_component::{
    RealmClient, RealmCreateChildRequest, RealmDestroyChildRequest, RealmOpenExposedRequest,
    RealmShutdownRequest, RealmStartRequest,
};
use crate::bindings::zx_component_swap::{SwapControllerMarker, SwapControllerSwapRequest};

const MONIKER: &str = "root/dynamic:w";

fn create(realm: &RealmClient<ChannelTransport>) -> bool {
    let created = realm.create_child(RealmCreateChildRequest {
        parent: "root".into(),
        collection: "dynamic".into(),
        name: "w".into(),
        manifest: "echo_server".into(),
    });
    let started = realm.start(RealmStartRequest {
        moniker: MONIKER.into(),
    });
    println!("swap-race: create {:?} start {:?}", created, started);
    matches!((created, started), (Ok(Ok(_)), Ok(Ok(_))))
}

fn echo(realm: &RealmClient<ChannelTransport>) -> Option<EchoClient<ChannelTransport>> {
    let (client, server) = zx::Channel::create().ok()?;
    let opened = realm.open_exposed(RealmOpenExposedRequest {
        moniker: MONIKER.into(),
        protocol: EchoMarker::DISCOVERABLE_NAME.unwrap_or_default().into(),
        server: idlc_runtime::Handle::from_raw(server.into_handle().into_raw()),
    });
    if !matches!(opened, Ok(Ok(_))) {
        println!("swap-race: OpenExposed {:?}", opened);
        return None;
    }
    Some(EchoClient::new(ChannelTransport::new(client)))
}

fn call(echo: &EchoClient<ChannelTransport>, what: &str) -> bool {
    let reply = echo.echo_string(EchoEchoStringRequest {
        value: "ping".into(),
    });
    let ok = matches!(&reply, Ok(r) if r.response == "ping");
    println!(
        "swap-race: echo {}: {}",
        what,
        if ok { "ok" } else { "FAILED" }
    );
    ok
}

pub fn race() -> i64 {
    let (Ok(swaps), Ok(realm)) = (
        zx_component::connect("zx.component.swap.SwapController"),
        zx_component::connect("zx.component.Realm"),
    ) else {
        println!("swap-race: cannot connect");
        return 1;
    };
    let realm = RealmClient::new(ChannelTransport::new(realm));
    if !create(&realm) {
        return 1;
    }
    // Send the swap without waiting for its answer.
    let mut request = SwapControllerSwapRequest {
        moniker: MONIKER.into(),
        source: "echo_server_slow".into(),
    };
    let Ok(message) = OutgoingMessage::encode(
        TransactionHeader::new(1, SwapControllerMarker::SWAP_ORDINAL, false),
        &mut request,
    ) else {
        return 1;
    };
    if swaps.write(&message.bytes, Vec::new()).is_err() {
        return 1;
    }
    // While the new version prepares: destroy the child, create another
    // with the same name (it takes the freed slot), start it.
    let destroyed = realm.destroy_child(RealmDestroyChildRequest {
        moniker: MONIKER.into(),
    });
    println!("swap-race: destroy {:?}", destroyed);
    if !create(&realm) {
        return 1;
    }
    let Some(second) = echo(&realm) else {
        return 1;
    };
    let before = call(&second, "of the re-created child before the swap answers");
    let _ = swaps.wait_one(
        Signals::CHANNEL_READABLE | Signals::PEER_CLOSED,
        zx::deadline_after(10_000_000_000),
    );
    println!("swap-race: the swap answered");
    let _ = zx::nanosleep(zx::deadline_after(1_500_000_000));
    let after = call(&second, "of the re-created child after the swap");
    let fresh = echo(&realm).is_some_and(|e| call(&e, "on a new connection"));
    println!(
        "swap-race: {}",
        if before && after && fresh {
            "the re-created child was left alone"
        } else {
            "BUG: the swap hit the re-created child"
        }
    );
    let _ = realm.shutdown(RealmShutdownRequest { status: 0 });
    0
}

/// A hostile new version: answers `Prepare` but never binds its lifecycle
/// channel to the escrow and never asks for the handover, then ends
/// (before the handover was pulled, the manager pushed it in a `Resume`
/// that such a version took down unread).
pub fn unbound() -> i64 {
    let Some(handle) = zx_runtime::take_startup_handle(zx::processargs::LIFECYCLE) else {
        println!("swap-unbound: no lifecycle channel");
        return 1;
    };
    let lifecycle = zx::Channel::from_handle(handle);
    let wait = |what: &str| {
        let waited = lifecycle.wait_one(
            Signals::CHANNEL_READABLE | Signals::PEER_CLOSED,
            zx::deadline_after(10_000_000_000),
        );
        println!("swap-unbound: waited for {}: {:?}", what, waited.is_ok());
    };
    wait("Prepare");
    if zx_runtime::args().get(2).map(alloc::string::String::as_str) == Some("slow") {
        // Widens the window in which the swapped instance's slot can be
        // reused.
        let _ = zx::nanosleep(zx::deadline_after(1_000_000_000));
    }
    let mut prepare = zx::MessageBuf::default();
    if lifecycle.read(&mut prepare).is_err() || prepare.bytes.len() < 16 {
        return 1;
    }
    // The reply is the request's header (same txid and ordinal); the
    // escrow channel is kept, never used.
    let _escrow = core::mem::take(&mut prepare.handles);
    let _ = lifecycle.write(&prepare.bytes[..16], Vec::new());
    if zx_runtime::args().get(2).map(alloc::string::String::as_str) == Some("slow") {
        // Slow but otherwise as a real version: it asks for the handover
        // (the slot is reused meanwhile, so the manager must give up).
        let taken = crate::grace::take(&lifecycle);
        println!("swap-unbound: asked for the handover: {}", taken.is_some());
        return 7;
    }
    // Hostile: never asks for the handover (`Takeover.Take`); before the
    // handover was pulled, it ended with the manager's `Resume` unread.
    wait("a handover");
    println!("swap-unbound: ending without having asked for the handover");
    7
}

/// A hostile new version that takes the handover and ends at once without
/// binding anything (`grab`): it binds its lifecycle channel as `Prepare`
/// asks, calls `Take` with `CHANNEL_BIND_RECEIVED` (raw, not through the
/// SDK's helper) and exits the instant the reply is in, with exit code
/// 100 + the number of handles it received. The kernel added them already
/// bound, so they reach the escrow and the rollback gives them back.
pub fn grab() -> i64 {
    let Some(handle) = zx_runtime::take_startup_handle(zx::processargs::LIFECYCLE) else {
        println!("swap-grab: no lifecycle channel");
        return 1;
    };
    let lifecycle = zx::Channel::from_handle(handle);
    let waited = lifecycle.wait_one(
        Signals::CHANNEL_READABLE | Signals::PEER_CLOSED,
        zx::deadline_after(10_000_000_000),
    );
    let mut prepare = zx::MessageBuf::default();
    if waited.is_err() || lifecycle.read(&mut prepare).is_err() || prepare.bytes.len() < 16 {
        return 1;
    }
    let Some(escrow) = prepare.handles.pop().map(zx::Channel::from_handle) else {
        return 1;
    };
    if zx::handle_bind_escrow(&lifecycle, &escrow).is_err()
        || lifecycle.write(&prepare.bytes[..16], Vec::new()).is_err()
    {
        return 1;
    }
    println!("swap-grab: prepared; taking the handover and ending at once");
    let take = OutgoingMessage::empty(TransactionHeader::new(
        0,
        crate::bindings::zx_process_lifecycle::TakeoverMarker::TAKE_ORDINAL,
        false,
    ));
    let mut reply = zx::MessageBuf::default();
    let code = match lifecycle.call_etc(
        zx::CHANNEL_BIND_RECEIVED,
        &take.bytes,
        Vec::new(),
        zx::deadline_after(10_000_000_000),
        &mut reply,
    ) {
        Ok(()) => 100 + reply.handles.len() as i64,
        Err(status) => 200 + i64::from(-status.0),
    };
    // Ends holding everything, nothing bound by itself (returning would
    // close the handles first, and a closed handle is not escrowed).
    core::mem::forget((lifecycle, escrow, reply));
    zx::process_exit(code)
}

/// Swaps root/echo_server to the hostile `grab` version with a client
/// connected, then checks that the client's connection survived the
/// rollback.
pub fn grab_driver() -> i64 {
    hostile_driver("swap-grab-driver", "echo_server_grab")
}

/// Swaps root/echo_server to the hostile `unbound` version with a client
/// connected, then checks that the client's connection survived the
/// rollback.
pub fn unbound_driver() -> i64 {
    hostile_driver("swap-unbound-driver", "echo_server_unbound")
}

/// Swaps root/echo_server to `source`, a hostile version, with a client
/// connected, then checks that the client's connection survived the
/// rollback (its lines start with `tag`).
fn hostile_driver(tag: &str, source: &str) -> i64 {
    let (Ok(swaps), Ok(realm), Ok(echo)) = (
        zx_component::connect("zx.component.swap.SwapController"),
        zx_component::connect("zx.component.Realm"),
        zx_component::connect(EchoMarker::DISCOVERABLE_NAME.unwrap_or_default()),
    ) else {
        println!("{}: cannot connect", tag);
        return 1;
    };
    let swaps =
        crate::bindings::zx_component_swap::SwapControllerClient::new(ChannelTransport::new(swaps));
    let realm = RealmClient::new(ChannelTransport::new(realm));
    let echo = EchoClient::new(ChannelTransport::new(echo));
    let before = call(&echo, "before the swap");
    let report = swaps.swap(SwapControllerSwapRequest {
        moniker: "root/echo_server".into(),
        source: source.into(),
    });
    match &report {
        Ok(reply) => println!(
            "{}: swap {:?}: {}",
            tag, reply.report.outcome, reply.report.reason
        ),
        Err(error) => println!("{}: swap failed: {:?}", tag, error),
    }
    let after = call(&echo, "on the same connection after the rollback");
    let fresh = zx_component::connect(EchoMarker::DISCOVERABLE_NAME.unwrap_or_default())
        .map(|c| {
            call(
                &EchoClient::new(ChannelTransport::new(c)),
                "on a new connection",
            )
        })
        .unwrap_or(false);
    println!(
        "{}: {}",
        tag,
        if before && after && fresh {
            "nothing lost"
        } else {
            "BUG: the rollback lost the server's endpoints"
        }
    );
    let _ = realm.shutdown(RealmShutdownRequest { status: 0 });
    0
}
