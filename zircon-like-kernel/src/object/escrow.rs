//! Escrow bindings: handles a process asked the kernel to move, rather
//! than close, when it ends (`handle_bind_escrow`).
//!
//! The hot-swap's rollback needs them (docs/hot-swap.md): a new version of
//! a server binds every server endpoint it takes to an escrow channel the
//! component manager holds the other end of. If it crashes, its endpoints
//! arrive on the manager's end, each as a message carrying the handle (its
//! bytes: the handle's value in the dead process, little-endian `u32`);
//! the endpoints never close, so their clients see no `PEER_CLOSED` and
//! what is queued on them stays queued.
//!
//! Accounting (DESIGN §8): a process holds at most
//! [`HANDLE_ESCROW_MAX_BINDINGS`] bindings; each binding's message bytes
//! and handle list are allocated when it is made (fallibly), so ending a
//! process still allocates nothing; the message is charged to the
//! process's job like a write when it is delivered, and a delivery that
//! fails (the escrow's peer is closed, its queue is full, the charge is
//! refused) closes the handle as if it were not bound. A binding ends when
//! its handle leaves the process's table (`Process::take_handle`).

use super::account::Account;
use super::channel::{Channel, Message};
use super::Handle;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};
use handle_table::HandleTable;
use spin::Mutex;
use zx_abi::{HandleValue, Status, HANDLE_ESCROW_MAX_BINDINGS};

/// One bound handle.
pub struct Binding {
    value: HandleValue,
    escrow: Arc<Channel>,
    /// The message's bytes, ready.
    bytes: Vec<u8>,
    /// Room for the handle, ready.
    handles: Vec<Handle>,
}

/// A process's bindings.
pub struct EscrowBindings {
    /// How many there are: a process without any (nearly all) skips the
    /// lock when a handle leaves its table.
    count: AtomicUsize,
    bindings: Mutex<Vec<Binding>>,
}

impl EscrowBindings {
    pub const fn new() -> EscrowBindings {
        EscrowBindings {
            count: AtomicUsize::new(0),
            bindings: Mutex::new(Vec::new()),
        }
    }

    /// Binds handle `value` to `escrow`, replacing an earlier binding of
    /// the same handle.
    pub fn bind(&self, value: HandleValue, escrow: Arc<Channel>) -> Result<(), Status> {
        let mut bindings = self.bindings.lock();
        if let Some(binding) = bindings.iter_mut().find(|b| b.value == value) {
            binding.escrow = escrow;
            return Ok(());
        }
        if bindings.len() >= HANDLE_ESCROW_MAX_BINDINGS {
            return Err(Status::NO_RESOURCES);
        }
        let mut bytes = Vec::new();
        let mut handles = Vec::new();
        bytes
            .try_reserve_exact(4)
            .and_then(|()| handles.try_reserve_exact(1))
            .and_then(|()| bindings.try_reserve(1))
            .map_err(|_| Status::NO_MEMORY)?;
        bytes.extend_from_slice(&value.to_le_bytes());
        bindings.push(Binding {
            value,
            escrow,
            bytes,
            handles,
        });
        self.count.store(bindings.len(), Ordering::Relaxed);
        Ok(())
    }

    /// Handle `value` left the process: it is no longer bound.
    pub fn forget(&self, value: HandleValue) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut bindings = self.bindings.lock();
        if let Some(index) = bindings.iter().position(|b| b.value == value) {
            bindings.swap_remove(index);
        }
        self.count.store(bindings.len(), Ordering::Relaxed);
    }

    /// Every binding, taken out (the process is ending).
    pub fn take_all(&self) -> Vec<Binding> {
        self.count.store(0, Ordering::Relaxed);
        core::mem::take(&mut *self.bindings.lock())
    }
}

impl Default for EscrowBindings {
    fn default() -> EscrowBindings {
        EscrowBindings::new()
    }
}

/// Moves each bound handle out of `table` (the ended process's) into a
/// message on its escrow channel, charged to `account`. A handle that
/// cannot be delivered is dropped here, which closes it; the caller drops
/// the rest of the table afterwards, outside its locks.
pub fn deliver(bindings: Vec<Binding>, table: &mut HandleTable<Handle>, account: &Arc<Account>) {
    for binding in bindings {
        let Some(handle) = table.remove(binding.value) else {
            continue; // cannot happen: a handle that leaves is forgotten
        };
        let mut handles = binding.handles;
        handles.push(handle); // within the reserved capacity
        match Message::new(binding.bytes, handles, Some(account)) {
            Ok(message) => {
                if let Err((_, undelivered)) = binding.escrow.write(message) {
                    drop(undelivered);
                }
            }
            Err((_, undelivered)) => drop(undelivered),
        }
    }
}
