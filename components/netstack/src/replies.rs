//! The netstack's clients and the replies it owes them. The generated
//! dispatch answers each request at once, which suits every provider
//! method but two: `Ping` and `LookupHost` wait for the network, and the
//! netstack's one thread cannot. Those two are taken off before dispatch,
//! started, and answered with their transaction id when their result is
//! in ([`send_result`]); a client that left by then gets nothing.

use crate::bindings::zx_net::{
    dispatch_provider, dispatch_test_hook, ProviderLookupHostRequest, ProviderLookupHostResponse,
    ProviderLookupHostResult, ProviderMarker, ProviderPingRequest, ProviderPingResponse,
    ProviderPingResult,
};
use crate::{Hook, Requests, Stack};
use alloc::vec::Vec;
use idlc_runtime::{OutgoingMessage, TransactionHeader, Transport};
use zx::Status;
use zx_idl::ChannelTransport;

/// Requests served per client per round, so one client cannot hold the
/// loop.
const REQUESTS_PER_ROUND: usize = 16;

/// Which protocol a client speaks.
pub enum Protocol {
    Provider,
    Hook,
}

/// A client connection.
pub struct Client {
    /// Unique for the netstack's life: deferred replies name it.
    pub id: u64,
    pub protocol: Protocol,
    pub transport: ChannelTransport,
}

/// Where a deferred reply goes.
#[derive(Clone, Copy, Debug)]
pub struct ReplyTo {
    client: u64,
    txid: u32,
}

/// A deferred reply's body.
pub enum Outcome {
    Ping(Result<i64, i32>),
    Lookup(crate::lookup::LookupResult),
}

/// Sends `outcome` to the client `to` names, if it is still there.
pub fn send_result(clients: &[Client], to: ReplyTo, outcome: Outcome) {
    let Some(client) = clients.iter().find(|client| client.id == to.client) else {
        return;
    };
    let message = match outcome {
        Outcome::Ping(result) => {
            let mut body = match result {
                Ok(rtt) => ProviderPingResult::Response(ProviderPingResponse { rtt }),
                Err(status) => ProviderPingResult::Err(status),
            };
            let header = TransactionHeader::new(to.txid, ProviderMarker::PING_ORDINAL, false);
            OutgoingMessage::encode(header, &mut body)
        }
        Outcome::Lookup(result) => {
            let mut body = match result {
                Ok(addresses) => {
                    ProviderLookupHostResult::Response(ProviderLookupHostResponse { addresses })
                }
                Err(status) => ProviderLookupHostResult::Err(status),
            };
            let header =
                TransactionHeader::new(to.txid, ProviderMarker::LOOKUP_HOST_ORDINAL, false);
            OutgoingMessage::encode(header, &mut body)
        }
    };
    if let Ok(message) = message {
        let _ = client.transport.send(message);
    }
}

/// Serves what is queued on each client connection; drops closed ones
/// and ones that sent a message that does not decode.
pub fn serve_clients(stack: &mut Stack, clients: &mut Vec<Client>) {
    let mut owed = Vec::new();
    clients.retain(|client| {
        for _ in 0..REQUESTS_PER_ROUND {
            let mut message = match client.transport.try_receive() {
                Ok(message) => message,
                Err(Status::SHOULD_WAIT) => return true,
                Err(_) => return false,
            };
            let Ok(header) = message.header() else {
                return false;
            };
            let to = ReplyTo {
                client: client.id,
                txid: header.txid,
            };
            let reply = match client.protocol {
                Protocol::Provider if header.ordinal == ProviderMarker::PING_ORDINAL => {
                    let Ok(request) = message.decode_body::<ProviderPingRequest>() else {
                        return false;
                    };
                    if let Err(status) = stack.start_ping(to, &request) {
                        owed.push((to, Outcome::Ping(Err(status))));
                    }
                    continue;
                }
                Protocol::Provider if header.ordinal == ProviderMarker::LOOKUP_HOST_ORDINAL => {
                    let Ok(request) = message.decode_body::<ProviderLookupHostRequest>() else {
                        return false;
                    };
                    match stack.start_lookup(to, &request.name) {
                        Ok(Some(addresses)) => owed.push((to, Outcome::Lookup(Ok(addresses)))),
                        Ok(None) => {}
                        Err(status) => owed.push((to, Outcome::Lookup(Err(status)))),
                    }
                    continue;
                }
                Protocol::Provider => dispatch_provider(&mut Requests(stack), &mut message),
                Protocol::Hook => dispatch_test_hook(&mut Hook, &mut message),
            };
            match reply {
                Ok(Some(reply)) => {
                    if client.transport.send(reply).is_err() {
                        return false;
                    }
                }
                Ok(None) => {}
                Err(_) => return false, // a bad message: drop the client
            }
        }
        true
    });
    for (to, outcome) in owed {
        send_result(clients, to, outcome);
    }
}

/// Answers the pings and lookups that ended.
pub fn send_results(stack: &mut Stack, clients: &[Client]) {
    for (to, result) in stack.ping_results() {
        send_result(clients, to, Outcome::Ping(result));
    }
    for (to, result) in stack.lookup_results() {
        send_result(clients, to, Outcome::Lookup(result));
    }
}
