//! A single-threaded async executor driven by a kernel port, in the spirit
//! of `fuchsia-async`.
//!
//! Every wake-up goes through the executor's port: a future waiting for
//! signals registers `object_wait_async` with its task's id as the packet
//! key, and a `Waker` queues a user packet with that key. The executor polls
//! ready tasks, then blocks in `port_wait` until a packet names the next
//! ready task. Nothing spins, and wakers work from other threads too (they
//! only queue a packet).
//!
//! ```ignore
//! let mut executor = Executor::new()?;
//! let answer = executor.run(async {
//!     let message = recv(&channel).await?;
//!     sleep(zx::deadline_after(1_000_000)).await?;
//!     Ok::<_, Status>(message.bytes.len())
//! });
//! ```
//!
//! Known gaps: one executor per process (the waker finds the port through
//! a process-wide slot), no task cancellation, no fairness between tasks
//! beyond FIFO.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use zx::{AsHandleRef, Channel, HandleRef, MessageBuf, Port, PortPacket, Signals, Status, Time};

/// The port of the process's executor, for wakers.
static EXECUTOR_PORT: AtomicU32 = AtomicU32::new(zx::HANDLE_INVALID);

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// Tasks spawned while the executor runs, picked up between polls.
type Spawned = Rc<RefCell<Vec<Task>>>;

/// The executor.
pub struct Executor {
    port: Port,
    tasks: Vec<Option<Task>>,
    spawned: Spawned,
}

/// Lets running tasks spawn more tasks.
#[derive(Clone)]
pub struct Spawner {
    spawned: Spawned,
}

impl Spawner {
    /// Runs `future` as a new task of the executor.
    pub fn spawn(&self, future: impl Future<Output = ()> + 'static) {
        self.spawned.borrow_mut().push(Box::pin(future));
    }
}

impl Executor {
    /// A new executor with its own port.
    pub fn new() -> Result<Executor, Status> {
        let port = Port::create()?;
        EXECUTOR_PORT.store(port.raw_handle(), Ordering::Relaxed);
        Ok(Executor {
            port,
            tasks: Vec::new(),
            spawned: Rc::default(),
        })
    }

    /// A handle for spawning tasks from inside tasks.
    pub fn spawner(&self) -> Spawner {
        Spawner {
            spawned: Rc::clone(&self.spawned),
        }
    }

    /// Runs `main` (and every task spawned meanwhile) until `main` is done.
    pub fn run<T: 'static>(&mut self, main: impl Future<Output = T> + 'static) -> T {
        let output: Rc<RefCell<Option<T>>> = Rc::default();
        let slot = Rc::clone(&output);
        let main_id = self.add(Box::pin(async move {
            *slot.borrow_mut() = Some(main.await);
        }));
        let mut ready: VecDeque<usize> = VecDeque::from([main_id]);
        loop {
            while let Some(id) = ready.pop_front() {
                self.poll(id);
                let spawned: Vec<Task> = self.spawned.borrow_mut().drain(..).collect();
                for task in spawned {
                    ready.push_back(self.add(task));
                }
                if let Some(value) = output.borrow_mut().take() {
                    return value;
                }
            }
            match self.port.wait(zx::TIME_INFINITE) {
                Ok(packet) => ready.push_back(packet.key as usize),
                Err(status) => panic!("executor port failed: {status:?}"),
            }
        }
    }

    fn add(&mut self, task: Task) -> usize {
        if let Some(free) = self.tasks.iter().position(Option::is_none) {
            self.tasks[free] = Some(task);
            return free;
        }
        self.tasks.push(Some(task));
        self.tasks.len() - 1
    }

    fn poll(&mut self, id: usize) {
        let Some(Some(task)) = self.tasks.get_mut(id) else {
            return; // finished already: a stale wake-up
        };
        let waker = task_waker(id);
        let mut context = Context::from_waker(&waker);
        if task.as_mut().poll(&mut context).is_ready() {
            self.tasks[id] = None;
        }
    }
}

