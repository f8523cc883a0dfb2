//! Small futures for tasks: [`gather`], [`yield_now`], and the free
//! [`ensure_future`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::task::{Task, TaskInfo};

/// Schedules `future` as a task on the running loop (asyncio's
/// `asyncio.ensure_future` / `create_task`).
///
/// # Panics
///
/// If no evloop is running on this thread; use
/// [`EventLoop::ensure_future`](crate::EventLoop::ensure_future) from outside.
#[track_caller]
pub fn ensure_future<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
{
    let at = std::panic::Location::caller();
    crate::core::with_scheduler("evloop::ensure_future", |sched| sched.spawn(future, at))
}

/// The task being polled, if this is called from inside one (asyncio's
/// `current_task()`, tokio's `task::id()`); `None` in a callback or outside
/// the loop.
///
/// ```
/// evloop::run(async {
///     let me = evloop::current_task().unwrap();
///     assert_eq!(me.state, evloop::TaskState::Running);
/// })
/// .unwrap();
/// assert!(evloop::current_task().is_none());
/// ```
pub fn current_task() -> Option<TaskInfo> {
    crate::core::current()?.current_task()
}

/// Lets the other ready work run: returns `Pending` once, after queueing the
/// task again at the back of the ready queue (asyncio's `await sleep(0)`).
///
/// ```
/// evloop::run(async { evloop::yield_now().await }).unwrap();
/// ```
pub fn yield_now() -> impl Future<Output = ()> {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// Runs every future concurrently and returns their outputs in order
/// (asyncio's `gather`).
///
/// The futures are polled in place, not spawned, so they need not be
/// `'static`. Each wake-up polls the futures that are not done yet: fine
/// for the handful that `gather` usually joins; for thousands, spawn tasks
/// and gather the [`Task`]s (then each poll of a pending task is one flag
/// check).
///
/// ```
/// let out = evloop::run(async {
///     let tasks = (1..=3).map(|i| evloop::ensure_future(async move { i * 10 }));
///     evloop::gather(tasks).await
/// });
/// let values: Vec<i32> = out.unwrap().into_iter().map(Result::unwrap).collect();
/// assert_eq!(values, [10, 20, 30]);
/// ```
pub fn gather<I>(futures: I) -> impl Future<Output = Vec<<I::Item as Future>::Output>>
where
    I: IntoIterator,
    I::Item: Future + Unpin,
{
    let mut slots: Vec<Slot<I::Item>> = futures.into_iter().map(Slot::Pending).collect();
    std::future::poll_fn(move |cx| {
        let mut all_done = true;
        for slot in slots.iter_mut() {
            if let Slot::Pending(f) = slot {
                match Pin::new(f).poll(cx) {
                    Poll::Ready(v) => *slot = Slot::Done(v),
                    Poll::Pending => all_done = false,
                }
            }
        }
        if !all_done {
            return Poll::Pending;
        }
        let outputs = slots.drain(..).map(|slot| match slot {
            Slot::Done(v) => v,
            _ => unreachable!("all slots are done"),
        });
        Poll::Ready(outputs.collect())
    })
}

enum Slot<F: Future> {
    Pending(F),
    Done(F::Output),
}

/// Polls `future` once with a no-op waker.
pub(crate) fn now_or_never<F: Future + Unpin>(mut future: F) -> Option<F::Output> {
    match Pin::new(&mut future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}
