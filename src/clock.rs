//! The loop's clock: real (`Instant`) or virtual (moves only when the loop
//! would otherwise sleep, and then jumps to the next timer).
//!
//! Internally time is a `u64` of nanoseconds since the loop's origin (the
//! unit of the timer wheel), which covers 584 years.

use std::cell::Cell;
use std::time::{Duration, Instant};

pub(crate) struct Clock {
    origin: Instant,
    /// `Some(now)` in virtual mode.
    virtual_now: Option<Cell<u64>>,
}

impl Clock {
    pub(crate) fn new(virtual_time: bool) -> Clock {
        Clock {
            origin: Instant::now(),
            virtual_now: virtual_time.then(|| Cell::new(0)),
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
