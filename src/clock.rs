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
    /// The loop's time 0, for conversions to and from `Instant`.
    origin: Instant,
    /// `origin` on `CLOCK_MONOTONIC` (the clock `Instant` reads) in
    /// nanoseconds, read just after it. Readings are taken against it
    /// directly (`clock_gettime` and a subtraction, without `Instant`'s
    /// checked `timespec` arithmetic): they lag `origin.elapsed()` by the
    /// constant gap between the two reads, so a deadline given as an
    /// `Instant` (`call_at`) is reached that much late, never early.
    origin_ns: u64,
    /// `Some(now)` in virtual mode.
    virtual_now: Option<Cell<u64>>,
}

impl Clock {
    pub(crate) fn new(virtual_time: bool) -> Clock {
        // `origin_ns` is read right after `origin`. If this thread was
        // preempted around them (the gap would lag every reading), again.
        let read = || {
            let before = crate::sys::monotonic_ns();
            let origin = Instant::now();
            let origin_ns = crate::sys::monotonic_ns();
            (origin, origin_ns, origin_ns.saturating_sub(before))
        };
        let (mut origin, mut origin_ns, mut gap) = read();
        for _ in 0..3 {
            if gap < 10_000 {
                break;
            }
            (origin, origin_ns, gap) = read();
        }
        Clock {
            origin,
            origin_ns,
            virtual_now: virtual_time.then(|| Cell::new(0)),
        }
    }

    /// Whether the loop's time is surely still before `t`, without a
    /// precise reading: the coarse clock plus the most it lags is before
    /// `t`. `false` means "maybe not": read [`Clock::now`] to know.
    ///
    /// Sound because both readings are taken against `origin_ns`, and the
    /// coarse clock is never ahead of the precise one nor behind it by more
    /// than [`COARSE_LAG_NS`]: `now()` ≤ coarse − `origin_ns` +
    /// [`COARSE_LAG_NS`].
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
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match &self.virtual_now {
            Some(now) => now.get(),
            None => crate::sys::monotonic_ns().saturating_sub(self.origin_ns),
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
