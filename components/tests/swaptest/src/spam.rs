//! Attack: a hostile new version that floods its lifecycle channel with
//! junk (short messages, unknown ordinals, a message carrying a channel, a
//! one-way `Take` with a user txid) before it asks for the handover, asks
//! for it a second time, then ends in its grace period; and two swaps of
//! the same moniker asked for at once. The manager must answer both swaps,
//! roll back, and keep every connection of the old version.

use alloc::vec;
use alloc::vec::Vec;
use idlc_runtime::{OutgoingMessage, TransactionHeader};
use zx::{AsHandleRef, Channel, Handle, Signals};
use zx_idl::ChannelTransport;
use zx_runtime::println;

use crate::bindings::examples_echo::{EchoClient, EchoEchoStringRequest, EchoMarker};
use crate::bindings::zx_component::{RealmClient, RealmShutdownRequest};
use crate::bindings::zx_component_swap::{
    SwapControllerClient, SwapControllerMarker, SwapControllerSwapRequest,
};
use crate::bindings::zx_process_lifecycle::TakeoverMarker;

/// Junk messages written before the `Take`.
const JUNK: usize = 300;

/// The hostile version (`echo_server_spam`).
pub fn spam() -> i64 {
    let Some(handle) = zx_runtime::take_startup_handle(zx::processargs::LIFECYCLE) else {
        return 1;
    };
    let lifecycle = Channel::from_handle(handle);
    if lifecycle
        .wait_one(
            Signals::CHANNEL_READABLE | Signals::PEER_CLOSED,
            zx::deadline_after(10_000_000_000),
        )
        .is_err()
    {
        return 1;
    }
    let mut prepare = zx::MessageBuf::default();
    if lifecycle.read(&mut prepare).is_err() || prepare.bytes.len() < 16 {
        return 1;
    }
    let Some(escrow) = prepare.handles.pop().map(Channel::from_handle) else {
        return 1;
    };
    let _ = zx::handle_bind_escrow(&lifecycle, &escrow);
    if lifecycle.write(&prepare.bytes[..16], Vec::new()).is_err() {
        return 1;
    }
    // The junk: every kind a manager reading this channel could trip on.
    let mut written = 0usize;
    for index in 0..JUNK {
        let message: Vec<u8> = match index % 4 {
            0 => vec![0xff; 3],
            1 => OutgoingMessage::empty(TransactionHeader::new(
                index as u32,
                0x7777_0000_0000_0000 | index as u64,
                false,
            ))
            .bytes
            .to_vec(),
            2 => vec![0xa5; 4000],
            _ => {
                // The Take ordinal in a header too short to be one.
                let mut bytes = OutgoingMessage::empty(TransactionHeader::new(
                    5,
                    TakeoverMarker::TAKE_ORDINAL,
                    false,
                ))
                .bytes
                .to_vec();
                bytes.truncate(12);
                bytes
            }
        };
        if lifecycle.write(&message, Vec::new()).is_ok() {
            written += 1;
        }
    }
    if let Ok((mine, _kept)) = Channel::create() {
        let header = OutgoingMessage::empty(TransactionHeader::new(9, 0x1234, false));
        if lifecycle
            .write(&header.bytes, vec![mine.into_handle()])
            .is_ok()
        {
            written += 1;
        }
    }
    println!("swap-spam: wrote {} junk messages", written);
    let Some(handover) = crate::grace::take(&lifecycle) else {
        println!("swap-spam: the first Take was not answered");
        return 1;
    };
    let outgoing = Handle::from_raw(handover.outgoing.into_raw());
    let _ = zx::handle_bind_escrow(&outgoing, &escrow);
    let connections: Vec<Handle> = handover
        .connections
        .into_iter()
        .map(|h| Handle::from_raw(h.into_raw()))
        .collect();
    for connection in &connections {
        let _ = zx::handle_bind_escrow(connection, &escrow);
    }
    // A second Take: nothing is left to hand over; it must not be answered
    // with anything (the call times out), nor hang the manager.
    let again = OutgoingMessage::empty(TransactionHeader::new(
        0,
        TakeoverMarker::TAKE_ORDINAL,
        false,
    ));
    let mut reply = zx::MessageBuf::default();
    let second = lifecycle.call(
        &again.bytes,
        Vec::new(),
        zx::deadline_after(200_000_000),
        &mut reply,
    );
    println!(
        "swap-spam: took {} connections; a second Take: {:?} with {} handles",
        connections.len(),
        second,
        reply.handles.len()
    );
    // Ends holding everything, in its grace period.
    zx::process_exit(17)
}

fn echo_call(echo: &EchoClient<ChannelTransport>, what: &str) -> bool {
    let reply = echo.echo_string(EchoEchoStringRequest {
        value: "ping".into(),
    });
    let ok = matches!(&reply, Ok(r) if r.response == "ping");
    println!(
        "swap-spam-driver: echo {}: {}",
        what,
        if ok { "ok" } else { "FAILED" }
    );
    ok
}

/// Asks for two swaps of root/echo_server to the spam version at once (on
/// two connections), then checks both are answered and the connection
/// opened before them still works.
pub fn driver() -> i64 {
    let (Ok(first), Ok(second), Ok(realm), Ok(echo)) = (
        zx_component::connect("zx.component.swap.SwapController"),
        zx_component::connect("zx.component.swap.SwapController"),
        zx_component::connect("zx.component.Realm"),
        zx_component::connect(EchoMarker::DISCOVERABLE_NAME.unwrap_or_default()),
    ) else {
        println!("swap-spam-driver: cannot connect");
        return 1;
    };
    let realm = RealmClient::new(ChannelTransport::new(realm));
    let echo = EchoClient::new(ChannelTransport::new(echo));
    let before = echo_call(&echo, "before the swaps");
    let request = || SwapControllerSwapRequest {
        moniker: "root/echo_server".into(),
        source: "echo_server_spam".into(),
    };
    // The first swap is sent without waiting for its answer...
    let Ok(message) = OutgoingMessage::encode(
        TransactionHeader::new(1, SwapControllerMarker::SWAP_ORDINAL, false),
        &mut request(),
    ) else {
        return 1;
    };
    if first.write(&message.bytes, Vec::new()).is_err() {
        return 1;
    }
    // ...and the second asked for meanwhile, on another connection.
    let second = SwapControllerClient::new(ChannelTransport::new(second));
    match second.swap(request()) {
        Ok(reply) => println!(
            "swap-spam-driver: second swap {:?}: {}",
            reply.report.outcome, reply.report.reason
        ),
        Err(error) => println!("swap-spam-driver: second swap failed: {:?}", error),
    }
    let first_report = crate::swap_answer(&first);
    match &first_report {
        Some(report) => println!(
            "swap-spam-driver: first swap {:?}: {}",
            report.outcome, report.reason
        ),
        None => println!("swap-spam-driver: the first swap was not answered"),
    }
    let after = echo_call(&echo, "on the same connection after the swaps");
    let fresh = zx_component::connect(EchoMarker::DISCOVERABLE_NAME.unwrap_or_default())
        .map(|c| {
            echo_call(
                &EchoClient::new(ChannelTransport::new(c)),
                "on a new connection",
            )
        })
        .unwrap_or(false);
    println!(
        "swap-spam-driver: {}",
        if before && after && fresh && first_report.is_some() {
            "both swaps answered, nothing lost"
        } else {
            "BUG: a swap was not answered or a connection was lost"
        }
    );
    let _ = realm.shutdown(RealmShutdownRequest { status: 0 });
    0
}
