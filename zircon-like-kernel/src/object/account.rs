//! Accounts: what a job's programs hold in the kernel beyond their own
//! handle tables and mappings.
//!
//! A message's bytes live in the kernel heap from the write until the read
//! (or until the message is dropped), and are charged to the *writer's*
//! job for that long; so are the handles it carries, which have left the
//! writer's table but not yet reached a reader's. Each job has its own
//! account inside its parent's (see [`Account`]): the job's memory and
//! handle limits (`job_set_limits`) bound its whole subtree, and default
//! caps (a share of RAM set at boot) bound what its own programs queue. A
//! program that floods channels no one reads, or parks handles in them,
//! runs out of its own budget (`NO_MEMORY`, `NO_RESOURCES`) while its
//! parent and every other job keep writing.
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

/// One job's queued-message bytes and handles, and their limits.
///
/// Two kinds of limit, so that neither a parent nor a sibling can be
/// starved through the accounts:
/// - a job's *explicit* limits (`job_set_limits`: its memory and handle
///   limits) bound its whole subtree: what any descendant queues is charged
///   to every ancestor's subtree count too, so a program cannot multiply
///   its budget by making child jobs, and a limit set later bounds what is
///   already there;
/// - the *default* caps (a share of RAM set at boot, 65,536 handles) bound
///   only what a job's own programs queue, never its descendants': a job
///   without explicit limits (the component manager's, say) keeps its own
///   budget however much its children queue.
pub struct Account {
    /// Charged by this job's own programs, against the default caps.
    own_bytes: AtomicU64,
    own_bytes_cap: u64,
    own_handles: AtomicU64,
    own_handles_cap: u64,
    /// Charged by the whole subtree, against the explicit limits.
    bytes: AtomicU64,
    bytes_limit: AtomicU64,
    handles: AtomicU64,
    handles_limit: AtomicU64,
    parent: Option<Arc<Account>>,
}

impl Account {
    /// The root job's account: no limits (the kernel's memory reserve
    /// bounds it).
    pub fn root() -> Arc<Account> {
        Arc::new(Account {
            own_bytes: AtomicU64::new(0),
            own_bytes_cap: u64::MAX,
            own_handles: AtomicU64::new(0),
            own_handles_cap: u64::MAX,
            bytes: AtomicU64::new(0),
            bytes_limit: AtomicU64::new(u64::MAX),
            handles: AtomicU64::new(0),
            handles_limit: AtomicU64::new(u64::MAX),
            parent: None,
        })
    }

    /// A new account inside `parent`'s, holding nothing: its own programs
    /// capped at the default share of RAM and `handle_cap` handles, its
    /// subtree unlimited until its job sets limits.
    pub fn new(parent: &Arc<Account>, handle_cap: u64) -> Arc<Account> {
        Arc::new(Account {
            own_bytes: AtomicU64::new(0),
            own_bytes_cap: DEFAULT_LIMIT.load(Ordering::Relaxed),
            own_handles: AtomicU64::new(0),
            own_handles_cap: handle_cap,
            bytes: AtomicU64::new(0),
            bytes_limit: AtomicU64::new(u64::MAX),
            handles: AtomicU64::new(0),
            handles_limit: AtomicU64::new(u64::MAX),
            parent: Some(Arc::clone(parent)),
        })
    }

    /// Lowers the subtree's handle limit (never raises it).
    pub fn tighten_handles(&self, limit: u64) {
        self.handles_limit.fetch_min(limit, Ordering::Relaxed);
    }

    /// Lowers the subtree's byte limit (never raises it).
    pub fn tighten(&self, limit: u64) {
        self.bytes_limit.fetch_min(limit, Ordering::Relaxed);
    }

    /// Adds `amount` to this job's own count (against its default cap) and
    /// to the subtree count of it and every ancestor (against their
    /// explicit limits), or to none of them (`refusal`).
    #[inline]
    fn charge_up(&self, amount: u64, kind: Kind, refusal: Status) -> Result<(), Status> {
        let (own, cap) = kind.own(self);
        if own
            .fetch_add(amount, Ordering::AcqRel)
            .saturating_add(amount)
            > cap
        {
            own.fetch_sub(amount, Ordering::AcqRel);
            return Err(refusal);
        }
        let mut account = Some(self);
        while let Some(current) = account {
            let (counter, limit) = kind.subtree(current);
            let total = counter
                .fetch_add(amount, Ordering::AcqRel)
                .saturating_add(amount);
            if total > limit.load(Ordering::Relaxed) {
                counter.fetch_sub(amount, Ordering::AcqRel);
                // Give back what the accounts below took.
                let mut below = Some(self);
                while let Some(undo) = below.filter(|undo| !core::ptr::eq(*undo, current)) {
                    kind.subtree(undo).0.fetch_sub(amount, Ordering::AcqRel);
                    below = undo.parent.as_deref();
                }
                own.fetch_sub(amount, Ordering::AcqRel);
                return Err(refusal);
            }
            account = current.parent.as_deref();
        }
        Ok(())
    }

    /// Takes `amount` from this job's own count and every subtree count.
    #[inline]
    fn uncharge_up(&self, amount: u64, kind: Kind) {
        kind.own(self).0.fetch_sub(amount, Ordering::AcqRel);
        let mut account = Some(self);
        while let Some(current) = account {
            kind.subtree(current).0.fetch_sub(amount, Ordering::AcqRel);
            account = current.parent.as_deref();
        }
    }

    /// Charges `count` handles in flight, or refuses with `NO_RESOURCES`
    /// past a limit.
    pub fn charge_handles(&self, count: u64) -> Result<(), Status> {
        self.charge_up(count, Kind::Handles, Status::NO_RESOURCES)
    }

    /// Gives back `count` handles charged before.
    pub fn uncharge_handles(&self, count: u64) {
        self.uncharge_up(count, Kind::Handles);
    }

    /// Charges `bytes`, or refuses with `NO_MEMORY` past a limit.
    #[inline]
    pub fn charge(&self, bytes: u64) -> Result<(), Status> {
        self.charge_up(bytes, Kind::Bytes, Status::NO_MEMORY)
    }

    /// Gives back `bytes` charged before.
    #[inline]
    pub fn uncharge(&self, bytes: u64) {
        self.uncharge_up(bytes, Kind::Bytes);
    }
}

/// Which pair of counters a charge is for.
#[derive(Clone, Copy)]
enum Kind {
    Bytes,
    Handles,
}

impl Kind {
    /// The job's own counter and its default cap.
    #[inline]
    fn own(self, account: &Account) -> (&AtomicU64, u64) {
        match self {
            Kind::Bytes => (&account.own_bytes, account.own_bytes_cap),
            Kind::Handles => (&account.own_handles, account.own_handles_cap),
        }
    }

    /// The subtree counter and its explicit limit.
    #[inline]
    fn subtree(self, account: &Account) -> (&AtomicU64, &AtomicU64) {
        match self {
            Kind::Bytes => (&account.bytes, &account.bytes_limit),
            Kind::Handles => (&account.handles, &account.handles_limit),
        }
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
