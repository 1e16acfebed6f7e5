//! Serving one protocol with a transferable state, so that the component
//! can be hot-swapped (docs/hot-swap.md) with no swap-specific code.
//!
//! A component names the IDL table of its state in its manifest (`state`)
//! and hands [`Server`] the protocol's name and a dispatch function over
//! that state:
//!
//! ```ignore
//! Server::new(EchoMarker::DISCOVERABLE_NAME.unwrap(), |state: &mut EchoState, message| {
//!     dispatch_echo(&mut Echo { state }, message)
//! })
//! .run()
//! ```
//!
//! The server answers every connection that reaches its outgoing
//! directory, each as a task of one executor, reading requests through
//! `channel_recv` (a request this process dies before answering goes back
//! to the front of its queue). It also answers the component manager on
//! the lifecycle channel (`idl/lifecycle.idl`):
//!
//! - `Stop`: it returns from [`Server::run`];
//! - `Escrow`: it stops at a message boundary — a task reads, dispatches
//!   and replies with no `await` in between, and the lifecycle task runs
//!   only while every task waits, so every request read is answered — and
//!   hands over its outgoing directory, every connection (with the
//!   `Open`s still queued in the directory, accepted then) and its state
//!   (encoded with the IDL). Then it waits: `Resume` (the swap was rolled
//!   back) serves again what it is handed; `Stop` ends it;
//! - started for a swap (no outgoing directory among its start-up
//!   handles), it waits for `Prepare`, binds its lifecycle channel to the
//!   escrow it names (`handle_bind_escrow`), answers, then asks for the
//!   handover (`Takeover.Take`, a call that receives every endpoint already
//!   bound, below), reads every connection it accepts later bound to the
//!   same escrow (`CHANNEL_BIND_RECEIVED` on the outgoing directory),
//!   decodes the state (new table fields start empty) and serves. Should it end within its grace period, the kernel moves those
//!   endpoints to the manager with everything queued in them.
//!
//! The handover arrives already bound: `Take` is a `channel_call` with
//! `CHANNEL_BIND_RECEIVED`, so the kernel adds each endpoint to this
//! process bound to the escrow its lifecycle channel is bound to.
//!
//! Known gaps: a request requeued by the kernel comes back with the
//! handles it carried only if the server that read it still held them all
//! when it ended (else without them); one protocol per server.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use idlc_runtime::server::DispatchError;
use idlc_runtime::TransactionHeader;
use idlc_runtime::{IncomingMessage, OutgoingMessage, Wire};
use zx::{processargs, AsHandleRef, Channel, Handle, Signals, Status};
use zx_idl::ChannelTransport;
use zx_runtime::println;

use crate::bindings::zx_process_lifecycle::{
    Handover, LifecycleEscrowResponse, LifecycleMarker, LifecyclePrepareRequest,
    LifecycleResumeRequest, TakeoverMarker, TakeoverTakeResponse,
};
use crate::Outgoing;

/// Exit code of a server that could not read the state it was handed
/// (the swap is rolled back).
pub const EXIT_STATE_REJECTED: i64 = 3;
/// Exit code of a server started for a swap that was never handed over.
pub const EXIT_NOT_HANDED_OVER: i64 = 4;

type Dispatch<S> = dyn FnMut(
    &mut S,
    &mut IncomingMessage,
    &mut Vec<OutgoingMessage>,
) -> Result<Option<OutgoingMessage>, DispatchError>;

type TakeoverHook<S> = dyn FnMut(&S);
type StopHook<S> = dyn FnMut(crate::StopReason, &S);
type HandoverHook = dyn FnMut();

/// A swappable server of one protocol with state `S` (the table its
/// manifest names as `state`).
pub struct Server<S> {
    protocol: String,
    dispatch: Rc<RefCell<Box<Dispatch<S>>>>,
    on_takeover: Option<Box<TakeoverHook<S>>>,
    on_stop: Option<Box<StopHook<S>>>,
    on_handover: Option<Box<HandoverHook>>,
}

