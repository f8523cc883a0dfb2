//! The cross-thread side of the loop: the remote queue, the sleep flag that
//! decides when a sender must wake the loop, and [`LoopHandle`].
//!
//! Everything here is `Send + Sync`; the loop-thread side lives in `core`.
//!
//! # The sleep flag (why no wake-up is ever lost)
//!
//! `parked` is true while the loop might be blocked in `epoll_wait`, or is
//! not inside `run_once` at all (a host drives it and watches its fd). A
//! sender pushes its job, issues a `SeqCst` fence, then swaps `parked` to
//! false and writes the eventfd only if it was true. The loop stores `parked
//! = true`, issues a `SeqCst` fence, then checks the queue before blocking.
//! The two fences order the store-then-load pairs, so at least one side sees
//! the other: either the loop sees the job (and polls with a zero timeout) or
//! the sender sees `parked` (and writes the eventfd). A burst of sends while
//! the loop runs costs one atomic swap each and no syscall.
//!
//! # Closing
//!
//! `state` counts senders inside `push` and holds a `CLOSED` bit. `close`
//! sets the bit, then waits for the in-flight pushes (a few instructions
//! each) to leave, so after it returns the queue only shrinks: every job that
//! `push` accepted is either run or dropped by the loop's teardown, on the
//! loop thread, and every later job is refused with [`LoopClosed`] and
//! dropped on the sending thread.
//!
//! # Capacity (opt-in back-pressure)
//!
//! Unbounded by default, as asyncio's `call_soon_threadsafe`. With
//! [`Builder::threadsafe_capacity`](crate::Builder::threadsafe_capacity)
//! the queued threadsafe *calls* are counted (cross-thread task wakes are
//! not: refusing one would lose it): `try_call_soon_threadsafe` refuses a
//! call while the count is at the capacity, `call_soon_threadsafe_blocking`
//! waits for room, and plain `call_soon_threadsafe` still always queues.
//! A blocked producer and the loop use the same store-then-check handshake
//! as the sleep flag: the producer announces itself in `blocked`, then
//! re-checks the count under the lock before it waits; the loop lowers the
//! count, then takes the lock to notify only if someone announced itself.
//! Either the producer sees the room, or the loop sees the producer.

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Duration;

use crate::callback::SendFn;
use crate::concurrent::{forward, ConcurrentFuture};
use crate::error::{LoopClosed, TaskError};
use crate::oneshot;
use crate::sync::shim::{fence, AtomicBool, AtomicUsize, Condvar, Mutex, Ordering, Queue, Signal};
use crate::task::{RemoteTask, TaskNames};

/// A job from another thread.
pub(crate) enum RemoteJob {
    /// `call_soon_threadsafe`, with where it was called from. Small
    /// closures travel inline, with no allocation.
    Call(SendFn, &'static Location<'static>),
    /// A task woken off the loop thread (its `scheduled` flag is set).
    Wake(RemoteTask),
}

const CLOSED: usize = 1;
const SENDER: usize = 2;

/// The count and the parking place of a bounded remote queue.
struct Capacity {
    /// The most threadsafe calls that may wait in the queue.
    limit: usize,
    /// Threadsafe calls in the queue now.
    queued: AtomicUsize,
    /// Producers waiting for room in `call_soon_threadsafe_blocking`.
    blocked: AtomicUsize,
    lock: Mutex<()>,
    room: Condvar,
}

impl Capacity {
    fn new(limit: usize) -> Capacity {
        Capacity {
            limit,
            queued: AtomicUsize::new(0),
            blocked: AtomicUsize::new(0),
            lock: Mutex::new(()),
            room: Condvar::new(),
        }
    }

    /// Takes a place for one call, unless the queue is full.
    fn reserve(&self) -> bool {
        if self.queued.fetch_add(1, Ordering::SeqCst) < self.limit {
            return true;
        }
        self.queued.fetch_sub(1, Ordering::SeqCst);
        false
    }

    /// Blocks until the queue may have room, or `closed()` holds.
    fn wait_for_room(&self, closed: impl Fn() -> bool) {
        let mut guard = self.lock.lock();
        self.blocked.fetch_add(1, Ordering::SeqCst);
        // Pairs with the fence in `notify`: store-then-load on both sides
        // (see the module docs).
        fence(Ordering::SeqCst);
        if self.queued.load(Ordering::SeqCst) >= self.limit && !closed() {
            self.room.wait(&mut guard);
        }
        self.blocked.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes the blocked producers, if any (after the count went down, or
    /// at close).
    fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.blocked.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock();
            self.room.notify_all();
        }
    }
}

