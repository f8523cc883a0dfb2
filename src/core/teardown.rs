//! asyncio's `close()`: every pending task future, callback, timer,
//! remote job, setter and I/O registration is dropped on the loop thread,
//! each `Drop` under the same panic isolation, until nothing is left.

use std::panic::{catch_unwind, AssertUnwindSafe, Location};

use super::Core;
use crate::error::RunError;
use crate::exception::ExceptionSource;
use crate::ready::Other;
use crate::stats::Counters;
use crate::task::{LocalRef, RemoteJob, Runnable};

impl Core {
    /// Drops `value`; a panic from its `Drop` goes to the exception handler
    /// (during teardown, letting it unwind could abort the process).
    pub(super) fn drop_isolated<T>(&self, value: T, at: &'static Location<'static>) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(value))) {
            self.report(ExceptionSource::Drop, at, payload);
        }
    }

    /// asyncio's `close`: drops every pending task future, callback, timer
    /// and remote job, on this thread, and refuses new work.
    pub(crate) fn close(&self, at: &'static Location<'static>) -> Result<(), RunError> {
        if self.running.get() {
            return Err(RunError::AlreadyRunning);
        }
        if self.is_closed() {
            return Ok(());
        }
        self.sched.close();
        self.shared().close();
        self.close_signals(at);
        self.close_children();
        // Dropping user values may schedule more (a `Drop` that calls
        // `call_soon` gets `Err(LoopClosed)`, but one that wakes a task
        // still pushes it): repeat until everything is empty.
        loop {
            let tasks = self.sched.take_tasks();
            let ready = self.sched.ready().borrow_mut().take_all();
            let timers = self.timers.borrow_mut().drain();
            self.expired.borrow_mut().clear(); // their keys are stale now
            self.expired_done.set(0);
            self.expired_waiting.set(false);
            let remote: Vec<RemoteJob> = std::iter::from_fn(|| self.shared().pop()).collect();
            let values: Vec<_> = self.values.borrow_mut().drain().collect();
            let io = self.io.borrow_mut().drain();
            self.fds.borrow_mut().clear();
            if tasks.is_empty()
                && ready.is_empty()
                && timers.is_empty()
                && remote.is_empty()
                && values.is_empty()
                && io.is_empty()
            {
                // Running jobs finish on their threads; no thread is joined.
                let pool = self.executor.borrow_mut().take();
                if let Some(pool) = &pool {
                    Counters::high_water(&self.counters.executor_high_water, pool.most_in_flight());
                }
                drop(pool);
                self.write_trace();
                return Ok(());
            }
            for task in tasks {
                // The registry's reference, handed to a queued entry if
                // there is one, even if a report below unwinds.
                let task = ReleaseFromRegistry(Some(task));
                let t = task.0.as_ref().expect("just made");
                if self.debug {
                    self.report_pending_destroyed(t);
                }
                if let Some(payload) = t.cancel_future() {
                    self.report(ExceptionSource::Drop, t.view().location(), payload);
                }
                self.sched.finish(t);
            }
            for runnable in ready {
                match runnable {
                    // Every task is complete now: an entry releases the
                    // reference it was handed, if any.
                    Runnable::Other(Other::Task(entry)) => entry.discard(),
                    other => self.drop_isolated(other, at),
                }
            }
            timers.into_iter().for_each(|t| self.drop_isolated(t, at));
            remote.into_iter().for_each(|j| self.drop_isolated(j, at));
            values.into_iter().for_each(|v| self.drop_isolated(v, at));
            io.into_iter().for_each(|s| self.drop_isolated(s, at));
        }
    }
}

impl Drop for Core {
    /// The last reference went without `close()` (the owning `EventLoop`
    /// was dropped while the loop ran through a reference from
    /// `EventLoop::current()`): close now, so task futures are still
    /// dropped here, on the loop thread. `Running` holds an `Rc`, so the
    /// loop cannot be running at this point.
    fn drop(&mut self) {
        let _ = self.close(Location::caller());
    }
}

/// A registry reference taken out by `close()`, released on drop (also
/// while unwinding) with `LocalRef::release_from_registry`.
struct ReleaseFromRegistry(Option<LocalRef>);

impl Drop for ReleaseFromRegistry {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.release_from_registry();
        }
    }
}
