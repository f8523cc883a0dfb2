//! [`Task`]: the handle `ensure_future` returns.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::raw::{JoinWaiter, LocalRef};
use super::scheduler::Scheduler;
use super::state;
use crate::error::TaskError;
use crate::exception::ExceptionSource;

/// A future running on an [`EventLoop`](crate::EventLoop), as asyncio's `Task`.
///
/// Awaiting a `Task` gives its output, or a [`TaskError`] if it was
/// cancelled or panicked. Dropping the handle *detaches* the task: it keeps
/// running, and its output is dropped when it finishes (asyncio and tokio do
/// the same). A panic in a detached task goes to the loop's exception handler.
///
/// `Task` is `!Send`: it lives on the loop's thread.
///
/// ```
/// let out = evloop::run(async {
///     let task = evloop::ensure_future(async { 6 * 7 });
///     task.await.unwrap()
/// });
/// assert_eq!(out, Ok(42));
/// ```
#[must_use = "dropping a Task detaches it; bind it to `_task` to keep it, or call `drop`"]
pub struct Task<T> {
    raw: LocalRef,
    /// The task's loop: names, wakes and reports go through it.
    scheduler: Rc<Scheduler>,
    _marker: PhantomData<Marker<T>>,
}

/// `!Send` (the `Rc`), and covariant in `T` without owning one.
type Marker<T> = (Rc<()>, fn() -> T);

impl<T: 'static> Task<T> {
    pub(crate) fn from_raw(raw: LocalRef, scheduler: Rc<Scheduler>) -> Task<T> {
        Task {
            raw,
            scheduler,
            _marker: PhantomData,
        }
    }

    /// Whether the task has finished: completed, panicked or cancelled.
    pub fn done(&self) -> bool {
        self.raw.is_complete()
    }

    /// Requests cancellation: at the task's next turn on the loop thread its
    /// future is dropped (nothing is raised inside it) and awaiting the task
    /// gives [`TaskError::is_cancelled`]. Returns `false` if the task was
    /// already done. Cancelling twice is harmless.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = evloop::EventLoop::builder().virtual_time().build().unwrap();
    /// let task = lp.ensure_future(async { evloop::sleep(Duration::from_secs(3600)).await });
    /// assert!(task.cancel());
    /// let err = lp.run_until_complete(task).unwrap().unwrap_err();
    /// assert!(err.is_cancelled());
    /// ```
    pub fn cancel(&self) -> bool {
        if self.raw.is_complete() {
            return false;
        }
        self.raw.view().update(state::Local::request_cancel);
        self.scheduler.wake(&self.raw);
        true
    }
}

impl<T> Task<T> {
    /// The loop's number for this task (tokio's `task::Id`): increasing in
    /// spawn order and never reused by that loop, but not consecutive — it
    /// is the sequence number of the task's first ready-queue entry, which
    /// costs nothing to assign. 0 for a task spawned on a closed loop (it
    /// never ran).
    pub fn id(&self) -> u64 {
        self.raw.view().id()
    }

    /// The task's name, if it was given one and has not finished.
    pub fn name(&self) -> Option<Arc<str>> {
        self.scheduler.name(self.id())
    }

    /// Names the task (asyncio's `Task.set_name`): the name shows in
    /// [`EventLoop::all_tasks`](crate::EventLoop::all_tasks), in
    /// [`current_task`](crate::current_task) and in traces. Names are kept
    /// while the task is not finished; naming a finished task does nothing.
    pub fn set_name(&self, name: impl Into<Arc<str>>) {
        self.scheduler.set_name(&self.raw, name.into());
    }

    /// [`set_name`](Task::set_name) at spawn:
    /// `ensure_future(fut).with_name("reader")`.
    ///
    /// ```
    /// evloop::run(async {
    ///     let task = evloop::ensure_future(async {
    ///         evloop::current_task().unwrap().name.as_deref().map(str::to_owned)
    ///     })
    ///     .with_name("worker");
    ///     assert_eq!(task.await.unwrap().as_deref(), Some("worker"));
    /// })
    /// .unwrap();
    /// ```
    pub fn with_name(self, name: impl Into<Arc<str>>) -> Task<T> {
        self.set_name(name);
        self
    }
}

impl Task<()> {
    /// The task being polled, if called from inside one: the same as
    /// [`evloop::current_task`](crate::current_task).
    ///
    /// ```
    /// use evloop::Task;
    /// evloop::run(async {
    ///     let outer = Task::current().unwrap().id;
    ///     let inner = evloop::ensure_future(async { Task::current().unwrap().id });
    ///     assert_ne!(inner.await.unwrap(), outer);
    /// })
    /// .unwrap();
    /// ```
    pub fn current() -> Option<crate::TaskInfo> {
        crate::current_task()
    }
}

impl<T: 'static> Future for Task<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !self.raw.is_complete() {
            let view = self.raw.view();
            if !view.join_waiter_is(cx.waker(), &self.scheduler) {
                let waiter = JoinWaiter::for_waker(cx.waker(), &self.scheduler);
                // Dropped here, outside any borrow (a foreign waker's
                // `Drop` is user code).
                drop(view.replace_join_waiter(waiter));
            }
            return Poll::Pending;
        }
        // SAFETY: `T` is the future's output type (`Task<T>` is only built
        // by `spawn` for a future with `Output = T`).
        match unsafe { self.raw.take_output::<T>() } {
            Some(output) => Poll::Ready(output),
            None => panic!("`Task` polled after it returned its output"),
        }
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        let view = self.raw.view();
        view.update(state::Local::detach);
        drop(view.replace_join_waiter(JoinWaiter::None));
        if self.raw.is_complete() {
            if let Some(payload) = self.raw.discard_output() {
                self.scheduler
                    .report(ExceptionSource::Task, view.location(), payload);
            }
        }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id())
            .field("done", &self.raw.is_complete())
            .finish()
    }
}
