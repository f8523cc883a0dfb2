//! Where the loop's time goes: busy or blocked, the longest item, loop lag
//! and slow callbacks, timed without a clock read per callback.
//!
//! A precise clock read costs about 23 ns here, twice a whole `call_soon`
//! callback, so the loop does not time each callback. It reads
//! `CLOCK_MONOTONIC_COARSE` (about 3 ns, no syscall; it moves once per
//! kernel tick, 4 ms here) at *stamps*:
//!
//! - when a public entry point (`run_once`, `run_forever`, ...) starts
//!   ([`Watch::resume`]: the time between calls is the host's, not ours)
//!   and ends;
//! - before the loop's own work: each I/O poll (and after it, when it
//!   blocked), phase 4 when jobs are queued, phase 5 when a timer is
//!   pending; and after phases 3–5 when they did something;
//! - after the exception handler ran for a report (its time is no item's);
//! - after every [`CHUNK`] items of the ready phase, counted across
//!   iterations.
//!
//! The items run between two stamps are a *stretch*. Every interval
//! between two stamps is busy time, except the blocking polls, which are
//! blocked time. A stretch of one item that reaches the threshold is a
//! slow callback or task poll, named exactly; a longer stretch that does is
//! reported as loop lag, named by its first item, and the watch then
//! *zooms in*: it times each item for the next [`ZOOM`] items, so an item
//! that is slow again is named exactly. The interval from one poll to the
//! next is the lag I/O and timers could have waited for the loop.
//!
//! The cost is one coarse read per stamp: a batch of a million callbacks
//! pays for 1/64 of a read each; a loop that wakes for one item at a time
//! pays a few reads per wake-up (around the poll, before phases 4–5, at
//! the end of the call), beside a syscall that costs fifty times more; a
//! busy loop running one item per iteration pays one read per 64 items and
//! one per I/O poll (every 61st iteration). The price is
//! resolution: durations are multiples of the tick (sums over many
//! intervals are unbiased), and a single slow item among quick ones is
//! first seen as lag. `Builder::debug` and `Builder::trace` read the
//! precise clock and stamp after every item.

use std::cell::Cell;
use std::panic::Location;
use std::time::{Duration, Instant};

/// Items run between two stamps. Measured with cachegrind on the
/// `call_soon` workload: see `docs/internals.md`, "Timing".
pub(crate) const CHUNK: usize = 64;

/// Items timed one by one after a slow stretch of several.
pub(crate) const ZOOM: usize = 1000;

/// The default slow-callback threshold: asyncio's `slow_callback_duration`.
pub(crate) const DEFAULT_SLOW: Duration = Duration::from_millis(100);

/// The first item of a stretch: a callback or a task poll, and where it was
/// scheduled or spawned.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ran {
    pub(crate) task: bool,
    pub(crate) at: &'static Location<'static>,
}

impl Ran {
    /// The item, as a report names it beside its location.
    pub(crate) fn what(self) -> &'static str {
        if self.task {
            "a poll of the task spawned here"
        } else {
            "the callback scheduled here"
        }
    }
}

/// What a stamp found.
pub(crate) enum Verdict {
    Fine,
    /// One item took `took`, the threshold or more.
    Slow {
        item: Ran,
        took: Duration,
    },
    /// A stretch of `items` took `took`, the threshold or more.
    Lag {
        first: Option<Ran>,
        items: usize,
        took: Duration,
    },
}

/// A stretch without an I/O poll that reached the threshold.
pub(crate) struct Lag {
    pub(crate) took: Duration,
    /// The part spent in the loop's own phases 3–5.
    pub(crate) own: Duration,
    /// Items run meanwhile, and the first of them.
    pub(crate) items: usize,
    pub(crate) first: Option<Ran>,
}