/// What ended one round of serving.
enum RoundEnd {
    /// `Stop`, or the manager is gone.
    Stop(crate::StopReason),
    /// Everything was handed over in answer to `Escrow`.
    Escrowed,
}

/// What one round serves, shared by its tasks.
struct Round<S> {
    protocol: String,
    state: RefCell<S>,
    outgoing: RefCell<Option<Outgoing>>,
    connections: RefCell<Vec<Option<ChannelTransport>>>,
    /// Every endpoint accepted is bound to it (while a swap is not final).
    escrow: Option<Rc<Channel>>,
    /// Set once everything was handed over: tasks end.
    done: Cell<bool>,
}

impl<S: Wire + Default + 'static> Server<S> {
    /// A server of the protocol named `protocol` (its discoverable name):
    /// `dispatch` answers each request, with the state.
    pub fn new(
        protocol: &str,
        dispatch: impl FnMut(&mut S, &mut IncomingMessage) -> Result<Option<OutgoingMessage>, DispatchError>
            + 'static,
    ) -> Server<S> {
        let mut dispatch = dispatch;
        Server::with_events(protocol, move |state, request, _events| {
            dispatch(state, request)
        })
    }

    /// A server whose `dispatch` may also send events: the messages it
    /// pushes onto its third argument go to the same connection, in order,
    /// before the reply (built with the generated `<protocol>_<event>_event`
    /// functions).
    pub fn with_events(
        protocol: &str,
        dispatch: impl FnMut(
                &mut S,
                &mut IncomingMessage,
                &mut Vec<OutgoingMessage>,
            ) -> Result<Option<OutgoingMessage>, DispatchError>
            + 'static,
    ) -> Server<S> {
        Server {
            protocol: String::from(protocol),
            dispatch: Rc::new(RefCell::new(Box::new(dispatch))),
            on_takeover: None,
            on_stop: None,
            on_handover: None,
        }
    }

    /// Calls `hook` with the state each time this server starts serving
    /// (at start, after taking over from another version, after a
    /// rollback): a place to log, or, for the hot-swap tests, to fail.
    pub fn on_takeover(mut self, hook: impl FnMut(&S) + 'static) -> Server<S> {
        self.on_takeover = Some(Box::new(hook));
        self
    }

    /// Calls `hook` with the state when the server stops (asked to, or the
    /// manager is gone; not when it hands over).
    pub fn on_stop(mut self, hook: impl FnMut(crate::StopReason, &S) + 'static) -> Server<S> {
        self.on_stop = Some(Box::new(hook));
        self
    }

    /// Calls `hook` once this server has handed everything over (in answer
    /// to `Escrow`), before it waits for `Resume` or `Stop`: for the
    /// hot-swap tests, an old version that ends in the new one's grace
    /// period.
    pub fn on_handover(mut self, hook: impl FnMut() + 'static) -> Server<S> {
        self.on_handover = Some(Box::new(hook));
        self
    }

    /// Serves until the component manager says `Stop` (or is gone); the
    /// process's exit code.
    pub fn run(mut self) -> i64 {
        let lifecycle =
            zx_runtime::take_startup_handle(processargs::LIFECYCLE).map(Channel::from_handle);
        let Ok(mut executor) = zx_async::Executor::new() else {
            return -1;
        };
        let mut escrow: Option<Rc<Channel>> = None;
        let (mut outgoing, mut connections, mut state) = match Outgoing::take() {
            Some(outgoing) => (outgoing, Vec::new(), S::default()),
            None => {
                // Started for a swap: prepared, then handed over.
                let Some(lifecycle) = lifecycle.as_ref() else {
                    println!("serve: neither an outgoing directory nor a lifecycle channel");
                    return EXIT_NOT_HANDED_OVER;
                };
                match next_request(lifecycle) {
                    Some(Request::Prepare(txid, channel)) => {
                        // The lifecycle channel first: a `Resume` still
                        // queued in it comes back with it.
                        let _ = zx::handle_bind_escrow(lifecycle, &channel);
                        let reply = OutgoingMessage::empty(TransactionHeader::new(
                            txid,
                            LifecycleMarker::PREPARE_ORDINAL,
                            false,
                        ));
                        if lifecycle.write(&reply.bytes, Vec::new()).is_err() {
                            return EXIT_NOT_HANDED_OVER;
                        }
                        escrow = Some(Rc::new(channel));
                    }
                    _ => return EXIT_NOT_HANDED_OVER,
                }
                match ask_for_handover(lifecycle) {
                    // Bound by the kernel as it arrived, or (the lifecycle
                    // channel could not be bound) bound here.
                    Some((handover, bound)) => {
                        match take(handover, if bound { None } else { escrow.as_deref() }) {
                            Ok(taken) => taken,
                            Err(code) => return code,
                        }
                    }
                    None => return EXIT_NOT_HANDED_OVER,
                }
            }
        };
        loop {
            if let Some(hook) = self.on_takeover.as_mut() {
                hook(&state);
            }
            let round = Rc::new(Round {
                protocol: self.protocol.clone(),
                state: RefCell::new(state),
                outgoing: RefCell::new(Some(outgoing)),
                connections: RefCell::new(Vec::new()),
                escrow: escrow.clone(),
                done: Cell::new(false),
            });
            let dispatch = Rc::clone(&self.dispatch);
            let spawner = executor.spawner();
            for connection in connections.drain(..) {
                accept(&round, &dispatch, &spawner, connection);
            }
            spawner.spawn(accept_loop(
                Rc::clone(&round),
                Rc::clone(&dispatch),
                spawner.clone(),
            ));
            let Some(lifecycle) = lifecycle.as_ref() else {
                // Nothing can stop or swap it: serve until the manager is
                // gone.
                executor.run(core::future::pending::<()>());
                return 0;
            };
            let lifecycle_value = lifecycle.raw_handle();
            let end = executor.run({
                let round = Rc::clone(&round);
                async move { lifecycle_task(lifecycle_value, &round).await }
            });
            if let RoundEnd::Stop(reason) = end {
                if let Some(hook) = self.on_stop.as_mut() {
                    hook(reason, &round.state.borrow());
                }
                return 0;
            }
            // Handed over: wait for a rollback or the end.
            if let Some(hook) = self.on_handover.as_mut() {
                hook();
            }
            match next_request(lifecycle) {
                Some(Request::Resume(handover)) => match take(handover, escrow.as_deref()) {
                    Ok((o, c, s)) => {
                        outgoing = o;
                        connections = c;
                        state = s;
                    }
                    Err(code) => return code,
                },
                _ => return 0,
            }
        }
    }
}

