//! How long an iteration with nothing ready blocks in `epoll_wait`: until
//! the next timer (on epoll's millisecond timeout, or a timerfd in
//! high-resolution mode), never under virtual time (the clock jumps
//! instead), and after spinning for remote work if `spin_before_park` asks.

use std::time::Duration;

use super::Core;
use crate::stats::bump;
use crate::sys::timerfd::TimerFd;

impl Core {
    /// For hosts: how long until the loop has something to do. `Some(0)`
    /// when work is ready, the time to the next timer otherwise, `None` if
    /// only I/O or other threads can bring work (watch the poll fd).
    pub(crate) fn next_timeout(&self) -> Option<Duration> {
        if !self.sched.ready().borrow().is_empty()
            || self.expired_left()
            || self.stopping.get()
            || self.shared().len() != 0
        {
            return Some(Duration::ZERO);
        }
        let next = self.timers.borrow().next_expiration()?;
        Some(Duration::from_nanos(next.saturating_sub(self.now())))
    }

    /// `spin_before_park`: before sleeping in `epoll_wait` (for at least
    /// the spin time), watch the remote queue for up to the spin time;
    /// `true` if a job came. The loop is not parked meanwhile, so senders
    /// skip the eventfd write, and the job is taken without a wake-up.
    pub(super) fn spin_for_remote_work(&self, timeout: Option<Duration>) -> bool {
        let spin = self.shared().spin;
        if timeout.is_some_and(|t| t <= spin) {
            return false;
        }
        crate::sync::spin::spin_until(spin, || self.shared().has_jobs())
    }

    /// How long to block when nothing is ready: until the next timer, capped
    /// by the caller's `max_wait`. Virtual time never blocks for a timer.
    pub(super) fn idle_timeout(&self, max_wait: Option<Duration>) -> Option<Duration> {
        let next = self.timers.borrow().next_expiration();
        let Some(next) = next else {
            return max_wait;
        };
        if self.clock.is_virtual() {
            // Jump at once, unless other threads are working for us: then
            // wait for them (in real time) before time may move.
            return if self.external.get() == 0 {
                Some(Duration::ZERO)
            } else {
                max_wait
            };
        }
        let until = Duration::from_nanos(next.saturating_sub(self.now()));
        if self.high_resolution && !until.is_zero() && self.arm_timerfd(next, until) {
            return max_wait; // the timerfd's edge ends the wait, on time
        }
        Some(max_wait.map_or(until, |m| m.min(until)))
    }

    /// High-resolution mode: make sure the timerfd fires at `deadline`.
    /// A syscall only when the earliest deadline changed since the last arm
    /// (smol re-arms on every wait; a loop that sleeps often would pay for
    /// it each time). `false` if no timerfd could be had: fall back to
    /// epoll's timeout.
    fn arm_timerfd(&self, deadline: u64, until: Duration) -> bool {
        if self.timerfd_deadline.get() == deadline {
            return true;
        }
        if self.timerfd.borrow().is_none() {
            let Ok(fd) = TimerFd::new() else {
                return false;
            };
            // A source like any other: its event only has to end the wait.
            let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
            let mut source = mio::unix::SourceFd(&raw);
            if self.register(&mut source, mio::Interest::READABLE).is_err() {
                return false;
            }
            *self.timerfd.borrow_mut() = Some(fd);
        }
        let armed = self
            .timerfd
            .borrow()
            .as_ref()
            .is_some_and(|fd| fd.arm(until).is_ok());
        if armed {
            bump(&self.counters.timer_arms);
            self.timerfd_deadline.set(deadline);
        }
        armed
    }

    /// Virtual time: nothing happened and the loop would now sleep until
    /// the next timer, so jump there instead (unless the caller's `max_wait`
    /// ends first).
    pub(super) fn advance_virtual_clock(&self, max_wait: Option<Duration>) {
        if !self.sched.ready().borrow().is_empty()
            || self.expired_left()
            || self.external.get() != 0
        {
            return;
        }
        let Some(next) = self.timers.borrow().next_expiration() else {
            return;
        };
        let limit = max_wait.map_or(u64::MAX, |m| self.clock.deadline_after(m));
        if next <= limit {
            self.clock.jump_to(next);
        }
    }
}
