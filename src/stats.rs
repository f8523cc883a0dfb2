//! Counters of what the loop did: always on, one non-atomic increment each.

use std::cell::Cell;

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
}

/// Adds one to a counter.
#[inline]
pub(crate) fn bump(c: &Cell<u64>) {
    c.set(c.get().wrapping_add(1));
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Stats {
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
        }
    }
}
