//! Accounts: the kernel memory a job's programs hold in queued channel
//! messages.
//!
//! A message's bytes live in the kernel heap from the write until the read
//! (or until the message is dropped), and are charged to the *writer's*
//! job for that long. Each job has its own account, limited by the job's
//! memory limit (`job_set_limits`), and never by more than a share of RAM
//! set at boot, so a program that floods channels no one reads runs out of
//! its own budget (`NO_MEMORY`) while every other job keeps writing.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};
use zx_abi::Status;

/// The most one job may have queued, whatever its limits: set at boot.
static DEFAULT_LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Sets the most bytes one job may have queued (at boot).
pub fn set_default_limit(bytes: u64) {
    DEFAULT_LIMIT.store(bytes, Ordering::Relaxed);
}

/// One job's queued-message bytes and their limit.
pub struct Account {
    used: AtomicU64,
    limit: AtomicU64,
}

impl Account {
    /// A new account holding nothing, limited to `limit` bytes (and to the
    /// default limit).
    pub fn new(limit: u64) -> Arc<Account> {
        Arc::new(Account {
            used: AtomicU64::new(0),
            limit: AtomicU64::new(limit.min(DEFAULT_LIMIT.load(Ordering::Relaxed))),
        })
    }

    /// The limit.
    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Lowers the limit (never raises it).
    pub fn tighten(&self, limit: u64) {
        self.limit.fetch_min(limit, Ordering::Relaxed);
    }

    /// Charges `bytes`, or refuses with `NO_MEMORY` past the limit.
    #[inline]
    pub fn charge(&self, bytes: u64) -> Result<(), Status> {
        // Bytes are at most a message's 64 KiB: the sum cannot wrap.
        let total = self.used.fetch_add(bytes, Ordering::AcqRel) + bytes;
        if total > self.limit() {
            self.used.fetch_sub(bytes, Ordering::AcqRel);
            return Err(Status::NO_MEMORY);
        }
        Ok(())
    }

    /// Gives back `bytes` charged before.
    #[inline]
    pub fn uncharge(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}
