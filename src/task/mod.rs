//! Tasks: futures driven by the loop ([`Task`] is asyncio's `Task`).
//!
//! `raw` holds the one-allocation task and its waker (the only `unsafe` of
//! the scheduler); `join` the typed [`Task`] handle users hold.

mod join;
mod raw;

pub use join::Task;
pub(crate) use raw::{JoinWaiter, LocalRef, Payload, RawTask, RemoteTask, TaskPtr};
