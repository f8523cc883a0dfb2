//! Small futures for tasks: [`gather`], [`try_gather`], [`yield_now`],
//! and the free [`ensure_future`].

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
/// (asyncio's `gather`; tokio's `join_all`).
///
/// The futures are polled in place, not spawned, so they need not be
/// `'static`; nor need they be `Unpin`: each is pinned in a box of its
/// own (one allocation a future), so `async` blocks are accepted as they
/// are. Each wake-up polls the futures that are not done yet: fine for the
/// handful that `gather` usually joins; for thousands, spawn tasks and
/// gather the [`Task`]s (then each poll of a pending task is one flag
/// check).
///
/// ```
/// let out = evloop::run(async {
///     let tasks = (1..=3).map(|i| evloop::ensure_future(async move { i * 10 }));
///     evloop::gather(tasks).await
/// });
/// let values: Vec<i32> = out.unwrap().into_iter().map(Result::unwrap).collect();
/// assert_eq!(values, [10, 20, 30]);
///
/// // `async` blocks (not `Unpin`) need no pinning by the caller.
/// let out = evloop::run(evloop::gather((1..=3).map(|i| async move {
///     evloop::yield_now().await;
///     i
/// })));
/// assert_eq!(out.unwrap(), [1, 2, 3]);
/// ```
pub fn gather<I>(futures: I) -> impl Future<Output = Vec<<I::Item as Future>::Output>>
where
    I: IntoIterator,
    I::Item: Future,
{
    let mut slots: Vec<Slot<I::Item>> = futures.into_iter().map(Slot::pending).collect();
    std::future::poll_fn(move |cx| {
        let mut all_done = true;
        for slot in slots.iter_mut() {
            if let Some(Poll::Pending) = slot.poll(cx) {
                all_done = false;
            }
        }
        if !all_done {
            return Poll::Pending;
        }
        Poll::Ready(slots.drain(..).map(Slot::into_output).collect())
    })
}

/// [`gather`] for futures that can fail: `Ok` with every output in input
/// order, or the first `Err` (tokio's `try_join_all`).
///
/// At the first `Err` the futures not done yet are dropped at once, before
/// the error is returned, so what they hold (timers, sockets, borrows) is
/// released then. Unlike asyncio's `gather`, which lets the other
/// awaitables run on after the first exception, nothing keeps running:
/// the futures are polled in place. A [`Task`] given here is detached by
/// that drop, as dropping any `Task` does; cancel the tasks yourself, or
/// use a [`TryTaskGroup`](crate::TryTaskGroup), to stop them.
///
/// "First" is the first `Err` seen: futures are polled in input order on
/// each wake-up.
///
/// ```
/// let out = evloop::run(evloop::try_gather((1..=3).map(|i| async move {
///     evloop::yield_now().await;
///     if i == 2 { Err(format!("{i} failed")) } else { Ok(i) }
/// })));
/// assert_eq!(out.unwrap(), Err("2 failed".to_string()));
///
/// let out = evloop::run(evloop::try_gather((1..=2).map(|i| async move { Ok::<_, ()>(i) })));
/// assert_eq!(out.unwrap(), Ok(vec![1, 2]));
/// ```
pub fn try_gather<I, T, E>(futures: I) -> impl Future<Output = Result<Vec<T>, E>>
where
    I: IntoIterator,
    I::Item: Future<Output = Result<T, E>>,
{
    let mut slots: Vec<Slot<I::Item>> = futures.into_iter().map(Slot::pending).collect();
    std::future::poll_fn(move |cx| {
        let mut all_done = true;
        for i in 0..slots.len() {
            match slots[i].poll(cx) {
                Some(Poll::Pending) => all_done = false,
                Some(Poll::Ready(())) if slots[i].failed() => {
                    let failed = slots.swap_remove(i);
                    // The rest are dropped here, before the error is returned.
                    slots.clear();
                    return Poll::Ready(Err(failed.into_error()));
                }
                _ => {}
            }
        }
        if !all_done {
            return Poll::Pending;
        }
        let outputs = slots.drain(..).map(|slot| match slot.into_output() {
            Ok(v) => v,
            Err(_) => unreachable!("a failed slot returns at once"),
        });
        Poll::Ready(Ok(outputs.collect()))
    })
}

/// One future of [`gather`] / [`try_gather`]: running, then its output.
enum Slot<F: Future> {
    Pending(Pin<Box<F>>),
    Done(F::Output),
}

impl<F: Future> Slot<F> {
    fn pending(future: F) -> Slot<F> {
        Slot::Pending(Box::pin(future))
    }

    /// Polls a pending slot (`None` if it was done already), keeping the
    /// output in place; `Ready(())` says it has just finished.
    fn poll(&mut self, cx: &mut Context<'_>) -> Option<Poll<()>> {
        let Slot::Pending(f) = self else {
            return None;
        };
        Some(f.as_mut().poll(cx).map(|v| *self = Slot::Done(v)))
    }

    fn into_output(self) -> F::Output {
        match self {
            Slot::Done(v) => v,
            Slot::Pending(_) => unreachable!("all slots are done"),
        }
    }
}

impl<T, E, F: Future<Output = Result<T, E>>> Slot<F> {
    fn failed(&self) -> bool {
        matches!(self, Slot::Done(Err(_)))
    }

    fn into_error(self) -> E {
        match self.into_output() {
            Err(e) => e,
            Ok(_) => unreachable!("checked by `failed`"),
        }
    }
}

/// Polls `future` once with a no-op waker.
pub(crate) fn now_or_never<F: Future + Unpin>(mut future: F) -> Option<F::Output> {
    match Pin::new(&mut future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}
