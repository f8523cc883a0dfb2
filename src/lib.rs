//! # evloop
//!
//! A hand-written, single-threaded event loop runtime shaped like Python's
//! asyncio, on [mio](https://docs.rs/mio). One [`EventLoop`] owns a ready
//! queue, a timer wheel and a mio `Poll`, and runs callbacks and tasks (any
//! `std::future::Future`, `Send` or not) on the thread that created it.
//!
//! ## One iteration ([`EventLoop::run_once`])
//!
//! ```text
//!  ┌──────────────────────────────────────────────────────────────┐
//!  │ 1. timeout = 0 if ready queue non-empty, else next timer     │
//!  │    deadline (None if no timers); 0 if stopping               │
//!  │ 2. poll mio (epoll_wait) with that timeout — skipped on most │
//!  │    iterations while work is ready (1 in 61 polls)            │
//!  │ 3. I/O events  → wake the tasks / queue the reader callbacks │
//!  │ 4. remote queue (threadsafe jobs, cross-thread wakes) → ready│
//!  │ 5. timer wheel: advance to now, expired timers → ready       │
//!  │ 6. run exactly the entries that were ready at this point;    │
//!  │    what they schedule runs next iteration (asyncio rule)     │
//!  └──────────────────────────────────────────────────────────────┘
//! ```
//!
//! ## The asyncio map
//!
//! | asyncio | evloop |
//! | --- | --- |
//! | `loop.call_soon(cb)` → `Handle` | [`EventLoop::call_soon`] → [`Handle`] |
//! | `loop.call_later(d, cb)` / `call_at(t, cb)` | [`EventLoop::call_later`] / [`EventLoop::call_at`] → [`TimerHandle`] |
//! | `loop.time()` | [`EventLoop::time`] |
//! | `loop.create_future()` | [`EventLoop::create_future`] → [`LoopFuture`] |
//! | `asyncio.ensure_future(coro)` / `create_task` | [`EventLoop::ensure_future`], [`ensure_future`] → [`Task`] |
//! | `loop.call_soon_threadsafe(cb)` | [`LoopHandle::call_soon_threadsafe`] |
//! | `asyncio.run_coroutine_threadsafe(coro, loop)` | [`LoopHandle::run_coroutine_threadsafe`] → [`ConcurrentFuture`] |
//! | `loop.run_in_executor(None, f)` | [`EventLoop::run_in_executor`] (built-in [`ThreadPool`]), [`EventLoop::run_in_executor_on`] |
//! | `fut.set_result` from another thread | [`LoopFuture::threadsafe_setter`] → [`ThreadsafeSetter`] |
//! | `asyncio.run(main())` | [`run`] |
//! | `run_until_complete` / `run_forever` / `stop` / `close` | same names on [`EventLoop`] |
//! | `asyncio.sleep`, `wait_for`, `gather` | [`sleep`], [`wait_for`], [`gather`] ([`try_gather`] for `Result`s) |
//! | `asyncio.get_running_loop()`, `loop.time()`, `loop.create_future()`, `loop.run_in_executor(None, f)` | free [`get_running_loop`], [`time`], [`create_future`], [`run_in_executor`] |
//! | `asyncio.TaskGroup` | [`TaskGroup`], [`TryTaskGroup`] → [`GroupError`] |
//! | `asyncio.wait(tasks, return_when=..., timeout=...)` | [`wait`] with [`ReturnWhen`] |
//! | `asyncio.as_completed` | [`as_completed`] → [`AsCompleted::next`] |
//! | `asyncio.timeout` / `timeout_at`, `Timeout.reschedule` | [`timeout`] / [`timeout_at`] → [`Timeout`], [`TimeoutHandle::reschedule`] |
//! | (tokio's `time::interval`) | [`interval`] → [`Interval`], [`MissedTickBehavior`] |
//! | `asyncio.create_subprocess_exec` / `_shell` | [`process::Command::spawn`] / [`process::Command::shell`] → [`process::Child`] |
//! | `asyncio.Event` | [`sync::Event`] |
//! | (no analogue: `call_soon_threadsafe(queue.put_nowait, v)`) | [`channel`] / [`bounded`] → ([`Sender`], [`Receiver`]), across threads |
//! | `loop.set_exception_handler` | [`EventLoop::set_exception_handler`] |
//!
//! ## Example
//!
//! ```
//! use std::time::Duration;
//!
//! let lp = evloop::EventLoop::builder().virtual_time().build().unwrap();
//! let out = lp.run_until_complete(async {
//!     let child = evloop::ensure_future(async {
//!         evloop::sleep(Duration::from_secs(4)).await; // instant under virtual time
//!         "hello world"
//!     });
//!     child.await.unwrap()
//! });
//! assert_eq!(out, Ok("hello world"));
//! ```
//!
//! See `docs/internals.md` for a guided tour of the loop.

mod builder;
mod callback;
mod channel;
mod clock;
mod concurrent;
mod core;
mod error;
mod event_loop;
mod exception;
mod executor;
mod future;
mod group;
mod handle;
mod interval;
mod io;
mod loop_handle;
pub mod net;
mod oneshot;
mod prefetch;
pub mod process;
mod ready;
mod remote;
mod running;
mod send_ref;
mod stats;
pub mod sync;
mod sys;
mod task;
mod time;
mod timeout;
mod timer;
mod trace;
mod util;
mod wait;
mod watch;

pub use builder::Builder;
pub use channel::{
    bounded, channel, Receiver, Recv, SendAsync, SendError, Sender, TryRecvError, TrySendError,
};
pub use concurrent::{ConcurrentError, ConcurrentFuture};
pub use error::{Cancelled, FutureError, LoopClosed, RunError, TaskError, TimedOut};
pub use event_loop::{run, EventLoop};
pub use exception::{Exception, ExceptionSource};
pub use executor::{Executor, Job, RunInExecutor, ThreadPool};
pub use future::{LoopFuture, Taken, ThreadsafeSetter};
pub use group::{Failure, GroupClosed, GroupError, GroupTask, GroupWait, TaskGroup, TryTaskGroup};
pub use handle::{Handle, TimerHandle};
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use loop_handle::{CallError, LoopHandle};
pub use running::{create_future, get_running_loop, run_in_executor, time};
pub use send_ref::SendRef;
pub use stats::Stats;
pub use task::{Task, TaskInfo, TaskState};
pub use time::{sleep, sleep_until, wait_for, Sleep};
pub use timeout::{timeout, timeout_at, Timeout, TimeoutHandle};
pub use util::{current_task, ensure_future, gather, try_gather, yield_now};
pub use wait::{as_completed, wait, AsCompleted, ReturnWhen, Wait};
