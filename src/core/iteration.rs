//! One iteration of the loop, as a list of phases. This is the only place
//! where callbacks run and tasks are polled.
//!
//! ```text
//!  ┌──────────────────────────────────────────────────────────────┐
//!  │ 1. timeout = 0 if ready queue non-empty, else next timer     │
//!  │    deadline (None if no timers); 0 if stopping               │
//!  │ 2. poll mio (epoll_wait) with that timeout — skipped on most │
//!  │    iterations while work is ready (1 in 61 polls)            │
//!  │ 3. I/O events  → wake the tasks / queue the reader callbacks │
//!  │ 4. remote queue (threadsafe jobs, cross-thread wakes) → ready│
//!  │    (at most 1,024)                                           │
//!  │ 5. timer wheel: advance to now, expired timers → ready       │
//!  │    (at most 1,024; skipped while the coarse clock says none  │
//!  │    can be due)                                               │
//!  │ 6. run exactly the entries that were ready at this point;    │
//!  │    what they schedule runs next iteration (asyncio rule)     │
//!  └──────────────────────────────────────────────────────────────┘
//! ```
//!
//! Beside asyncio's `BaseEventLoop._run_once`: `docs/internals.md`, "One
//! iteration".

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use super::{Core, TimerEntry, WAKER_TOKEN};
use crate::callback::InlineFn;
use crate::exception::ExceptionSource;
use crate::io::sources::Dispatch;
use crate::ready::{Callback, Other};
use crate::stats::{bump, Counters};
use crate::task::{RemoteJob, Runnable};
use crate::timer::TimerKey;
use crate::trace::What;
use crate::watch::Ran;

/// While ready work is waiting, poll for I/O (with a zero timeout) only once
/// every this many iterations: an `epoll_wait` costs ~150 ns here, more than
/// a whole hop between two tasks. 61 is tokio's `event_interval`; a prime,
/// so it does not beat with periodic workloads. Bounds I/O latency under
/// load to 61 iterations.
const IO_POLL_INTERVAL: u64 = 61;

/// The most remote jobs (threadsafe calls, cross-thread wakes) one
/// iteration takes from the remote queue. Draining everything that was
/// queued when the drain began bounds nothing: four threads can queue
/// millions of jobs while the loop is busy or not running, and one
/// iteration would then run for seconds with no timer and no I/O. Past
/// this count the rest waits for the next iteration, after the ready
/// phase, and the timers of that iteration. 1,024 is the I/O phase's
/// event capacity too: an iteration takes at most that many of each.
pub(crate) const REMOTE_DRAIN_LIMIT: usize = 1024;

/// The ready queue's ring keeps this many slots (128 KB) when it shrinks
/// back after a burst (see `ReadyQueue::shrink`).
const READY_KEEP_SLOTS: usize = 4096;

/// The timer wheel keeps this many entries (80 KB) when it shrinks back
/// after a burst of timers (see `Wheel::shrink`).
const WHEEL_KEEP_ENTRIES: usize = 1024;

/// The task registry keeps this many slots (8 KB) when it shrinks back
/// after a burst of tasks (see `Registry::shrink`).
const REGISTRY_KEEP_SLOTS: usize = 1024;

/// The most expired timers one iteration hands to the ready queue. When a
/// million timers fall due in one sweep, expiring them all before running
/// any means waking a million tasks whose memory has left the cache by the
/// time each is polled, and one iteration as long as the sweep. Handed out
/// 1,024 at a time, each task is woken and then polled while its memory is
/// still in cache, and I/O and threadsafe jobs get their turns in between.
/// The rest keep their (deadline, insertion) order and go before any timer
/// that falls due later.
pub(crate) const TIMER_EXPIRY_LIMIT: usize = 1024;

/// How far ahead of the timer it expires the loop asks for a sleeping
/// task's memory (`RawTask::prefetch`), and twice as far for the timer's
/// entry. A batch of a million sleeps is handed out long after the wheel
/// read its entries, and each wake waits for its entry and then its
/// task's header, both cold; asked for this many timers earlier, the lines
/// arrive while the wakes before run, instead of one miss after another.
const EXPIRY_PREFETCH_AHEAD: usize = 16;

impl Core {
    /// One iteration of the loop, as a list of phases (see `docs/internals.md`).
    /// This is the only place where callbacks run and tasks are polled.
    pub(crate) fn run_once(&self, max_wait: Option<Duration>) {
        // Two copies of the iteration: the traced one records each phase,
        // the other has no trace of tracing in it.
        match &self.trace {
            None => self.iteration::<false>(max_wait),
            Some(_) => self.iteration::<true>(max_wait),
        }
    }

