//! The loop-thread state of an event loop and the one iteration that drives
//! it ([`Core::run_once`]).
//!
//! Everything here is touched only by the loop's thread; what other threads
//! may touch lives in [`Shared`](crate::remote::Shared). State sits in
//! separate `RefCell`s, and no borrow is ever held while user code runs
//! (callbacks, polls, `Drop`s, the exception handler): user code may
//! re-enter the loop at any time.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Duration;

use slab::Slab;

use crate::callback::InlineFn;
use crate::clock::Clock;
use crate::error::{LoopClosed, RunError};
use crate::exception::{drop_payload, print_default, Exception, ExceptionSource};
use crate::executor::ThreadPool;
use crate::io::signal::Signals;
use crate::io::sources::{Dispatch, IoKey, Sources};
use crate::ready::{Callback, ReadyQueue, Runnable};
use crate::remote::{RemoteJob, Shared};
use crate::stats::{bump, Counters, Stats};
use crate::sys::timerfd::TimerFd;
use crate::task::{JoinWaiter, LocalRef, Payload, RawTask, Task, TaskInfo, TaskPtr, TaskState};
use crate::timer::{TimerKey, Wheel};
use crate::trace::{Tracer, What};
use crate::watch::{Lag, Ran, Verdict, Watch};

/// The token of the `mio::Waker` of the remote queue. I/O sources use
/// tokens built from a slab key, which never reach `usize::MAX`.
pub(crate) const WAKER_TOKEN: mio::Token = mio::Token(usize::MAX);

/// While ready work is waiting, poll for I/O (with a zero timeout) only once
/// every this many iterations: an `epoll_wait` costs ~150 ns here, more than
/// a whole hop between two tasks. 61 is tokio's `event_interval`; a prime,
/// so it does not beat with periodic workloads. Bounds I/O latency under
/// load to 61 iterations.
const IO_POLL_INTERVAL: u64 = 61;

/// How many I/O operations one poll of a task may complete before the
/// next ready one makes it yield (tokio's coop budget is 128 too). An
/// operation on a socket that is always ready (a peer that streams as fast
/// as it is read) never returns `Pending` on its own, so without a budget
/// one task could hold the loop for as long as the peer keeps up: no
/// timer, no other task, no I/O poll in between. Past the budget the
/// operation wakes the task and returns `Pending`: the task goes to the
/// back of the ready queue and everything queued before it runs first.
pub(crate) const TASK_IO_BUDGET: u32 = 128;

/// The budget outside a task poll (a callback that polls an I/O future
/// by hand): not limited.
const NO_IO_BUDGET_LIMIT: u32 = u32::MAX;

/// The most remote jobs (threadsafe calls, cross-thread wakes) one
/// iteration takes from the remote queue. Draining everything that was
/// queued when the drain began bounds nothing: four threads can queue
/// millions of jobs while the loop is busy or not running, and one
/// iteration would then run for seconds with no timer and no I/O. Past
/// this count the rest waits for the next iteration, after the ready
/// phase, and the timers of that iteration. 1,024 is the I/O phase's
/// event capacity too: an iteration takes at most that many of each.
pub(crate) const REMOTE_DRAIN_LIMIT: usize = 1024;

/// The default timer tick: 1 ms, in nanoseconds (the wheel's unit).
pub(crate) const DEFAULT_TICK_NS: u64 = 1_000_000;

/// What a timer does when it expires.
pub(crate) enum TimerEntry {
    /// `call_later` / `call_at`: queue the callback.
    Callback(Callback),
    /// `sleep` / `wait_for`: wake the task.
    Waker(Waker),
}

/// The exception handler, shared out of its `RefCell` before it is called.
pub(crate) type Handler = Rc<dyn Fn(&Exception<'_>)>;

pub(crate) struct Core {
    ready: RefCell<ReadyQueue>,
    timers: RefCell<Wheel<TimerEntry>>,
    /// Every task whose future is alive; each entry owns a reference.
    tasks: RefCell<Slab<LocalRef>>,
    /// The task being polled, if any.
    current_task: Cell<Option<TaskPtr>>,
    /// I/O operations the task being polled may still complete
    /// ([`TASK_IO_BUDGET`]).
    io_budget: Cell<u32>,
    /// Scratch buffer for the keys of expired timers (kept to avoid allocating).
    expired: RefCell<Vec<TimerKey>>,
    pub(crate) poll: RefCell<mio::Poll>,
    events: RefCell<mio::Events>,
    /// Registered I/O sources (phase 3 dispatches to them).
    pub(crate) io: RefCell<Sources>,
    /// Scratch: what phase 3 wakes and queues, after its borrows end.
    io_dispatch: RefCell<Dispatch>,
    /// Raw fds watched by `add_reader` / `add_writer`.
    pub(crate) fds: RefCell<HashMap<RawFd, IoKey>>,
    /// Signal callbacks and the self-pipe (`io::signal`).
    signals: RefCell<Signals>,
    shared: Arc<Shared>,
    clock: Clock,
    counters: Counters,
    /// Busy and blocked time, slow items, lag (`watch.rs`).
    watch: Watch,
    /// `Builder::debug`.
    debug: bool,
    /// `Builder::trace`: the recorder.
    trace: Option<Tracer>,
    running: Cell<bool>,
    stopping: Cell<bool>,
    pub(crate) closed: Cell<bool>,
    handler: RefCell<Option<Handler>>,
    /// `LoopFuture`s that a `ThreadsafeSetter` may complete, by id.
    setters: RefCell<Slab<(u64, Box<dyn Any>)>>,
    setter_generation: Cell<u64>,
    /// Work in flight on other threads that virtual time must wait for.
    external: Cell<usize>,
    /// High-resolution mode: the timerfd (made on first use, registered as
    /// a source) and the deadline it is armed for (`u64::MAX`: none).
    timerfd: RefCell<Option<TimerFd>>,
    timerfd_deadline: Cell<u64>,
    high_resolution: bool,
    /// The built-in pool, started on first use.
    executor: RefCell<Option<Arc<ThreadPool>>>,
    executor_threads: usize,
}

/// Identifies a registered `LoopFuture` for a `ThreadsafeSetter`: a slab key
/// and a generation, so an id never reaches a later registration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SetterId {
    key: usize,
    generation: u64,
}

