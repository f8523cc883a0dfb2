//! The small error types of evloop, each with `is_*` methods.

use std::any::Any;
use std::fmt;

/// Why [`EventLoop::run_until_complete`](crate::EventLoop::run_until_complete)
/// (or [`run_forever`](crate::EventLoop::run_forever), [`run_once`](crate::EventLoop::run_once))
/// did not produce a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunError {
    /// An evloop is already running on this thread: `run_*` was called from
    /// inside a callback or a task. asyncio raises `RuntimeError` here.
    AlreadyRunning,
    /// [`stop`](crate::EventLoop::stop) was called before the future finished.
    /// The future stays scheduled as a task on the loop.
    Stopped,
    /// The loop is closed.
    Closed,
}

impl RunError {
    /// Whether the loop was already running on this thread.
    pub fn is_already_running(&self) -> bool {
        *self == RunError::AlreadyRunning
    }
    /// Whether the loop was stopped before the future finished.
    pub fn is_stopped(&self) -> bool {
        *self == RunError::Stopped
    }
    /// Whether the loop is closed.
    pub fn is_closed(&self) -> bool {
        *self == RunError::Closed
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RunError::AlreadyRunning => "an evloop is already running on this thread",
            RunError::Stopped => "the event loop stopped before the future completed",
            RunError::Closed => "the event loop is closed",
        })
    }
}

impl std::error::Error for RunError {}

/// For hosts whose own loop deals in `io::Error` (as `poll(2)` loops do).
impl From<RunError> for std::io::Error {
    fn from(e: RunError) -> std::io::Error {
        std::io::Error::other(e)
    }
}

/// The loop is closed: the call was refused and its argument dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoopClosed;

impl LoopClosed {
    /// Always `true`: this error only ever means a closed loop.
    pub fn is_closed(&self) -> bool {
        true
    }
}

impl fmt::Display for LoopClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the event loop is closed")
    }
}

impl std::error::Error for LoopClosed {}

/// A [`LoopFuture`](crate::LoopFuture) or [`Task`](crate::Task) was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// [`wait_for`](crate::wait_for) ran out of time (asyncio's `TimeoutError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimedOut;

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out")
    }
}

impl std::error::Error for TimedOut {}

/// Why reading a [`LoopFuture`](crate::LoopFuture) gave no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FutureError {
    /// The operation does not fit the future's state: the result is not set
    /// yet, was already set, or was already taken (asyncio's `InvalidStateError`).
    InvalidState,
    /// The future was cancelled.
    Cancelled,
}

impl FutureError {
    /// Whether this is asyncio's `InvalidStateError`.
    pub fn is_invalid_state(&self) -> bool {
        *self == FutureError::InvalidState
    }
    /// Whether the future was cancelled.
    pub fn is_cancelled(&self) -> bool {
        *self == FutureError::Cancelled
    }
}

impl fmt::Display for FutureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FutureError::InvalidState => "invalid state for this operation on the future",
            FutureError::Cancelled => "the future was cancelled",
        })
    }
}

impl std::error::Error for FutureError {}

/// Why a [`Task`](crate::Task) produced no value: it was cancelled, or it panicked.
pub struct TaskError {
    repr: TaskErrorRepr,
}

enum TaskErrorRepr {
    Cancelled,
    Panicked(Box<dyn Any + Send + 'static>),
}

impl TaskError {
    pub(crate) fn cancelled() -> TaskError {
        TaskError {
            repr: TaskErrorRepr::Cancelled,
        }
    }

    pub(crate) fn panicked(payload: Box<dyn Any + Send + 'static>) -> TaskError {
        TaskError {
            repr: TaskErrorRepr::Panicked(payload),
        }
    }

    /// Whether the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, TaskErrorRepr::Cancelled)
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, TaskErrorRepr::Panicked(_))
    }

    /// The panic payload, to re-raise it with [`std::panic::resume_unwind`].
    ///
    /// # Panics
    ///
    /// If the task was cancelled rather than panicking.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .unwrap_or_else(|_| panic!("TaskError::into_panic on a cancelled task"))
    }

    /// The panic payload, or `self` back if the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, TaskError> {
        match self.repr {
            TaskErrorRepr::Panicked(p) => Ok(p),
            repr => Err(TaskError { repr }),
        }
    }

    /// The panic message, when the payload is a string (as `panic!` makes it).
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            TaskErrorRepr::Panicked(p) => panic_message(p.as_ref()),
            TaskErrorRepr::Cancelled => None,
        }
    }
}

/// The text of a panic payload made by `panic!`, if it has one.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some(s)
    } else {
        payload.downcast_ref::<String>().map(String::as_str)
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            TaskErrorRepr::Cancelled => f.write_str("TaskError::Cancelled"),
            TaskErrorRepr::Panicked(_) => f
                .debug_tuple("TaskError::Panicked")
                .field(&self.panic_message().unwrap_or("Box<dyn Any>"))
                .finish(),
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            TaskErrorRepr::Cancelled => f.write_str("task was cancelled"),
            TaskErrorRepr::Panicked(_) => match self.panic_message() {
                Some(m) => write!(f, "task panicked: {m}"),
                None => f.write_str("task panicked"),
            },
        }
    }
}

impl std::error::Error for TaskError {}