fn task_waker(id: usize) -> Waker {
    // SAFETY: the vtable's functions treat the data pointer as a plain
    // integer (the task id); nothing is dereferenced or freed.
    unsafe { Waker::from_raw(RawWaker::new(id as *const (), &VTABLE)) }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(
    |data| RawWaker::new(data, &VTABLE),
    |data| wake_task(data as usize),
    |data| wake_task(data as usize),
    |_| {},
);

/// The executor's port, borrowed (never closed by the caller).
fn executor_port() -> core::mem::ManuallyDrop<Port> {
    let value = EXECUTOR_PORT.load(Ordering::Relaxed);
    core::mem::ManuallyDrop::new(Port::from_handle(zx::Handle::from_raw(value)))
}

fn wake_task(id: usize) {
    let packet = PortPacket {
        key: id as u64,
        ..PortPacket::default()
    };
    // The port outlives every task; a full port only delays the wake-up
    // until the task's next signal.
    let _ = executor_port().queue(&packet);
}

/// The task id behind a waker made by this executor.
fn task_id(waker: &Waker) -> Option<u64> {
    (waker.vtable() == &VTABLE).then(|| waker.data() as u64)
}

/// A future that completes when one of `signals` is raised on an object.
pub struct OnSignals {
    handle: HandleRef,
    signals: Signals,
    /// A wait is registered with the executor's port: polled again (a
    /// task polls all the futures it waits on when any wakes it), it
    /// checks the signals without registering another, so a future polled
    /// often holds one port slot, not one per poll.
    armed: bool,
}

/// Waits asynchronously for one of `signals` on `object`.
pub fn on_signals(object: &impl AsHandleRef, signals: Signals) -> OnSignals {
    OnSignals {
        handle: object.as_handle_ref(),
        signals,
        armed: false,
    }
}

impl Future for OnSignals {
    type Output = Result<Signals, Status>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.handle.wait_one(self.signals, 0) {
            Ok(observed) => return Poll::Ready(Ok(observed)),
            Err(Status::TIMED_OUT) => {}
            Err(status) => return Poll::Ready(Err(status)),
        }
        if self.armed {
            // The registered wait wakes this task when a signal comes.
            return Poll::Pending;
        }
        let Some(key) = task_id(cx.waker()) else {
            return Poll::Ready(Err(Status::NOT_SUPPORTED));
        };
        match self.handle.wait_async(&executor_port(), key, self.signals) {
            Ok(()) => {
                self.armed = true;
                Poll::Pending
            }
            Err(status) => Poll::Ready(Err(status)),
        }
    }
}

/// Reads the next message from `channel`, waiting for one if needed.
/// Fails with `PEER_CLOSED` once the peer is gone and the queue is empty.
pub async fn recv(channel: &Channel) -> Result<MessageBuf, Status> {
    loop {
        let mut message = MessageBuf::default();
        match channel.read(&mut message) {
            Ok(()) => return Ok(message),
            Err(Status::SHOULD_WAIT) => {
                on_signals(channel, Signals::CHANNEL_READABLE | Signals::PEER_CLOSED).await?;
            }
            Err(status) => return Err(status),
        }
    }
}

/// Runs `future` until `deadline`: its output, or `TIMED_OUT` if the
/// deadline came first (the future is then dropped).
pub async fn with_deadline<F: Future>(deadline: Time, future: F) -> Result<F::Output, Status> {
    let mut future = core::pin::pin!(future);
    let mut timeout = core::pin::pin!(sleep(deadline));
    core::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match timeout.as_mut().poll(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Err(Status::TIMED_OUT)),
            Poll::Ready(Err(status)) => Poll::Ready(Err(status)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Sleeps until `deadline` without blocking other tasks.
pub async fn sleep(deadline: Time) -> Result<(), Status> {
    let timer = zx::Timer::create()?;
    timer.set(deadline, 0)?;
    on_signals(&timer, Signals::TIMER_SIGNALED).await.map(drop)
}