/// A lifecycle request this module acts on.
enum Request {
    Stop,
    Prepare(u32, Channel),
    Escrow(u32),
    Resume(Handover),
}

/// Decodes a lifecycle message; `None` for one that is malformed.
fn parse(mut message: IncomingMessage) -> Option<Request> {
    let header = message.header().ok()?;
    match header.ordinal {
        LifecycleMarker::STOP_ORDINAL => Some(Request::Stop),
        LifecycleMarker::PREPARE_ORDINAL => {
            let request: LifecyclePrepareRequest = message.decode_body().ok()?;
            let escrow = Channel::from_handle(Handle::from_raw(request.escrow.into_raw()));
            Some(Request::Prepare(header.txid, escrow))
        }
        LifecycleMarker::ESCROW_ORDINAL => Some(Request::Escrow(header.txid)),
        LifecycleMarker::RESUME_ORDINAL => {
            let request: LifecycleResumeRequest = message.decode_body().ok()?;
            Some(Request::Resume(request.handover))
        }
        _ => None,
    }
}

/// Waits (blocking) for the next lifecycle request; `None` once the
/// manager is gone.
fn next_request(lifecycle: &Channel) -> Option<Request> {
    let transport = ChannelTransport::new(Channel::from_handle(Handle::from_raw(
        lifecycle.raw_handle(),
    )));
    let request = loop {
        match transport.try_receive() {
            Ok(message) => match parse(message) {
                Some(request) => break Some(request),
                None => continue,
            },
            Err(Status::SHOULD_WAIT) => {
                let signals = Signals::CHANNEL_READABLE | Signals::PEER_CLOSED;
                if lifecycle.wait_one(signals, zx::TIME_INFINITE).is_err() {
                    break None;
                }
            }
            Err(_) => break None,
        }
    };
    // The transport borrows the lifecycle channel: do not close it.
    core::mem::forget(transport);
    request
}

