//! Accounts: what a job's programs hold in the kernel beyond their own
//! handle tables and mappings.
//!
//! A message's bytes live in the kernel heap from the write until the read
//! (or until the message is dropped), and are charged to the *writer's*
//! job for that long; so are the handles it carries, which have left the
//! writer's table but not yet reached a reader's. Each job has its own
//! account, limited by the job's memory limit and its handle limit
//! (`job_set_limits`; bytes never more than a share of RAM set at boot),
//! inside its parent's, so a program that floods channels no one reads,
//! or parks handles in them, runs out of its own budget (`NO_MEMORY`,
//! `NO_RESOURCES`) — and so does its whole subtree — while every other
//! job keeps writing.
//!
//! [`MemoryAccount`] counts the pages of a job subtree's VMOs.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};
use zx_abi::Status;

/// The most one job may have queued, whatever its limits: set at boot.
static DEFAULT_LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Sets the most bytes one job may have queued (at boot).
pub fn set_default_limit(bytes: u64) {
    DEFAULT_LIMIT.store(bytes, Ordering::Relaxed);
}

/// One job's queued-message bytes and handles, and their limits. Accounts
/// nest as jobs do: what a job's programs queue is charged to the job and
/// to every ancestor, and each refuses past its own limit, so a program
/// cannot multiply its budget by making child jobs, and a limit set on a
/// job later bounds what its whole subtree has queued.
pub struct Account {
    used: AtomicU64,
    limit: AtomicU64,
    handles: AtomicU64,
    handle_limit: AtomicU64,
    parent: Option<Arc<Account>>,
}

impl Account {
    /// The root job's account: no limits of its own (the kernel's memory
    /// reserve bounds it).
    pub fn root() -> Arc<Account> {
        Arc::new(Account {
            used: AtomicU64::new(0),
            limit: AtomicU64::new(u64::MAX),
            handles: AtomicU64::new(0),
            handle_limit: AtomicU64::new(u64::MAX),
            parent: None,
        })
    }

    /// A new account inside `parent`'s, holding nothing, limited to the
    /// default share of RAM and to `handle_limit` handles until its job
    /// sets limits.
    pub fn new(parent: &Arc<Account>, handle_limit: u64) -> Arc<Account> {
        Arc::new(Account {
            used: AtomicU64::new(0),
            limit: AtomicU64::new(DEFAULT_LIMIT.load(Ordering::Relaxed)),
            handles: AtomicU64::new(0),
            handle_limit: AtomicU64::new(handle_limit),
            parent: Some(Arc::clone(parent)),
        })
    }

    /// Lowers the handle limit (never raises it).
    pub fn tighten_handles(&self, limit: u64) {
        self.handle_limit.fetch_min(limit, Ordering::Relaxed);
    }

    /// Lowers the byte limit (never raises it).
    pub fn tighten(&self, limit: u64) {
        self.limit.fetch_min(limit, Ordering::Relaxed);
    }

    /// Adds `amount` to one counter here and in every ancestor, or to
    /// none of them (`refusal`) if one would pass its limit.
    #[inline]
    fn charge_up(
        &self,
        amount: u64,
        counter: fn(&Account) -> &AtomicU64,
        limit: fn(&Account) -> &AtomicU64,
        refusal: Status,
    ) -> Result<(), Status> {
        let mut account = Some(self);
        while let Some(current) = account {
            let total = counter(current)
                .fetch_add(amount, Ordering::AcqRel)
                .saturating_add(amount);
            if total > limit(current).load(Ordering::Relaxed) {
                counter(current).fetch_sub(amount, Ordering::AcqRel);
                // Give back what the accounts below took.
                let mut below = Some(self);
                while let Some(undo) = below.filter(|undo| !core::ptr::eq(*undo, current)) {
                    counter(undo).fetch_sub(amount, Ordering::AcqRel);
                    below = undo.parent.as_deref();
                }
                return Err(refusal);
            }
            account = current.parent.as_deref();
        }
        Ok(())
    }

    /// Takes `amount` from one counter here and in every ancestor.
    #[inline]
    fn uncharge_up(&self, amount: u64, counter: fn(&Account) -> &AtomicU64) {
        let mut account = Some(self);
        while let Some(current) = account {
            counter(current).fetch_sub(amount, Ordering::AcqRel);
            account = current.parent.as_deref();
        }
    }

    /// Charges `count` handles in flight, or refuses with `NO_RESOURCES`
    /// past a limit.
    pub fn charge_handles(&self, count: u64) -> Result<(), Status> {
        self.charge_up(
            count,
            |a| &a.handles,
            |a| &a.handle_limit,
            Status::NO_RESOURCES,
        )
    }

    /// Gives back `count` handles charged before.
    pub fn uncharge_handles(&self, count: u64) {
        self.uncharge_up(count, |a| &a.handles);
    }

    /// Charges `bytes`, or refuses with `NO_MEMORY` past a limit.
    #[inline]
    pub fn charge(&self, bytes: u64) -> Result<(), Status> {
        self.charge_up(bytes, |a| &a.used, |a| &a.limit, Status::NO_MEMORY)
    }

    /// Gives back `bytes` charged before.
    #[inline]
    pub fn uncharge(&self, bytes: u64) {
        self.uncharge_up(bytes, |a| &a.used);
    }
}

/// A job's committed memory: the pages of the VMOs its programs created
/// (paged VMOs as they are committed, contiguous ones whole). Accounts
/// nest as jobs do: a page is charged to the job and every ancestor, and
/// each refuses past its own limit (the job's memory limit), so a
/// component's limit bounds everything its subtree commits.
pub struct MemoryAccount {
    used: AtomicU64,
    limit: AtomicU64,
    parent: Option<Arc<MemoryAccount>>,
}

impl MemoryAccount {
    /// An empty account with no limit of its own, inside `parent`'s.
    pub fn new(parent: Option<&Arc<MemoryAccount>>) -> Arc<MemoryAccount> {
        Arc::new(MemoryAccount {
            used: AtomicU64::new(0),
            limit: AtomicU64::new(u64::MAX),
            parent: parent.cloned(),
        })
    }

    /// Lowers the limit (never raises it).
    pub fn tighten(&self, limit: u64) {
        self.limit.fetch_min(limit, Ordering::Relaxed);
    }

    /// Charges `bytes` here and to every ancestor, or to none of them
    /// (`NO_MEMORY`) if one would pass its limit.
    pub fn charge(&self, bytes: u64) -> Result<(), Status> {
        let mut account = Some(self);
        while let Some(current) = account {
            let total = current
                .used
                .fetch_add(bytes, Ordering::AcqRel)
                .saturating_add(bytes);
            if total > current.limit.load(Ordering::Relaxed) {
                current.used.fetch_sub(bytes, Ordering::AcqRel);
                // Give back what the accounts below took.
                let mut below = Some(self);
                while let Some(undo) = below.filter(|undo| !core::ptr::eq(*undo, current)) {
                    undo.used.fetch_sub(bytes, Ordering::AcqRel);
                    below = undo.parent.as_deref();
                }
                return Err(Status::NO_MEMORY);
            }
            account = current.parent.as_deref();
        }
        Ok(())
    }

    /// Gives back `bytes` charged before, here and to every ancestor.
    pub fn uncharge(&self, bytes: u64) {
        let mut account = Some(self);
        while let Some(current) = account {
            current.used.fetch_sub(bytes, Ordering::AcqRel);
            account = current.parent.as_deref();
        }
    }
}
