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
//!
//! `CHANNEL_BIND_RECEIVED` (`channel_call`, `channel_read`) closes the
//! window between receiving a handle and binding it: the handles a message
//! delivers are added to the table already bound to the escrow the
//! endpoint read from is bound to, under the table's lock
//! (`Process::add_handles_bound`, with [`EscrowBindings::reserve`]); a
//! message that cannot be taken so is given back to its queue whole.

use super::account::Account;
use super::channel::{Channel, Message};
use super::Handle;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};
use handle_table::HandleTable;
use spin::{Mutex, MutexGuard};
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

impl Binding {
    /// A binding of `value` to `escrow`, its message's room allocated.
    fn new(value: HandleValue, escrow: Arc<Channel>) -> Result<Binding, Status> {
        let mut bytes = Vec::new();
        let mut handles = Vec::new();
        bytes
            .try_reserve_exact(4)
            .and_then(|()| handles.try_reserve_exact(1))
            .map_err(|_| Status::NO_MEMORY)?;
        bytes.extend_from_slice(&value.to_le_bytes());
        Ok(Binding {
            value,
            escrow,
            bytes,
            handles,
        })
    }
}

/// Bindings made ready by [`EscrowBindings::reserve`], with the lock held.
pub struct Reserved<'a> {
    owner: &'a EscrowBindings,
    bindings: MutexGuard<'a, Vec<Binding>>,
    ready: Vec<Binding>,
}

impl Reserved<'_> {
    /// Binds `value`, a handle just added to the table; within what was
    /// reserved, so it neither allocates nor fails.
    pub fn bind(&mut self, value: HandleValue) {
        if let Some(mut binding) = self.ready.pop() {
            binding.value = value;
            binding.bytes.clear();
            binding.bytes.extend_from_slice(&value.to_le_bytes());
            self.bindings.push(binding); // within the reserved capacity
        }
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        self.owner
            .count
            .store(self.bindings.len(), Ordering::Relaxed);
    }
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
        let binding = Binding::new(value, escrow)?;
        bindings.try_reserve(1).map_err(|_| Status::NO_MEMORY)?;
        bindings.push(binding);
        self.count.store(bindings.len(), Ordering::Relaxed);
        Ok(())
    }

    /// The escrow handle `value` is bound to, if it is.
    pub fn escrow_of(&self, value: HandleValue) -> Option<Arc<Channel>> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let bindings = self.bindings.lock();
        let binding = bindings.iter().find(|b| b.value == value)?;
        Some(Arc::clone(&binding.escrow))
    }

    /// Room for `count` new bindings to `escrow`, every allocation made
    /// now (`CHANNEL_BIND_RECEIVED`: the caller adds the handles to its
    /// table and binds each through [`Reserved::bind`], which cannot fail,
    /// while it holds the lock this keeps). `NO_RESOURCES` past
    /// [`HANDLE_ESCROW_MAX_BINDINGS`].
    pub fn reserve(&self, count: usize, escrow: &Arc<Channel>) -> Result<Reserved<'_>, Status> {
        let mut bindings = self.bindings.lock();
        if bindings.len().saturating_add(count) > HANDLE_ESCROW_MAX_BINDINGS {
            return Err(Status::NO_RESOURCES);
        }
        bindings.try_reserve(count).map_err(|_| Status::NO_MEMORY)?;
        let mut ready = Vec::new();
        ready
            .try_reserve_exact(count)
            .map_err(|_| Status::NO_MEMORY)?;
        for _ in 0..count {
            ready.push(Binding::new(0, Arc::clone(escrow))?);
        }
        Ok(Reserved {
            owner: self,
            bindings,
            ready,
        })
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
