//! Structured concurrency: [`TaskGroup`] and [`TryTaskGroup`] (asyncio's
//! `TaskGroup`, Python 3.11; tokio's `JoinSet`).
//!
//! The design, the states and the cancellation rule are documented on
//! [`TaskGroup`] (this module is private).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};

use crate::event_loop::EventLoop;
use crate::task::{Task, WakerCell};

/// A group of tasks that finish together (asyncio's `TaskGroup`; tokio's
/// `JoinSet`): the first task that panics cancels the others, and
/// [`wait`](TaskGroup::wait) reports every panic seen.
///
/// All tasks return `T`; the outputs come back from `wait` in the order the
/// tasks were created. For tasks that return `Result`, and whose `Err`
/// should cancel the group, use [`TryTaskGroup`].
///
/// # Why two types
///
/// What counts as a task's failure is a fact about its output type: a
/// panic always, and for a task that returns `Result<T, E>`, an `Err` as
/// well. Rust has no way to ask "is this output a failure?" of an
/// arbitrary `T` (that would need specialization), so the failure rule is
/// chosen by the group's type: a [`TaskGroup<T>`] fails on panics only, a
/// [`TryTaskGroup<T, E>`] also on `Err(E)`, and its [`GroupError<E>`]
/// carries the errors. Both share one implementation; a `TaskGroup<T>` is
/// a `TryTaskGroup<T, Infallible>` that wraps each output in `Ok`.
///
/// # How a group runs
///
/// ```text
///   Open ──first failure──▶ Failing ──last task ends, wait() sees it──▶ Finished
///     └──────────────last task ends, wait() sees it──────────────────────▲
/// ```
///
/// - *Open*: [`create_task`](TaskGroup::create_task) spawns. Each task runs
///   as its own evloop task, so the tasks run whether or not the group is
///   being awaited.
/// - *Failing*: a task panicked (or returned `Err`). The group cancels the
///   tasks still running on the next loop iteration, as asyncio's task
///   done-callbacks run then: a task already scheduled in the iteration of
///   the failure still takes its turn, so several failures can be
///   reported, as in asyncio's `ExceptionGroup`. `create_task` is refused.
/// - *Finished*: [`wait`](TaskGroup::wait) returned; `create_task` is
///   refused.
///
/// Dropping the group cancels the tasks still running (asyncio cancels
/// them when the `async with` body raises; tokio's `JoinSet` aborts them
/// on drop). Cancelling drops the task's future on the loop thread at its
/// next turn.
///
/// # Examples
///
/// ```
/// let out = evloop::run(async {
///     let mut group = evloop::TaskGroup::new();
///     for i in 1..=3 {
///         group.create_task(async move { i * 10 }).unwrap();
///     }
///     group.wait().await
/// });
/// assert_eq!(out.unwrap().unwrap(), [10, 20, 30]);
/// ```
///
/// A panic cancels the rest, and is reported:
///
/// ```
/// let out = evloop::run(async {
///     let mut group = evloop::TaskGroup::new();
///     group.create_task(std::future::pending::<()>()).unwrap(); // cancelled
///     group.create_task(async { panic!("boom") }).unwrap();
///     group.wait().await
/// });
/// let err = out.unwrap().unwrap_err();
/// assert_eq!(err.failures()[0].panic_message(), Some("boom"));
/// ```
///
/// A group is bound to the loop thread:
///
/// ```compile_fail
/// let group = evloop::TaskGroup::<()>::new();
/// std::thread::spawn(move || drop(group));
/// ```
#[must_use = "dropping a TaskGroup cancels its tasks"]
pub struct TaskGroup<T> {
    inner: Group<T, Infallible>,
}

impl<T: 'static> TaskGroup<T> {
    /// An empty, open group. No loop is needed until the first
    /// [`create_task`](TaskGroup::create_task).
    pub fn new() -> TaskGroup<T> {
        TaskGroup {
            inner: Group::new(),
        }
    }

    /// Schedules `future` as a task of the group on the running loop
    /// (asyncio's `TaskGroup.create_task`; tokio's `JoinSet::spawn_local`).
    ///
    /// Refused with [`GroupClosed`] (and `future` dropped) once a task of
    /// the group has failed or the group has finished.
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    #[track_caller]
    pub fn create_task<F>(&self, future: F) -> Result<GroupTask, GroupClosed>
    where
        F: Future<Output = T> + 'static,
    {
        self.inner
            .spawn(async move { Ok::<T, Infallible>(future.await) })
    }

    /// Waits until every task of the group has finished, cancelled or not
    /// (asyncio's `async with` exit): `Ok` with the outputs in creation
    /// order, or [`GroupError`] with every panic seen, in the order seen.
    /// See [`TryTaskGroup::wait`].
    pub fn wait(&mut self) -> GroupWait<'_, T, Infallible> {
        self.inner.wait()
    }
}