/// Why [`LoopHandle::try_call_soon_threadsafe`] (or
/// [`call_soon_threadsafe_blocking`](LoopHandle::call_soon_threadsafe_blocking))
/// did not queue a job.
pub enum CallError<F> {
    /// The loop's threadsafe queue is at its capacity; the job comes back.
    Full(F),
    /// The loop is closed; the job was dropped on this thread.
    Closed,
}

impl<F> CallError<F> {
    /// Whether the queue was full.
    pub fn is_full(&self) -> bool {
        matches!(self, CallError::Full(_))
    }

    /// Whether the loop was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, CallError::Closed)
    }

    /// The job, if it came back (`Full`).
    pub fn into_inner(self) -> Option<F> {
        match self {
            CallError::Full(f) => Some(f),
            CallError::Closed => None,
        }
    }
}

impl<F> fmt::Debug for CallError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Full(_) => f.write_str("Full(..)"),
            CallError::Closed => f.write_str("Closed"),
        }
    }
}

impl<F> fmt::Display for CallError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Full(_) => f.write_str("the loop's threadsafe queue is full"),
            CallError::Closed => fmt::Display::fmt(&LoopClosed, f),
        }
    }
}

impl<F> std::error::Error for CallError<F> {}

/// State shared between the loop and every other thread.
pub(crate) struct Shared {
    queue: Queue<RemoteJob>,
    waker: Signal,
    parked: AtomicBool,
    /// `CLOSED` bit plus `SENDER` times the number of pushes in flight.
    state: AtomicUsize,
    /// The thread the loop lives on (an `EventLoop` is `!Send`).
    loop_thread: ThreadId,
    /// How long to spin before sleeping (`Builder::spin_before_park`).
    pub(crate) spin: Duration,
    /// Names of the loop's named tasks (loop thread only; see `TaskNames`).
    pub(crate) task_names: TaskNames,
    /// `Builder::threadsafe_capacity` (`None`: unbounded).
    capacity: Option<Capacity>,
}

impl Shared {
    pub(crate) fn new(waker: Signal, spin: Duration, capacity: Option<usize>) -> Shared {
        Shared {
            queue: Queue::new(),
            waker,
            // Not inside `run_once` yet: counts as asleep.
            parked: AtomicBool::new(true),
            state: AtomicUsize::new(0),
            loop_thread: std::thread::current().id(),
            spin,
            task_names: TaskNames::default(),
            capacity: capacity.map(Capacity::new),
        }
    }

    /// Queues a threadsafe call; counted if the queue is bounded, but
    /// never refused for room (plain `call_soon_threadsafe`, and the
    /// loop's own cross-thread calls).
    pub(crate) fn push_call(&self, job: RemoteJob) -> Result<(), RemoteJob> {
        if let Some(cap) = &self.capacity {
            cap.queued.fetch_add(1, Ordering::SeqCst);
        }
        self.push(job).inspect_err(|_| self.call_taken())
    }

    /// Queues a threadsafe call if the queue has room for it; `make`
    /// builds the job only then, so a refused one comes back untouched.
    fn try_push_call<F>(
        &self,
        f: F,
        make: impl FnOnce(F) -> RemoteJob,
    ) -> Result<(), CallError<F>> {
        if self.is_closed() {
            return Err(CallError::Closed);
        }
        if let Some(cap) = &self.capacity {
            if !cap.reserve() {
                return Err(CallError::Full(f));
            }
        }
        // Refused only if the loop closed meanwhile: the job is dropped here.
        self.push(make(f)).map_err(|_| {
            self.call_taken();
            CallError::Closed
        })
    }

