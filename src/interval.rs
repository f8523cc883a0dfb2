//! [`interval`]: ticks at a fixed period, with tokio's choices for ticks
//! that were missed ([`MissedTickBehavior`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::clock::saturating_nanos;
use crate::core::Core;
use crate::time::Sleep;

/// How late a tick may be and still count as on time: tokio's 5 ms, kept
/// so that the three behaviours match tokio's to the tick. A timer fires on
/// the loop's first 1 ms tick at or after its deadline, well inside it.
const MISSED_AFTER: Duration = Duration::from_millis(5);

/// Ticks every `period`, the first tick at once (tokio's
/// `time::interval`; asyncio has none: a loop of `sleep`s drifts, this
/// does not).
///
/// Ticks are scheduled at `start + k × period` in the loop's time; a tick
/// that is due when [`Interval::tick`] is called returns at once, without
/// a timer. See [`MissedTickBehavior`] for ticks missed because the loop
/// or the task was busy.
///
/// # Panics
///
/// If `period` is zero, or no evloop is running on this thread.
///
/// ```
/// use std::time::Duration;
/// let lp = evloop::EventLoop::builder().virtual_time().build().unwrap();
/// let out = lp.run_until_complete(async {
///     let mut ticks = evloop::interval(Duration::from_secs(10));
///     let first = ticks.tick().await; // at once
///     let second = ticks.tick().await;
///     second - first
/// });
/// assert_eq!(out.unwrap(), Duration::from_secs(10));
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    let core = crate::core::expect_current("evloop::interval");
    let start = core.clock().now();
    Interval::new(core, start, period)
}

/// [`interval`] whose first tick is at `start` (in the loop's time, see
/// [`time`](crate::time)) rather than now (tokio's `time::interval_at`).
///
/// # Panics
///
/// If `period` is zero, or no evloop is running on this thread.
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    let core = crate::core::expect_current("evloop::interval_at");
    let start = core.clock().instant_to_ticks(start);
    Interval::new(core, start, period)
}

/// What [`Interval::tick`] does after ticks were missed: when it is called
/// more than 5 ms after a tick was due (tokio's `MissedTickBehavior`, with
/// the same rules and the same 5 ms allowance).
///
/// In each case the late call returns the missed tick's scheduled instant
/// at once; the behaviours differ in when the ticks after it are due.
/// With a period of 100 ms, ticks due at 100, 200, 300 ms, and the calls
/// resuming at 350 ms:
///
/// | behaviour | ticks returned (scheduled instants) | returned when |
/// | --- | --- | --- |
/// | `Burst` | 100, 200, 300, 400, 500 | at once ×3, then 400, 500 |
/// | `Delay` | 100, 450, 550 | at once, then 450, 550 |
/// | `Skip` | 100, 400, 500 | at once, then 400, 500 |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Catch up: the missed ticks follow at once, one a call, then the
    /// schedule goes on as before (the default, as in tokio).
    #[default]
    Burst,
    /// Start again from now: the next tick is one period after the late
    /// call, and every later one a period after that.
    Delay,
    /// Drop the missed ticks: the next tick is the next one on the
    /// original schedule after the late call.
    Skip,
}

impl MissedTickBehavior {
    /// When the tick after `timeout` (the missed one) is due, the late call
    /// having come at `now`; all in the loop's ticks (nanoseconds).
    fn next_timeout(self, timeout: u64, now: u64, period: u64) -> u64 {
        match self {
            MissedTickBehavior::Burst => timeout.saturating_add(period),
            MissedTickBehavior::Delay => now.saturating_add(period),
            MissedTickBehavior::Skip => {
                let behind = (now - timeout) % period;
                now.saturating_add(period - behind)
            }
        }
    }
}

/// The ticker of [`interval`]: [`tick`](Interval::tick) waits for the next
/// tick. Dropping it removes its timer.
#[must_use = "an Interval does nothing unless `tick` is awaited"]
pub struct Interval {
    core: Rc<Core>,
    /// When the next tick is due, in the loop's ticks.
    next: u64,
    /// In nanoseconds, at least 1.
    period: u64,
    behavior: MissedTickBehavior,
    /// The timer for `next`, armed by a `tick` that had to wait.
    sleep: Option<Sleep>,
}

impl Interval {
    #[track_caller]
    fn new(core: Rc<Core>, start: u64, period: Duration) -> Interval {
        assert!(
            !period.is_zero(),
            "evloop::interval: the period must be non-zero"
        );
        Interval {
            core,
            next: start,
            period: saturating_nanos(period),
            behavior: MissedTickBehavior::default(),
            sleep: None,
        }
    }

    /// Waits for the next tick and returns when it was *scheduled* (not
    /// when it was reached), in the loop's time.
    ///
    /// Cancel-safe: dropping the future before it returns loses no tick.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// [`tick`](Interval::tick) as a poll function, for hand-written
    /// futures (tokio's `Interval::poll_tick`).
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        let now = self.core.clock().now();
        if now < self.next {
            let next = self.next;
            let sleep = match &mut self.sleep {
                Some(sleep) if sleep.deadline_ticks() == next => sleep,
                slot => slot.insert(Sleep::new(self.core.clone(), next)),
            };
            if Pin::new(sleep).poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        self.sleep = None;
        let timeout = self.next;
        // Read again: a timer fires at or after its deadline.
        let now = self.core.clock().now().max(now);
        self.next = if now > timeout.saturating_add(saturating_nanos(MISSED_AFTER)) {
            self.behavior.next_timeout(timeout, now, self.period)
        } else {
            timeout.saturating_add(self.period)
        };
        Poll::Ready(self.core.clock().to_instant(timeout))
    }

    /// Starts the schedule again from now: the next tick is one period
    /// away (tokio's `Interval::reset`).
    pub fn reset(&mut self) {
        self.next = self.core.clock().now().saturating_add(self.period);
        self.sleep = None;
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        Duration::from_nanos(self.period)
    }

    /// What is done about missed ticks ([`MissedTickBehavior::Burst`]
    /// unless set).
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.behavior
    }

    /// Chooses what is done about missed ticks from the next `tick` on.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.behavior = behavior;
    }
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval")
            .field("next", &self.core.clock().to_instant(self.next))
            .field("period", &self.period())
            .field("missed_tick_behavior", &self.behavior)
            .finish()
    }
}
