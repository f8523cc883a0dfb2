//! What the loop can tell about its tasks: [`TaskInfo`], for
//! [`EventLoop::all_tasks`](crate::EventLoop::all_tasks) and
//! [`current_task`](crate::current_task).

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

/// A snapshot of one task (asyncio's `all_tasks()` entries, tokio's task
/// dumps).
///
/// ```
/// let lp = evloop::EventLoop::new();
/// let task = lp.ensure_future(std::future::pending::<()>()).with_name("idle");
/// let infos = lp.all_tasks();
/// assert_eq!(infos.len(), 1);
/// assert_eq!((infos[0].id, infos[0].name.as_deref()), (task.id(), Some("idle")));
/// assert_eq!(infos[0].state, evloop::TaskState::Scheduled);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The loop's number for the task ([`Task::id`](crate::Task::id)):
    /// increasing in spawn order, never reused by that loop.
    pub id: u64,
    /// The name given with [`Task::set_name`](crate::Task::set_name) or
    /// [`Task::with_name`](crate::Task::with_name).
    pub name: Option<Arc<str>>,
    /// Where the task was spawned (`ensure_future`'s caller).
    pub location: &'static Location<'static>,
    /// What the task is doing.
    pub state: TaskState,
}

/// What a task is doing ([`TaskInfo::state`]). Finished tasks are not listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// Being polled right now (the caller is this task, or inside it).
    Running,
    /// In the ready queue: it runs in this or the next iteration.
    Scheduled,
    /// Waiting for a wake-up (a timer, I/O, another task, another thread).
    Waiting,
    /// [`Task::cancel`](crate::Task::cancel) was called; its future is
    /// dropped at its next turn.
    Cancelling,
}

impl fmt::Display for TaskInfo {
    /// `task 3 "reader" (Waiting) spawned at src/main.rs:10:5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        write!(f, " ({:?}) spawned at {}", self.state, self.location)
    }
}
