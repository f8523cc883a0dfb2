//! The loop's methods as free functions that find the running loop, as
//! asyncio's module-level functions do: [`get_running_loop`],
//! [`create_future`], [`run_in_executor`], [`time`].
//!
//! Each panics outside a running evloop, naming itself and the caller's
//! line (asyncio raises `RuntimeError: no running event loop`). Outside a
//! loop, call the method on the [`EventLoop`] you own, or ask
//! [`EventLoop::try_current`] for an `Option`.

use std::time::Instant;

use crate::event_loop::EventLoop;
use crate::executor::RunInExecutor;
use crate::future::LoopFuture;

/// The loop running on this thread (asyncio's `get_running_loop()`;
/// tokio's `Handle::current()`).
///
/// It panics rather than returning an `Option`, as asyncio raises
/// `RuntimeError`: code that calls it expects to run inside a loop, and
/// a missing loop is a bug to surface at its line. Ask
/// [`EventLoop::try_current`] when both cases are expected. The value is a
/// reference to the loop, not its owner: dropping it does not close the
/// loop.
///
/// # Panics
///
/// If no evloop is running on this thread.
///
/// ```
/// evloop::run(async {
///     let lp = evloop::get_running_loop();
///     assert!(lp.is_running());
/// })
/// .unwrap();
/// assert!(std::panic::catch_unwind(evloop::get_running_loop).is_err());
/// ```
#[track_caller]
pub fn get_running_loop() -> EventLoop {
    EventLoop::reference(crate::core::expect_current("evloop::get_running_loop"))
}

/// A new pending [`LoopFuture`] bound to the running loop (asyncio's
/// `loop.create_future()`, reached through the running loop).
///
/// # Panics
///
/// If no evloop is running on this thread; use
/// [`EventLoop::create_future`] from outside.
///
/// ```
/// let out = evloop::run(async {
///     let fut = evloop::create_future::<u32>();
///     let setter = fut.clone();
///     evloop::ensure_future(async move { setter.set_result(7).unwrap() }).await.unwrap();
///     fut.await
/// });
/// assert_eq!(out.unwrap(), Ok(7));
/// ```
#[track_caller]
pub fn create_future<T: 'static>() -> LoopFuture<T> {
    let core = crate::core::expect_current("evloop::create_future");
    EventLoop::reference(core).create_future()
}

/// Runs the blocking `f` on the running loop's built-in
/// [`ThreadPool`](crate::ThreadPool) (asyncio's
/// `loop.run_in_executor(None, f)`; tokio's `spawn_blocking`). See
/// [`EventLoop::run_in_executor`].
///
/// # Panics
///
/// If no evloop is running on this thread.
///
/// ```
/// let out = evloop::run(async { evloop::run_in_executor(|| 6 * 7).await });
/// assert_eq!(out.unwrap().unwrap(), 42);
/// ```
#[track_caller]
pub fn run_in_executor<F, T>(f: F) -> RunInExecutor<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let core = crate::core::expect_current("evloop::run_in_executor");
    EventLoop::reference(core).run_in_executor(f)
}

/// The running loop's clock (asyncio's `loop.time()`; tokio's
/// `Instant::now()` under its clock): a fresh monotonic reading, or the
/// virtual time under [`Builder::virtual_time`](crate::Builder::virtual_time).
/// Deadlines for [`sleep_until`](crate::sleep_until) and
/// [`timeout_at`](crate::timeout_at) are in this time.
///
/// # Panics
///
/// If no evloop is running on this thread; use [`EventLoop::time`] from
/// outside.
///
/// ```
/// use std::time::Duration;
/// let lp = evloop::EventLoop::builder().virtual_time().build().unwrap();
/// let elapsed = lp.run_until_complete(async {
///     let start = evloop::time();
///     evloop::sleep(Duration::from_secs(5)).await;
///     evloop::time() - start
/// });
/// assert_eq!(elapsed.unwrap(), Duration::from_secs(5));
/// ```
#[track_caller]
pub fn time() -> Instant {
    crate::core::expect_current("evloop::time")
        .clock()
        .instant()
}