    /// A queued call left the queue (run, or dropped by teardown).
    fn call_taken(&self) {
        if let Some(cap) = &self.capacity {
            cap.queued.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Loop side, after taking jobs: producers blocked for room may go on.
    pub(crate) fn room_made(&self) {
        if let Some(cap) = &self.capacity {
            cap.notify();
        }
    }

    /// Queues `job` and wakes the loop if it may be asleep. Gives the job
    /// back if the loop is closed.
    pub(crate) fn push(&self, job: RemoteJob) -> Result<(), RemoteJob> {
        if self.state.fetch_add(SENDER, Ordering::Acquire) & CLOSED != 0 {
            self.state.fetch_sub(SENDER, Ordering::Release);
            return Err(job);
        }
        self.queue.push(job);
        self.state.fetch_sub(SENDER, Ordering::Release);
        fence(Ordering::SeqCst);
        // A plain load first: while the loop is awake (the common case under
        // load) a send then costs no read-modify-write on this shared line.
        // The swap decides who writes the eventfd when it may be asleep.
        if self.parked.load(Ordering::Relaxed) && self.parked.swap(false, Ordering::AcqRel) {
            // An eventfd write can only fail if the counter is saturated,
            // and then the loop is already readable: nothing is lost.
            let _ = self.waker.wake();
        }
        Ok(())
    }

    /// Loop side, before blocking: declare the loop parked, then report
    /// whether work arrived meanwhile (then it must not block).
    pub(crate) fn park(&self) -> bool {
        self.parked.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        self.queue.is_empty()
    }

    /// Loop side, after polling or on entering `run_once`.
    pub(crate) fn unpark(&self) {
        self.parked.store(false, Ordering::Relaxed);
    }

    /// Loop side, on leaving `run_once`: the loop counts as asleep again. If
    /// work is already queued, make the poll fd readable so that a host
    /// watching it comes back.
    pub(crate) fn leave(&self) {
        if !self.park() && self.parked.swap(false, Ordering::AcqRel) {
            let _ = self.waker.wake();
        }
    }

    /// Loop side: the next job, if any.
    pub(crate) fn pop(&self) -> Option<RemoteJob> {
        let job = self.queue.pop();
        if let Some(RemoteJob::Call(..)) = job {
            self.call_taken();
        }
        job
    }

    /// Whether any job is queued (a snapshot).
    pub(crate) fn has_jobs(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Jobs queued right now (a snapshot; senders may be adding more).
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Refuses new jobs and waits for pushes in flight to finish.
    pub(crate) fn close(&self) {
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        while self.state.load(Ordering::Acquire) != CLOSED {
            crate::sync::shim::spin();
        }
        // Producers blocked for room give up now (`CallError::Closed`).
        if let Some(cap) = &self.capacity {
            let _guard = cap.lock.lock();
            cap.room.notify_all();
        }
    }
}

/// A `Send + Sync` handle to an [`EventLoop`](crate::EventLoop), for other
/// threads: asyncio's `call_soon_threadsafe` and friends.
///
/// Cloning costs one atomic increment.
///
/// ```
/// let lp = evloop::EventLoop::new();
/// let handle = lp.handle();
/// let worker = std::thread::spawn(move || {
///     handle.call_soon_threadsafe(|| println!("on the loop thread")).unwrap();
/// });
/// worker.join().unwrap();
/// lp.run_once(Some(std::time::Duration::ZERO)).unwrap();
/// ```
#[derive(Clone)]
pub struct LoopHandle {
    shared: Arc<Shared>,
}

impl LoopHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> LoopHandle {
        LoopHandle { shared }
    }

    /// Schedules `f` to run on the loop thread, in a later iteration.
    ///
    /// Jobs from one thread run in the order that thread sent them. After the
    /// loop is closed the job is dropped here and `Err(LoopClosed)` returned.
    #[track_caller]
    pub fn call_soon_threadsafe<F>(&self, f: F) -> Result<(), LoopClosed>
    where
        F: FnOnce() + Send + 'static,
    {
        self.shared
            .push_call(RemoteJob::Call(SendFn::new(f), Location::caller()))
            .map_err(|_| LoopClosed)
    }

    /// [`call_soon_threadsafe`](LoopHandle::call_soon_threadsafe) with
    /// back-pressure: if the loop was built with a
    /// [`threadsafe_capacity`](crate::Builder::threadsafe_capacity) and
    /// that many calls are queued, the job comes back as
    /// `Err(CallError::Full(f))` instead of queuing (tokio's `try_send`).
    /// On an unbounded loop (the default) this never says `Full`.
    /// `Err(CallError::Closed)` after the loop closed (the job is dropped
    /// here).
    ///
    /// ```
    /// let lp = evloop::EventLoop::builder().threadsafe_capacity(1).build().unwrap();
    /// let handle = lp.handle();
    /// assert!(handle.try_call_soon_threadsafe(|| {}).is_ok());
    /// let refused = handle.try_call_soon_threadsafe(|| {}).unwrap_err();
    /// assert!(refused.is_full());
    /// lp.run_once(Some(std::time::Duration::ZERO)).unwrap(); // the loop takes the first
    /// assert!(handle.try_call_soon_threadsafe(refused.into_inner().unwrap()).is_ok());
    /// ```
    #[track_caller]
    pub fn try_call_soon_threadsafe<F>(&self, f: F) -> Result<(), CallError<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        let location = Location::caller();
        self.shared
            .try_push_call(f, |f| RemoteJob::Call(SendFn::new(f), location))
    }

    /// [`try_call_soon_threadsafe`](LoopHandle::try_call_soon_threadsafe)
    /// that waits for room instead of refusing, for producers on plain
    /// threads (tokio's `blocking_send`): it blocks while the queue is at
    /// its capacity, until the loop takes jobs or closes
    /// (`Err(CallError::Closed)`).
    ///
    /// Called on the loop's own thread with the queue full it cannot wait
    /// (the loop would never run to make room): it returns
    /// `Err(CallError::Full(f))` at once instead of deadlocking.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = evloop::EventLoop::builder().threadsafe_capacity(16).build().unwrap();
    /// let handle = lp.handle();
    /// let producer = std::thread::spawn(move || {
    ///     for i in 0..1000 {
    ///         handle.call_soon_threadsafe_blocking(move || assert!(i < 1000)).unwrap();
    ///     }
    ///     handle.call_soon_threadsafe_blocking(|| evloop::EventLoop::current().stop()).unwrap();
    /// });
    /// lp.run_forever().unwrap(); // never more than 16 jobs waiting
    /// producer.join().unwrap();
    /// ```
    #[track_caller]
    pub fn call_soon_threadsafe_blocking<F>(&self, f: F) -> Result<(), CallError<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        let location = Location::caller();
        let mut f = f;
        loop {
            match self
                .shared
                .try_push_call(f, |f| RemoteJob::Call(SendFn::new(f), location))
            {
                Err(CallError::Full(back)) => {
                    let cap = self
                        .shared
                        .capacity
                        .as_ref()
                        .expect("only a bounded queue is full");
                    if std::thread::current().id() == self.shared.loop_thread {
                        return Err(CallError::Full(back));
                    }
                    cap.wait_for_room(|| self.shared.is_closed());
                    f = back;
                }
                other => return other,
            }
        }
    }