impl<T: 'static> Default for TaskGroup<T> {
    fn default() -> TaskGroup<T> {
        TaskGroup::new()
    }
}

impl<T> fmt::Debug for TaskGroup<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt("TaskGroup", f)
    }
}

/// A [`TaskGroup`] of tasks that return `Result<T, E>`: a task's `Err`, as
/// well as its panic, cancels the others, and [`wait`](TryTaskGroup::wait)
/// reports every failure seen (asyncio's `TaskGroup` with tasks that raise;
/// tokio's `JoinSet` of `Result`s, aborted by hand).
///
/// ```
/// use std::time::Duration;
/// let lp = evloop::EventLoop::builder().virtual_time().build().unwrap();
/// let out = lp.run_until_complete(async {
///     let mut group = evloop::TryTaskGroup::new();
///     group.create_task(async {
///         evloop::sleep(Duration::from_secs(3600)).await; // cancelled
///         Ok(1)
///     }).unwrap();
///     group.create_task(async { Err::<i32, _>("no route") }).unwrap();
///     group.wait().await
/// });
/// let err = out.unwrap().unwrap_err();
/// assert_eq!(err.into_failures()[0].error(), Some(&"no route"));
/// ```
#[must_use = "dropping a TryTaskGroup cancels its tasks"]
pub struct TryTaskGroup<T, E> {
    inner: Group<T, E>,
}

impl<T: 'static, E: 'static> TryTaskGroup<T, E> {
    /// An empty, open group. No loop is needed until the first
    /// [`create_task`](TryTaskGroup::create_task).
    pub fn new() -> TryTaskGroup<T, E> {
        TryTaskGroup {
            inner: Group::new(),
        }
    }

    /// Schedules `future` as a task of the group on the running loop; an
    /// `Err` it returns fails the group. Refused with [`GroupClosed`] (and
    /// `future` dropped) once a task has failed or the group has finished.
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    #[track_caller]
    pub fn create_task<F>(&self, future: F) -> Result<GroupTask, GroupClosed>
    where
        F: Future<Output = Result<T, E>> + 'static,
    {
        self.inner.spawn(future)
    }

    /// Waits until every task of the group has finished, cancelled or not:
    /// `Ok` with the outputs in creation order, or [`GroupError`] with
    /// every failure seen, in the order seen (the outputs of the tasks that
    /// succeeded are dropped then, as asyncio's `ExceptionGroup` carries
    /// only the exceptions).
    ///
    /// The group is *finished* once `wait` has returned: `create_task` is
    /// refused, and a second `wait` gives `Ok` with no outputs. Dropping
    /// the `wait` future before it returns leaves the group as it was.
    pub fn wait(&mut self) -> GroupWait<'_, T, E> {
        self.inner.wait()
    }
}

impl<T: 'static, E: 'static> Default for TryTaskGroup<T, E> {
    fn default() -> TryTaskGroup<T, E> {
        TryTaskGroup::new()
    }
}

impl<T, E> fmt::Debug for TryTaskGroup<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt("TryTaskGroup", f)
    }
}

/// A task of a group, as [`create_task`](TaskGroup::create_task) returns
/// it. Its output comes back from the group's `wait`, at
/// [`index`](GroupTask::index); the group alone cancels it.
#[derive(Clone)]
pub struct GroupTask {
    id: u64,
    index: usize,
    done: Rc<Cell<bool>>,
}

impl GroupTask {
    /// The loop's number for the task ([`Task::id`]).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Where the task's output is in the `Vec` that `wait` returns: its
    /// place in creation order.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Whether the task has finished: completed, failed or cancelled.
    pub fn done(&self) -> bool {
        self.done.get()
    }
}

impl fmt::Debug for GroupTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupTask")
            .field("id", &self.id)
            .field("index", &self.index)
            .field("done", &self.done())
            .finish()
    }
}

/// Why [`create_task`](TaskGroup::create_task) refused a task (asyncio
/// raises `RuntimeError` for both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupClosed {
    /// A task of the group has failed: the group is cancelling the rest.
    Failing,
    /// The group's `wait` has returned.
    Finished,
}

impl GroupClosed {
    /// Whether a task of the group has failed.
    pub fn is_failing(&self) -> bool {
        *self == GroupClosed::Failing
    }

    /// Whether the group has finished.
    pub fn is_finished(&self) -> bool {
        *self == GroupClosed::Finished
    }
}

impl fmt::Display for GroupClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupClosed::Failing => "a task of the group has failed: no new tasks",
            GroupClosed::Finished => "the task group has finished: no new tasks",
        })
    }
}

