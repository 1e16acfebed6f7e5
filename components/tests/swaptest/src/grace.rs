//! Rollbacks in the hard cases (`swap-grace-tests`, docs/hot-swap.md):
//!
//! - a hostile new version that binds a channel of its own to the escrow
//!   besides what it was handed, then ends (`bind-extra`): the rollback
//!   gives the old version only what it handed over;
//! - a new version that serves in its grace period and crashes on a
//!   request (`echo_server_v3_on_request`) after the driver opened a new
//!   connection to it: the rollback gives that connection to the old
//!   version too, and it is answered there, never closed;
//! - an old version that ends during the new one's grace period (version
//!   2 told to exit once it has handed over) while the new one then
//!   crashes (300 ms after taking over): the rollback starts the old
//!   version again from its manifest with the endpoints and the state.
//!
//! The driver checks that its connection, opened before the first swap,
//! is answered after each and that the counter carried in the state
//! matches its calls.

use alloc::vec::Vec;
use idlc_runtime::{OutgoingMessage, TransactionHeader};
use zx::{AsHandleRef, Channel, Handle, Signals};
use zx_idl::ChannelTransport;
use zx_runtime::println;

use crate::bindings::examples_echo::{EchoEchoStringRequest, EchoMarker};
use crate::bindings::examples_echo_v2::EchoClient as EchoV2Client;
use crate::bindings::zx_component::{RealmClient, RealmShutdownRequest};
use crate::bindings::zx_component_swap::{
    SwapControllerClient, SwapControllerMarker, SwapControllerSwapRequest,
};
use crate::bindings::zx_process_lifecycle::{Handover, TakeoverMarker, TakeoverTakeResponse};