/// Asks the manager for the handover (`Takeover.Take`, a `channel_call`
/// on the lifecycle channel) and waits for it; `None` if the manager gave
/// up or answered something unreadable. The call is made with
/// `CHANNEL_BIND_RECEIVED`: every endpoint handed over arrives already
/// bound to the escrow the lifecycle channel is bound to, so there is no
/// instant at which this process holds it unbound (docs/hot-swap.md). With
/// the lifecycle channel unbound (its binding failed) it is a plain call;
/// the flag says which (true: bound by the kernel).
fn ask_for_handover(lifecycle: &Channel) -> Option<(Handover, bool)> {
    let request = OutgoingMessage::empty(TransactionHeader::new(
        0,
        TakeoverMarker::TAKE_ORDINAL,
        false,
    ));
    let mut reply = zx::MessageBuf::default();
    let bound = match lifecycle.call_etc(
        zx::CHANNEL_BIND_RECEIVED,
        &request.bytes,
        Vec::new(),
        zx::TIME_INFINITE,
        &mut reply,
    ) {
        Ok(()) => true,
        Err(Status::BAD_STATE) => {
            let request = OutgoingMessage::empty(TransactionHeader::new(
                0,
                TakeoverMarker::TAKE_ORDINAL,
                false,
            ));
            lifecycle
                .call(&request.bytes, Vec::new(), zx::TIME_INFINITE, &mut reply)
                .ok()?;
            false
        }
        // A reply it could not take bound stays queued on the (bound)
        // lifecycle channel: ending now hands it back whole.
        Err(_) => return None,
    };
    let mut message = IncomingMessage {
        bytes: core::mem::take(&mut reply.bytes),
        handles: core::mem::take(&mut reply.handles)
            .into_iter()
            .map(|h| idlc_runtime::HandleInfo::untyped(h.into_raw()))
            .collect(),
    };
    message
        .decode_body::<TakeoverTakeResponse>()
        .ok()
        .map(|response| (response.handover, bound))
}

/// Takes what a `Take` or a `Resume` hands over: binds every endpoint to `escrow` (if
/// any) before anything else, then decodes the state.
fn take<S: Wire + Default>(
    handover: Handover,
    escrow: Option<&Channel>,
) -> Result<(Outgoing, Vec<Channel>, S), i64> {
    let outgoing = Channel::from_handle(Handle::from_raw(handover.outgoing.into_raw()));
    let connections: Vec<Channel> = handover
        .connections
        .into_iter()
        .map(|h| Channel::from_handle(Handle::from_raw(h.into_raw())))
        .collect();
    if let Some(escrow) = escrow {
        let _ = zx::handle_bind_escrow(&outgoing, escrow);
        for connection in &connections {
            let _ = zx::handle_bind_escrow(connection, escrow);
        }
    }
    let state: S = if handover.state.is_empty() {
        S::default()
    } else {
        match idlc_runtime::decode(&handover.state, &mut []) {
            Ok(state) => state,
            Err(error) => {
                println!("serve: cannot read the state handed over: {:?}", error);
                return Err(EXIT_STATE_REJECTED);
            }
        }
    };
    Ok((Outgoing::from_channel(outgoing), connections, state))
}

/// Starts serving `channel` in `round`.
fn accept<S: 'static>(
    round: &Rc<Round<S>>,
    dispatch: &Rc<RefCell<Box<Dispatch<S>>>>,
    spawner: &zx_async::Spawner,
    channel: Channel,
) {
    let slot = {
        // A slot whose task ended is reused.
        let mut connections = round.connections.borrow_mut();
        let transport = Some(ChannelTransport::new(channel));
        match connections.iter().position(Option::is_none) {
            Some(slot) => {
                connections[slot] = transport;
                slot
            }
            None => {
                connections.push(transport);
                connections.len() - 1
            }
        }
    };
    spawner.spawn(serve_connection(
        Rc::clone(round),
        Rc::clone(dispatch),
        slot,
    ));
}

