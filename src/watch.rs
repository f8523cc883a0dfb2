//! Where the loop's time goes: busy or blocked, the longest item, loop lag
//! and slow callbacks, timed without a clock read per callback.
//!
//! A precise clock read costs about 23 ns here, twice a whole `call_soon`
//! callback, so the loop does not time each callback. It reads
//! `CLOCK_MONOTONIC_COARSE` (about 3 ns, no syscall; it moves once per
//! kernel tick, 4 ms here) at *stamps*:
//!
//! - when a public entry point (`run_once`, `run_forever`, ...) starts
//!   ([`Watch::resume`]: the time between calls is the host's, not ours);
//! - after each *chunk* of the ready phase: one item when it ran alone, or
//!   up to [`CHUNK`] items of a long batch ([`Watch::item_done`]);
//! - around each I/O poll ([`Watch::poll_starts`], [`Watch::poll_ends`]);
//! - after phases 3–5 when they did work ([`Watch::lap`]).
//!
//! Every interval between two stamps is *busy* time, except the blocking
//! polls, which are *blocked* time. A chunk whose interval reaches the
//! threshold is a slow callback or poll (its item, or the first of its
//! items, is named); the interval from one poll to the next is the *lag*
//! I/O and timers could have waited for the loop.
//!
//! The cost is one coarse read per chunk, so a batch of a million
//! callbacks pays for 1/64 of a read each, and a loop that runs one item per
//! iteration pays for one read per iteration. The price is resolution:
//! durations are multiples of the tick (sums over many intervals are
//! unbiased), and a slow item inside a long batch is named by its chunk.
//! `Builder::debug` and `Builder::trace` switch to the precise clock and a
//! chunk of one, so every item is timed exactly.

use std::cell::Cell;
use std::panic::Location;
use std::time::{Duration, Instant};

/// Items of a long ready batch run between two stamps. Measured with
/// cachegrind on the `call_soon` workload (116.0 instructions per callback
/// before the stopwatch): 32 cost 2.4 % more instructions, 64 cost 1.2 %.
pub(crate) const CHUNK: usize = 64;

/// The default slow-callback threshold: asyncio's `slow_callback_duration`.
pub(crate) const DEFAULT_SLOW: Duration = Duration::from_millis(100);

/// The loop's stopwatch (loop thread only).
pub(crate) struct Watch {
    /// `Some(origin)`: read the precise clock (debug and trace modes).
    precise: Option<Instant>,
    /// Items per chunk: [`CHUNK`], or 1 with the precise clock.
    pub(crate) chunk: usize,
    /// Slow-callback and lag threshold, in ns (`u64::MAX`: off).
    threshold: u64,
    /// The last stamp.
    last: Cell<u64>,
    /// The end of the last I/O poll.
    last_poll: Cell<u64>,
    /// A slow item was reported since the last poll (its lag is not
    /// reported twice).
    reported: Cell<bool>,
    busy: Cell<u64>,
    blocked: Cell<u64>,
    longest: Cell<u64>,
    longest_at: Cell<Option<&'static Location<'static>>>,
    max_lag: Cell<u64>,
    slow: Cell<u64>,
}

/// What [`Watch`] adds to [`Stats`](crate::Stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Times {
    pub(crate) busy: Duration,
    pub(crate) blocked: Duration,
    pub(crate) longest_item: Duration,
    pub(crate) longest_item_at: Option<&'static Location<'static>>,
    pub(crate) max_lag: Duration,
    pub(crate) slow_items: u64,
}

impl Watch {
    /// A stopwatch reporting items and lags of `threshold` or more (`None`:
    /// never), on the precise clock if `precise`.
    pub(crate) fn new(threshold: Option<Duration>, precise: bool) -> Watch {
        let threshold = threshold.map_or(u64::MAX, crate::clock::saturating_nanos);
        let watch = Watch {
            precise: precise.then(Instant::now),
            chunk: if precise { 1 } else { CHUNK },
            threshold,
            last: Cell::new(0),
            last_poll: Cell::new(0),
            reported: Cell::new(false),
            busy: Cell::new(0),
            blocked: Cell::new(0),
            longest: Cell::new(0),
            longest_at: Cell::new(None),
            max_lag: Cell::new(0),
            slow: Cell::new(0),
        };
        watch.resume();
        watch
    }

    /// Nanoseconds on the watch's clock.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match self.precise {
            Some(origin) => crate::clock::saturating_nanos(origin.elapsed()),
            None => crate::sys::coarse_monotonic_ns(),
        }
    }

    /// The loop is entered from outside: what happened since the last
    /// stamp was not the loop's doing.
    pub(crate) fn resume(&self) {
        let now = self.now();
        self.last.set(now);
        self.last_poll.set(now);
    }

    /// Counts the time since the last stamp as busy; returns it.
    #[inline]
    pub(crate) fn lap(&self) -> u64 {
        let now = self.now();
        let took = now.saturating_sub(self.last.replace(now));
        self.busy.set(self.busy.get() + took);
        took
    }

    /// A chunk of the ready phase ended; `at` names its (first) item.
    /// Returns how long it took if that reaches the threshold.
    #[inline]
    pub(crate) fn item_done(&self, at: Option<&'static Location<'static>>) -> Option<Duration> {
        let took = self.lap();
        if took > self.longest.get() {
            self.longest.set(took);
            self.longest_at.set(at);
        }
        if took < self.threshold {
            return None;
        }
        self.slow.set(self.slow.get() + 1);
        self.reported.set(true);
        Some(Duration::from_nanos(took))
    }

    /// An I/O poll starts. Returns the time since the end of the previous
    /// one if it reaches the threshold and no slow item explains it.
    pub(crate) fn poll_starts(&self) -> Option<Duration> {
        self.lap();
        let lag = self.last.get().saturating_sub(self.last_poll.get());
        self.max_lag.set(self.max_lag.get().max(lag));
        (lag >= self.threshold && !self.reported.get()).then(|| Duration::from_nanos(lag))
    }

    /// The poll ended; a blocking one was blocked time. A non-blocking poll
    /// is short enough to end at the stamp it started with.
    pub(crate) fn poll_ends(&self, blocking: bool) {
        if blocking {
            let now = self.now();
            let took = now.saturating_sub(self.last.replace(now));
            self.blocked.set(self.blocked.get() + took);
        }
        self.last_poll.set(self.last.get());
        self.reported.set(false);
    }

    /// The threshold, for reports.
    pub(crate) fn threshold(&self) -> Duration {
        Duration::from_nanos(self.threshold)
    }

    pub(crate) fn times(&self) -> Times {
        Times {
            busy: Duration::from_nanos(self.busy.get()),
            blocked: Duration::from_nanos(self.blocked.get()),
            longest_item: Duration::from_nanos(self.longest.get()),
            longest_item_at: self.longest_at.get(),
            max_lag: Duration::from_nanos(self.max_lag.get()),
            slow_items: self.slow.get(),
        }
    }
}
