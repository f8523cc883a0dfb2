//! The loop's clock: real (`Instant`) or virtual (moves only when the loop
//! would otherwise sleep, and then jumps to the next timer).
//!
//! Internally time is a `u64` of nanoseconds since the loop's origin (the
//! unit of the timer wheel), which covers 584 years.
//!
//! Besides the precise reading (`Instant`, about 23 ns here) the clock
//! answers one question cheaply: "is it surely still before `t`?", from
//! `CLOCK_MONOTONIC_COARSE` (about 3 ns: the time of the last scheduler
//! tick, the same clock as `Instant`'s). The timer phase asks it on busy
//! iterations, so a timer far away costs no precise reading (see
//! `core/iteration.rs`, phase 5).

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How far behind `CLOCK_MONOTONIC` its coarse variant may be: one
/// scheduler tick, 10 ms on the coarsest kernels (`HZ=100`; 4 ms at the
/// common `HZ=250`). A fixed bound rather than `clock_getres`: being a few
/// milliseconds conservative only means the precise clock is read a little
/// earlier before a deadline.
const COARSE_LAG_NS: u64 = 10_000_000;

pub(crate) struct Clock {
    origin: Instant,
    /// The origin on `CLOCK_MONOTONIC` in nanoseconds, read just before
    /// `origin` (so it is not later than it).
    origin_ns: u64,
    /// `Some(now)` in virtual mode.
    virtual_now: Option<Cell<u64>>,
}

impl Clock {
    pub(crate) fn new(virtual_time: bool) -> Clock {
        let origin_ns = crate::sys::monotonic_ns();
        Clock {
            origin: Instant::now(),
            origin_ns,
            virtual_now: virtual_time.then(|| Cell::new(0)),
        }
    }

    /// Whether the loop's time is surely still before `t`, without a
    /// precise reading: the coarse clock plus the most it lags is before
    /// `t`. `false` means "maybe not": read [`Clock::now`] to know.
    ///
    /// Sound because `origin_ns` is not later than `origin`, and the
    /// coarse clock is never ahead of the precise one: precise time since
    /// the origin ≤ coarse − `origin_ns` + [`COARSE_LAG_NS`].
    #[inline]
    pub(crate) fn surely_before(&self, t: u64) -> bool {
        match &self.virtual_now {
            Some(now) => now.get() < t,
            None => {
                let coarse = crate::sys::coarse_monotonic_ns().saturating_sub(self.origin_ns);
                coarse.saturating_add(COARSE_LAG_NS) < t
            }
        }
    }

    pub(crate) fn is_virtual(&self) -> bool {
        self.virtual_now.is_some()
    }

    /// Nanoseconds since the origin: a fresh reading in real mode.
    pub(crate) fn now(&self) -> u64 {
        match &self.virtual_now {
            Some(now) => now.get(),
            None => saturating_nanos(self.origin.elapsed()),
        }
    }

    /// The loop's time as an `Instant`.
    pub(crate) fn instant(&self) -> Instant {
        self.to_instant(self.now())
    }

    pub(crate) fn to_instant(&self, t: u64) -> Instant {
        self.origin + Duration::from_nanos(t)
    }

    /// An `Instant` as loop time; instants before the origin are time 0.
    pub(crate) fn instant_to_ticks(&self, at: Instant) -> u64 {
        saturating_nanos(at.saturating_duration_since(self.origin))
    }

    /// `now + d`, saturating at the end of time.
    pub(crate) fn deadline_after(&self, d: Duration) -> u64 {
        self.now().saturating_add(saturating_nanos(d))
    }

    /// Virtual mode: move the clock forward to `t` (never backwards).
    pub(crate) fn jump_to(&self, t: u64) {
        if let Some(now) = &self.virtual_now {
            now.set(now.get().max(t));
        }
    }
}

pub(crate) fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
