//! Publishing a device: the driver hands the driver manager's registry its
//! device token and the client end of a connector, and serves the
//! connector's `Open` requests (one per `/dev` connection) like an
//! outgoing directory.

pub use crate::bindings::zx_driver::DeviceClass;
use crate::bindings::zx_driver::{RegistryClient, RegistryMarker, RegistryPublishRequest};
use zx::{AsHandleRef, Channel, Event, Rights, Signals, Status};
use zx_component::Outgoing;
use zx_idl::ChannelTransport;

/// Publishes the device `token` names as a device of `class`; returns the
/// connector to serve.
pub fn publish(token: &Event, class: DeviceClass) -> Result<Outgoing, Status> {
    let name = RegistryMarker::DISCOVERABLE_NAME.unwrap_or("zx.driver.Registry");
    let registry = RegistryClient::new(ChannelTransport::new(zx_component::connect(name)?));
    let (client, server) = Channel::create()?;
    let token = token.handle().duplicate(Rights::SAME_RIGHTS)?;
    let request = RegistryPublishRequest {
        token: idlc_runtime::Handle::from_raw(token.into_raw()),
        class,
        connector: idlc_runtime::Handle::from_raw(client.into_handle().into_raw()),
    };
    match registry.publish(request) {
        Ok(Ok(_)) => Ok(Outgoing::from_channel(server)),
        Ok(Err(code)) => Err(Status(code)),
        Err(_) => Err(Status::PEER_CLOSED),
    }
}

/// Serves the device: each `/dev` connection (an `Open` of `protocol` on
/// the connector) gets a fresh `new_connection()` state and is answered
/// with `dispatch`, one request at a time, until the component manager
/// asks the driver to stop. Returns the driver's exit code.
pub fn run<C: 'static>(
    token: &Event,
    connector: Outgoing,
    protocol: &'static str,
    new_connection: impl FnMut() -> C + 'static,
    dispatch: fn(
        &mut C,
        &mut idlc_runtime::IncomingMessage,
    ) -> Option<idlc_runtime::OutgoingMessage>,
) -> i64 {
    run_with(
        token,
        connector,
        protocol,
        new_connection,
        dispatch,
        core::future::pending(),
    )
}

/// As [`run`], with `beside` running on the same executor (a driver's
/// interrupt task, say).
pub fn run_with<C: 'static>(
    token: &Event,
    connector: Outgoing,
    protocol: &'static str,
    mut new_connection: impl FnMut() -> C + 'static,
    dispatch: fn(
        &mut C,
        &mut idlc_runtime::IncomingMessage,
    ) -> Option<idlc_runtime::OutgoingMessage>,
    beside: impl core::future::Future<Output = ()> + 'static,
) -> i64 {
    use idlc_runtime::Transport;
    let Ok(mut executor) = zx_async::Executor::new() else {
        return 1;
    };
    let spawner = executor.spawner();
    spawner.spawn(beside);
    let accept = async move {
        while let Some((name, channel)) = connector.next().await {
            if name != protocol {
                continue; // closes the channel
            }
            let mut connection = new_connection();
            spawner.spawn(async move {
                let transport = ChannelTransport::new(channel);
                while let Some(mut message) = zx_component::next_message(&transport).await {
                    if let Some(reply) = dispatch(&mut connection, &mut message) {
                        if transport.send(reply).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    };
    let Some(lifecycle) = zx_component::Lifecycle::take() else {
        executor.run(accept);
        return 0;
    };
    executor.spawner().spawn(accept);
    executor.run(async move { lifecycle.stopped().await });
    // Asked to stop, not crashed: tell the driver manager, so it does not
    // start the driver again.
    let _ = token.signal(Signals::empty(), STOPPED_ON_REQUEST);
    0
}

/// Raised on the device token by a driver that stops because the
/// component manager asked it to (rather than crashing).
pub const STOPPED_ON_REQUEST: Signals = Signals::USER_0;