/// The next `Open` queued in `outgoing`. While a swap is not final
/// (`escrow`), its channel arrives bound to the escrow the directory is
/// bound to, in the read itself (`CHANNEL_BIND_RECEIVED`): there is no
/// instant at which this version holds a connection it could lose by
/// ending. If the directory is not bound (its binding failed), the channel
/// is read plainly and bound here.
fn next_open(outgoing: &Outgoing, escrow: Option<&Channel>) -> Result<(String, Channel), Status> {
    let Some(escrow) = escrow else {
        return outgoing.try_next();
    };
    match outgoing.try_next_bound() {
        Err(Status::BAD_STATE) => {
            let (name, channel) = outgoing.try_next()?;
            let _ = zx::handle_bind_escrow(&channel, escrow);
            Ok((name, channel))
        }
        next => next,
    }
}

/// Accepts connections from the outgoing directory.
async fn accept_loop<S: 'static>(
    round: Rc<Round<S>>,
    dispatch: Rc<RefCell<Box<Dispatch<S>>>>,
    spawner: zx_async::Spawner,
) {
    loop {
        if round.done.get() {
            return;
        }
        let next = match round.outgoing.borrow().as_ref() {
            Some(outgoing) => next_open(outgoing, round.escrow.as_deref())
                .map_err(|status| (status, outgoing.channel().as_handle_ref())),
            None => return,
        };
        match next {
            Ok((name, channel)) if name == round.protocol => {
                accept(&round, &dispatch, &spawner, channel);
            }
            Ok((name, _)) => println!("serve: no service named {}", name),
            Err((Status::SHOULD_WAIT, handle)) => {
                let readable = Signals::CHANNEL_READABLE | Signals::PEER_CLOSED;
                if zx_async::on_signals(&handle, readable).await.is_err() {
                    return;
                }
            }
            Err((Status::PEER_CLOSED, _)) => return,
            Err(_) => {}
        }
    }
}

/// Answers requests on connection `slot` until its client goes away or
/// the round ends. A request is read, dispatched and answered with no
/// `await` in between: the lifecycle task never sees one half answered.
async fn serve_connection<S: 'static>(
    round: Rc<Round<S>>,
    dispatch: Rc<RefCell<Box<Dispatch<S>>>>,
    slot: usize,
) {
    loop {
        if round.done.get() {
            return;
        }
        let received = match round.connections.borrow()[slot].as_ref() {
            Some(transport) => transport
                .try_recv()
                .map_err(|status| (status, transport.channel().as_handle_ref())),
            None => return,
        };
        match received {
            Ok(mut request) => {
                let mut events = Vec::new();
                let reply = {
                    let mut state = round.state.borrow_mut();
                    (dispatch.borrow_mut())(&mut state, &mut request, &mut events)
                };
                if let Err(error) = &reply {
                    println!("serve: bad request: {:?}", error);
                }
                let connections = round.connections.borrow();
                if let Some(transport) = connections[slot].as_ref() {
                    for message in events.into_iter().chain(reply.ok().flatten()) {
                        write(transport.channel(), message);
                    }
                }
            }
            Err((Status::SHOULD_WAIT, handle)) => {
                let readable = Signals::CHANNEL_READABLE | Signals::PEER_CLOSED;
                if zx_async::on_signals(&handle, readable).await.is_err() {
                    return;
                }
            }
            Err(_) => {
                // The client is gone.
                round.connections.borrow_mut()[slot] = None;
                return;
            }
        }
    }
}

/// Writes one message (a reply or an event) with its handles.
fn write(channel: &Channel, mut message: OutgoingMessage) {
    let handles: Vec<Handle> = core::mem::take(&mut message.handles)
        .into_iter()
        .map(|d| Handle::from_raw(d.handle.into_raw()))
        .collect();
    let _ = channel.write(&message.bytes, handles);
}

