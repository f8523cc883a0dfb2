//! A task's turn on the loop (its poll, or the drop of a cancelled
//! future), the budget of one poll, and what the loop tells about its
//! tasks. The bookkeeping itself (registry, state bits, entries, a task's
//! end) is the task layer's (`task::Scheduler`); this is what the loop
//! adds: counters, the budget, the current task.

use std::future::Future;
use std::panic::Location;
use std::task::Context;

use super::Core;
use crate::exception::ExceptionSource;
use crate::stats::bump;
use crate::task::context;
use crate::task::{LocalRef, Task, TaskEntry, TaskInfo, TaskState};

/// How many operations (socket reads and writes, channel receives and
/// sends) one poll of a task may complete before the next ready one makes
/// it yield (tokio's coop budget is 128 too). An operation on a socket
/// that is always ready (a peer that streams as fast as it is read), or on
/// a channel that other threads keep filling or draining, never returns
/// `Pending` on its own, so without a budget one task could hold the loop
/// for as long as the other side keeps up: no timer, no other task, no I/O
/// poll in between. Past the budget the operation wakes the task and
/// returns `Pending`: the task goes to the back of the ready queue and
/// everything queued before it runs first. The count lives in a
/// thread-local (`task::context`), where the channel, which knows no loop,
/// finds it.
pub(crate) const TASK_BUDGET: u32 = 128;

impl Core {
    #[inline]
    pub(crate) fn spawn<F>(&self, future: F, at: &'static Location<'static>) -> Task<F::Output>
    where
        F: Future + 'static,
    {
        self.sched.spawn(future, at)
    }

    /// A task's turn: polls it once, or drops its future if it was
    /// cancelled. A stale entry (the task completed since it was queued)
    /// is discarded.
    pub(super) fn run_task(&self, entry: TaskEntry) {
        let Some(turn) = self.sched.start_turn(entry) else {
            return;
        };
        bump(&self.counters.tasks_polled);
        let view = turn.view();
        if view.state().cancel_requested() {
            if let Some(payload) = turn.cancel_future() {
                self.report(ExceptionSource::Drop, view.location(), payload);
            }
            return self.sched.finish_turn(turn);
        }
        let waker = turn.waker_ref();
        let mut cx = Context::from_waker(&waker);
        // Polls never nest (the loop cannot be re-entered), so no outer
        // task to restore.
        self.current_task.set(Some(view.registry_key()));
        context::set_budget(Some((TASK_BUDGET, &waker)));
        let ready = turn.poll(&mut cx).is_ready();
        let yields = context::set_budget(None);
        if yields > 0 {
            let count = &self.counters.budget_yields;
            count.set(count.get().wrapping_add(u64::from(yields)));
        }
        self.current_task.set(None);
        if ready {
            self.sched.finish_turn(turn);
        } else {
            self.sched.end_turn(turn);
        }
    }

    /// Every task that is not finished, by id.
    pub(crate) fn all_tasks(&self) -> Vec<TaskInfo> {
        let mut infos: Vec<TaskInfo> = self
            .sched
            .tasks()
            .iter()
            .map(|t| self.task_info(t))
            .collect();
        infos.sort_by_key(|i| i.id);
        infos
    }

    /// The task being polled, if any.
    pub(crate) fn current_task(&self) -> Option<TaskInfo> {
        let task = self.sched.task(self.current_task.get()?)?;
        Some(self.task_info(&task))
    }

    fn task_info(&self, task: &LocalRef) -> TaskInfo {
        let view = task.view();
        let bits = view.state();
        let state = match () {
            _ if bits.is_running() => TaskState::Running,
            _ if bits.cancel_requested() => TaskState::Cancelling,
            _ if bits.is_scheduled() => TaskState::Scheduled,
            _ => TaskState::Waiting,
        };
        TaskInfo {
            id: view.id(),
            name: self.sched.name(view.id()),
            location: view.location(),
            state,
        }
    }
}
