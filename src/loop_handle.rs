//! [`LoopHandle`]: the `Send + Sync` face of a loop for other threads
//! (asyncio's `call_soon_threadsafe`, `run_coroutine_threadsafe`), over the
//! remote queue (`remote`).

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::sync::Arc;

use crate::callback::SendFn;
use crate::concurrent::{forward, ConcurrentFuture};
use crate::error::{LoopClosed, TaskError};
use crate::oneshot;
use crate::remote::Refused;
use crate::task::{Remote, RemoteJob};

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
    shared: Arc<Remote>,
}

impl LoopHandle {
    pub(crate) fn new(shared: Arc<Remote>) -> LoopHandle {
        LoopHandle { shared }
    }

    /// The loop's cross-thread state: its identity, for checks that a
    /// token belongs to this loop.
    pub(crate) fn remote(&self) -> &Arc<Remote> {
        &self.shared
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
        self.try_call_at(f, Location::caller())
    }

    /// `try_call_soon_threadsafe` with the caller's location.
    fn try_call_at<F>(&self, f: F, location: &'static Location<'static>) -> Result<(), CallError<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        match self.shared.reserve_call() {
            Err(Refused::Full) => Err(CallError::Full(f)),
            Err(Refused::Closed) => Err(CallError::Closed),
            // Refused here only if the loop closed meanwhile: the job is
            // dropped on this thread.
            Ok(()) => self
                .shared
                .push_reserved(RemoteJob::Call(SendFn::new(f), location))
                .map_err(|_| CallError::Closed),
        }
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
            match self.try_call_at(f, location) {
                Err(CallError::Full(back)) => {
                    if std::thread::current().id() == self.shared.loop_thread {
                        return Err(CallError::Full(back));
                    }
                    self.shared.wait_for_room();
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
                    let core = crate::core::expect_current("run_coroutine_threadsafe job");
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
            if let Some(core) = crate::core::current() {
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