/// A hostile new version: binds its lifecycle channel, takes the handover
/// and binds it, and binds a channel of its own too, then ends.
pub fn bind_extra() -> i64 {
    let Some(handle) = zx_runtime::take_startup_handle(zx::processargs::LIFECYCLE) else {
        return 1;
    };
    let lifecycle = Channel::from_handle(handle);
    let read = || -> Option<zx::MessageBuf> {
        lifecycle
            .wait_one(
                Signals::CHANNEL_READABLE | Signals::PEER_CLOSED,
                zx::deadline_after(10_000_000_000),
            )
            .ok()?;
        let mut message = zx::MessageBuf::default();
        lifecycle.read(&mut message).ok()?;
        Some(message)
    };
    let Some(mut prepare) = read() else { return 1 };
    let Some(escrow) = prepare.handles.pop().map(Channel::from_handle) else {
        return 1;
    };
    let _ = zx::handle_bind_escrow(&lifecycle, &escrow);
    if prepare.bytes.len() < 16 || lifecycle.write(&prepare.bytes[..16], Vec::new()).is_err() {
        return 1;
    }
    let Some(handover) = take(&lifecycle) else {
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
    // Not handed over: a channel of its own (its peer is kept, so the
    // old version would serve a live channel if it were given it).
    let Ok((extra, _peer)) = Channel::create() else {
        return 1;
    };
    let bound = zx::handle_bind_escrow(&extra, &escrow);
    println!(
        "swap-extra: took {} connections, bound an extra channel (koid {}): {:?}",
        connections.len(),
        extra.basic_info().map(|i| i.koid).unwrap_or(0),
        bound
    );
    // Ends holding everything (returning would close the handles first,
    // and a handle closed by its holder is not escrowed).
    zx::process_exit(17)
}

/// Asks the manager for the handover as a version started for a swap does
/// (`Takeover.Take`, a call on the lifecycle channel).
pub fn take(lifecycle: &Channel) -> Option<Handover> {
    let request = OutgoingMessage::empty(TransactionHeader::new(
        0,
        TakeoverMarker::TAKE_ORDINAL,
        false,
    ));
    let mut reply = zx::MessageBuf::default();
    lifecycle
        .call(
            &request.bytes,
            Vec::new(),
            zx::deadline_after(10_000_000_000),
            &mut reply,
        )
        .ok()?;
    let mut message = idlc_runtime::IncomingMessage {
        bytes: core::mem::take(&mut reply.bytes),
        handles: core::mem::take(&mut reply.handles)
            .into_iter()
            .map(|h| idlc_runtime::HandleInfo::untyped(h.into_raw()))
            .collect(),
    };
    message
        .decode_body::<TakeoverTakeResponse>()
        .ok()
        .map(|answer| answer.handover)
}

/// The driver of `swap-grace-tests`.
pub fn grace_driver() -> i64 {
    let (Ok(swaps), Ok(realm), Ok(echo)) = (
        zx_component::connect("zx.component.swap.SwapController"),
        zx_component::connect("zx.component.Realm"),
        zx_component::connect(EchoMarker::DISCOVERABLE_NAME.unwrap_or_default()),
    ) else {
        println!("swap-grace: cannot connect");
        return 1;
    };
    let swaps = SwapControllerClient::new(ChannelTransport::new(swaps));
    let realm = RealmClient::new(ChannelTransport::new(realm));
    let echo = EchoV2Client::new(ChannelTransport::new(echo));
    let mut calls = 0u64;
    let mut failures = 0u32;
    let call = |what: &str, calls: &mut u64, failures: &mut u32| {
        let value = alloc::format!("call {}", *calls + 1);
        let reply = echo.echo_string(crate::bindings::examples_echo_v2::EchoEchoStringRequest {
            value: value.clone(),
        });
        let ok = matches!(&reply, Ok(r) if r.response == value);
        if ok {
            *calls += 1;
        } else {
            *failures += 1;
        }
        println!(
            "swap-grace: echo {}: {}",
            what,
            if ok { "ok" } else { "FAILED" }
        );
    };
    let swap = |source: &str| {
        let report = swaps.swap(SwapControllerSwapRequest {
            moniker: "root/echo_server".into(),
            source: source.into(),
        });
        match &report {
            Ok(reply) => println!(
                "swap-grace: swap to {}: {:?}: {}",
                source, reply.report.outcome, reply.report.reason
            ),
            Err(error) => println!("swap-grace: swap to {} failed: {:?}", source, error),
        }
    };
    for _ in 0..3 {
        call("before the swaps", &mut calls, &mut failures);
    }
    swap("echo_server_extra");
    call(
        "after the hostile version that bound a channel of its own",
        &mut calls,
        &mut failures,
    );
    opened_in_grace(&swaps, &echo, &mut calls, &mut failures);
    swap("echo_server_mortal");
    call(
        "after the swap to the version that exits once it hands over",
        &mut calls,
        &mut failures,
    );
    // Pipelined: a request waits in the queue while the swap runs.
    let value = alloc::format!("call {}", calls + 1);
    let mut pending = EchoEchoStringRequest {
        value: value.clone(),
    };
    if let Ok(message) = OutgoingMessage::encode(
        TransactionHeader::new(0x7000_0001, EchoMarker::ECHO_STRING_ORDINAL, false),
        &mut pending,
    ) {
        if echo
            .client()
            .transport()
            .channel()
            .write(&message.bytes, Vec::new())
            .is_ok()
        {
            println!("swap-grace: one request sent before the swap, unanswered");
        }
    }
    swap("echo_server_v3_late");
    // The answer to the pipelined request comes first.
    let mut answered = false;
    if echo
        .client()
        .transport()
        .channel()
        .wait_one(
            Signals::CHANNEL_READABLE | Signals::PEER_CLOSED,
            zx::deadline_after(10_000_000_000),
        )
        .is_ok()
    {
        let mut reply = zx::MessageBuf::default();
        if echo.client().transport().channel().read(&mut reply).is_ok()
            && reply.bytes.len() > 16
            && reply
                .bytes
                .windows(value.len())
                .any(|w| w == value.as_bytes())
        {
            answered = true;
            calls += 1;
        }
    }
    println!(
        "swap-grace: the request sent before the swap was {}",
        if answered { "answered" } else { "LOST" }
    );
    call(
        "after the rollback that started the old version again",
        &mut calls,
        &mut failures,
    );
    match echo.calls() {
        Ok(reply) => println!(
            "swap-grace: the server counted {} calls, the driver made {}",
            reply.calls, calls
        ),
        Err(error) => println!("swap-grace: Calls failed: {:?}", error),
    }
    let fresh = zx_component::connect(EchoMarker::DISCOVERABLE_NAME.unwrap_or_default())
        .ok()
        .map(|c| {
            let fresh = EchoV2Client::new(ChannelTransport::new(c));
            matches!(
                fresh.echo_string(crate::bindings::examples_echo_v2::EchoEchoStringRequest {
                    value: "fresh".into()
                }),
                Ok(r) if r.response == "fresh"
            )
        })
        .unwrap_or(false);
    println!(
        "swap-grace: a new connection {}",
        if fresh { "is answered" } else { "FAILED" }
    );
    println!("swap-grace: done, {} failed calls", failures);
    let _ = realm.shutdown(RealmShutdownRequest { status: 0 });
    0
}

/// A connection opened during the grace period of a new version that then
/// crashes: the swap to `echo_server_v3_on_request` is asked for without
/// waiting for its answer; once the new version answers `Calls` on the
/// driver's connection (the old one, version 1, does not know it), the
/// driver opens a new connection, has it answered by the new version, and
/// makes the new version crash on a request on its first connection
/// (requeued, answered by the old version after the rollback). The new
/// connection is then answered by the old version: it never closed.
fn opened_in_grace(
    swaps: &SwapControllerClient<ChannelTransport>,
    echo: &EchoV2Client<ChannelTransport>,
    calls: &mut u64,
    failures: &mut u32,
) {
    use crate::bindings::examples_echo_v2::EchoEchoStringRequest as V2Request;
    let source = "echo_server_v3_on_request";
    let channel = swaps.client().transport().channel();
    let sent = OutgoingMessage::encode(
        TransactionHeader::new(0x7000_0002, SwapControllerMarker::SWAP_ORDINAL, false),
        &mut SwapControllerSwapRequest {
            moniker: "root/echo_server".into(),
            source: source.into(),
        },
    )
    .ok()
    .is_some_and(|message| channel.write(&message.bytes, Vec::new()).is_ok());
    if !sent {
        println!("swap-grace: cannot ask for the swap to {}", source);
        *failures += 1;
        return;
    }
    // `Calls` is answered only by the new version (version 2's protocol):
    // once it is, the new version serves and the old one is escrowed.
    let mut serving = false;
    for _ in 0..1000 {
        if echo.calls().is_ok() {
            serving = true;
            break;
        }
        let _ = zx::nanosleep(zx::deadline_after(10_000_000));
    }
    println!(
        "swap-grace: the new version {}",
        if serving { "serves" } else { "NEVER SERVED" }
    );
    let opened = zx_component::connect(EchoMarker::DISCOVERABLE_NAME.unwrap_or_default())
        .ok()
        .map(|c| EchoV2Client::new(ChannelTransport::new(c)));
    let answered_by_new = opened.as_ref().is_some_and(|c| c.calls().is_ok());
    println!(
        "swap-grace: a connection opened during the grace period is answered by the new version: {}",
        if answered_by_new { "ok" } else { "FAILED" }
    );
    if !answered_by_new {
        *failures += 1;
    }
    // The new version crashes on this request without answering it; the
    // old version answers it after the rollback.
    let crash = echo.echo_string(V2Request {
        value: "crash now".into(),
    });
    let requeued = matches!(&crash, Ok(r) if r.response == "crash now");
    if requeued {
        *calls += 1;
    } else {
        *failures += 1;
    }
    println!(
        "swap-grace: the request the new version crashed on was {}",
        if requeued { "answered" } else { "LOST" }
    );
    let report = crate::swap_answer(channel);
    match &report {
        Some(report) => println!(
            "swap-grace: swap to {}: {:?}: {}",
            source, report.outcome, report.reason
        ),
        None => println!("swap-grace: the swap to {} was not answered", source),
    }
    let value = alloc::format!("call {}", *calls + 1);
    let after = opened.as_ref().map(|c| {
        c.echo_string(V2Request {
            value: value.clone(),
        })
    });
    let ok = matches!(&after, Some(Ok(r)) if r.response == value);
    if ok {
        *calls += 1;
    } else {
        *failures += 1;
    }
    let closed = opened.as_ref().is_some_and(|c| {
        c.client()
            .transport()
            .channel()
            .wait_one(Signals::PEER_CLOSED, 0)
            .is_ok()
    });
    println!(
        "swap-grace: echo on the connection opened during the grace period, after the rollback: {}{}",
        if ok { "ok" } else { "FAILED" },
        if closed { " (PEER_CLOSED)" } else { "" }
    );
}