impl std::error::Error for GroupClosed {}

/// How one task of a group failed.
pub enum Failure<E = Infallible> {
    /// It panicked; the payload, to re-raise with
    /// [`std::panic::resume_unwind`].
    Panic(Box<dyn Any + Send + 'static>),
    /// It returned `Err` (a [`TryTaskGroup`] only).
    Error(E),
    /// It was cancelled by something other than its group: its loop closed
    /// before it finished.
    Cancelled,
}

impl<E> Failure<E> {
    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, Failure::Panic(_))
    }

    /// Whether the task was cancelled by its loop's closing.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Failure::Cancelled)
    }

    /// The panic message, when the task panicked with a string.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            Failure::Panic(p) => crate::error::panic_message(p.as_ref()),
            _ => None,
        }
    }

    /// The error the task returned, if it returned one.
    pub fn error(&self) -> Option<&E> {
        match self {
            Failure::Error(e) => Some(e),
            _ => None,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Panic(_) => f
                .debug_tuple("Panic")
                .field(&self.panic_message().unwrap_or("Box<dyn Any>"))
                .finish(),
            Failure::Error(e) => f.debug_tuple("Error").field(e).finish(),
            Failure::Cancelled => f.write_str("Cancelled"),
        }
    }
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Panic(_) => match self.panic_message() {
                Some(m) => write!(f, "task panicked: {m}"),
                None => f.write_str("task panicked"),
            },
            Failure::Error(e) => write!(f, "task failed: {e}"),
            Failure::Cancelled => f.write_str("task was cancelled by its loop"),
        }
    }
}

/// Every failure a group saw before it finished (asyncio's
/// `ExceptionGroup`), in the order seen; never empty.
pub struct GroupError<E = Infallible> {
    failures: Vec<Failure<E>>,
}

impl<E> GroupError<E> {
    /// The failures, in the order they happened.
    pub fn failures(&self) -> &[Failure<E>] {
        &self.failures
    }

    /// The failures, owned (to re-raise a panic or take an error).
    pub fn into_failures(self) -> Vec<Failure<E>> {
        self.failures
    }
}

impl<E: fmt::Debug> fmt::Debug for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupError")
            .field("failures", &self.failures)
            .finish()
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} task(s) of the group failed", self.failures.len())?;
        if let Some(first) = self.failures.first() {
            write!(f, "; the first: {first}")?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for GroupError<E> {}

/// The future of [`TaskGroup::wait`] and [`TryTaskGroup::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct GroupWait<'a, T, E> {
    group: &'a mut Group<T, E>,
}

impl<T, E> Future for GroupWait<'_, T, E> {
    type Output = Result<Vec<T>, GroupError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let shared = &self.get_mut().group.shared;
        if shared.running.get() > 0 {
            shared.waiter.set(cx.waker());
            return Poll::Pending;
        }
        Poll::Ready(shared.finish())
    }
}

impl<T, E> fmt::Debug for GroupWait<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.group.fmt("GroupWait", f)
    }
}

// ---- the implementation both groups share ---------------------------------

struct Group<T, E> {
    shared: Rc<Shared<T, E>>,
}

/// The group's state, shared with its tasks.
struct Shared<T, E> {
    phase: Cell<Phase>,
    /// Every task created, to cancel those still running.
    tasks: RefCell<Vec<Task<()>>>,
    /// One slot a task, in creation order; filled when it succeeds.
    outputs: RefCell<Vec<Option<T>>>,
    failures: RefCell<Vec<Failure<E>>>,
    /// Tasks whose future has not been dropped yet.
    running: Cell<usize>,
    /// The task awaiting `wait`.
    waiter: WakerCell,
}

/// The group's states (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Tasks may be created.
    Open,
    /// A task failed; the rest are being cancelled.
    Failing,
    /// `wait` returned, or the group was dropped.
    Finished,
}

impl<T: 'static, E: 'static> Group<T, E> {
    fn new() -> Group<T, E> {
        let shared = Shared {
            phase: Cell::new(Phase::Open),
            tasks: RefCell::new(Vec::new()),
            outputs: RefCell::new(Vec::new()),
            failures: RefCell::new(Vec::new()),
            running: Cell::new(0),
            waiter: WakerCell::default(),
        };
        Group {
            shared: Rc::new(shared),
        }
    }

