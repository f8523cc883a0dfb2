//! The loop's side of blocking work: the future
//! [`EventLoop::run_in_executor`](crate::EventLoop::run_in_executor) returns
//! (asyncio's `loop.run_in_executor`), and the jobs that carry a result
//! back to it through a one-value channel.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::pool::{Compute, Job};
use crate::core::Core;
use crate::error::TaskError;
use crate::oneshot::{self, Outcome};

/// Computes `f` (catching its panic) and returns the job that sends the
/// result to `tx`.
pub(crate) fn compute_then_send<F, T>(f: F, tx: oneshot::Sender<Result<T, TaskError>>) -> Compute
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Box::new(move || {
        let result = catch_unwind(AssertUnwindSafe(f)).map_err(TaskError::panicked);
        Box::new(move || tx.send(result)) as Job
    })
}

/// Wraps `f` into one job that sends its result (or its panic) to `tx`,
/// for executors other than the built-in pool.
pub(crate) fn job_for<F, T>(f: F, tx: oneshot::Sender<Result<T, TaskError>>) -> Job
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let compute = compute_then_send(f, tx);
    Box::new(move || compute()())
}

/// The future of [`EventLoop::run_in_executor`](crate::EventLoop::run_in_executor):
/// the job's return value, or a [`TaskError`] if it panicked or the
/// executor dropped it.
///
/// Dropping it does not stop the job (a thread cannot be interrupted); the
/// result is dropped on the worker thread when the job ends.
#[must_use = "futures do nothing unless awaited"]
pub struct RunInExecutor<T> {
    rx: oneshot::Receiver<Result<T, TaskError>>,
    /// Keeps virtual time from jumping ahead while the job runs.
    _in_flight: InFlight,
}

impl<T> RunInExecutor<T> {
    pub(crate) fn new(rx: oneshot::Receiver<Result<T, TaskError>>, core: &Rc<Core>) -> Self {
        RunInExecutor {
            rx,
            _in_flight: InFlight::new(core),
        }
    }
}

impl<T> Future for RunInExecutor<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.rx.poll_recv(cx).map(|outcome| match outcome {
            Outcome::Value(result) => result,
            Outcome::Cancelled | Outcome::Dropped => Err(TaskError::cancelled()),
            Outcome::Taken => panic!("RunInExecutor polled after completion"),
        })
    }
}

/// Counts work in flight outside the loop thread, which the loop's virtual
/// clock must wait for (tokio pauses its auto-advance likewise).
pub(crate) struct InFlight {
    core: Rc<Core>,
}

impl InFlight {
    pub(crate) fn new(core: &Rc<Core>) -> InFlight {
        core.external_work(1);
        InFlight { core: core.clone() }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.core.external_work(-1);
    }
}
