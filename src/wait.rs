//! Waiting on several tasks at once: [`wait`] with [`ReturnWhen`], and
//! [`as_completed`] (asyncio's `wait` and `as_completed`).

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use parking_lot::Mutex;

use crate::error::TaskError;
use crate::task::Task;
use crate::time::Sleep;

/// When [`wait`] returns (asyncio's `FIRST_COMPLETED`, `FIRST_EXCEPTION`,
/// `ALL_COMPLETED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as one task has finished, however it finished.
    FirstCompleted,
    /// As soon as one task has panicked, or when all have finished. A
    /// cancelled task is not an exception (as in asyncio), nor is an
    /// `Err` that a task returns: that is its output.
    FirstException,
    /// When every task has finished (asyncio's default).
    AllCompleted,
}

/// Waits for `tasks` until `return_when` holds or `timeout` passes, and
/// splits them into the finished ones' outputs and the tasks still running
/// (asyncio's `done, pending = await asyncio.wait(tasks, ...)`; tokio has
/// no single counterpart: `select!` or `JoinSet::join_next`).
///
/// - `done`: the output of each task that finished, in the order the tasks
///   were given (asyncio returns the done tasks themselves; here their
///   output is taken, as awaiting each would give it). To tell which is
///   which, have the tasks return an identifier with their value.
/// - `pending`: the tasks not finished, in the order given. They keep
///   running (nothing is cancelled, as in asyncio): await them, cancel
///   them or pass them to `wait` again.
///
/// A timeout returns what is done by then; it is not an error. No tasks at
/// all return at once with two empty lists (asyncio raises `ValueError`).
///
/// # Panics
///
/// If `timeout` is given and no evloop is running on this thread.
///
/// ```
/// use std::time::Duration;
/// use evloop::ReturnWhen;
/// let lp = evloop::EventLoop::builder().virtual_time().build().unwrap();
/// let out = lp.run_until_complete(async {
///     let tasks = [3, 1, 2].map(|s| evloop::ensure_future(async move {
///         evloop::sleep(Duration::from_secs(s)).await;
///         s
///     }));
///     let (done, pending) = evloop::wait(tasks, ReturnWhen::FirstCompleted, None).await;
///     assert_eq!(pending.len(), 2);
///     done.into_iter().map(Result::unwrap).collect::<Vec<_>>()
/// });
/// assert_eq!(out.unwrap(), [1]);
/// ```
#[track_caller]
pub fn wait<T, I>(tasks: I, return_when: ReturnWhen, timeout: Option<Duration>) -> Wait<T>
where
    T: 'static,
    I: IntoIterator<Item = Task<T>>,
{
    let sleep = timeout.map(|d| {
        let core = crate::core::expect_current("evloop::wait");
        let deadline = core.clock().deadline_after(d);
        Sleep::new(core, deadline)
    });
    let tasks: Vec<_> = tasks.into_iter().map(WaitSlot::Running).collect();
    Wait {
        tasks,
        return_when,
        sleep,
    }
}

/// The future of [`wait`]: `(done, pending)`.
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<T> {
    tasks: Vec<WaitSlot<T>>,
    return_when: ReturnWhen,
    sleep: Option<Sleep>,
}

/// Nothing of a `Wait` is pinned: its outputs are only ever moved.
impl<T> Unpin for Wait<T> {}

enum WaitSlot<T> {
    Running(Task<T>),
    Done(Result<T, TaskError>),
}

impl<T: 'static> Future for Wait<T> {
    type Output = (Vec<Result<T, TaskError>>, Vec<Task<T>>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (mut done, mut panicked) = (0, false);
        for slot in this.tasks.iter_mut() {
            if let WaitSlot::Running(task) = slot {
                // A running task registers this waker; a finished one gives
                // its output.
                if let Poll::Ready(out) = Pin::new(task).poll(cx) {
                    *slot = WaitSlot::Done(out);
                }
            }
            if let WaitSlot::Done(out) = slot {
                done += 1;
                panicked |= out.as_ref().is_err_and(TaskError::is_panic);
            }
        }
        let all = done == this.tasks.len();
        let satisfied = all
            || match this.return_when {
                ReturnWhen::FirstCompleted => done > 0,
                ReturnWhen::FirstException => panicked,
                ReturnWhen::AllCompleted => false,
            };
        if !satisfied && !this.timed_out(cx) {
            return Poll::Pending;
        }
        this.sleep = None;
        Poll::Ready(split(std::mem::take(&mut this.tasks)))
    }
}

impl<T> Wait<T> {
    /// Whether the timeout has passed (arming its timer on the first call).
    fn timed_out(&mut self, cx: &mut Context<'_>) -> bool {
        match &mut self.sleep {
            Some(sleep) => Pin::new(sleep).poll(cx).is_ready(),
            None => false,
        }
    }
}

/// The outputs of the finished tasks and the tasks still running, each in
/// input order.
fn split<T>(slots: Vec<WaitSlot<T>>) -> (Vec<Result<T, TaskError>>, Vec<Task<T>>) {
    let (mut done, mut pending) = (Vec::new(), Vec::new());
    for slot in slots {
        match slot {
            WaitSlot::Done(out) => done.push(out),
            WaitSlot::Running(task) => pending.push(task),
        }
    }
    (done, pending)
}

