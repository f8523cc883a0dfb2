//! [`EvloopExecutor`]: hyper's executor, spawning on the running loop.

use std::future::Future;

/// Runs the tasks hyper spawns (HTTP/2 streams and connection drivers) as
/// evloop tasks on the loop running on this thread, with
/// [`evloop::ensure_future`]. The futures need not be `Send`: everything
/// stays on the loop's thread (hyper's "local executor" pattern), so
/// services may hold `Rc`s and `RefCell`s.
///
/// Give it to the HTTP/2 builders, which spawn a task per stream:
/// `hyper::server::conn::http2::Builder::new(EvloopExecutor)` and
/// `hyper::client::conn::http2::Builder::new(EvloopExecutor)`. HTTP/1 needs
/// no executor.
///
/// The spawned tasks are detached: hyper learns of their end through its
/// own channels, not through a join handle.
///
/// ```
/// use hyper::rt::Executor;
/// use std::{cell::Cell, rc::Rc};
///
/// evloop::run(async {
///     let ran = Rc::new(Cell::new(false)); // not `Send`, and need not be
///     let flag = ran.clone();
///     evloop_hyper::EvloopExecutor.execute(async move { flag.set(true) });
///     evloop::yield_now().await; // the task runs in the next iteration
///     assert!(ran.get());
/// })
/// .unwrap();
/// ```
///
/// # Panics
///
/// `execute` panics if no evloop is running on this thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvloopExecutor;

impl<F> hyper::rt::Executor<F> for EvloopExecutor
where
    F: Future + 'static,
{
    #[track_caller]
    fn execute(&self, future: F) {
        drop(evloop::ensure_future(future)); // detached (see the type's docs)
    }
}