    #[inline(always)]
    fn iteration<const TRACE: bool>(&self, max_wait: Option<Duration>) {
        bump(&self.counters.iterations);
        let mut marks = [0; 5];
        self.trace_mark::<TRACE>(&mut marks[0]);
        let polled = self.poll_io::<TRACE>(max_wait); // phases 1–3: timeout, epoll_wait, I/O events
        self.trace_mark::<TRACE>(&mut marks[1]); //      (`poll` and `io` are recorded inside)
        let drained = self.drain_remote(); //            phase 4: threadsafe jobs and cross-thread wakes
        self.trace_mark::<TRACE>(&mut marks[2]);
        let fired = self.fire_timers(polled); //         phase 5: expired timers → ready
        self.trace_mark::<TRACE>(&mut marks[3]);
        if polled | drained | fired {
            self.watch.own_work_done(); // not charged to the next item
        }
        let items = self.run_ready::<TRACE>(); //        phase 6: run what was ready at this point
        if TRACE {
            self.trace_mark::<TRACE>(&mut marks[4]);
            self.trace_iteration(marks, drained, fired, items);
        }
    }

    /// Phases 1–3. Skipped on most iterations while work is ready (the
    /// syscall rule), so a busy loop neither polls nor reads the clock.
    /// Returns whether it polled.
    #[inline(always)]
    fn poll_io<const TRACE: bool>(&self, max_wait: Option<Duration>) -> bool {
        if self.has_work_now() && self.counters.iterations.get() % IO_POLL_INTERVAL != 0 {
            return false;
        }
        // Stamp and report before the timeout is chosen: the exception
        // handler may schedule work or stop the loop.
        let (verdict, lag) = self.watch.poll_starts();
        self.judge(verdict);
        if let Some(lag) = lag {
            self.report_lag(lag);
            self.watch.handler_done();
        }
        let timeout = if self.has_work_now() {
            Some(Duration::ZERO)
        } else {
            self.idle_timeout(max_wait)
        };
        let timeout = if timeout != Some(Duration::ZERO) && self.spin_for_remote_work(timeout) {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        let blocking = timeout != Some(Duration::ZERO);
        // The sleep-flag protocol (see `remote`): declare the loop parked,
        // then look at the queue once more before blocking.
        let timeout = if blocking && !self.shared().park() {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        let parked = timeout != Some(Duration::ZERO);
        if parked {
            bump(&self.counters.parks);
            // Idle: the memory kept for the next tasks, the ready queue's
            // ring, the timer wheel and the task registry shrink to a
            // little.
            crate::task::trim_task_memory();
            self.sched.ready().borrow_mut().shrink(READY_KEEP_SLOTS);
            self.timers.borrow_mut().shrink(WHEEL_KEEP_ENTRIES);
            self.sched.shrink_registry(REGISTRY_KEEP_SLOTS);
            if !self.expired_left() {
                self.expired.borrow_mut().shrink_to(TIMER_EXPIRY_LIMIT);
            }
        }
        if !parked && self.counters.io_polls.get() % crate::task::TASK_MEMORY_DECAY_POLLS == 0 {
            // Busy for a while: what a past burst left behind shrinks.
            crate::task::decay_task_memory();
            self.sched.ready().borrow_mut().shrink(READY_KEEP_SLOTS);
        }
        let got_events = self.poll_events::<TRACE>(timeout, parked);
        self.watch.poll_ends(parked);
        if blocking {
            self.shared().unpark();
        }
        if self.clock.is_virtual() && !got_events && self.shared().len() == 0 {
            self.advance_virtual_clock(max_wait);
        }
        true
    }

    /// Whether this iteration must not block: ready work, expired timers
    /// waiting for their turn, or a stop requested.
    #[inline(always)]
    fn has_work_now(&self) -> bool {
        !self.sched.ready().borrow().is_empty() || self.expired_left() || self.stopping.get()
    }

    /// `epoll_wait`; returns whether any event arrived.
    fn poll_events<const TRACE: bool>(&self, timeout: Option<Duration>, parked: bool) -> bool {
        bump(&self.counters.io_polls);
        let mut trace_start = 0;
        self.trace_mark::<TRACE>(&mut trace_start);
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => {}
            // A signal interrupted the wait: just an early wake-up.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return false,
            Err(e) => panic!("evloop: epoll_wait failed: {e}"),
        }
        let mut polled_at = 0;
        self.trace_mark::<TRACE>(&mut polled_at);
        let got_events = !events.is_empty();
        let mut dispatch = std::mem::take(&mut *self.io_dispatch.borrow_mut());
        let mut io = self.io.borrow_mut();
        for event in events.iter() {
            if event.token() == WAKER_TOKEN {
                // The remote queue's jobs are drained in phase 4 anyway.
                if parked {
                    bump(&self.counters.remote_wakeups);
                }
                continue;
            }
            bump(&self.counters.io_events);
            io.dispatch(event, &mut dispatch);
        }
        drop(io);
        drop(events);
        self.run_dispatch(&mut dispatch);
        *self.io_dispatch.borrow_mut() = dispatch;
        if let (true, Some(tracer)) = (TRACE, &self.trace) {
            let n = self.counters.iterations.get();
            let poll = What::Phase {
                name: "poll",
                items: None,
            };
            tracer.record(poll, n, trace_start, polled_at);
            if got_events {
                let io = What::Phase {
                    name: "io",
                    items: None,
                };
                tracer.record(io, n, polled_at, tracer.now());
            }
        }
        got_events
    }

    /// Phase 3, after the borrows: wake the waiting tasks, queue the
    /// level-triggered fd callbacks (each re-arms its fd when it has run).
    fn run_dispatch(&self, dispatch: &mut Dispatch) {
        for w in dispatch.wakers.drain(..) {
            self.wake_isolated(w);
        }
        let mut ready = self.sched.ready().borrow_mut();
        for (key, cb) in dispatch.callbacks.drain(..) {
            let location = cb.at;
            let f = move || {
                (cb.f.borrow_mut())();
                if let Some(core) = super::current() {
                    core.rearm_fd(key);
                }
            };
            ready.push(Runnable::Callback(Callback {
                f: InlineFn::new(f),
                location,
            }));
        }
    }

    /// Phase 4: move the jobs queued by other threads onto the ready queue:
    /// at most [`REMOTE_DRAIN_LIMIT`] of them, so that a flood from other
    /// threads cannot keep the loop here (the rest waits for the next
    /// iteration). Returns whether there was any.
    #[inline(always)]
    pub(super) fn drain_remote(&self) -> bool {
        // Two loads: the queue's `len` is a retry loop over its indices, a
        // cost every iteration would pay while no other thread sends.
        if !self.shared().has_jobs() {
            return false;
        }
        let queued = self.shared().len();
        Counters::high_water(&self.counters.remote_high_water, queued);
        if queued > REMOTE_DRAIN_LIMIT {
            bump(&self.counters.remote_drains_cut);
        }
        let n = queued.min(REMOTE_DRAIN_LIMIT);
        self.judge(self.watch.stamp()); // the items before are done
        let mut ready = self.sched.ready().borrow_mut();
        for _ in 0..n {
            bump(&self.counters.remote_jobs);
            match self.shared().pop() {
                Some(RemoteJob::Call(f, location)) => {
                    let f = f.into_inner();
                    ready.push(Runnable::Callback(Callback { f, location }));
                }
                Some(RemoteJob::Wake(task)) => {
                    if let Some(entry) = self.sched.arrived(task) {
                        ready.push(Runnable::task(entry));
                    }
                }
                None => break,
            }
        }
        drop(ready);
        self.shared().room_made();
        true
    }

    /// Phase 5: advance the wheel to now; expired callbacks join the ready
    /// queue in (deadline, insertion) order, sleeping tasks are woken.
    /// Returns whether any timer expired.
    ///
    /// A pending timer far away must not make every busy iteration read the
    /// precise clock (≈ 23 ns) and end the watch's stretch: real programs
    /// always have one (a keep-alive, a request timeout). So on an
    /// iteration that did not poll, the phase first asks the coarse clock
    /// (≈ 3 ns) whether the earliest deadline may have come
    /// (`Clock::surely_before`), and stops there if not. After a poll (the
    /// loop may have slept, and then the precise reading is cheap beside
    /// the syscall) it always reads the precise clock. Skipping never makes
    /// a timer early, and a coarse clock that lagged beyond its bound would
    /// only delay a timer to the next poll (at most `IO_POLL_INTERVAL`
    /// iterations).
    #[inline(always)]
    fn fire_timers(&self, polled: bool) -> bool {
        if self.expired_left() {
            self.judge(self.watch.stamp()); // the items before are done
            return self.expire_some();
        }
        if self.timers.borrow().pending() == 0 {
            return false; // no clock read while no timer is pending
        }
        if !polled && self.clock.surely_before(self.next_timer.get()) {
            return false;
        }
        self.judge(self.watch.stamp()); // the items before are done
        let now = self.now();
        let mut expired = self.expired.borrow_mut();
        let mut timers = self.timers.borrow_mut();
        timers.advance_at_most(now, &mut expired, TIMER_EXPIRY_LIMIT);
        self.next_timer
            .set(timers.next_expiration().unwrap_or(u64::MAX));
        drop((timers, expired));
        self.expire_some()
    }

    /// Whether expired timers wait for a later iteration's phase 5.
    #[inline]
    pub(super) fn expired_left(&self) -> bool {
        self.expired_waiting.get()
    }

    /// Hands the next [`TIMER_EXPIRY_LIMIT`] expired timers to the ready
    /// queue (callbacks) or wakes their tasks (sleeps); returns whether
    /// there were any.
    fn expire_some(&self) -> bool {
        let (from, len) = (self.expired_done.get(), self.expired.borrow().len());
        let to = len.min(from + TIMER_EXPIRY_LIMIT);
        for i in from..to {
            self.prefetch_expiring(i);
            let key = self.expired.borrow()[i];
            self.expire(key);
        }
        if to == len {
            self.expired.borrow_mut().clear();
            self.expired_done.set(0);
        } else {
            self.expired_done.set(to);
        }
        self.expired_waiting.set(to < len);
        to > from
    }

    /// Before the `i`-th expired timer: asks for the wheel entry of the
    /// one [`EXPIRY_PREFETCH_AHEAD`] × 2 further, and for the task of the
    /// one `EXPIRY_PREFETCH_AHEAD` further (its entry, asked for that
    /// many timers ago, has arrived by now).
    #[inline(always)]
    fn prefetch_expiring(&self, i: usize) {
        let expired = self.expired.borrow();
        let timers = self.timers.borrow();
        if let Some(&far) = expired.get(i + 2 * EXPIRY_PREFETCH_AHEAD) {
            timers.prefetch(far);
        }
        if let Some(&near) = expired.get(i + EXPIRY_PREFETCH_AHEAD) {
            if let Some(TimerEntry::Waker(w)) = timers.get(near) {
                w.prefetch();
            }
        }
    }

    fn expire(&self, key: TimerKey) {
        let mut timers = self.timers.borrow_mut();
        match timers.get(key) {
            // Cancelled while it waited for its turn in a later iteration.
            None => {}
            Some(TimerEntry::Waker(_)) => {
                bump(&self.counters.timers_fired);
                let entry = timers.remove(key);
                drop(timers);
                if let Some(TimerEntry::Waker(w)) = entry {
                    self.wake_isolated(w);
                }
            }
            Some(TimerEntry::Callback(_)) => {
                bump(&self.counters.timers_fired);
                drop(timers);
                self.sched.ready().borrow_mut().push(Runnable::timer(key));
            }
        }
    }

    /// Phase 6: run exactly the entries that are ready now; what they
    /// schedule runs in the next iteration (asyncio's snapshot rule).
    /// Timed in stretches (see `watch.rs`): a clock read after every 64
    /// items, not per item. Returns how many entries there were.
    #[inline(always)]
    pub(super) fn run_ready<const TRACE: bool>(&self) -> usize {
        let n = self.sched.ready().borrow().len();
        if n == 0 {
            return 0;
        }
        Counters::high_water(&self.counters.ready_high_water, n);
        let mut left = n;
        while left > 0 {
            if !self.watch.stretch_open() {
                self.watch.begin(self.peek_ready());
            }
            let k = left.min(self.watch.room());
            left -= k;
            if TRACE {
                self.run_entries_traced(k);
            } else {
                self.run_entries(k);
            }
            if self.watch.ran(k) {
                self.judge(self.watch.stamp());
            }
        }
        n
    }

    /// Runs the next `count` entries of the ready queue (fewer if it
    /// empties).
    #[inline(never)]
    pub(super) fn run_entries(&self, count: usize) {
        for _ in 0..count {
            let Some(runnable) = self.sched.ready().borrow_mut().pop() else {
                break;
            };
            match runnable {
                Runnable::Callback(cb) => self.run_callback(cb),
                Runnable::Other(Other::Task(task)) => self.run_task(task),
                Runnable::Other(Other::Timer(key)) => {
                    let entry = self.timers.borrow_mut().remove(key);
                    if let Some(TimerEntry::Callback(cb)) = entry {
                        self.run_callback(cb);
                    }
                }
                Runnable::Other(Other::Cancelled) => {}
            }
        }
    }

    /// What the next entry of the ready queue is and where it was
    /// scheduled (a task: spawned), to name a stretch that begins with it;
    /// `None` for a cancelled entry.
    pub(super) fn peek_ready(&self) -> Option<Ran> {
        let (task, at) = match self.sched.ready().borrow().front()? {
            Runnable::Callback(cb) => (false, cb.location),
            Runnable::Other(Other::Task(entry)) => (true, entry.view().location()),
            Runnable::Other(Other::Timer(key)) => match self.timers.borrow().get(*key)? {
                TimerEntry::Callback(cb) => (false, cb.location),
                TimerEntry::Waker(_) => return None,
            },
            Runnable::Other(Other::Cancelled) => return None,
        };
        Some(Ran { task, at })
    }

    fn run_callback(&self, cb: Callback) {
        bump(&self.counters.callbacks_run);
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| cb.f.call())) {
            self.report(ExceptionSource::Callback, cb.location, payload);
        }
    }
}
