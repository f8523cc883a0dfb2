//! Tasks: futures driven by the loop ([`Task`] is asyncio's `Task`).
//!
//! - `state`: the task's state machine, as named bits;
//! - `alloc`: task memory kept on the loop's thread for the next task;
//! - `raw`: the one-allocation task and its waker, and the loop-thread
//!   types through which its `!Send` part is reached (with `state`, the
//!   only `unsafe` of the scheduler);
//! - `registry`: every task whose future is alive, each held by a
//!   reference (removing a finished task writes, never reads, its slot);
//! - `scheduler`: what tasks need from their loop (ready queue, registry,
//!   remote queue, names, reports);
//! - `context`: the thread-local that points at the running loop;
//! - `owner`: a task's reference to its loop's remote queue (counted in
//!   batches, not with an atomic per task);
//! - `stored_waker`: a waker as the loop-local waiter lists keep it
//!   (no atomic count for a task of the running loop);
//! - `join`: the typed [`Task`] handle users hold;
//! - `info`: what the loop tells about its tasks.

mod alloc;
pub(crate) mod context;
mod info;
mod join;
mod owner;
mod raw;
mod registry;
mod scheduler;
mod state;
mod stored_waker;

pub(crate) use alloc::{
    decay as decay_task_memory, kept_bytes as task_memory_kept, trim_idle as trim_task_memory,
    LoopMemory, DECAY_POLLS as TASK_MEMORY_DECAY_POLLS,
};
pub use info::{TaskInfo, TaskState};
pub use join::Task;
pub(crate) use raw::{is_task_waker, LocalRef, Payload, TaskEntry};
pub(crate) use scheduler::{Handler, Remote, RemoteJob, Runnable, Scheduler};
pub(crate) use stored_waker::{StoredWaker, WakerCell};
