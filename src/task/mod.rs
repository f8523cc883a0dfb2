//! Tasks: futures driven by the loop ([`Task`] is asyncio's `Task`).
//!
//! `raw` holds the one-allocation task and its waker (the only `unsafe` of
//! the scheduler); `join` the typed [`Task`] handle users hold.

mod info;
mod join;
mod raw;

pub(crate) use info::TaskNames;
pub use info::{TaskInfo, TaskState};
pub use join::Task;
pub(crate) use raw::{is_task_waker, JoinWaiter, LocalRef, Payload, RawTask, RemoteTask, TaskPtr};
