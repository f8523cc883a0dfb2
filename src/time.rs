//! Timers for tasks: [`sleep`] and [`wait_for`] (asyncio's `sleep` and
//! `wait_for`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::core::{Core, TimerEntry};
use crate::error::TimedOut;
use crate::task::StoredWaker;
use crate::timer::TimerKey;

/// Waits until `duration` has passed (never less), without blocking the loop.
///
/// The deadline is taken from a fresh clock reading now; the timer is armed
/// at the first poll. Dropping the future cancels the timer.
///
/// # Panics
///
/// If no evloop is running on this thread.
///
/// ```
/// use std::time::Duration;
/// evloop::run(async { evloop::sleep(Duration::from_millis(1)).await }).unwrap();
/// ```
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    let core = crate::core::expect_current("evloop::sleep");
    let deadline = core.clock().deadline_after(duration);
    Sleep::new(core, deadline)
}

/// Waits until the loop's clock reaches `deadline` ([`EventLoop::time`](crate::EventLoop::time)).
///
/// # Panics
///
/// If no evloop is running on this thread.
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    let core = crate::core::expect_current("evloop::sleep_until");
    let deadline = core.clock().instant_to_ticks(deadline);
    Sleep::new(core, deadline)
}

/// The future of [`sleep`].
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    core: Rc<Core>,
    deadline: u64,
    state: SleepState,
}

enum SleepState {
    Unarmed,
    Armed(TimerKey),
    Done,
}

impl Sleep {
    pub(crate) fn new(core: Rc<Core>, deadline: u64) -> Sleep {
        Sleep {
            core,
            deadline,
            state: SleepState::Unarmed,
        }
    }

    /// When the sleep ends, in the loop's time.
    pub fn deadline(&self) -> Instant {
        self.core.clock().to_instant(self.deadline)
    }

    /// The deadline in the loop's ticks (nanoseconds since its origin).
    pub(crate) fn deadline_ticks(&self) -> u64 {
        self.deadline
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        match this.state {
            SleepState::Done => Poll::Ready(()),
            SleepState::Armed(key) => match this.core.refresh_timer_waker(key, cx.waker()) {
                Some(()) => Poll::Pending,
                None => {
                    this.state = SleepState::Done;
                    Poll::Ready(())
                }
            },
            SleepState::Unarmed => {
                let entry = TimerEntry::Waker(StoredWaker::new(cx.waker()));
                match this.core.add_timer(this.deadline, entry) {
                    Ok(key) => {
                        this.state = SleepState::Armed(key);
                        Poll::Pending
                    }
                    // A closed loop never fires timers: finish rather than hang.
                    Err(_) => {
                        this.state = SleepState::Done;
                        Poll::Ready(())
                    }
                }
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let SleepState::Armed(key) = self.state {
            self.core.remove_timer(key);
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline())
            .finish()
    }
}

/// Runs `future` with a time limit: `Err(TimedOut)` once `timeout` has
/// passed, and the inner future is dropped (asyncio's `wait_for`).
///
/// The inner future is polled first, so an already-ready future costs no
/// timer; the timer is armed at the first `Pending`.
///
/// # Panics
///
/// If no evloop is running on this thread.
///
/// ```
/// use std::time::Duration;
/// let lp = evloop::EventLoop::builder().virtual_time().build().unwrap();
/// let out = lp.run_until_complete(async {
///     evloop::wait_for(Duration::from_secs(1), evloop::sleep(Duration::from_secs(5))).await
/// });
/// assert!(out.unwrap().is_err());
/// ```
#[track_caller]
pub fn wait_for<F: Future>(
    timeout: Duration,
    future: F,
) -> impl Future<Output = Result<F::Output, TimedOut>> {
    let core = crate::core::expect_current("evloop::wait_for");
    async move {
        let mut future = std::pin::pin!(future);
        let mut core = Some(core);
        let mut sleep: Option<Sleep> = None;
        std::future::poll_fn(move |cx| {
            if let Poll::Ready(v) = future.as_mut().poll(cx) {
                return Poll::Ready(Ok(v));
            }
            let sleep = sleep.get_or_insert_with(|| {
                let core = core.take().expect("taken once, when the sleep is made");
                let deadline = core.clock().deadline_after(timeout);
                Sleep::new(core, deadline)
            });
            Pin::new(sleep).poll(cx).map(|()| Err(TimedOut))
        })
        .await
        // Returning drops the pinned inner future here, at the timeout, as
        // asyncio cancels it.
    }
}
