//! Processes: an address space, a handle table, and threads.
//!
//! A process belongs to a job, whose limits it obeys (handles, mapped
//! memory). It ends when it calls `process_exit`, when its last thread
//! exits, when it or its job is killed, or when the kernel kills it after a
//! fault. Ending closes every handle it holds, frees its memory, kills its
//! threads and raises `TASK_TERMINATED`.

use super::channel::Channel;
use super::escrow::EscrowBindings;
use super::job::Job;
use super::thread::{Thread, ThreadState};
use super::vmar::Vmar;
use super::{impl_into_any, Handle, KernelObject, ObjectBase};
use crate::loader::USER_ADDRESS_MIN;
use crate::mem::address_space::AddressSpace;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use handle_table::HandleTable;
use spin::Mutex;
use zx_abi::{HandleValue, ObjectType, Rights, Signals, Status, USER_ADDRESS_LIMIT};

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It exited with this code (`process_exit`, or 0 when its last thread
    /// exited).
    Exited(i64),
    /// The kernel killed it after an exception.
    Killed,
}

/// Most regions (mappings and child VMARs) one process's VMAR tree holds:
/// each costs kernel memory, and the search for a free range is linear in
/// them.
pub const MAX_REGIONS: usize = 16_384;

/// Kernel memory one region takes (its mapping or child VMAR, the `Arc`
/// around it and its entry in the parent's tree, nodes included), charged
/// to the process's job with the region.
pub const REGION_BYTES: u64 = {
    let mapping = core::mem::size_of::<crate::object::vmar::Mapping>();
    let vmar = core::mem::size_of::<crate::object::vmar::Vmar>();
    let object = if mapping > vmar { mapping } else { vmar };
    (object + 2 * core::mem::size_of::<usize>() + 64) as u64
};

/// A process.
pub struct Process {
    base: ObjectBase,
    /// Its name (the bootfs path of its program, for boot programs).
    pub name: String,
    handles: Mutex<HandleTable<Handle>>,
    /// Bytes of handle-table storage charged to the job's memory account
    /// (changed only under the `handles` lock; given back when the table
    /// is freed).
    table_bytes: core::sync::atomic::AtomicU64,
    address_space: Mutex<Option<AddressSpace>>,
    root_vmar: Arc<Vmar>,
    threads: Mutex<Vec<Arc<Thread>>>,
    outcome: Mutex<Option<Outcome>>,
    /// The job it belongs to.
    pub job: Arc<Job>,
    started: core::sync::atomic::AtomicBool,
    /// Whether the process still counts against its job's process limit
    /// (until it ends or is dropped).
    counted: core::sync::atomic::AtomicBool,
    /// Bytes mapped in its address space, and regions (mappings and child
    /// VMARs) in its VMAR tree: kept as counters so a map checks its
    /// limits without walking the tree.
    mapped: core::sync::atomic::AtomicU64,
    regions: core::sync::atomic::AtomicUsize,
    exception_channel: Mutex<Option<Handle>>,
    /// Endpoints on which it read requests through `channel_recv` (they
    /// may hold reply records of it): when it ends, its unanswered
    /// requests go back to their queues.
    served: Mutex<Vec<alloc::sync::Weak<Channel>>>,
    /// Koid of the endpoint `served` took last (0: none), so noting it
    /// again takes no lock.
    last_served: core::sync::atomic::AtomicU64,
    /// Handles to move to an escrow channel, not close, when it ends.
    escrow: EscrowBindings,
    /// The next process on the reap list (`reaper.rs`).
    pub(super) next_reap: Mutex<Option<Arc<Process>>>,
}