    /// Submits work to the loop and returns a [`ConcurrentFuture`] for its
    /// result (asyncio's `run_coroutine_threadsafe`).
    ///
    /// `make` runs on the loop thread and builds the future there, so the
    /// future may use loop-local, `!Send` state (`evloop::sleep`, `Rc`s,
    /// `LoopFuture`s); only `make` and the output cross threads. If the loop
    /// is closed, or closes before the work finishes, the result is
    /// `Err(LoopClosed)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = evloop::EventLoop::new();
    /// let handle = lp.handle();
    /// let worker = std::thread::spawn(move || {
    ///     let fut = handle.run_coroutine_threadsafe(|| async {
    ///         evloop::sleep(Duration::from_millis(1)).await;
    ///         5 * 5
    ///     });
    ///     let result = fut.result().unwrap();
    ///     handle.call_soon_threadsafe(|| evloop::EventLoop::current().stop()).unwrap();
    ///     result
    /// });
    /// lp.run_forever().unwrap();
    /// assert_eq!(worker.join().unwrap(), 25);
    /// ```
    #[track_caller]
    pub fn run_coroutine_threadsafe<M, F>(&self, make: M) -> ConcurrentFuture<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        let location = Location::caller();
        let (tx, rx) = oneshot::channel();
        let job = move || {
            if tx.is_cancelled() {
                return; // cancelled before it started: never build the future
            }
            match catch_unwind(AssertUnwindSafe(make)) {
                Ok(future) => {
                    let core = crate::context::expect_current("run_coroutine_threadsafe job");
                    drop(core.spawn(forward(future, tx), location));
                }
                Err(payload) => tx.send(Err(TaskError::panicked(payload))),
            }
        };
        // Refused (closed loop): the job and its sender are dropped here,
        // which resolves the future to `LoopClosed`.
        let _ = self
            .shared
            .push_call(RemoteJob::Call(SendFn::new(job), location));
        ConcurrentFuture::new(rx, self.shared.loop_thread, self.shared.spin)
    }

    /// [`run_coroutine_threadsafe`](LoopHandle::run_coroutine_threadsafe) for
    /// a future that is already built (and so must be `Send`).
    #[track_caller]
    pub fn run_future_threadsafe<F>(&self, future: F) -> ConcurrentFuture<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.run_coroutine_threadsafe(move || future)
    }

    /// Asks the loop to stop (as [`EventLoop::stop`](crate::EventLoop::stop)),
    /// from any thread: the request travels as a threadsafe job, so
    /// `run_forever` returns after the iteration that runs it.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// let handle = lp.handle();
    /// std::thread::spawn(move || handle.stop().unwrap());
    /// lp.run_forever().unwrap();
    /// ```
    pub fn stop(&self) -> Result<(), LoopClosed> {
        self.call_soon_threadsafe(|| {
            if let Some(core) = crate::context::current() {
                core.stop();
            }
        })
    }

    /// Whether the loop is closed (later calls will be refused).
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }
}

