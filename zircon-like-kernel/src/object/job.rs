//! Jobs: the tree that processes live in. A job holds policy — here, the
//! per-process limits on handles, mapped memory and threads, and a limit on
//! the processes of its subtree — for its whole subtree, and killing a job
//! kills every process and job under it.

use super::account::{Account, MemoryAccount};
use super::channel::Channel;
use super::process::{Outcome, Process};
use super::{impl_into_any, Handle, KernelObject, ObjectBase};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use spin::Mutex;
use zx_abi::{ObjectType, Signals, Status, RETCODE_SYSCALL_KILL};

/// Limits that apply to each process of a job's subtree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most handles a process may hold.
    pub max_handles: usize,
    /// Most bytes a process may have mapped.
    pub max_memory: u64,
    /// Most threads a process may have (created and not yet ended).
    pub max_threads: usize,
}

/// The most processes one job's subtree may hold when nothing tighter is
/// set: more than the kernel could ever make, so only memory bounds them.
const UNLIMITED_PROCESSES: usize = usize::MAX;

impl Limits {
    /// No limit beyond the kernel's own.
    pub const NONE: Limits = Limits {
        max_handles: handle_table::DEFAULT_LIMIT,
        max_memory: u64::MAX,
        max_threads: usize::MAX,
    };
}

struct JobState {
    children: Vec<Weak<Job>>,
    processes: Vec<Weak<Process>>,
    limits: Limits,
    /// Processes of this job and its descendants, created and not yet
    /// ended, and the most there may be (`job_set_limits`).
    live_processes: usize,
    max_processes: usize,
    killed: bool,
    exception_channel: Option<Handle>,
}

/// A job.
pub struct Job {
    base: ObjectBase,
    /// The parent holds its children weakly; a child holds its parent
    /// strongly, so a job cannot outlive (and escape) its ancestors.
    parent: Option<Arc<Job>>,
    depth: usize,
    state: Mutex<JobState>,
    /// The bytes its programs have queued in channels (`account.rs`),
    /// limited by its memory limit.
    pub account: Arc<Account>,
    /// The memory its subtree's VMOs have committed (`account.rs`),
    /// limited by its memory limit.
    pub memory: Arc<MemoryAccount>,
}

/// Deepest job tree (as Zircon's limit on job height).
pub const MAX_JOB_DEPTH: usize = 32;

impl Job {
    /// The root job (made once at boot).
    pub fn new_root() -> Arc<Job> {
        Arc::new(Job {
            base: ObjectBase::new(Signals::empty()),
            parent: None,
            depth: 0,
            account: Account::root(),
            memory: MemoryAccount::new(None),
            state: Mutex::new(JobState {
                children: Vec::new(),
                processes: Vec::new(),
                limits: Limits::NONE,
                live_processes: 0,
                max_processes: UNLIMITED_PROCESSES,
                killed: false,
                exception_channel: None,
            }),
        })
    }

    /// A child job inheriting this job's limits.
    pub fn create_child(self: &Arc<Self>) -> Result<Arc<Job>, Status> {
        if self.depth + 1 >= MAX_JOB_DEPTH {
            return Err(Status::OUT_OF_RANGE);
        }
        let mut state = self.state.lock();
        if state.killed {
            return Err(Status::BAD_STATE);
        }
        let child = Arc::new(Job {
            base: ObjectBase::new(Signals::empty()),
            parent: Some(Arc::clone(self)),
            depth: self.depth + 1,
            account: Account::new(&self.account, handle_table::DEFAULT_LIMIT as u64),
            memory: MemoryAccount::new(Some(&self.memory)),
            state: Mutex::new(JobState {
                children: Vec::new(),
                processes: Vec::new(),
                limits: state.limits,
                live_processes: 0,
                max_processes: UNLIMITED_PROCESSES,
                killed: false,
                exception_channel: None,
            }),
        });
        // Forget dead children only when the list must grow: amortized,
        // not a walk of every child per creation.
        if state.children.len() == state.children.capacity() {
            state.children.retain(|c| c.strong_count() > 0);
        }
        state
            .children
            .try_reserve(1)
            .map_err(|_| Status::NO_MEMORY)?;
        state.children.push(Arc::downgrade(&child));
        Ok(child)
    }

    /// The limits for processes of this job.
    pub fn limits(&self) -> Limits {
        // The tightest along the path to the root: limits set on an
        // ancestor later still apply to the whole subtree.
        let own = self.state.lock().limits;
        match &self.parent {
            Some(parent) => {
                let inherited = parent.limits();
                Limits {
                    max_handles: own.max_handles.min(inherited.max_handles),
                    max_memory: own.max_memory.min(inherited.max_memory),
                    max_threads: own.max_threads.min(inherited.max_threads),
                }
            }
            None => own,
        }
    }

