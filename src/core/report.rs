//! What the loop tells: the stopwatch's verdicts turned into reports for
//! the exception handler (slow callbacks and task polls, loop lag, tasks
//! destroyed while pending), and the trace hooks. The iteration calls a
//! handful of these at fixed points (`judge` at each stamp, the trace marks
//! around each phase); everything else happens here.

use std::panic::Location;
use std::time::Duration;

use super::Core;
use crate::exception::ExceptionSource;
use crate::ready::Other;
use crate::task::{LocalRef, Payload, Runnable, StoredWaker};
use crate::trace::What;
use crate::watch::{Lag, Ran, Verdict};

impl Core {
    /// Hands a panic or a report to the exception handler (or stderr); see
    /// `Scheduler::report`.
    pub(crate) fn report(
        &self,
        source: ExceptionSource,
        at: &'static Location<'static>,
        payload: Payload,
    ) {
        self.sched.report(source, at, payload);
    }

    /// Reports what a stamp of the stopwatch found, if anything.
    #[inline]
    pub(super) fn judge(&self, verdict: Verdict) {
        match verdict {
            Verdict::Fine => return,
            Verdict::Slow { item, took } => self.report_slow(item, took),
            Verdict::Lag { first, items, took } => self.report_slow_stretch(first, items, took),
        }
        // The handler's time is charged to no item.
        self.watch.handler_done();
    }

    /// One callback or task poll held the loop for `took`.
    #[cold]
    fn report_slow(&self, item: Ran, took: Duration) {
        let (source, what) = if item.task {
            (ExceptionSource::SlowTask, "one poll of the task")
        } else {
            (ExceptionSource::SlowCallback, "the callback")
        };
        let threshold = self.watch.threshold();
        let message =
            format!("{what} held the loop for {took:?} (slow_callback_duration: {threshold:?})");
        self.report(source, item.at, Box::new(message));
    }

    /// A stretch of several items held the loop for `took`: loop lag,
    /// named by the first item; the stopwatch now times items one by one.
    #[cold]
    fn report_slow_stretch(&self, first: Option<Ran>, items: usize, took: Duration) {
        let what = first.map_or("a cancelled entry", Ran::what);
        let message = format!(
            "{items} items in a row, from {what}, held the loop for {took:?} \
             (slow_callback_duration: {:?}); timing each of the next {} items to name a slow one",
            self.watch.threshold(),
            crate::watch::ZOOM,
        );
        let at = first.map_or(Location::caller(), |r| r.at);
        self.report(ExceptionSource::LoopLag, at, Box::new(message));
    }

    /// The loop went the threshold or longer without polling for I/O, and
    /// no single slow item or stretch was reported for it.
    #[cold]
    pub(super) fn report_lag(&self, lag: Lag) {
        let first = lag
            .first
            .map_or(String::new(), |r| format!(", the first {}", r.what()));
        let message = format!(
            "the loop did not poll for I/O for {:?} (slow_callback_duration: {:?}): \
             {:?} in its own phases (I/O dispatch, threadsafe jobs, expiring timers), \
             the rest running {} items{first}",
            lag.took,
            self.watch.threshold(),
            lag.own,
            lag.items,
        );
        // With no item to name, the location is the loop's own code.
        let at = lag.first.map_or(Location::caller(), |r| r.at);
        self.report(ExceptionSource::LoopLag, at, Box::new(message));
    }

    /// Debug mode: `task` is destroyed by `close()` while pending.
    #[cold]
    pub(super) fn report_pending_destroyed(&self, task: &LocalRef) {
        let message = "the loop closed while the task was pending; its future is dropped \
                       (await or cancel tasks before closing)";
        self.report(
            ExceptionSource::PendingTaskDestroyed,
            task.view().location(),
            Box::new(message.to_string()),
        );
    }

    /// Wakes `w`: a task of this loop directly, any other waker with its
    /// panic reported, not unwound through the loop's bookkeeping.
    pub(super) fn wake_isolated(&self, w: StoredWaker) {
        match w {
            StoredWaker::Other(w) => self.sched.wake_foreign(w),
            task => task.wake(),
        }
    }

    /// Tracing: the time now, into `mark`.
    #[inline(always)]
    pub(super) fn trace_mark<const TRACE: bool>(&self, mark: &mut u64) {
        if let (true, Some(tracer)) = (TRACE, &self.trace) {
            *mark = tracer.now();
        }
    }

    /// `Builder::trace`: records the iteration that just ran, and each of
    /// phases 4–6 that did something; `marks` are the times at the start
    /// and after each phase.
    #[cold]
    pub(super) fn trace_iteration(
        &self,
        marks: [u64; 5],
        drained: bool,
        fired: bool,
        items: usize,
    ) {
        let Some(tracer) = &self.trace else {
            return;
        };
        let n = self.counters.iterations.get();
        let phases = [
            ("remote", drained, None),
            ("timers", fired, None),
            ("ready", items > 0, Some(items)),
        ];
        for (i, (name, ran, items)) in phases.into_iter().enumerate() {
            if ran {
                tracer.record(What::Phase { name, items }, n, marks[i + 1], marks[i + 2]);
            }
        }
        tracer.record(What::Iteration, n, marks[0], marks[4]);
    }

    /// `run_entries` for `Builder::trace`: the stride is one item, recorded
    /// with where it came from.
    #[cold]
    pub(super) fn run_entries_traced(&self, count: usize) {
        let Some(tracer) = &self.trace else {
            return self.run_entries(count);
        };
        let label = self.trace_label();
        let start = tracer.now();
        self.run_entries(count);
        if let Some(what) = label {
            tracer.record(what, self.counters.iterations.get(), start, tracer.now());
        }
    }

    /// What the next entry of the ready queue is, for the trace (taken
    /// before it runs: a task may be gone afterwards).
    fn trace_label(&self) -> Option<What> {
        let task = match self.sched.ready().borrow().front()? {
            Runnable::Other(Other::Task(entry)) => {
                Some((entry.view().id(), entry.view().location()))
            }
            _ => None,
        };
        let Some((id, at)) = task else {
            // A callback: where it was scheduled, as the stopwatch sees it.
            return self.peek_ready().map(|ran| What::Callback(ran.at));
        };
        let name = self.sched.name(id);
        Some(What::Task { id, name, at })
    }

    /// `Builder::trace`: the loop closed, write what was recorded. An error
    /// is reported on stderr: `close()` itself succeeded.
    pub(super) fn write_trace(&self) {
        if let Some(tracer) = &self.trace {
            if let Err(e) = tracer.write() {
                crate::exception::print_line(format_args!(
                    "evloop: could not write the trace: {e}"
                ));
            }
        }
    }
}