/// Settings fixed at construction (see [`Builder`](crate::Builder)).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) virtual_time: bool,
    pub(crate) tick_ns: u64,
    /// Wait for timers on a timerfd instead of epoll's millisecond timeout.
    pub(crate) high_resolution: bool,
    pub(crate) events_capacity: usize,
    pub(crate) executor_threads: Option<usize>,
    /// `Builder::spin_before_park` (zero: off).
    pub(crate) spin: Duration,
    /// `Builder::slow_callback_duration` (`None`: never report).
    pub(crate) slow_callback: Option<Duration>,
    /// `Builder::debug`.
    pub(crate) debug: bool,
    /// `Builder::trace`: where to write the trace.
    pub(crate) trace: Option<PathBuf>,
    /// `Builder::threadsafe_capacity` (`None`: unbounded).
    pub(crate) threadsafe_capacity: Option<usize>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            virtual_time: false,
            tick_ns: DEFAULT_TICK_NS,
            high_resolution: false,
            events_capacity: 1024,
            executor_threads: None,
            spin: Duration::ZERO,
            slow_callback: Some(crate::watch::DEFAULT_SLOW),
            debug: false,
            trace: None,
            threadsafe_capacity: None,
        }
    }
}

impl Core {
    pub(crate) fn new(config: &Config) -> io::Result<Core> {
        let poll = mio::Poll::new()?;
        #[cfg(not(evloop_loom))]
        let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
        #[cfg(evloop_loom)]
        let waker = crate::sync::shim::Signal::default();
        Ok(Core {
            ready: RefCell::default(),
            timers: RefCell::new(Wheel::new(config.tick_ns)),
            tasks: RefCell::default(),
            current_task: Cell::new(None),
            io_budget: Cell::new(NO_IO_BUDGET_LIMIT),
            expired: RefCell::default(),
            poll: RefCell::new(poll),
            events: RefCell::new(mio::Events::with_capacity(config.events_capacity)),
            io: RefCell::default(),
            io_dispatch: RefCell::default(),
            fds: RefCell::default(),
            signals: RefCell::default(),
            shared: Arc::new(Shared::new(waker, config.spin, config.threadsafe_capacity)),
            clock: Clock::new(config.virtual_time),
            counters: Counters::default(),
            // Tracing times every item on the precise clock, as debug mode.
            watch: Watch::new(config.slow_callback, config.debug || config.trace.is_some()),
            debug: config.debug,
            trace: config.trace.clone().map(Tracer::new),
            running: Cell::new(false),
            stopping: Cell::new(false),
            closed: Cell::new(false),
            handler: RefCell::new(None),
            setters: RefCell::default(),
            setter_generation: Cell::new(0),
            external: Cell::new(0),
            executor: RefCell::new(None),
            timerfd: RefCell::new(None),
            timerfd_deadline: Cell::new(u64::MAX),
            high_resolution: config.high_resolution,
            executor_threads: config
                .executor_threads
                .unwrap_or_else(ThreadPool::default_size),
        })
    }

