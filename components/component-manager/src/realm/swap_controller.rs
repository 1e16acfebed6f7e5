//! The `zx.component.swap.SwapController` protocol the manager serves
//! (`idl/swap.idl`): swaps, rollbacks and the versions `ls` shows. The
//! console uses it, and the host bridge. A swap answers once it is final
//! or undone; other connections are served meanwhile.

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use idlc_runtime::{OutgoingMessage, TransactionHeader, Wire};
use zx::{Channel, Event};
use zx_async::Spawner;
use zx_idl::ChannelTransport;
use zx_runtime::println;

use super::decl::zx_component_swap::{
    SwapControllerMarker, SwapControllerRollbackRequest, SwapControllerRollbackResponse,
    SwapControllerSwapRequest, SwapControllerSwapResponse, SwapControllerVersionsResponse, Version,
};
use super::served::Served;
use super::swap::{rollback, swap, truncated, MAX_REASON};
use super::State;

/// Most versions one `Versions` reply holds (the IDL's bound).
const MAX_LISTED: usize = 128;

/// Serves `SwapController` on one connection.
pub(super) async fn serve_swap_controller(
    state: Rc<RefCell<State>>,
    spawner: Spawner,
    idle: Rc<Event>,
    channel: Channel,
    _served: Served,
) {
    let transport = ChannelTransport::new(channel);
    while let Some(mut message) = zx_component::next_message(&transport).await {
        let Ok(header) = message.header() else {
            return;
        };
        let reply = match header.ordinal {
            SwapControllerMarker::SWAP_ORDINAL => {
                let Ok(request) = message.decode_body::<SwapControllerSwapRequest>() else {
                    return;
                };
                let report = swap(&state, &spawner, &idle, &request.moniker, &request.source).await;
                encode(&header, SwapControllerSwapResponse { report })
            }
            SwapControllerMarker::ROLLBACK_ORDINAL => {
                let Ok(request) = message.decode_body::<SwapControllerRollbackRequest>() else {
                    return;
                };
                let report = rollback(&state, &spawner, &idle, &request.moniker).await;
                encode(&header, SwapControllerRollbackResponse { report })
            }
            SwapControllerMarker::VERSIONS_ORDINAL => encode(
                &header,
                SwapControllerVersionsResponse {
                    versions: versions(&state),
                },
            ),
            _ => {
                println!("component_manager: SwapController: unknown method; closing");
                return;
            }
        };
        let Some(mut reply) = reply else { return };
        let handles = core::mem::take(&mut reply.handles);
        debug_assert!(handles.is_empty());
        if transport.channel().write(&reply.bytes, Vec::new()).is_err() {
            return;
        }
    }
}

/// The reply to `header`'s request.
fn encode<T: Wire>(header: &TransactionHeader, mut body: T) -> Option<OutgoingMessage> {
    OutgoingMessage::encode(
        TransactionHeader::new(header.txid, header.ordinal, false),
        &mut body,
    )
    .ok()
}

/// Every component with a program, its manifest and its last swap.
fn versions(state: &Rc<RefCell<State>>) -> Vec<Version> {
    let guard = state.borrow();
    guard
        .instances
        .iter()
        .filter(|instance| !instance.destroyed)
        .filter_map(|instance| {
            let program = instance.decl.program.as_ref()?;
            Some(Version {
                moniker: instance.moniker.clone(),
                manifest: instance.swap.manifest.clone(),
                binary: program.binary.clone(),
                last_swap: truncated(instance.swap.last.clone(), MAX_REASON),
            })
        })
        .take(MAX_LISTED)
        .collect()
}
