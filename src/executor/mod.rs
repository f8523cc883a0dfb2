//! Blocking work off the loop: the [`Executor`] trait and the built-in
//! [`ThreadPool`] (`pool`, which knows nothing of the loop), and the loop's
//! side, the future [`RunInExecutor`] (`front`).

mod front;
mod pool;

pub use front::RunInExecutor;
pub(crate) use front::{compute_then_send, job_for};
pub use pool::{Executor, Job, ThreadPool};