    #[track_caller]
    fn spawn<F>(&self, future: F) -> Result<GroupTask, GroupClosed>
    where
        F: Future<Output = Result<T, E>> + 'static,
    {
        // Checked before the group's state changes, so that the panic
        // leaves the group as it was.
        drop(crate::core::expect_current(
            "evloop::TaskGroup::create_task",
        ));
        match self.shared.phase.get() {
            Phase::Open => {}
            Phase::Failing => return Err(GroupClosed::Failing),
            Phase::Finished => return Err(GroupClosed::Finished),
        }
        let index = {
            let mut outputs = self.shared.outputs.borrow_mut();
            outputs.push(None);
            outputs.len() - 1
        };
        let done = Rc::new(Cell::new(false));
        let member = Member {
            shared: self.shared.clone(),
            index,
            done: done.clone(),
            finished: false,
        };
        self.shared.running.set(self.shared.running.get() + 1);
        let task = crate::ensure_future(member.run(future));
        let id = task.id();
        self.shared.tasks.borrow_mut().push(task);
        Ok(GroupTask { id, index, done })
    }
}

impl<T, E> Group<T, E> {
    fn wait(&mut self) -> GroupWait<'_, T, E> {
        GroupWait { group: self }
    }

    fn fmt(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("phase", &self.shared.phase.get())
            .field("tasks", &self.shared.outputs.borrow().len())
            .field("running", &self.shared.running.get())
            .finish()
    }
}

impl<T, E> Drop for Group<T, E> {
    fn drop(&mut self) {
        if self.shared.phase.get() != Phase::Finished {
            self.shared.phase.set(Phase::Finished);
            self.shared.cancel_all();
        }
    }
}

impl<T, E> Shared<T, E> {
    /// Cancels the tasks still running. Cancelling only queues each task:
    /// no future is dropped (no user code runs) inside the borrow.
    fn cancel_all(&self) {
        for task in self.tasks.borrow().iter() {
            task.cancel();
        }
    }

    /// The end of `wait`: every task has ended.
    fn finish(&self) -> Result<Vec<T>, GroupError<E>> {
        self.phase.set(Phase::Finished);
        let tasks = std::mem::take(&mut *self.tasks.borrow_mut());
        drop(tasks);
        let outputs = std::mem::take(&mut *self.outputs.borrow_mut());
        let failures = std::mem::take(&mut *self.failures.borrow_mut());
        if !failures.is_empty() {
            return Err(GroupError { failures });
        }
        let outputs = outputs.into_iter().map(|slot| match slot {
            Some(v) => v,
            None => unreachable!("a task that ended without an output recorded a failure"),
        });
        Ok(outputs.collect())
    }
}

impl<T: 'static, E: 'static> Shared<T, E> {
    /// Records a failure; the first one starts cancelling the rest, on the
    /// next iteration (see the module docs).
    fn fail(self: &Rc<Self>, failure: Failure<E>) {
        self.failures.borrow_mut().push(failure);
        if self.phase.get() != Phase::Open {
            return;
        }
        self.phase.set(Phase::Failing);
        let weak: Weak<Self> = Rc::downgrade(self);
        let later = || {
            let lp = EventLoop::reference(crate::core::current()?);
            lp.call_soon(move || {
                if let Some(shared) = weak.upgrade() {
                    shared.cancel_all();
                }
            })
            .ok()
        };
        if later().is_none() {
            self.cancel_all();
        }
    }
}

/// One task's place in its group: records how the task ended, and when
/// its future is dropped (completed or cancelled), counts it out and wakes
/// the group's `wait`.
struct Member<T, E> {
    shared: Rc<Shared<T, E>>,
    index: usize,
    done: Rc<Cell<bool>>,
    /// The future returned (or panicked): the outcome is recorded.
    finished: bool,
}

impl<T: 'static, E: 'static> Member<T, E> {
    async fn run<F>(mut self, future: F)
    where
        F: Future<Output = Result<T, E>>,
    {
        let mut future = pin!(future);
        // A panic is caught here, where it is a failure of the group, not
        // at the loop, where it would be reported as a task's panic.
        let outcome = std::future::poll_fn(|cx| {
            match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(v)) => Poll::Ready(v.map_err(Failure::Error)),
                Err(payload) => Poll::Ready(Err(Failure::Panic(payload))),
            }
        })
        .await;
        self.finished = true;
        match outcome {
            Ok(v) => self.shared.outputs.borrow_mut()[self.index] = Some(v),
            Err(failure) => self.shared.fail(failure),
        }
    }
}

impl<T, E> Drop for Member<T, E> {
    fn drop(&mut self) {
        let shared = &self.shared;
        // Cancelled, but not by the group: its loop is closing.
        if !self.finished && shared.phase.get() == Phase::Open {
            shared.failures.borrow_mut().push(Failure::Cancelled);
        }
        self.done.set(true);
        shared.running.set(shared.running.get() - 1);
        shared.waiter.wake();
    }
}
