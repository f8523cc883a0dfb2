//! [`timeout`] and [`timeout_at`]: a time limit whose deadline can be
//! moved while the future runs (asyncio's `asyncio.timeout()` with
//! `Timeout.reschedule`; tokio's `time::timeout` with `Sleep::reset`).

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::core::Core;
use crate::error::TimedOut;
use crate::task::WakerCell;
use crate::time::Sleep;

/// Runs `future` with a time limit of `duration` from now: `Err(TimedOut)`
/// once the deadline passes, and the inner future is dropped then (asyncio's
/// `async with asyncio.timeout(delay)`; tokio's `time::timeout`).
///
/// Unlike [`wait_for`](crate::wait_for), the deadline can be moved while
/// the future runs: through [`Timeout::reschedule`] before awaiting, or
/// through a [`TimeoutHandle`] ([`Timeout::handle`]) from anywhere on the
/// loop thread while the `Timeout` is being awaited.
///
/// # Panics
///
/// If no evloop is running on this thread.
///
/// ```
/// use std::time::Duration;
/// let lp = evloop::EventLoop::builder().virtual_time().build().unwrap();
/// let out = lp.run_until_complete(async {
///     let work = evloop::timeout(Duration::from_secs(1), evloop::sleep(Duration::from_secs(5)));
///     let handle = work.handle();
///     // Something else learns that the work may take longer.
///     let _extend = evloop::ensure_future(async move {
///         evloop::sleep(Duration::from_millis(500)).await;
///         handle.reschedule(evloop::time() + Duration::from_secs(10));
///     });
///     work.await
/// });
/// assert_eq!(out.unwrap(), Ok(()));
/// ```
#[track_caller]
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    let core = crate::core::expect_current("evloop::timeout");
    let deadline = core.clock().deadline_after(duration);
    Timeout::new(core, deadline, future)
}

/// [`timeout`] with a deadline in the loop's time ([`time`](crate::time))
/// rather than a duration (asyncio's `asyncio.timeout_at(when)`; tokio's
/// `time::timeout_at`).
///
/// # Panics
///
/// If no evloop is running on this thread.
///
/// ```
/// use std::time::Duration;
/// let lp = evloop::EventLoop::builder().virtual_time().build().unwrap();
/// let out = lp.run_until_complete(async {
///     let deadline = evloop::time() + Duration::from_secs(1);
///     evloop::timeout_at(deadline, std::future::pending::<()>()).await
/// });
/// assert_eq!(out.unwrap(), Err(evloop::TimedOut));
/// ```
#[track_caller]
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    let core = crate::core::expect_current("evloop::timeout_at");
    let deadline = core.clock().instant_to_ticks(deadline);
    Timeout::new(core, deadline, future)
}

/// The future of [`timeout`] and [`timeout_at`]: the inner future's output,
/// or [`TimedOut`].
///
/// The inner future is polled first, so one that is ready at once costs no
/// timer; the timer is armed at the first `Pending`, moved when the
/// deadline is rescheduled, and removed when the `Timeout` finishes or is
/// dropped. The inner future lives in a box of its own (one allocation),
/// so that any future, `Unpin` or not, can be given.
///
/// # States
///
/// - *running*: the inner future has not finished and the deadline has
///   not passed; [`reschedule`](Timeout::reschedule) moves the deadline.
/// - *expired*: the deadline passed first; the inner future was dropped
///   and the output was `Err(TimedOut)`. [`expired`](Timeout::expired) is
///   `true` from here on.
/// - *completed*: the inner future finished first.
///
/// Rescheduling outside *running* does nothing and returns `false`
/// (asyncio raises `RuntimeError` there).
#[must_use = "futures do nothing unless awaited"]
pub struct Timeout<F> {
    future: Option<Pin<Box<F>>>,
    /// The timer for the deadline it was armed with; replaced when the
    /// shared deadline moves.
    sleep: Option<Sleep>,
    shared: Rc<Shared>,
}

/// What a [`Timeout`] and its [`TimeoutHandle`]s share.
struct Shared {
    core: Rc<Core>,
    /// In the loop's ticks.
    deadline: Cell<u64>,
    state: Cell<State>,
    /// The task awaiting the `Timeout`, woken when the deadline moves so
    /// that the timer is moved at once.
    waker: WakerCell,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Expired,
    Completed,
}