/// Answers the lifecycle channel for one round: ends it on `Stop`, hands
/// everything over on `Escrow`.
async fn lifecycle_task<S: Wire>(lifecycle: u32, round: &Round<S>) -> RoundEnd {
    let channel = Channel::from_handle(Handle::from_raw(lifecycle));
    let end = loop {
        let mut message = zx::MessageBuf::default();
        match channel.read(&mut message) {
            Ok(()) => {
                let message = IncomingMessage {
                    bytes: message.bytes,
                    handles: Vec::new(),
                };
                match parse(message) {
                    Some(Request::Stop) => break RoundEnd::Stop(crate::StopReason::Requested),
                    Some(Request::Escrow(txid)) => {
                        if escrow(&channel, txid, round) {
                            break RoundEnd::Escrowed;
                        }
                        break RoundEnd::Stop(crate::StopReason::ManagerGone);
                    }
                    _ => {}
                }
            }
            Err(Status::SHOULD_WAIT) => {
                let readable = Signals::CHANNEL_READABLE | Signals::PEER_CLOSED;
                if zx_async::on_signals(&channel, readable).await.is_err() {
                    break RoundEnd::Stop(crate::StopReason::ManagerGone);
                }
            }
            Err(_) => break RoundEnd::Stop(crate::StopReason::ManagerGone),
        }
    };
    // Borrowed: the caller keeps the lifecycle channel.
    core::mem::forget(channel);
    end
}

/// The most connections a `Handover` carries (`idl/lifecycle.idl`).
const MAX_HANDED_CONNECTIONS: usize = 63;

/// Hands the outgoing directory, every connection and the state to the
/// manager in answer to `Escrow` (`txid`). Runs while every other task of
/// the round waits: no request is half answered.
fn escrow<S: Wire>(lifecycle: &Channel, txid: u32, round: &Round<S>) -> bool {
    round.done.set(true);
    let Some(outgoing) = round.outgoing.borrow_mut().take() else {
        return false;
    };
    let mut connections: Vec<idlc_runtime::Handle> = round
        .connections
        .borrow_mut()
        .iter_mut()
        .filter_map(Option::take)
        .map(|transport| {
            idlc_runtime::Handle::from_raw(transport.into_channel().into_handle().into_raw())
        })
        .collect();
    // `Open`s still queued in the outgoing directory were forwarded before
    // the manager asked for this handover: accepted now, they go over as
    // connections, which the manager recognises (by koid) if it must give
    // them back on a rollback. Left queued, the next version would read
    // them, and a rollback would close them: the manager records only the
    // connections it forwards from its `Escrow` request on
    // (docs/hot-swap.md). What a handover cannot carry stays queued.
    while connections.len() < MAX_HANDED_CONNECTIONS {
        match next_open(&outgoing, round.escrow.as_deref()) {
            Ok((name, channel)) if name == round.protocol => connections.push(
                idlc_runtime::Handle::from_raw(channel.into_handle().into_raw()),
            ),
            Ok((name, _)) => println!("serve: no service named {}", name),
            // A malformed request was read and dropped: the next one.
            Err(Status::INVALID_ARGS) => {}
            Err(_) => break,
        }
    }
    let mut state = Vec::new();
    let mut handles = Vec::new();
    if idlc_runtime::encode(&mut *round.state.borrow_mut(), &mut state, &mut handles).is_err() {
        println!("serve: cannot encode the state");
        state.clear();
    }
    let mut response = LifecycleEscrowResponse {
        handover: Handover {
            outgoing: idlc_runtime::Handle::from_raw(
                outgoing.into_channel().into_handle().into_raw(),
            ),
            connections,
            state,
        },
    };
    let header = TransactionHeader::new(txid, LifecycleMarker::ESCROW_ORDINAL, false);
    let Ok(mut reply) = OutgoingMessage::encode(header, &mut response) else {
        println!("serve: cannot encode the handover");
        return false;
    };
    let handles: Vec<Handle> = core::mem::take(&mut reply.handles)
        .into_iter()
        .map(|d| Handle::from_raw(d.handle.into_raw()))
        .collect();
    lifecycle.write(&reply.bytes, handles).is_ok()
}