impl Process {
    /// A new process in `job` with an empty address space.
    pub fn new(name: &str, job: &Arc<Job>) -> Result<Arc<Process>, Status> {
        job.reserve_process()?;
        let Some(address_space) = AddressSpace::new(&job.memory) else {
            job.release_process();
            return Err(Status::NO_MEMORY);
        };
        let base = ObjectBase::new(Signals::empty());
        // Handle values are scrambled with a per-process secret.
        let secret =
            (crate::arch::x86_64::read_tsc() as u32) ^ (base.koid().0 as u32).rotate_left(16);
        let mut handles = HandleTable::new(secret);
        handles.set_limit(job.limits().max_handles);
        let process = Arc::new_cyclic(|weak| Process {
            base,
            name: name.into(),
            handles: Mutex::new(handles),
            table_bytes: core::sync::atomic::AtomicU64::new(0),
            address_space: Mutex::new(Some(address_space)),
            root_vmar: Vmar::new_root(
                weak.clone(),
                USER_ADDRESS_MIN,
                USER_ADDRESS_LIMIT - USER_ADDRESS_MIN,
            ),
            threads: Mutex::new(Vec::new()),
            outcome: Mutex::new(None),
            job: Arc::clone(job),
            started: core::sync::atomic::AtomicBool::new(false),
            counted: core::sync::atomic::AtomicBool::new(true),
            mapped: core::sync::atomic::AtomicU64::new(0),
            regions: core::sync::atomic::AtomicUsize::new(0),
            exception_channel: Mutex::new(None),
            served: Mutex::new(Vec::new()),
            last_served: core::sync::atomic::AtomicU64::new(0),
            escrow: EscrowBindings::new(),
            next_reap: Mutex::new(None),
        });
        job.add_process(&process)?;
        Ok(process)
    }

    /// Marks the process started (its first thread is runnable); false if
    /// it already was.
    pub fn mark_started(&self) -> bool {
        !self
            .started
            .swap(true, core::sync::atomic::Ordering::AcqRel)
    }

    /// Whether the process has started.
    pub fn is_started(&self) -> bool {
        self.started.load(core::sync::atomic::Ordering::Acquire)
    }

    /// Most bytes the process may map (its job's limit).
    pub fn memory_limit(&self) -> u64 {
        self.job.limits().max_memory
    }

    /// Counts a new region of its VMAR tree mapping `bytes` (0 for a child
    /// VMAR): `NO_MEMORY` past the job's memory limit, `NO_RESOURCES` past
    /// [`MAX_REGIONS`]. The region's kernel memory ([`REGION_BYTES`]) is
    /// charged to the job's memory account until the region is freed (it
    /// holds the charge returned).
    pub fn charge_region(&self, bytes: u64) -> Result<crate::object::ObjectCharge, Status> {
        use core::sync::atomic::Ordering;
        if self.regions.fetch_add(1, Ordering::AcqRel) >= MAX_REGIONS {
            self.regions.fetch_sub(1, Ordering::AcqRel);
            return Err(Status::NO_RESOURCES);
        }
        let mapped = self
            .mapped
            .fetch_add(bytes, Ordering::AcqRel)
            .saturating_add(bytes);
        if mapped > self.memory_limit() {
            self.regions.fetch_sub(1, Ordering::AcqRel);
            self.mapped.fetch_sub(bytes, Ordering::AcqRel);
            return Err(Status::NO_MEMORY);
        }
        match crate::object::ObjectCharge::take(&self.job.memory, REGION_BYTES) {
            Ok(charge) => Ok(charge),
            Err(status) => {
                self.regions.fetch_sub(1, Ordering::AcqRel);
                self.mapped.fetch_sub(bytes, Ordering::AcqRel);
                Err(status)
            }
        }
    }