impl<T> fmt::Debug for Wait<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("tasks", &self.tasks.len())
            .field("return_when", &self.return_when)
            .finish()
    }
}

/// The outputs of `tasks` in the order the tasks finish (asyncio's
/// `as_completed`; tokio's `JoinSet::join_next`, or `FuturesUnordered`).
///
/// Take them with [`AsCompleted::next`]: an `async fn` returning `None`
/// once every output was given. evloop does not depend on `futures-core`,
/// so there is no `Stream` impl; a `while let Some(out) = it.next().await`
/// loop does the same.
///
/// The order is the order of completion, exactly: each task wakes its own
/// waker as it finishes, which notes its place. Tasks already finished
/// when first watched (at the first `next`) come first, in the order
/// given. For a time limit, wrap `next()` in [`timeout`](crate::timeout)
/// or [`wait_for`](crate::wait_for); the tasks not yet returned keep
/// running, and dropping the `AsCompleted` detaches them (as dropping any
/// [`Task`] does).
///
/// ```
/// use std::time::Duration;
/// let lp = evloop::EventLoop::builder().virtual_time().build().unwrap();
/// let out = lp.run_until_complete(async {
///     let tasks = [3, 1, 2].map(|s| evloop::ensure_future(async move {
///         evloop::sleep(Duration::from_secs(s)).await;
///         s
///     }));
///     let mut completed = evloop::as_completed(tasks);
///     let mut order = Vec::new();
///     while let Some(out) = completed.next().await {
///         order.push(out.unwrap());
///     }
///     order
/// });
/// assert_eq!(out.unwrap(), [1, 2, 3]);
/// ```
pub fn as_completed<T, I>(tasks: I) -> AsCompleted<T>
where
    T: 'static,
    I: IntoIterator<Item = Task<T>>,
{
    let tasks: Vec<_> = tasks.into_iter().map(Some).collect();
    AsCompleted {
        remaining: tasks.len(),
        tasks,
        watching: false,
        finished: Arc::new(Finished::default()),
    }
}

/// The iterator of [`as_completed`]: [`next`](AsCompleted::next) gives the
/// next output in completion order.
#[must_use = "as_completed does nothing unless `next` is awaited"]
pub struct AsCompleted<T> {
    /// In input order; `None` once the output was given.
    tasks: Vec<Option<Task<T>>>,
    remaining: usize,
    /// Whether each task has been given its waker (at the first `next`).
    watching: bool,
    finished: Arc<Finished>,
}

/// The places of the tasks that have finished, in the order they did,
/// and the waker of whoever awaits `next`. Wakers are `Send + Sync` by
/// contract, hence the locks (taken on the loop thread, uncontended).
#[derive(Default)]
struct Finished {
    order: Mutex<VecDeque<usize>>,
    waiter: Mutex<Option<Waker>>,
}

/// One task's waker: its place, to note when it finishes.
struct Watch {
    index: usize,
    finished: Arc<Finished>,
}

impl Wake for Watch {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.finished.order.lock().push_back(self.index);
        let waiter = self.finished.waiter.lock().take();
        if let Some(waker) = waiter {
            waker.wake();
        }
    }
}

impl<T: 'static> AsCompleted<T> {
    /// The next task's output, in completion order; `None` once all were
    /// given.
    pub async fn next(&mut self) -> Option<Result<T, TaskError>> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// How many outputs are still to come.
    pub fn len(&self) -> usize {
        self.remaining
    }

    /// Whether every output was given.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, TaskError>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        if !self.watching {
            self.watching = true;
            for index in 0..self.tasks.len() {
                self.watch(index);
            }
        }
        // The waiter is stored before the queue is read, so a task that
        // finishes in between is not missed.
        *self.finished.waiter.lock() = Some(cx.waker().clone());
        loop {
            let next = self.finished.order.lock().pop_front();
            let Some(index) = next else {
                return Poll::Pending;
            };
            if let Some(out) = self.take(index) {
                drop(self.finished.waiter.lock().take());
                self.remaining -= 1;
                return Poll::Ready(Some(out));
            }
        }
    }

    /// Gives the task at `index` its own waker; one finished already is
    /// noted at once.
    fn watch(&mut self, index: usize) {
        let Some(task) = &mut self.tasks[index] else {
            return;
        };
        if task.done() {
            self.finished.order.lock().push_back(index);
            return;
        }
        let waker = Waker::from(Arc::new(Watch {
            index,
            finished: self.finished.clone(),
        }));
        // Not done: this only registers the waker.
        let _pending = Pin::new(task).poll(&mut Context::from_waker(&waker));
    }

    /// The output of the task at `index` if it has finished; a wake-up
    /// from a task that has not (or was already given) is ignored, after
    /// watching the task again.
    fn take(&mut self, index: usize) -> Option<Result<T, TaskError>> {
        if !self.tasks[index].as_ref()?.done() {
            self.watch(index);
            return None;
        }
        let task = self.tasks[index].take()?;
        crate::util::now_or_never(task)
    }
}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.remaining)
            .finish()
    }
}