impl fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopHandle")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Model checks of the sleep-flag and close protocols, on the production
/// code above: `RUSTFLAGS="--cfg evloop_loom" cargo test --lib --release loom_`.
#[cfg(all(test, evloop_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    fn job() -> RemoteJob {
        RemoteJob::Call(SendFn::new(|| {}), Location::caller())
    }

    fn shared() -> Shared {
        let s = Shared::new(Signal::default(), std::time::Duration::ZERO, None);
        s.unpark(); // inside run_once
        s
    }

    /// The loop decides to block only if a sender will wake it: no lost
    /// wake-up, whatever the interleaving.
    #[test]
    fn loom_no_lost_wakeup() {
        loom::model(|| {
            let s = Arc::new(shared());
            let sender = {
                let s = s.clone();
                thread::spawn(move || assert!(s.push(job()).is_ok()))
            };
            let would_block = s.park();
            sender.join().unwrap();
            if would_block {
                assert_eq!(s.waker.count(), 1, "the loop blocked and nobody woke it");
            }
            assert_eq!(s.len(), 1);
        });
    }

    /// Two senders while the loop parks: at least one wake if it blocked,
    /// never more than one per park (the flag coalesces).
    #[test]
    fn loom_wakes_coalesce() {
        loom::model(|| {
            let s = Arc::new(shared());
            let senders: Vec<_> = (0..2)
                .map(|_| {
                    let s = s.clone();
                    thread::spawn(move || assert!(s.push(job()).is_ok()))
                })
                .collect();
            let would_block = s.park();
            for t in senders {
                t.join().unwrap();
            }
            let wakes = s.waker.count();
            if would_block {
                assert!(wakes >= 1, "blocked with jobs queued and no wake");
            }
            assert!(wakes <= 1, "one park, one eventfd write at most");
        });
    }

    /// A producer blocked for room is always released: the loop takes a
    /// job and notifies while the producer announces itself and re-checks
    /// (a lost notification would leave it waiting forever, which loom
    /// reports as a deadlock).
    #[test]
    fn loom_a_blocked_producer_is_never_left_waiting() {
        loom::model(|| {
            let s = Arc::new(Shared::new(
                Signal::default(),
                std::time::Duration::ZERO,
                Some(1),
            ));
            s.unpark();
            assert!(s.push_call(job()).is_ok()); // full now
            let producer = {
                let s = s.clone();
                thread::spawn(move || loop {
                    match s.try_push_call((), |()| job()) {
                        Ok(()) => return,
                        Err(CallError::Full(())) => {
                            let cap = s.capacity.as_ref().unwrap();
                            cap.wait_for_room(|| s.is_closed());
                        }
                        Err(CallError::Closed) => panic!("not closed"),
                    }
                })
            };
            assert!(s.pop().is_some());
            s.room_made();
            producer.join().unwrap();
            assert_eq!(s.len(), 1);
        });
    }

    /// A push racing with close is either refused, or its job is in the
    /// queue when close returns (so teardown drops it): never lost.
    #[test]
    fn loom_push_racing_close() {
        loom::model(|| {
            let s = Arc::new(shared());
            let sender = {
                let s = s.clone();
                thread::spawn(move || s.push(job()).is_ok())
            };
            s.close();
            let queued_at_close = s.len();
            let accepted = sender.join().unwrap();
            assert_eq!(queued_at_close, usize::from(accepted));
            assert!(s.push(job()).is_err(), "refused after close");
        });
    }
}