    /// Tightens the limits (a value of 0 leaves that limit unchanged);
    /// loosening is refused.
    pub fn set_limits(
        &self,
        max_handles: u64,
        max_memory: u64,
        max_threads: u64,
        max_processes: u64,
    ) -> Result<(), Status> {
        let mut state = self.state.lock();
        let mut limits = state.limits;
        let mut processes = state.max_processes;
        if max_processes != 0 {
            processes = usize::try_from(max_processes).map_err(|_| Status::INVALID_ARGS)?;
        }
        if max_handles != 0 {
            limits.max_handles = usize::try_from(max_handles).map_err(|_| Status::INVALID_ARGS)?;
        }
        if max_memory != 0 {
            limits.max_memory = max_memory;
        }
        if max_threads != 0 {
            limits.max_threads = usize::try_from(max_threads).map_err(|_| Status::INVALID_ARGS)?;
        }
        if limits.max_handles > state.limits.max_handles
            || limits.max_memory > state.limits.max_memory
            || limits.max_threads > state.limits.max_threads
            || processes > state.max_processes
        {
            return Err(Status::ACCESS_DENIED);
        }
        state.limits = limits;
        state.max_processes = processes;
        self.account.tighten(limits.max_memory);
        self.account.tighten_handles(limits.max_handles as u64);
        self.memory.tighten(limits.max_memory);
        Ok(())
    }

    /// Counts one more live process in this job's subtree, if every job
    /// from here to the root has room for it (`NO_RESOURCES` if not).
    pub fn reserve_process(&self) -> Result<(), Status> {
        {
            let mut state = self.state.lock();
            if state.killed {
                return Err(Status::BAD_STATE);
            }
            if state.live_processes >= state.max_processes {
                return Err(Status::NO_RESOURCES);
            }
            state.live_processes += 1;
        }
        if let Some(parent) = &self.parent {
            if let Err(status) = parent.reserve_process() {
                self.state.lock().live_processes -= 1;
                return Err(status);
            }
        }
        Ok(())
    }

    /// Gives back what [`Job::reserve_process`] counted: a process ended
    /// (and was torn down). A killed job whose last process this was
    /// raises `TASK_TERMINATED`.
    pub fn release_process(&self) {
        let mut job = Some(self);
        while let Some(current) = job {
            let mut state = current.state.lock();
            state.live_processes = state.live_processes.saturating_sub(1);
            let ended = state.killed && state.live_processes == 0;
            drop(state);
            if ended {
                current
                    .base
                    .update_signals(Signals::empty(), Signals::TASK_TERMINATED);
            }
            job = current.parent.as_deref();
        }
    }

    /// Records a new process of this job (already counted by
    /// [`Job::reserve_process`]).
    pub fn add_process(&self, process: &Arc<Process>) -> Result<(), Status> {
        let mut state = self.state.lock();
        if state.killed {
            return Err(Status::BAD_STATE);
        }
        if state.processes.len() == state.processes.capacity() {
            state.processes.retain(|p| p.strong_count() > 0);
        }
        state
            .processes
            .try_reserve(1)
            .map_err(|_| Status::NO_MEMORY)?;
        state.processes.push(Arc::downgrade(process));
        Ok(())
    }

    /// Kills every process and job in the subtree.
    pub fn kill(&self) {
        let (processes, children) = {
            let mut state = self.state.lock();
            state.killed = true;
            (
                core::mem::take(&mut state.processes),
                core::mem::take(&mut state.children),
            )
        };
        for process in processes.iter().filter_map(Weak::upgrade) {
            process.end(Outcome::Exited(RETCODE_SYSCALL_KILL));
        }
        for child in children.iter().filter_map(Weak::upgrade) {
            child.kill();
        }
        // `TASK_TERMINATED` once the processes of the subtree are torn
        // down (the reap list runs them: `release_process`), at once if
        // none is left.
        if self.state.lock().live_processes == 0 {
            self.base
                .update_signals(Signals::empty(), Signals::TASK_TERMINATED);
        }
    }

    /// Sets the exception channel (the kernel's end); one per job.
    pub fn set_exception_channel(&self, channel: Handle) -> Result<(), Status> {
        let mut state = self.state.lock();
        if state.exception_channel.is_some() {
            return Err(Status::ALREADY_EXISTS);
        }
        state.exception_channel = Some(channel);
        Ok(())
    }

    /// The nearest exception channel on the way from this job to the root.
    pub fn exception_channel(&self) -> Option<Arc<Channel>> {
        let own = self
            .state
            .lock()
            .exception_channel
            .as_ref()
            .and_then(Handle::downcast::<Channel>);
        if let Some(channel) = own {
            return Some(channel);
        }
        self.parent.as_ref()?.exception_channel()
    }
}

impl KernelObject for Job {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> ObjectType {
        ObjectType::Job
    }

    impl_into_any!();
}