    pub(crate) fn signals(&self) -> &RefCell<Signals> {
        &self.signals
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// For hosts: how long until the loop has something to do. `Some(0)`
    /// when work is ready, the time to the next timer otherwise, `None` if
    /// only I/O or other threads can bring work (watch the poll fd).
    pub(crate) fn next_timeout(&self) -> Option<Duration> {
        if !self.ready.borrow().is_empty() || self.stopping.get() || self.shared.len() != 0 {
            return Some(Duration::ZERO);
        }
        let next = self.timers.borrow().next_expiration()?;
        Some(Duration::from_nanos(next.saturating_sub(self.now())))
    }

    /// The epoll fd: readable when I/O or remote work is waiting.
    pub(crate) fn poll_fd(&self) -> RawFd {
        use std::os::fd::AsRawFd;
        self.poll.borrow().as_raw_fd()
    }

    /// The loop's clock, read and counted.
    pub(crate) fn now(&self) -> u64 {
        bump(&self.counters.clock_reads);
        self.clock.now()
    }

    pub(crate) fn stats(&self) -> Stats {
        let executor = self
            .executor
            .borrow()
            .as_ref()
            .map_or(0, |p| p.most_in_flight());
        self.counters.snapshot(self.watch.times(), executor)
    }

    pub(crate) fn is_running(&self) -> bool {
        self.running.get()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }

    pub(crate) fn stop(&self) {
        self.stopping.set(true);
    }

    /// `run_once` returned to its caller: a stop request is satisfied.
    pub(crate) fn stop_handled(&self) {
        self.stopping.set(false);
    }

    // ---- running -----------------------------------------------------------

    /// Marks the loop running on this thread until the guard drops.
    pub(crate) fn enter(self: &Rc<Self>) -> Result<Running, RunError> {
        if self.closed.get() {
            return Err(RunError::Closed);
        }
        let guard = crate::context::enter(self).ok_or(RunError::AlreadyRunning)?;
        self.running.set(true);
        self.shared.unpark();
        self.watch.resume();
        Ok(Running {
            core: self.clone(),
            _guard: guard,
        })
    }

    /// Runs iterations until `stop()` (asyncio's `run_forever`).
    pub(crate) fn run_forever(self: &Rc<Self>) -> Result<(), RunError> {
        let _running = self.enter()?;
        loop {
            self.run_once(None);
            if self.stopping.get() {
                break;
            }
        }
        self.run_ends();
        self.stopping.set(false);
        Ok(())
    }

    /// A public entry point is about to return: the items since the last
    /// stamp are judged now, before the stop request is cleared (the
    /// handler may call `stop()`).
    pub(crate) fn run_ends(&self) {
        self.judge(self.watch.stamp());
    }

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
        let fired = self.fire_timers(); //               phase 5: expired timers → ready
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

    /// Tracing: the time now, into `mark`.
    #[inline(always)]
    fn trace_mark<const TRACE: bool>(&self, mark: &mut u64) {
        if let (true, Some(tracer)) = (TRACE, &self.trace) {
            *mark = tracer.now();
        }
    }

    /// `Builder::trace`: records the iteration that just ran, and each of
    /// phases 4–6 that did something; `marks` are the times at the start
    /// and after each phase.
    #[cold]
    fn trace_iteration(&self, marks: [u64; 5], drained: bool, fired: bool, items: usize) {
        let Some(tracer) = &self.trace else {
            return;
        };
        let n = self.counters.iterations.get();
        let phases = [
            ("remote", drained, None),
            ("timers", fired, None),
            ("ready", items > 0, Some(items)),
        ];
        for (i, (name, ran, items)) in phases.into_iter().enumerate() {
            if ran {
                tracer.record(What::Phase { name, items }, n, marks[i + 1], marks[i + 2]);
            }
        }
        tracer.record(What::Iteration, n, marks[0], marks[4]);
    }

    /// Phases 1–3. Skipped on most iterations while work is ready (the
    /// syscall rule), so a busy loop neither polls nor reads the clock.
    /// Returns whether it polled.
    #[inline(always)]
    fn poll_io<const TRACE: bool>(&self, max_wait: Option<Duration>) -> bool {
        if (!self.ready.borrow().is_empty() || self.stopping.get())
            && self.counters.iterations.get() % IO_POLL_INTERVAL != 0
        {
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
        let timeout = if !self.ready.borrow().is_empty() || self.stopping.get() {
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
        let timeout = if blocking && !self.shared.park() {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        let parked = timeout != Some(Duration::ZERO);
        if parked {
            bump(&self.counters.parks);
        }
        let got_events = self.poll_events::<TRACE>(timeout, parked);
        self.watch.poll_ends(parked);
        if blocking {
            self.shared.unpark();
        }
        if self.clock.is_virtual() && !got_events && self.shared.len() == 0 {
            self.advance_virtual_clock(max_wait);
        }
        true
    }

    /// `spin_before_park`: before sleeping in `epoll_wait` (for at least
    /// the spin time), watch the remote queue for up to the spin time;
    /// `true` if a job came. The loop is not parked meanwhile, so senders
    /// skip the eventfd write, and the job is taken without a wake-up.
    fn spin_for_remote_work(&self, timeout: Option<Duration>) -> bool {
        let spin = self.shared.spin;
        if timeout.is_some_and(|t| t <= spin) {
            return false;
        }
        crate::sync::spin::spin_until(spin, || self.shared.has_jobs())
    }

    /// How long to block when nothing is ready: until the next timer, capped
    /// by the caller's `max_wait`. Virtual time never blocks for a timer.
    fn idle_timeout(&self, max_wait: Option<Duration>) -> Option<Duration> {
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
            let mut source = mio::unix::SourceFd(&std::os::fd::AsRawFd::as_raw_fd(&fd));
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
    fn advance_virtual_clock(&self, max_wait: Option<Duration>) {
        if !self.ready.borrow().is_empty() || self.external.get() != 0 {
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
        let mut ready = self.ready.borrow_mut();
        for (key, cb) in dispatch.callbacks.drain(..) {
            let location = cb.at;
            let f = move || {
                (cb.f)();
                if let Some(core) = crate::context::current() {
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
    fn drain_remote(&self) -> bool {
        let queued = self.shared.len();
        if queued == 0 {
            return false;
        }
        Counters::high_water(&self.counters.remote_high_water, queued);
        if queued > REMOTE_DRAIN_LIMIT {
            bump(&self.counters.remote_drains_cut);
        }
        let n = queued.min(REMOTE_DRAIN_LIMIT);
        self.judge(self.watch.stamp()); // the items before are done
        let mut ready = self.ready.borrow_mut();
        for _ in 0..n {
            bump(&self.counters.remote_jobs);
            match self.shared.pop() {
                Some(RemoteJob::Call(f, location)) => {
                    let f = f.into_inner();
                    ready.push(Runnable::Callback(Callback { f, location }));
                }
                Some(RemoteJob::Wake(task)) => {
                    // SAFETY: this is the thread of the loop that owns the
                    // task (its waker sent it to this loop's queue).
                    let task = unsafe { task.into_local() };
                    task.clear_remote_scheduled();
                    // SAFETY: as above.
                    if unsafe { task.claim_schedule() } {
                        ready.push(Runnable::Task(task.as_ptr()));
                    }
                }
                None => break,
            }
        }
        drop(ready);
        self.shared.room_made();
        true
    }

    /// Phase 5: advance the wheel to now; expired callbacks join the ready
    /// queue in (deadline, insertion) order, sleeping tasks are woken.
    /// Returns whether any timer expired.
    #[inline(always)]
    fn fire_timers(&self) -> bool {
        if self.timers.borrow().pending() == 0 {
            return false; // no clock read while no timer is pending
        }
        self.judge(self.watch.stamp()); // the items before are done
        let now = self.now();
        let mut expired = std::mem::take(&mut *self.expired.borrow_mut());
        self.timers.borrow_mut().advance(now, &mut expired);
        let fired = !expired.is_empty();
        for key in expired.drain(..) {
            self.expire(key);
        }
        *self.expired.borrow_mut() = expired;
        fired
    }

    fn expire(&self, key: TimerKey) {
        bump(&self.counters.timers_fired);
        let mut timers = self.timers.borrow_mut();
        if let Some(TimerEntry::Waker(_)) = timers.get(key) {
            let entry = timers.remove(key);
            drop(timers);
            if let Some(TimerEntry::Waker(w)) = entry {
                self.wake_isolated(w);
            }
        } else {
            drop(timers);
            self.ready.borrow_mut().push(Runnable::Timer(key));
        }
    }

    /// Phase 6: run exactly the entries that are ready now; what they
    /// schedule runs in the next iteration (asyncio's snapshot rule).
    /// Timed in stretches (see `watch.rs`): a clock read after every 64
    /// items, not per item. Returns how many entries there were.
    #[inline(always)]
    fn run_ready<const TRACE: bool>(&self) -> usize {
        let n = self.ready.borrow().len();
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
    fn run_entries(&self, count: usize) {
        for _ in 0..count {
            let Some(runnable) = self.ready.borrow_mut().pop() else {
                break;
            };
            match runnable {
                Runnable::Callback(cb) => self.run_callback(cb),
                Runnable::Task(task) => self.run_task(task),
                Runnable::Timer(key) => {
                    let entry = self.timers.borrow_mut().remove(key);
                    if let Some(TimerEntry::Callback(cb)) = entry {
                        self.run_callback(cb);
                    }
                }
                Runnable::Cancelled => {}
            }
        }
    }

    /// What the next entry of the ready queue is and where it was
    /// scheduled (a task: spawned), to name a stretch that begins with it;
    /// `None` for a cancelled entry.
    fn peek_ready(&self) -> Option<Ran> {
        let (task, at) = match self.ready.borrow().front()? {
            Runnable::Callback(cb) => (false, cb.location),
            // SAFETY: a queued task is alive (invariant 2 in `task/raw.rs`);
            // loop thread; reading the location runs no user code.
            Runnable::Task(ptr) => (true, unsafe { ptr.location() }),
            Runnable::Timer(key) => match self.timers.borrow().get(*key)? {
                TimerEntry::Callback(cb) => (false, cb.location),
                TimerEntry::Waker(_) => return None,
            },
            Runnable::Cancelled => return None,
        };
        Some(Ran { task, at })
    }

    fn run_callback(&self, cb: Callback) {
        bump(&self.counters.callbacks_run);
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| cb.f.call())) {
            self.report(ExceptionSource::Callback, cb.location, payload);
        }
    }

    /// `run_entries` for `Builder::trace`: the stride is one item, recorded
    /// with where it came from.
    #[cold]
    fn run_entries_traced(&self, count: usize) {
        let Some(tracer) = &self.trace else {
            return self.run_entries(count);
        };
        let label = self.trace_label();
        let start = tracer.now();
        self.run_entries(count);
        if let Some(what) = label {
            tracer.record(what, self.counters.iterations.get(), start, tracer.now());
        }
    }

    /// What the next entry of the ready queue is, for the trace (taken
    /// before it runs: a task may be gone afterwards).
    fn trace_label(&self) -> Option<What> {
        let task = match self.ready.borrow().front()? {
            Runnable::Task(ptr) => Some(*ptr),
            _ => None,
        };
        let Some(ptr) = task else {
            // A callback: where it was scheduled, as the stopwatch sees it.
            return self.peek_ready().map(|ran| What::Callback(ran.at));
        };
        // SAFETY: a queued task is alive (invariant 2 in `task/raw.rs`);
        // loop thread.
        let task = unsafe { ptr.borrow() };
        // SAFETY: as above; no user code inside.
        let (id, at) = unsafe { task.with_local(|l| (l.id, l.location)) };
        let name = self.shared.task_names.get(id);
        Some(What::Task { id, name, at })
    }

    /// Polls the task of a ready-queue entry once (or drops its future if
    /// cancelled).
    fn run_task(&self, ptr: TaskPtr) {
        // SAFETY: a queued task is alive (invariant 2 in `task/raw.rs`):
        // the registry holds it while it is not complete, and the entry
        // owns a reference once it is. Loop thread; nothing else polls it.
        let task = unsafe { ptr.borrow() };
        // SAFETY: as above; no user code inside.
        unsafe { task.with_local(|l| l.scheduled = false) };
        if task.is_complete() {
            // SAFETY: the entry of a completed task owns a reference.
            drop(unsafe { ptr.into_owned() });
            return; // a stale wake
        }
        bump(&self.counters.tasks_polled);
        // SAFETY: as above.
        if unsafe { task.with_local(|l| l.cancel_requested) } {
            // SAFETY: as above; the task is not complete.
            if let Some(payload) = unsafe { task.cancel() } {
                self.report(ExceptionSource::Drop, task_location(&task), payload);
            }
            return self.finish(&task);
        }
        let waker = task.waker_ref();
        let mut cx = Context::from_waker(&waker);
        // Polls never nest (the loop cannot be re-entered), so no outer
        // task to restore.
        self.current_task.set(Some(ptr));
        self.io_budget.set(TASK_IO_BUDGET);
        // SAFETY: as above; no other poll of this task is in progress.
        let ready = unsafe { task.poll(&mut cx) }.is_ready();
        self.io_budget.set(NO_IO_BUDGET_LIMIT);
        self.current_task.set(None);
        if ready {
            self.finish(&task);
        }
    }

    /// Reports what a stamp of the stopwatch found, if anything.
    #[inline]
    fn judge(&self, verdict: Verdict) {
        match verdict {
            Verdict::Fine => return,
            Verdict::Slow { item, took } => self.report_slow(item, took),
            Verdict::Lag { first, items, took } => self.report_slow_stretch(first, items, took),
        }
        // The handler's time is charged to no item.
        self.watch.handler_done();
    }

    /// One callback or task poll held the loop for `took`.
    #[cold]
    fn report_slow(&self, item: Ran, took: Duration) {
        let (source, what) = if item.task {
            (ExceptionSource::SlowTask, "one poll of the task")
        } else {
            (ExceptionSource::SlowCallback, "the callback")
        };
        let threshold = self.watch.threshold();
        let message =
            format!("{what} held the loop for {took:?} (slow_callback_duration: {threshold:?})");
        self.report(source, item.at, Box::new(message));
    }

    /// A stretch of several items held the loop for `took`: loop lag,
    /// named by the first item; the stopwatch now times items one by one.
    #[cold]
    fn report_slow_stretch(&self, first: Option<Ran>, items: usize, took: Duration) {
        let what = first.map_or("a cancelled entry", Ran::what);
        let message = format!(
            "{items} items in a row, from {what}, held the loop for {took:?} \
             (slow_callback_duration: {:?}); timing each of the next {} items to name a slow one",
            self.watch.threshold(),
            crate::watch::ZOOM,
        );
        let at = first.map_or(Location::caller(), |r| r.at);
        self.report(ExceptionSource::LoopLag, at, Box::new(message));
    }

    /// `Builder::trace`: the loop closed, write what was recorded. An error
    /// is reported on stderr: `close()` itself succeeded.
    fn write_trace(&self) {
        if let Some(tracer) = &self.trace {
            if let Err(e) = tracer.write() {
                crate::exception::print_line(format_args!(
                    "evloop: could not write the trace: {e}"
                ));
            }
        }
    }

    /// Debug mode: `task` is destroyed by `close()` while pending.
    #[cold]
    fn report_pending_destroyed(&self, task: &RawTask) {
        let message = "the loop closed while the task was pending; its future is dropped \
                       (await or cancel tasks before closing)";
        self.report(
            ExceptionSource::PendingTaskDestroyed,
            task_location(task),
            Box::new(message.to_string()),
        );
    }

    /// The loop went the threshold or longer without polling for I/O, and
    /// no single slow item or stretch was reported for it.
    #[cold]
    fn report_lag(&self, lag: Lag) {
        let first = lag
            .first
            .map_or(String::new(), |r| format!(", the first {}", r.what()));
        let message = format!(
            "the loop did not poll for I/O for {:?} (slow_callback_duration: {:?}): \
             {:?} in its own phases (I/O dispatch, threadsafe jobs, expiring timers), \
             the rest running {} items{first}",
            lag.took,
            self.watch.threshold(),
            lag.own,
            lag.items,
        );
        // With no item to name, the location is the loop's own code.
        let at = lag.first.map_or(Location::caller(), |r| r.at);
        self.report(ExceptionSource::LoopLag, at, Box::new(message));
    }

    /// The future is gone: mark the task complete, leave the registry, wake
    /// whoever awaits it; a detached task's output is dropped here (and a
    /// panic nobody will read goes to the exception handler). `task` may be
    /// a borrowed view: it is not used after the registry's reference goes.
    fn finish(&self, task: &RawTask) {
        task.set_complete();
        // SAFETY: loop thread; the closure runs no user code.
        let (key, join, detached, at, named) = unsafe {
            task.with_local(|l| {
                (
                    l.registry_key,
                    std::mem::replace(&mut l.join_waiter, JoinWaiter::None),
                    !l.handle_alive,
                    l.location,
                    l.named,
                )
            })
        };
        if named {
            // SAFETY: loop thread; no user code inside.
            self.shared
                .task_names
                .forget(unsafe { task.with_local(|l| l.id) });
        }
        let mut tasks = self.tasks.borrow_mut();
        let entry = match tasks.get(key) {
            Some(t) if t.ptr_eq(task) => Some(tasks.remove(key)),
            _ => None,
        };
        drop(tasks);
        // Hands the registry's reference over even if what follows unwinds:
        // a queued entry may stand for it (invariant 2).
        let _registry_ref = RegistryRef(entry);
        if detached {
            // SAFETY: loop thread.
            if let Some(payload) = unsafe { task.discard_output() } {
                self.report(ExceptionSource::Task, at, payload);
            }
        }
        self.wake_joiner(join);
    }

    /// Wakes `w`; a panic from another executor's waker is reported, not
    /// unwound through the loop's bookkeeping.
    fn wake_isolated(&self, w: Waker) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| w.wake())) {
            self.report(ExceptionSource::Waker, Location::caller(), payload);
        }
    }

    /// Wakes whoever awaits a finished task. A local waiter is looked up in
    /// the registry first: no reference was held (see `JoinWaiter`).
    fn wake_joiner(&self, join: JoinWaiter) {
        match join {
            JoinWaiter::None => {}
            JoinWaiter::Waker(w) => self.wake_isolated(w),
            JoinWaiter::Local { key, task } => {
                let tasks = self.tasks.borrow();
                if let Some(waiter) = tasks.get(key).filter(|t| t.as_ptr() == task) {
                    self.schedule_local(waiter);
                }
            }
        }
    }

    /// The local path of a wake (see `context::wake`): push onto the ready
    /// queue unless already queued or complete. `false` if refused (the
    /// queue is borrowed right now, or the loop is closed): the caller then
    /// takes the remote path.
    pub(crate) fn schedule_local(&self, task: &RawTask) -> bool {
        if self.closed.get() {
            return false;
        }
        let Ok(mut ready) = self.ready.try_borrow_mut() else {
            return false;
        };
        // SAFETY: the caller checked this is the owning loop's thread.
        if unsafe { task.claim_schedule() } {
            ready.push(Runnable::Task(task.as_ptr()));
        }
        true
    }

    /// Whether the task being polled may complete another I/O operation.
    pub(crate) fn io_budget_left(&self) -> bool {
        let left = self.io_budget.get() > 0;
        if !left {
            bump(&self.counters.budget_yields);
        }
        left
    }

    /// An I/O operation completed.
    pub(crate) fn spend_io_budget(&self) {
        self.io_budget.set(self.io_budget.get().saturating_sub(1));
    }

    // ---- introspection -----------------------------------------------------

    /// Every task that is not finished, by id.
    pub(crate) fn all_tasks(&self) -> Vec<TaskInfo> {
        let tasks: Vec<LocalRef> = self.tasks.borrow().iter().map(|(_, t)| t.clone()).collect();
        let mut infos: Vec<TaskInfo> = tasks.iter().map(|t| self.task_info(t)).collect();
        infos.sort_by_key(|i| i.id);
        infos
    }

    /// The task being polled, if any.
    pub(crate) fn current_task(&self) -> Option<TaskInfo> {
        let ptr = self.current_task.get()?;
        // SAFETY: a task is alive while it is being polled (the registry
        // holds it); this is the loop thread.
        let task = unsafe { ptr.borrow() };
        Some(self.task_info(&task))
    }

    pub(crate) fn task_info(&self, task: &RawTask) -> TaskInfo {
        let running = self.current_task.get().is_some_and(|p| p == task.as_ptr());
        // SAFETY: loop thread; the closure runs no user code.
        let (id, location, scheduled, cancelling) =
            unsafe { task.with_local(|l| (l.id, l.location, l.scheduled, l.cancel_requested)) };
        let state = match () {
            _ if running => TaskState::Running,
            _ if cancelling => TaskState::Cancelling,
            _ if scheduled => TaskState::Scheduled,
            _ => TaskState::Waiting,
        };
        TaskInfo {
            id,
            name: self.shared.task_names.get(id),
            location,
            state,
        }
    }

    // ---- scheduling --------------------------------------------------------

    pub(crate) fn spawn<F>(&self, future: F, at: &'static Location<'static>) -> Task<F::Output>
    where
        F: std::future::Future + 'static,
    {
        let task = RawTask::allocate(future, self.shared.clone(), at);
        if self.closed.get() {
            // Never a panic here: spawning from a `Drop` that runs during
            // `close()` must not abort the process.
            // SAFETY: loop thread; the new task is not complete.
            if let Some(payload) = unsafe { task.cancel() } {
                self.report(ExceptionSource::Drop, at, payload);
            }
            task.set_complete();
            return Task::from_raw(task);
        }
        let key = self.tasks.borrow_mut().insert(task.clone());
        // The id is the ready entry's sequence number (+ 1, so that 0 means
        // "never registered"): unique and increasing, at no extra cost.
        let seq = self.ready.borrow_mut().push(Runnable::Task(task.as_ptr()));
        // SAFETY: loop thread; no user code inside.
        unsafe {
            task.with_local(|l| {
                l.registry_key = key;
                l.id = seq + 1;
                l.scheduled = true;
            })
        };
        Task::from_raw(task)
    }

    pub(crate) fn call_soon(
        &self,
        f: InlineFn,
        location: &'static Location<'static>,
    ) -> Result<u64, LoopClosed> {
        if self.closed.get() {
            return Err(LoopClosed);
        }
        Ok(self
            .ready
            .borrow_mut()
            .push(Runnable::Callback(Callback { f, location })))
    }

    /// Cancels a queued callback; drops it after the borrow is released.
    pub(crate) fn cancel_callback(&self, seq: u64) -> bool {
        let cb = self.ready.borrow_mut().cancel(seq);
        cb.is_some()
    }

    pub(crate) fn callback_pending(&self, seq: u64) -> bool {
        self.ready.borrow().is_pending(seq)
    }

    pub(crate) fn add_timer(
        &self,
        deadline: u64,
        entry: TimerEntry,
    ) -> Result<TimerKey, LoopClosed> {
        if self.closed.get() {
            return Err(LoopClosed);
        }
        Ok(self.timers.borrow_mut().insert(deadline, entry))
    }

    /// Removes a timer; the entry is dropped after the borrow is released.
    pub(crate) fn remove_timer(&self, key: TimerKey) -> bool {
        let entry = self.timers.borrow_mut().remove(key);
        entry.is_some()
    }

    /// For `Sleep`: `None` once the timer fired (or was removed); else
    /// refreshes the stored waker. A waker of another executor is cloned,
    /// and the old one dropped, with the wheel not borrowed (either may
    /// run that executor's code, which may call back into the loop).
    pub(crate) fn refresh_timer_waker(&self, key: TimerKey, waker: &Waker) -> Option<()> {
        let current = match self.timers.borrow().get(key)? {
            TimerEntry::Waker(w) => w.will_wake(waker),
            TimerEntry::Callback(_) => return None,
        };
        if !current {
            let new = waker.clone();
            let old = match self.timers.borrow_mut().get_mut(key) {
                Some(TimerEntry::Waker(w)) => Some(std::mem::replace(w, new)),
                _ => None, // the clone fired or removed it: nothing to refresh
            };
            drop(old);
        }
        Some(())
    }

    // ---- other threads -----------------------------------------------------

    /// Counts work in flight on other threads (`+1` / `-1`).
    pub(crate) fn external_work(&self, delta: isize) {
        self.external
            .set(self.external.get().wrapping_add_signed(delta));
    }

    /// The built-in executor, started on first use.
    pub(crate) fn default_executor(&self) -> Arc<ThreadPool> {
        let mut slot = self.executor.borrow_mut();
        slot.get_or_insert_with(|| {
            Arc::new(ThreadPool::with_spin(
                self.executor_threads,
                self.shared.spin,
            ))
        })
        .clone()
    }

    /// Waits for the built-in executor's jobs and stops its threads.
    pub(crate) fn shutdown_default_executor(&self) {
        let pool = self.executor.borrow_mut().take();
        if let Some(pool) = pool {
            pool.shutdown();
            Counters::high_water(&self.counters.executor_high_water, pool.most_in_flight());
        }
    }

    /// Registers a `LoopFuture` for a threadsafe setter.
    pub(crate) fn register_setter(&self, future: Box<dyn Any>) -> SetterId {
        let generation = self.setter_generation.get() + 1;
        self.setter_generation.set(generation);
        let key = self.setters.borrow_mut().insert((generation, future));
        SetterId { key, generation }
    }

    /// Takes back the `LoopFuture` registered as `id`, if still there.
    pub(crate) fn take_setter(&self, id: SetterId) -> Option<Box<dyn Any>> {
        let mut setters = self.setters.borrow_mut();
        match setters.get(id.key) {
            Some((g, _)) if *g == id.generation => Some(setters.remove(id.key).1),
            _ => None,
        }
    }

    // ---- exceptions ----------------------------------------------------------

    pub(crate) fn set_handler(&self, handler: Option<Handler>) {
        let old = self.handler.replace(handler);
        drop(old);
    }

    pub(crate) fn report_task_panic(&self, at: &'static Location<'static>, payload: Payload) {
        self.report(ExceptionSource::Task, at, payload);
    }

    /// Hands a panic to the exception handler (or stderr). A handler that
    /// panics itself is reported on stderr; the loop keeps running.
    pub(crate) fn report(
        &self,
        source: ExceptionSource,
        at: &'static Location<'static>,
        payload: Payload,
    ) {
        let handler = self.handler.borrow().clone();
        let exception = Exception::new(source, at, &*payload);
        match handler {
            Some(h) => {
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| h(&exception))) {
                    crate::exception::print_line(format_args!(
                        "evloop: the exception handler panicked while handling: {exception}"
                    ));
                    drop_payload(p); // the handler's own payload may panic on drop too
                }
            }
            None => print_default(&exception),
        }
        drop_payload(payload);
    }

    /// Drops `value`; a panic from its `Drop` goes to the exception handler
    /// (during teardown, letting it unwind could abort the process).
    fn drop_isolated<T>(&self, value: T, at: &'static Location<'static>) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(value))) {
            self.report(ExceptionSource::Drop, at, payload);
        }
    }

    // ---- teardown ----------------------------------------------------------

    /// asyncio's `close`: drops every pending task future, callback, timer
    /// and remote job, on this thread, and refuses new work.
    pub(crate) fn close(&self, at: &'static Location<'static>) -> Result<(), RunError> {
        if self.running.get() {
            return Err(RunError::AlreadyRunning);
        }
        if self.closed.replace(true) {
            return Ok(());
        }
        self.shared.close();
        crate::io::signal::close(self);
        // Dropping user values may schedule more (a `Drop` that calls
        // `call_soon` gets `Err(LoopClosed)`, but one that wakes a task
        // still pushes it): repeat until everything is empty.
        loop {
            let tasks: Vec<LocalRef> = self.tasks.borrow_mut().drain().collect();
            let ready = self.ready.borrow_mut().take_all();
            let timers = self.timers.borrow_mut().drain();
            let remote: Vec<RemoteJob> = std::iter::from_fn(|| self.shared.pop()).collect();
            let setters: Vec<_> = self.setters.borrow_mut().drain().collect();
            let io = self.io.borrow_mut().drain();
            self.fds.borrow_mut().clear();
            if tasks.is_empty()
                && ready.is_empty()
                && timers.is_empty()
                && remote.is_empty()
                && setters.is_empty()
                && io.is_empty()
            {
                // Running jobs finish on their threads; no thread is joined.
                let pool = self.executor.borrow_mut().take();
                if let Some(pool) = &pool {
                    Counters::high_water(&self.counters.executor_high_water, pool.most_in_flight());
                }
                drop(pool);
                self.write_trace();
                return Ok(());
            }
            for task in tasks {
                let task = RegistryRef(Some(task));
                let t = task.0.as_ref().expect("just made");
                if self.debug {
                    self.report_pending_destroyed(t);
                }
                // SAFETY: loop thread; registry tasks are never complete.
                if let Some(payload) = unsafe { t.cancel() } {
                    self.report(ExceptionSource::Drop, task_location(t), payload);
                }
                self.finish(t);
            }
            for runnable in ready {
                match runnable {
                    // Every task is complete now, so each entry owns a
                    // reference (invariant 2).
                    // SAFETY: as said.
                    Runnable::Task(ptr) => drop(unsafe { ptr.into_owned() }),
                    other => self.drop_isolated(other, at),
                }
            }
            timers.into_iter().for_each(|t| self.drop_isolated(t, at));
            remote.into_iter().for_each(|j| self.drop_isolated(j, at));
            setters.into_iter().for_each(|s| self.drop_isolated(s, at));
            io.into_iter().for_each(|s| self.drop_isolated(s, at));
        }
    }
}

impl Drop for Core {
    /// The last reference went without `close()` (the owning `EventLoop`
    /// was dropped while the loop ran through a reference from
    /// `EventLoop::current()`): close now, so task futures are still
    /// dropped here, on the loop thread. `Running` holds an `Rc`, so the
    /// loop cannot be running at this point.
    fn drop(&mut self) {
        let _ = self.close(Location::caller());
    }
}

/// Marks the loop as running on this thread; undone on drop.
pub(crate) struct Running {
    core: Rc<Core>,
    _guard: crate::context::EnterGuard,
}

impl Drop for Running {
    fn drop(&mut self) {
        // The items since the last stamp end with the call.
        self.core.judge(self.core.watch.stamp());
        self.core.running.set(false);
        self.core.shared.leave();
    }
}

/// The registry's reference to a finishing task, released on drop (also
/// while unwinding) with [`release_registry_ref`].
struct RegistryRef(Option<LocalRef>);

impl Drop for RegistryRef {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            release_registry_ref(task);
        }
    }
}

/// The registry lets go of a completed task: if an entry for it is still in
/// the ready queue, the reference passes to that entry (invariant 2).
fn release_registry_ref(task: LocalRef) {
    // SAFETY: loop thread (callers are `Core` methods); no user code inside.
    if unsafe { task.with_local(|l| l.scheduled) } {
        std::mem::forget(task);
    } else {
        drop(task);
    }
}

#[cfg(all(test, evloop_loom))]
mod loom_tests;

fn task_location(task: &RawTask) -> &'static Location<'static> {
    // SAFETY: loop thread (callers are `Core` methods); no user code inside.
    unsafe { task.with_local(|l| l.location) }
}