impl<F: Future> Timeout<F> {
    fn new(core: Rc<Core>, deadline: u64, future: F) -> Timeout<F> {
        let shared = Shared {
            core,
            deadline: Cell::new(deadline),
            state: Cell::new(State::Running),
            waker: WakerCell::default(),
        };
        Timeout {
            future: Some(Box::pin(future)),
            sleep: None,
            shared: Rc::new(shared),
        }
    }
}

impl<F> Timeout<F> {
    /// A handle to move the deadline while this `Timeout` is being awaited
    /// (asyncio's `Timeout` object, kept while the `async with` body runs).
    pub fn handle(&self) -> TimeoutHandle {
        TimeoutHandle {
            shared: self.shared.clone(),
        }
    }

    /// Moves the deadline to `when` (asyncio's `Timeout.reschedule`;
    /// tokio's `Sleep::reset`); see [`TimeoutHandle::reschedule`].
    pub fn reschedule(&self, when: Instant) -> bool {
        self.shared.reschedule(when)
    }

    /// The deadline, in the loop's time (asyncio's `Timeout.when()`).
    pub fn deadline(&self) -> Instant {
        self.shared.deadline()
    }

    /// Whether the deadline passed before the inner future finished
    /// (asyncio's `Timeout.expired()`).
    pub fn expired(&self) -> bool {
        self.shared.state.get() == State::Expired
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, TimedOut>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let future = this
            .future
            .as_mut()
            .expect("`Timeout` polled after it finished");
        if let Poll::Ready(v) = future.as_mut().poll(cx) {
            this.finish(State::Completed);
            return Poll::Ready(Ok(v));
        }
        let deadline = this.shared.deadline.get();
        if this.sleep.as_ref().map(Sleep::deadline_ticks) != Some(deadline) {
            // Dropping the old sleep removes its timer.
            this.sleep = Some(Sleep::new(this.shared.core.clone(), deadline));
        }
        let sleep = this.sleep.as_mut().expect("armed just above");
        if Pin::new(sleep).poll(cx).is_ready() {
            this.finish(State::Expired);
            return Poll::Ready(Err(TimedOut));
        }
        this.shared.waker.set(cx.waker());
        Poll::Pending
    }
}

impl<F> Timeout<F> {
    /// Drops the inner future and the timer (asyncio cancels the inner
    /// work at the timeout) and records how it ended.
    fn finish(&mut self, state: State) {
        self.shared.state.set(state);
        self.future = None;
        self.sleep = None;
        self.shared.waker.clear();
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("deadline", &self.deadline())
            .field("expired", &self.expired())
            .finish()
    }
}

/// Moves the deadline of a [`Timeout`] while it is being awaited
/// ([`Timeout::handle`]). A cheap `Clone`; `!Send`, as the loop's tasks.
#[derive(Clone)]
pub struct TimeoutHandle {
    shared: Rc<Shared>,
}

impl TimeoutHandle {
    /// Moves the deadline to `when`, in the loop's time ([`time`](crate::time)),
    /// earlier or later (asyncio's `Timeout.reschedule`; tokio's
    /// `Sleep::reset`). A deadline already past makes the `Timeout` expire
    /// at its next turn, unless the inner future is ready then.
    ///
    /// The task awaiting the `Timeout` is woken so that its timer is moved
    /// at once; the inner future is polled then too (as any wake-up may
    /// do). Returns `false`, and does nothing, once the `Timeout` has
    /// expired or completed.
    pub fn reschedule(&self, when: Instant) -> bool {
        self.shared.reschedule(when)
    }

    /// The deadline, in the loop's time (asyncio's `Timeout.when()`).
    pub fn deadline(&self) -> Instant {
        self.shared.deadline()
    }

    /// Whether the deadline passed before the inner future finished
    /// (asyncio's `Timeout.expired()`).
    pub fn expired(&self) -> bool {
        self.shared.state.get() == State::Expired
    }
}

impl fmt::Debug for TimeoutHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutHandle")
            .field("deadline", &self.deadline())
            .field("expired", &self.expired())
            .finish()
    }
}

impl Shared {
    fn deadline(&self) -> Instant {
        self.core.clock().to_instant(self.deadline.get())
    }

    fn reschedule(&self, when: Instant) -> bool {
        if self.state.get() != State::Running {
            return false;
        }
        self.deadline.set(self.core.clock().instant_to_ticks(when));
        self.waker.wake();
        true
    }
}