    /// Gives back what [`Process::charge_region`] counted.
    pub fn release_region(&self, bytes: u64) {
        use core::sync::atomic::Ordering;
        self.regions.fetch_sub(1, Ordering::AcqRel);
        self.mapped.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Sets the exception channel (the kernel's end); one per process.
    pub fn set_exception_channel(&self, channel: Handle) -> Result<(), Status> {
        let mut slot = self.exception_channel.lock();
        if slot.is_some() {
            return Err(Status::ALREADY_EXISTS);
        }
        *slot = Some(channel);
        Ok(())
    }

    /// Where this process's exceptions are reported: its own channel, or
    /// the nearest one up the job tree.
    pub fn exception_channel(&self) -> Option<Arc<Channel>> {
        if let Some(channel) = self
            .exception_channel
            .lock()
            .as_ref()
            .and_then(Handle::downcast::<Channel>)
        {
            return Some(channel);
        }
        self.job.exception_channel()
    }

    /// Notes that it holds a reply record on `channel` (see `served`).
    pub fn note_served(&self, channel: &Arc<Channel>) {
        // Most often the endpoint noted last (koids are never reused).
        let koid = channel.base().koid().0;
        if self.last_served.load(core::sync::atomic::Ordering::Relaxed) == koid {
            return;
        }
        let mut served = self.served.lock();
        let known = served
            .iter()
            .rev()
            .any(|c| core::ptr::eq(c.as_ptr(), Arc::as_ptr(channel)));
        if known {
            self.last_served
                .store(koid, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if served.len() == served.capacity() {
            // Forget endpoints that are gone or hold nothing of it.
            let reader = self.koid().0;
            self.last_served
                .store(0, core::sync::atomic::Ordering::Relaxed);
            served.retain(|c| c.upgrade().is_some_and(|c| c.has_records_of(reader)));
        }
        if served.try_reserve(1).is_ok() {
            served.push(Arc::downgrade(channel));
            self.last_served
                .store(koid, core::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The root of its address-space tree.
    pub fn root_vmar(&self) -> &Arc<Vmar> {
        &self.root_vmar
    }

    /// Its koid.
    pub fn koid(&self) -> crate::koid::Koid {
        self.base.koid()
    }

    /// Runs `f` on the address space, unless the process has ended.
    pub fn with_address_space<R>(&self, f: impl FnOnce(&mut AddressSpace) -> R) -> Option<R> {
        self.address_space.lock().as_mut().map(f)
    }

    /// Copies its memory at user address `address` into `out`, through
    /// its mappings (not its page tables: it need not be the running
    /// process). `INVALID_ARGS` if a byte is not in a mapping.
    pub fn read_memory(&self, address: u64, out: &mut [u8]) -> Result<(), Status> {
        let mut done = 0usize;
        while done < out.len() {
            let at = address
                .checked_add(done as u64)
                .ok_or(Status::INVALID_ARGS)?;
            let mapping = self
                .root_vmar()
                .find_mapping(at)
                .ok_or(Status::INVALID_ARGS)?;
            let in_mapping = (mapping.start + mapping.size - at) as usize;
            let len = in_mapping.min(out.len() - done);
            mapping
                .vmo
                .read_bytes(
                    at - mapping.start + mapping.vmo_offset,
                    &mut out[done..done + len],
                )
                .map_err(|_| Status::INVALID_ARGS)?;
            done += len;
        }
        Ok(())
    }

    /// Whether it still has its address space (not once it has ended).
    pub fn has_address_space(&self) -> bool {
        self.address_space.lock().is_some()
    }

    /// Makes its address space current.
    pub fn activate(&self) {
        if let Some(space) = self.address_space.lock().as_ref() {
            space.activate();
        }
    }

    /// Adds a handle; fails with `NO_RESOURCES` when the table is full (the
    /// handle is dropped).
    pub fn add_handle(&self, handle: Handle) -> Result<HandleValue, Status> {
        // An ended process takes no more: what it held is gone, and a
        // handle parked in it now would stay forever (or keep it alive).
        if self.outcome.lock().is_some() {
            return Err(Status::BAD_STATE);
        }
        let mut handles = self.handles.lock();
        if handles.len() >= handles.limit() {
            return Err(Status::NO_RESOURCES);
        }
        self.charge_table(handles.bytes_for_insert())?;
        let result = handles.insert(handle);
        self.settle_table(&handles);
        result.map_err(table_status)
    }

    /// Makes sure `count` more handles fit in the table (a read checks
    /// before it takes a message off the queue, so nothing is lost).
    pub fn reserve_handles(&self, count: usize) -> Result<(), Status> {
        let mut handles = self.handles.lock();
        if handles.len().saturating_add(count) > handles.limit() {
            return Err(Status::NO_RESOURCES);
        }
        self.charge_table(handles.bytes_for_reserve(count))?;
        let result = handles.reserve(count);
        self.settle_table(&handles);
        result.map_err(table_status)
    }

    /// Charges the job's memory account for the handle table to hold
    /// `bytes` of storage, before it grows: `NO_MEMORY` past the job's
    /// memory limit (or an ancestor's), and the table does not grow.
    /// Called under the `handles` lock.
    fn charge_table(&self, bytes: usize) -> Result<(), Status> {
        use core::sync::atomic::Ordering;
        let charged = self.table_bytes.load(Ordering::Acquire);
        let bytes = bytes as u64;
        if bytes > charged {
            self.job.memory.charge(bytes - charged)?;
            self.table_bytes.store(bytes, Ordering::Release);
        }
        Ok(())
    }

    /// Gives back what was charged for the table past what it holds (a
    /// growth that failed). Called under the `handles` lock.
    fn settle_table(&self, table: &HandleTable<Handle>) {
        use core::sync::atomic::Ordering;
        let charged = self.table_bytes.load(Ordering::Acquire);
        let held = table.bytes() as u64;
        if charged > held {
            self.job.memory.uncharge(charged - held);
            self.table_bytes.store(held, Ordering::Release);
        }
    }

    /// Gives back the whole table's charge (the table was freed).
    fn release_table(&self) {
        let charged = self
            .table_bytes
            .swap(0, core::sync::atomic::Ordering::AcqRel);
        if charged != 0 {
            self.job.memory.uncharge(charged);
        }
    }

    /// Removes and returns the handle `value`.
    pub fn take_handle(&self, value: HandleValue) -> Result<Handle, Status> {
        let handle = self.handles.lock().remove(value);
        let handle = handle.ok_or(Status::BAD_HANDLE)?;
        self.escrow.forget(value);
        self.cancel_waits_through(value);
        Ok(handle)
    }

    /// Wakes, with `CANCELED`, the threads blocked in a wait that goes
    /// through handle `value`, just removed from the table. The running
    /// thread removed it, so a process with one thread has no one to wake.
    fn cancel_waits_through(&self, value: HandleValue) {
        let threads = self.threads.lock();
        if threads.len() < 2 {
            return;
        }
        for thread in threads.iter() {
            thread.cancel_wait_through(value);
        }
    }

    /// Runs `f` on the handle `value`.
    pub fn with_handle<R>(
        &self,
        value: HandleValue,
        f: impl FnOnce(&Handle) -> R,
    ) -> Result<R, Status> {
        let handles = self.handles.lock();
        handles.get(value).map(f).ok_or(Status::BAD_HANDLE)
    }

    /// The object behind `value`, checked for type and rights.
    pub fn object<T: KernelObject>(
        &self,
        value: HandleValue,
        needed: Rights,
    ) -> Result<Arc<T>, Status> {
        let (object, rights) = self.with_handle(value, |h| (h.downcast::<T>(), h.rights()))?;
        let object = object.ok_or(Status::WRONG_TYPE)?;
        if !rights.contains(needed) {
            return Err(Status::ACCESS_DENIED);
        }
        Ok(object)
    }

    /// [`Process::object`], inlined into its caller: for the two lookups
    /// of the IPC round trip (`channel_call`, `channel_recv`), where the
    /// call itself (saving and restoring the registers it uses) is a fair
    /// part of the lookup's cost.
    #[inline(always)]
    pub fn object_inlined<T: KernelObject>(
        &self,
        value: HandleValue,
        needed: Rights,
    ) -> Result<Arc<T>, Status> {
        let handles = self.handles.lock();
        let handle = handles.get(value).ok_or(Status::BAD_HANDLE)?;
        // The same checks, in the same order, as `object`. (A reference
        // dropped under the lock is never the last: the handle holds one.)
        let object = handle.downcast::<T>().ok_or(Status::WRONG_TYPE)?;
        if !handle.rights().contains(needed) {
            return Err(Status::ACCESS_DENIED);
        }
        Ok(object)
    }

    /// The object behind `value` of any type, checked for rights.
    pub fn any_object(
        &self,
        value: HandleValue,
        needed: Rights,
    ) -> Result<Arc<dyn KernelObject>, Status> {
        let (object, rights) = self.with_handle(value, |h| (Arc::clone(h.object()), h.rights()))?;
        if !rights.contains(needed) {
            return Err(Status::ACCESS_DENIED);
        }
        Ok(object)
    }

    /// Binds handle `value` to `escrow` (`handle_bind_escrow`).
    pub fn bind_escrow(&self, value: HandleValue, escrow: Arc<Channel>) -> Result<(), Status> {
        self.escrow.bind(value, escrow)
    }

    /// Takes back the handles an unanswered request carried, as the
    /// process ends (its threads are dead, its table still whole): every
    /// one of `taken` (value, koid) if the table still holds them all,
    /// each the same object under the value it was received as; none
    /// otherwise (a request with some of its handles is not the request).
    /// Their bindings end: they go back with the request.
    pub fn reclaim_handles(&self, taken: &[(HandleValue, u64)]) -> Option<Vec<Handle>> {
        let mut reclaimed = Vec::new();
        reclaimed.try_reserve_exact(taken.len()).ok()?;
        {
            let mut handles = self.handles.lock();
            let held = taken.iter().all(|&(value, koid)| {
                handles
                    .get(value)
                    .is_some_and(|h| h.object().base().koid().0 == koid)
            });
            if !held {
                return None;
            }
            for &(value, _) in taken {
                if let Some(handle) = handles.remove(value) {
                    reclaimed.push(handle);
                }
            }
        }
        for &(value, _) in taken {
            self.escrow.forget(value);
        }
        Some(reclaimed)
    }

    /// The escrow channel handle `value` is bound to, if it is.
    pub fn escrow_of(&self, value: HandleValue) -> Option<Arc<Channel>> {
        self.escrow.escrow_of(value)
    }

    /// Adds `message`'s handles to the table, each bound to `escrow`
    /// (`CHANNEL_BIND_RECEIVED`): room in the table and in the bindings is
    /// made first, then every handle goes in and is bound under the
    /// table's lock, so no thread of the process ever sees it unbound and
    /// the process's end finds it bound. On failure `message` keeps its
    /// handles (the caller gives it back to its queue).
    pub fn add_handles_bound(
        &self,
        message: &mut super::channel::Message,
        escrow: &Arc<Channel>,
    ) -> Result<Vec<HandleValue>, Status> {
        let count = message.handles().len();
        let mut values = Vec::new();
        values
            .try_reserve_exact(count)
            .map_err(|_| Status::NO_MEMORY)?;
        if self.outcome.lock().is_some() {
            return Err(Status::BAD_STATE);
        }
        let mut handles = self.handles.lock();
        if handles.len().saturating_add(count) > handles.limit() {
            return Err(Status::NO_RESOURCES);
        }
        self.charge_table(handles.bytes_for_reserve(count))?;
        let room = handles.reserve(count);
        self.settle_table(&handles);
        room.map_err(table_status)?;
        let mut bound = self.escrow.reserve(count, escrow)?;
        for handle in message.take_handles() {
            // Within the room reserved: cannot fail.
            if let Ok(value) = handles.insert(handle) {
                bound.bind(value);
                values.push(value);
            }
        }
        drop(bound);
        drop(handles);
        Ok(values)
    }

    /// Number of handles held.
    pub fn handle_count(&self) -> usize {
        self.handles.lock().len()
    }

    /// Registers a new thread; fails once the process has ended, or when
    /// it already has as many threads as its job allows.
    pub fn add_thread(&self, thread: &Arc<Thread>) -> Result<(), Status> {
        if self.outcome.lock().is_some() {
            return Err(Status::BAD_STATE);
        }
        let limit = self.job.limits().max_threads;
        let mut threads = self.threads.lock();
        if threads.len() >= limit {
            return Err(Status::NO_RESOURCES);
        }
        threads.push(Arc::clone(thread));
        Ok(())
    }

    /// Number of threads that have not ended.
    pub fn live_threads(&self) -> usize {
        let threads = self.threads.lock();
        threads
            .iter()
            .filter(|t| t.inner.lock().state != ThreadState::Dead)
            .count()
    }

    /// Called when `thread` ends (`started`: it had been started). The
    /// process ends with its last thread, and, as in Zircon, with its last
    /// started thread: threads never started do not keep it alive. Without
    /// that, two processes whose handle tables held each other's unstarted
    /// threads stayed forever, reachable by no one. With it, a handle table
    /// is never kept by nothing: only a started process's table holds
    /// handles (`process_start` fills it), and a started process lives only
    /// while one of its started threads does.
    pub fn thread_exited(self: &Arc<Self>, thread: &Thread, started: bool) {
        let last = {
            let mut threads = self.threads.lock();
            threads.retain(|t| t.koid() != thread.koid());
            // Only a started thread's end applies the second rule: while
            // `process_start` runs, its first thread is still new.
            threads.is_empty()
                || (started
                    && threads
                        .iter()
                        .all(|t| t.inner.lock().state == ThreadState::New))
        };
        if last {
            self.end(Outcome::Exited(0));
        }
    }

    /// Bytes of memory mapped into the process.
    pub fn mapped_bytes(&self) -> u64 {
        self.mapped.load(core::sync::atomic::Ordering::Relaxed)
    }

    /// How the process ended, if it has.
    pub fn outcome(&self) -> Option<Outcome> {
        *self.outcome.lock()
    }

    /// Ends the process: kills its threads and gives back the requests it
    /// read at once; closing its handles, freeing its memory and raising
    /// `TASK_TERMINATED` follow on the reap list ([`super::reaper`]), in
    /// bounded steps. Idempotent.
    pub fn end(self: &Arc<Self>, outcome: Outcome) {
        {
            let mut slot = self.outcome.lock();
            if slot.is_some() {
                return;
            }
            *slot = Some(outcome);
        }
        let threads = core::mem::take(&mut *self.threads.lock());
        for thread in &threads {
            thread.mark_dead();
        }
        // Requests it read and never answered go back to their endpoints.
        let served = core::mem::take(&mut *self.served.lock());
        for channel in served.iter().filter_map(alloc::sync::Weak::upgrade) {
            channel.return_requests_of(self.koid().0, &mut |taken| self.reclaim_handles(taken));
        }
        drop(served);
        drop(threads);
        super::reaper::push(Arc::clone(self));
    }

    /// The rest of [`Process::end`], from the reap list: closes its
    /// handles, frees its memory, raises `TASK_TERMINATED`. Its size is
    /// bounded by the process's limits (handles, regions).
    pub(super) fn finish_end(self: &Arc<Self>) {
        let Some(outcome) = *self.outcome.lock() else {
            return;
        };
        // Drop handles and memory outside the locks: closing handles wakes
        // other threads and may end other objects.
        // The whole table is taken (an empty one allocates nothing), so
        // ending a process never allocates.
        let mut handles = core::mem::replace(&mut *self.handles.lock(), HandleTable::new(0));
        // Bound handles move to their escrow channels instead of closing.
        super::escrow::deliver(self.escrow.take_all(), &mut handles, &self.job.account);
        drop(handles);
        self.release_table();
        // The address space goes first: its tables are freed whole, so
        // tearing the regions down after it unmaps no page one by one.
        let space = self.address_space.lock().take();
        drop(space);
        self.root_vmar.destroy();
        self.exception_channel.lock().take();
        self.leave_job();
        // Its handles are gone: a channel cycle may now be unreachable.
        super::inflight::note_change();
        self.base
            .update_signals(Signals::empty(), Signals::TASK_TERMINATED);
        crate::programs::process_ended(self, outcome);
    }

    /// Stops counting against the job's process limit; once.
    fn leave_job(&self) {
        if self
            .counted
            .swap(false, core::sync::atomic::Ordering::AcqRel)
        {
            self.job.release_process();
        }
    }
}

/// The status for a handle-table error.
fn table_status(error: handle_table::TableError) -> Status {
    match error {
        handle_table::TableError::Full => Status::NO_RESOURCES,
        handle_table::TableError::NoMemory => Status::NO_MEMORY,
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // A process dropped without ending (never started, or its job was
        // killed while it was being made) still gives its place back.
        self.leave_job();
        self.release_table();
    }
}

impl KernelObject for Process {
    fn base(&self) -> &ObjectBase {
        &self.base
    }

    fn object_type(&self) -> ObjectType {
        ObjectType::Process
    }

    impl_into_any!();
}
