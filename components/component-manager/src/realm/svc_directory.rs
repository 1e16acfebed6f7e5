//! Each component's `/svc`: the directory through which it opens what it
//! uses, each `Open` handed to routing.

use alloc::rc::Rc;
use core::cell::RefCell;
use idlc_runtime::Transport;
use zx::{Channel, Event, Status};
use zx_async::Spawner;
use zx_component::bindings::zx_io::{
    dispatch_directory, DirectoryOpenRequest, DirectoryReadDirResponse, DirectoryServer,
};
use zx_idl::ChannelTransport;

use super::decl::zx_component_decl::CapabilityKind;
use super::routing::open_route;
use super::State;

/// Serves instance `index`'s `/svc`: routes each `Open` to its provider.
pub(super) async fn serve_svc(
    state: Rc<RefCell<State>>,
    spawner: Spawner,
    idle: Rc<Event>,
    (index, generation): (usize, u32),
    svc: Channel,
) {
    let transport = ChannelTransport::new(svc);
    let mut directory = SvcDirectory { opened: None };
    // Until the component's end is closed.
    while let Some(mut message) = zx_component::next_message(&transport).await {
        let reply = match dispatch_directory(&mut directory, &mut message) {
            Ok(reply) => reply,
            Err(_) => return, // a malformed request: drop the connection
        };
        if !state.borrow().live(index, generation) {
            return; // the instance was destroyed (and its slot reused)
        }
        if let Some(request) = directory.opened.take() {
            let object = Channel::from_handle(zx::Handle::from_raw(request.object.into_raw()));
            open_route(
                &state,
                &spawner,
                &idle,
                index,
                CapabilityKind::Protocol,
                &request.path,
                object,
            );
        }
        if let Some(reply) = reply {
            if transport.send(reply).is_err() {
                return;
            }
        }
    }
}

/// A component's `/svc`, as a `zx.io/Directory`: it opens, but does not
/// list (what a component may use is in its manifest).
struct SvcDirectory {
    opened: Option<DirectoryOpenRequest>,
}

impl DirectoryServer for SvcDirectory {
    fn open(&mut self, request: DirectoryOpenRequest) {
        self.opened = Some(request);
    }

    fn read_dir(&mut self) -> Result<DirectoryReadDirResponse, i32> {
        Err(Status::NOT_SUPPORTED.0)
    }
}
