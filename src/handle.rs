//! [`Handle`] and [`TimerHandle`]: cancellation of scheduled callbacks.

use std::fmt;
use std::rc::Weak;
use std::time::Instant;

use crate::core::Core;
use crate::timer::TimerKey;

/// A callback scheduled with [`EventLoop::call_soon`](crate::EventLoop::call_soon).
///
/// Holds no strong reference to the loop: keeping a `Handle` keeps nothing
/// alive, and cancelling after the callback ran (or after the loop closed)
/// does nothing.
///
/// ```
/// let lp = evloop::EventLoop::new();
/// let handle = lp.call_soon(|| unreachable!("cancelled")).unwrap();
/// assert!(handle.cancel());
/// lp.run_once(Some(std::time::Duration::ZERO)).unwrap();
/// ```
pub struct Handle {
    core: Weak<Core>,
    seq: u64,
}

impl Handle {
    pub(crate) fn new(core: Weak<Core>, seq: u64) -> Handle {
        Handle { core, seq }
    }

    /// Cancels the callback if it has not run yet; it is dropped at once.
    /// Returns whether it was still pending.
    pub fn cancel(&self) -> bool {
        self.core
            .upgrade()
            .is_some_and(|core| core.cancel_callback(self.seq))
    }

    /// Whether the callback is still waiting to run.
    pub fn is_pending(&self) -> bool {
        self.core
            .upgrade()
            .is_some_and(|core| core.callback_pending(self.seq))
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").field("seq", &self.seq).finish()
    }
}

/// A timer scheduled with [`EventLoop::call_later`](crate::EventLoop::call_later)
/// or [`call_at`](crate::EventLoop::call_at).
///
/// `cancel()` is O(1): the timer is unlinked from the wheel and its callback
/// dropped at once. It works until the callback starts running, even after
/// the timer expired and the callback joined the ready queue.
///
/// ```
/// use std::time::Duration;
/// let lp = evloop::EventLoop::new();
/// let timer = lp.call_later(Duration::from_secs(60), || unreachable!()).unwrap();
/// assert!(timer.cancel());
/// assert!(!timer.cancel());
/// ```
pub struct TimerHandle {
    core: Weak<Core>,
    key: TimerKey,
    when: Instant,
}

impl TimerHandle {
    pub(crate) fn new(core: Weak<Core>, key: TimerKey, when: Instant) -> TimerHandle {
        TimerHandle { core, key, when }
    }

    /// Cancels the timer if its callback has not run yet. Returns whether it
    /// was still pending.
    pub fn cancel(&self) -> bool {
        self.core
            .upgrade()
            .is_some_and(|core| core.remove_timer(self.key))
    }

    /// When the timer is due, in the loop's time ([`EventLoop::time`](crate::EventLoop::time)).
    pub fn when(&self) -> Instant {
        self.when
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("when", &self.when)
            .finish()
    }
}