/// The loop's stopwatch (loop thread only).
pub(crate) struct Watch {
    /// `Some(origin)`: read the precise clock (debug and trace modes).
    precise: Option<Instant>,
    /// Items per stretch: [`CHUNK`], or 1 with the precise clock.
    stride: usize,
    /// Slow-callback and lag threshold, in ns (`u64::MAX`: off).
    threshold: u64,
    /// The last stamp.
    last: Cell<u64>,
    /// The end of the last I/O poll.
    last_poll: Cell<u64>,
    /// Lag was reported since the last poll (not reported twice).
    reported: Cell<bool>,
    /// Since the last poll: items run, the first of them, and the loop's
    /// own time (phases 3–5), for the lag report.
    items_since_poll: Cell<usize>,
    first_since_poll: Cell<Option<Ran>>,
    own_since_poll: Cell<u64>,
    /// Items run since the last stamp, and the first of them.
    stretch_items: Cell<usize>,
    stretch_first: Cell<Option<Ran>>,
    /// Stretches left to time one item each (zoomed in).
    zoom_left: Cell<usize>,
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
        let watch = Watch {
            precise: precise.then(Instant::now),
            stride: if precise { 1 } else { CHUNK },
            threshold: threshold.map_or(u64::MAX, crate::clock::saturating_nanos),
            last: Cell::new(0),
            last_poll: Cell::new(0),
            reported: Cell::new(false),
            items_since_poll: Cell::new(0),
            first_since_poll: Cell::new(None),
            own_since_poll: Cell::new(0),
            stretch_items: Cell::new(0),
            stretch_first: Cell::new(None),
            zoom_left: Cell::new(0),
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
    fn now(&self) -> u64 {
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
        self.since_poll_reset();
    }

    /// The lag since the last poll starts over.
    fn since_poll_reset(&self) {
        self.reported.set(false);
        self.items_since_poll.set(0);
        self.first_since_poll.set(None);
        self.own_since_poll.set(0);
    }

    /// Counts the time since the last stamp as busy; returns it.
    #[inline]
    fn lap(&self) -> u64 {
        let now = self.now();
        let took = now.saturating_sub(self.last.replace(now));
        self.busy.set(self.busy.get() + took);
        took
    }

    /// Whether items ran since the last stamp.
    #[inline]
    pub(crate) fn stretch_open(&self) -> bool {
        self.stretch_items.get() != 0
    }

    /// A stretch begins with `first` (`None`: a cancelled entry).
    pub(crate) fn begin(&self, first: Option<Ran>) {
        self.stretch_first.set(first);
        if self.items_since_poll.get() == 0 {
            self.first_since_poll.set(first);
        }
    }

    /// How many items may run before the next stamp.
    #[inline]
    pub(crate) fn room(&self) -> usize {
        let stride = if self.zoom_left.get() > 0 {
            1
        } else {
            self.stride
        };
        stride - self.stretch_items.get()
    }

    /// `items` more ran; `true` when the stretch is full: stamp now.
    #[inline]
    pub(crate) fn ran(&self, items: usize) -> bool {
        let ran = self.stretch_items.get() + items;
        self.stretch_items.set(ran);
        self.items_since_poll
            .set(self.items_since_poll.get() + items);
        ran >= if self.zoom_left.get() > 0 {
            1
        } else {
            self.stride
        }
    }

    /// A stamp: the open stretch, if any, ends here and is judged.
    pub(crate) fn stamp(&self) -> Verdict {
        let took = self.lap();
        let items = self.stretch_items.replace(0);
        if items == 0 {
            return Verdict::Fine; // the loop's own work, or nothing
        }
        let first = self.stretch_first.take();
        self.zoom_left.set(self.zoom_left.get().saturating_sub(1));
        if items == 1 {
            return self.judge_item(first, took);
        }
        if took < self.threshold {
            return Verdict::Fine;
        }
        self.reported.set(true);
        self.zoom_left.set(ZOOM);
        let took = Duration::from_nanos(took);
        Verdict::Lag { first, items, took }
    }

    /// A stretch of one item took `took`.
    fn judge_item(&self, item: Option<Ran>, took: u64) -> Verdict {
        let Some(item) = item else {
            return Verdict::Fine; // a cancelled entry
        };
        if took > self.longest.get() {
            self.longest.set(took);
            self.longest_at.set(Some(item.at));
        }
        if took < self.threshold {
            return Verdict::Fine;
        }
        self.slow.set(self.slow.get() + 1);
        self.reported.set(true);
        let took = Duration::from_nanos(took);
        Verdict::Slow { item, took }
    }

    /// An I/O poll starts: a stamp, and the time since the end of the
    /// previous poll if it reaches the threshold and nothing was reported
    /// for it yet.
    pub(crate) fn poll_starts(&self) -> (Verdict, Option<Lag>) {
        let verdict = self.stamp();
        let lag = self.last.get().saturating_sub(self.last_poll.get());
        self.max_lag.set(self.max_lag.get().max(lag));
        let report = lag >= self.threshold && !self.reported.get();
        let lag = report.then(|| Lag {
            took: Duration::from_nanos(lag),
            own: Duration::from_nanos(self.own_since_poll.get()),
            items: self.items_since_poll.get(),
            first: self.first_since_poll.get(),
        });
        (verdict, lag)
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
        self.since_poll_reset();
    }

    /// The loop's own work (phases 3–5) ended: busy time, no item's.
    pub(crate) fn own_work_done(&self) {
        let took = self.lap();
        self.own_since_poll.set(self.own_since_poll.get() + took);
    }

    /// The exception handler ran for a report: busy time, no item's.
    #[cold]
    pub(crate) fn handler_done(&self) {
        self.lap();
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
