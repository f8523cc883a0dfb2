//! Counters of what the loop did: always on, one non-atomic increment each.

use std::cell::Cell;
use std::panic::Location;
use std::time::Duration;

use crate::watch::Times;

/// A snapshot of the loop's counters ([`EventLoop::stats`](crate::EventLoop::stats)).
///
/// Every field counts since the loop was created.
///
/// ```
/// let lp = evloop::EventLoop::new();
/// lp.call_soon(|| {}).unwrap();
/// lp.run_once(Some(std::time::Duration::ZERO)).unwrap();
/// let stats = lp.stats();
/// assert_eq!((stats.iterations, stats.callbacks_run), (1, 1));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Iterations of `run_once` (phases 1–6).
    pub iterations: u64,
    /// `epoll_wait` calls. Fewer than `iterations` while work is ready: the
    /// loop polls I/O only every 61st iteration then.
    pub io_polls: u64,
    /// `epoll_wait` calls that could block (non-zero timeout): the loop had
    /// nothing to do and went to sleep.
    pub parks: u64,
    /// Blocking polls that a wake from another thread ended (the eventfd of
    /// the remote queue fired).
    pub remote_wakeups: u64,
    /// Clock readings by the loop itself (phases 1 and 5; not those of
    /// `call_later` or `sleep`). None while only ready work is waiting.
    pub clock_reads: u64,
    /// I/O readiness events dispatched to sources (phase 3).
    pub io_events: u64,
    /// Callbacks run (`call_soon`, timers, threadsafe jobs).
    pub callbacks_run: u64,
    /// Task polls (including cancellations carried out).
    pub tasks_polled: u64,
    /// Timers that expired.
    pub timers_fired: u64,
    /// High-resolution mode: times the timerfd was (re-)armed, once per
    /// change of the earliest deadline.
    pub timer_arms: u64,
    /// Jobs taken from the remote queue (threadsafe calls and cross-thread wakes).
    pub remote_jobs: u64,
    /// Operations (socket reads and writes, channel receives and sends)
    /// that made their task yield instead of completing, because the task
    /// had completed its budget of operations for this poll (128: see
    /// `docs/internals.md`, "the task budget").
    pub budget_yields: u64,
    /// Iterations whose remote phase stopped at its per-iteration bound
    /// with jobs still queued (the rest wait for the next iteration, after
    /// timers and I/O had their turn).
    pub remote_drains_cut: u64,
    /// The most entries one ready phase had to run (the queue's length when
    /// phase 6 started).
    pub ready_high_water: u64,
    /// The most jobs one drain found in the remote queue (phase 4).
    pub remote_high_water: u64,
    /// The most jobs the built-in executor had at once, queued or running
    /// (0 until it is first used).
    pub executor_high_water: u64,
    /// Bytes of finished tasks' memory kept on this thread for the next
    /// tasks (a snapshot, not a count since creation): what the loop's
    /// work freed, halved every 1,024 I/O polls while the loop stays busy,
    /// at most 256 KiB once it has gone to sleep,
    /// nothing once the thread's last loop is dropped (see
    /// `docs/internals.md`, "Task memory").
    pub task_memory_kept: u64,
    /// Time spent running: callbacks, polls and the loop's own phases.
    /// Timed with the coarse clock (see `docs/internals.md`, "Timing"),
    /// exact in debug and trace modes. Time between `run_once` calls from
    /// a host loop counts neither as busy nor as blocked.
    pub busy: Duration,
    /// Time blocked in `epoll_wait` with nothing to do (with the dispatch
    /// of the events that ended the wait).
    pub blocked: Duration,
    /// The longest time one callback or task poll held the loop, among the
    /// items timed one by one: those that ran alone between two stamps of
    /// the stopwatch (see `docs/internals.md`, "Timing"); in debug and
    /// trace modes, every item.
    pub longest_item: Duration,
    /// Where the callback behind `longest_item` was scheduled or its task
    /// spawned.
    pub longest_item_at: Option<&'static Location<'static>>,
    /// The longest time the loop went without polling for I/O while it
    /// had work: how long a ready socket or a due timer could wait.
    pub max_lag: Duration,
    /// Callbacks or polls timed one by one that took the slow-callback
    /// threshold or more
    /// ([`Builder::slow_callback_duration`](crate::Builder::slow_callback_duration)),
    /// each reported to the exception handler (longer stretches of several
    /// items are reported as loop lag, and not counted here).
    pub slow_items: u64,
}

/// The live counters inside the loop.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) iterations: Cell<u64>,
    pub(crate) io_polls: Cell<u64>,
    pub(crate) parks: Cell<u64>,
    pub(crate) remote_wakeups: Cell<u64>,
    pub(crate) clock_reads: Cell<u64>,
    pub(crate) io_events: Cell<u64>,
    pub(crate) callbacks_run: Cell<u64>,
    pub(crate) tasks_polled: Cell<u64>,
    pub(crate) timers_fired: Cell<u64>,
    pub(crate) timer_arms: Cell<u64>,
    pub(crate) remote_jobs: Cell<u64>,
    pub(crate) budget_yields: Cell<u64>,
    pub(crate) remote_drains_cut: Cell<u64>,
    pub(crate) ready_high_water: Cell<u64>,
    pub(crate) remote_high_water: Cell<u64>,
    /// The mark of executor pools already shut down.
    pub(crate) executor_high_water: Cell<u64>,
}

/// Adds one to a counter.
#[inline]
pub(crate) fn bump(c: &Cell<u64>) {
    c.set(c.get().wrapping_add(1));
}

impl Counters {
    /// Raises a high-water mark to `n`.
    #[inline]
    pub(crate) fn high_water(mark: &Cell<u64>, n: usize) {
        mark.set(mark.get().max(n as u64));
    }

    /// The counters, with the stopwatch's times and the executor's mark.
    pub(crate) fn snapshot(&self, times: Times, executor_high_water: usize) -> Stats {
        Stats {
            iterations: self.iterations.get(),
            io_polls: self.io_polls.get(),
            parks: self.parks.get(),
            remote_wakeups: self.remote_wakeups.get(),
            clock_reads: self.clock_reads.get(),
            io_events: self.io_events.get(),
            callbacks_run: self.callbacks_run.get(),
            tasks_polled: self.tasks_polled.get(),
            timers_fired: self.timers_fired.get(),
            timer_arms: self.timer_arms.get(),
            remote_jobs: self.remote_jobs.get(),
            budget_yields: self.budget_yields.get(),
            remote_drains_cut: self.remote_drains_cut.get(),
            ready_high_water: self.ready_high_water.get(),
            remote_high_water: self.remote_high_water.get(),
            executor_high_water: self
                .executor_high_water
                .get()
                .max(executor_high_water as u64),
            task_memory_kept: crate::task::task_memory_kept() as u64,
            busy: times.busy,
            blocked: times.blocked,
            longest_item: times.longest_item,
            longest_item_at: times.longest_item_at,
            max_lag: times.max_lag,
            slow_items: times.slow_items,
        }
    }
}
