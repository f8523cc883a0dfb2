//! [`Task`]: the handle `ensure_future` returns.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::raw::{JoinWaiter, LocalRef};
use crate::error::TaskError;

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
    _marker: PhantomData<Marker<T>>,
}

/// `!Send` (the `Rc`), and covariant in `T` without owning one.
type Marker<T> = (Rc<()>, fn() -> T);

impl<T: 'static> Task<T> {
    pub(crate) fn from_raw(raw: LocalRef) -> Task<T> {
        Task {
            raw,
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
        // SAFETY: `Task` is `!Send`, so this is the loop thread; the closure
        // runs no user code.
        unsafe { self.raw.with_local(|l| l.cancel_requested = true) };
        crate::context::wake(&self.raw);
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
        // SAFETY: loop thread (`Task` is `!Send`); no user code inside.
        unsafe { self.raw.with_local(|l| l.id) }
    }

    /// The task's name, if it was given one and has not finished.
    pub fn name(&self) -> Option<Arc<str>> {
        self.raw.owner().task_names.get(self.id())
    }

    /// Names the task (asyncio's `Task.set_name`): the name shows in
    /// [`EventLoop::all_tasks`](crate::EventLoop::all_tasks), in
    /// [`current_task`](crate::current_task) and in traces. Names are kept
    /// while the task is not finished; naming a finished task does nothing.
    pub fn set_name(&self, name: impl Into<Arc<str>>) {
        if !self.raw.is_complete() {
            // SAFETY: loop thread (`Task` is `!Send`); no user code inside.
            unsafe { self.raw.with_local(|l| l.named = true) };
            self.raw.owner().task_names.set(self.id(), name.into());
        }
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
            let waker = cx.waker();
            let owner = self.raw.owner();
            // SAFETY: loop thread (`Task` is `!Send`); no user code inside.
            let matched = unsafe { self.raw.with_local(|l| l.join_waiter.matches(waker)) };
            // SAFETY: loop thread; the borrow above has ended (the waker
            // may be this task's own: a task awaiting its own handle).
            let same = unsafe { matched.finish(waker, owner) };
            if !same {
                // SAFETY: loop thread.
                let waiter = unsafe { JoinWaiter::for_waker(waker, self.raw.owner()) };
                // SAFETY: loop thread; the old waiter is dropped after the
                // closure (a foreign waker's `Drop` is user code).
                let old = unsafe {
                    self.raw
                        .with_local(|l| std::mem::replace(&mut l.join_waiter, waiter))
                };
                drop(old);
            }
            return Poll::Pending;
        }
        // SAFETY: loop thread; `T` is the future's output type (`Task<T>` is
        // only built by `spawn` for a future with `Output = T`).
        match unsafe { self.raw.take_output::<T>() } {
            Some(output) => Poll::Ready(output),
            None => panic!("`Task` polled after it returned its output"),
        }
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        // SAFETY: loop thread (`Task` is `!Send`); no user code inside.
        let old = unsafe {
            self.raw.with_local(|l| {
                l.handle_alive = false;
                std::mem::replace(&mut l.join_waiter, JoinWaiter::None)
            })
        };
        drop(old);
        if self.raw.is_complete() {
            // SAFETY: loop thread.
            if let Some(payload) = unsafe { self.raw.discard_output() } {
                // SAFETY: loop thread; reading the location runs no user code.
                let at = unsafe { self.raw.with_local(|l| l.location) };
                crate::context::report_unretrieved(&self.raw, at, payload);
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
