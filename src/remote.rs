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
use crate::sync::shim::{fence, AtomicBool, AtomicUsize, Ordering, Queue, Signal};
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
}

impl Shared {
    pub(crate) fn new(waker: Signal, spin: Duration) -> Shared {
        Shared {
            queue: Queue::new(),
            waker,
            // Not inside `run_once` yet: counts as asleep.
            parked: AtomicBool::new(true),
            state: AtomicUsize::new(0),
            loop_thread: std::thread::current().id(),
            spin,
            task_names: TaskNames::default(),
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
        self.queue.pop()
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
            .push(RemoteJob::Call(SendFn::new(f), Location::caller()))
            .map_err(|_| LoopClosed)
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
            .push(RemoteJob::Call(SendFn::new(job), location));
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
        let s = Shared::new(Signal::default(), std::time::Duration::ZERO);
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
