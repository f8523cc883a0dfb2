//! The loop-thread state of an event loop ([`Core`]) and the iteration
//! that drives it.
//!
//! One idea a file:
//!
//! - `iteration`: **`run_once`**, the phases of one iteration — the only
//!   place where callbacks run and tasks are polled;
//! - `wait`: how long an idle iteration blocks (timers, the timerfd,
//!   virtual time, spinning);
//! - `tasks`: a task's turn, its end, and what the loop tells about tasks;
//! - `work`: the other ways work gets in (callbacks, timers, values for
//!   `Send` handles, the
//!   executor);
//! - `report`: the stopwatch's verdicts, the exception handler's reports
//!   and the trace hooks;
//! - `signals`: the loop's signal state, and its teardown;
//! - `children`: orphaned child processes, and what `close()` does with them;
//! - `teardown`: `close()`.
//!
//! Everything here is touched only by the loop's thread; what other threads
//! may touch lives in the remote queue ([`Remote`]). State sits in separate
//! `RefCell`s, and no borrow is ever held while user code runs (callbacks,
//! polls, `Drop`s, the exception handler): user code may re-enter the loop
//! at any time.

mod children;
mod iteration;
mod report;
mod signals;
mod tasks;
mod teardown;
mod wait;
mod work;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use slab::Slab;

use crate::clock::Clock;
use crate::error::RunError;
use crate::executor::ThreadPool;
use crate::io::sources::{Dispatch, IoKey, Sources};
use crate::ready::Callback;
use crate::stats::{bump, Counters, Stats};
use crate::sys::timerfd::TimerFd;
use crate::task::context::{self, EnterGuard};
use crate::task::{LoopMemory, Remote, Scheduler, StoredWaker};
use crate::timer::{TimerKey, Wheel};
use crate::trace::Tracer;
use crate::watch::Watch;

pub(crate) use children::{reap_in_background, Children, Orphan};
pub(crate) use signals::{Signals, Watched};
pub(crate) use work::LoopValueId;

/// The token of the `mio::Waker` of the remote queue. I/O sources use
/// tokens built from a slab key, which never reach `usize::MAX`.
pub(crate) const WAKER_TOKEN: mio::Token = mio::Token(usize::MAX);

/// The default timer tick: 1 ms, in nanoseconds (the wheel's unit).
pub(crate) const DEFAULT_TICK_NS: u64 = 1_000_000;

/// What a timer does when it expires.
pub(crate) enum TimerEntry {
    /// `call_later` / `call_at`: queue the callback.
    Callback(Callback),
    /// `sleep` / `wait_for`: wake the task (kept without an atomic count
    /// if it is a task of this loop, see `task::StoredWaker`).
    Waker(StoredWaker),
}

/// The loop-thread state, its fields grouped by what they serve.
pub(crate) struct Core {
    // ---- the scheduler: what runs next ----------------------------------------
    /// The ready queue, the registry of tasks, the closed flag, the remote
    /// queue, task names and the exception handler (`task::Scheduler`).
    sched: Rc<Scheduler>,
    /// The registry key of the task being polled, if any.
    current_task: Cell<Option<usize>>,

    // ---- timers -------------------------------------------------------------
    timers: RefCell<Wheel<TimerEntry>>,
    /// No timer is due before this loop time: a lower bound of the earliest
    /// deadline (exact after each advance, lowered by each insert, left as
    /// it is by a removal). Lets phase 5 skip the wheel and the precise
    /// clock while the earliest timer is far away.
    next_timer: Cell<u64>,
    /// The keys of expired timers, in (deadline, insertion) order, and how
    /// many of them phase 5 has handed to the ready queue: a huge batch is
    /// handed out `TIMER_EXPIRY_LIMIT` at a time (see `iteration.rs`). The
    /// buffer is kept to avoid allocating.
    expired: RefCell<Vec<TimerKey>>,
    expired_done: Cell<usize>,
    /// Whether `expired` holds keys not yet handed out (read by every
    /// iteration, so a flag rather than a borrow and a comparison).
    expired_waiting: Cell<bool>,
    clock: Clock,
    /// Work in flight on other threads that virtual time must wait for.
    external: Cell<usize>,
    /// High-resolution mode: the timerfd (made on first use, registered as
    /// a source) and the deadline it is armed for (`u64::MAX`: none).
    timerfd: RefCell<Option<TimerFd>>,
    timerfd_deadline: Cell<u64>,
    high_resolution: bool,

    // ---- I/O ----------------------------------------------------------------
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
    /// Orphaned child processes and `SIGCHLD` waits (`process`).
    children: RefCell<Children>,

    // ---- lifecycle ----------------------------------------------------------
    running: Cell<bool>,
    stopping: Cell<bool>,
    /// Keeps finished tasks' memory on this thread while the loop lives
    /// (`task::alloc`); declared after the scheduler, so the tasks it
    /// frees are kept, then all given back with it.
    _task_memory: LoopMemory,

    // ---- other threads --------------------------------------------------------
    /// Loop-thread values that `Send` handles point to by id: the
    /// `LoopFuture`s a `ThreadsafeSetter` may complete, the values of
    /// `SendRef`s. Dropped here at close.
    values: RefCell<Slab<(u64, Box<dyn Any>)>>,
    value_generation: Cell<u64>,
    /// The built-in pool, started on first use.
    executor: RefCell<Option<Arc<ThreadPool>>>,
    executor_threads: usize,

    // ---- instruments ----------------------------------------------------------
    counters: Counters,
    /// Busy and blocked time, slow items, lag (`watch.rs`).
    watch: Watch,
    /// `Builder::debug`.
    debug: bool,
    /// `Builder::trace`: the recorder.
    trace: Option<Tracer>,
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
        let remote = Arc::new(Remote::new(waker, config.spin, config.threadsafe_capacity));
        Ok(Core {
            sched: Rc::new(Scheduler::new(remote)),
            current_task: Cell::new(None),
            timers: RefCell::new(Wheel::new(config.tick_ns)),
            next_timer: Cell::new(u64::MAX),
            expired: RefCell::default(),
            expired_done: Cell::new(0),
            expired_waiting: Cell::new(false),
            clock: Clock::new(config.virtual_time),
            external: Cell::new(0),
            timerfd: RefCell::new(None),
            timerfd_deadline: Cell::new(u64::MAX),
            high_resolution: config.high_resolution,
            poll: RefCell::new(poll),
            events: RefCell::new(mio::Events::with_capacity(config.events_capacity)),
            io: RefCell::default(),
            io_dispatch: RefCell::default(),
            fds: RefCell::default(),
            signals: RefCell::default(),
            children: RefCell::default(),
            running: Cell::new(false),
            stopping: Cell::new(false),
            _task_memory: LoopMemory::new(),
            values: RefCell::default(),
            value_generation: Cell::new(0),
            executor: RefCell::new(None),
            executor_threads: config
                .executor_threads
                .unwrap_or_else(ThreadPool::default_size),
            counters: Counters::default(),
            // Tracing times every item on the precise clock, as debug mode.
            watch: Watch::new(config.slow_callback, config.debug || config.trace.is_some()),
            debug: config.debug,
            trace: config.trace.clone().map(Tracer::new),
        })
    }

    #[inline]
    pub(crate) fn signals(&self) -> &RefCell<Signals> {
        &self.signals
    }

    #[inline]
    pub(crate) fn children(&self) -> &RefCell<Children> {
        &self.children
    }

    /// The cross-thread half: the remote queue.
    #[inline]
    pub(crate) fn shared(&self) -> &Arc<Remote> {
        self.sched.remote()
    }

    #[inline]
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The epoll fd: readable when I/O or remote work is waiting.
    pub(crate) fn poll_fd(&self) -> RawFd {
        use std::os::fd::AsRawFd;
        self.poll.borrow().as_raw_fd()
    }

    /// The loop's clock, read and counted.
    #[inline]
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

    #[inline]
    pub(crate) fn is_running(&self) -> bool {
        self.running.get()
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.sched.is_closed()
    }

    #[inline]
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
        if self.is_closed() {
            return Err(RunError::Closed);
        }
        let guard = context::enter(&self.sched, self.clone()).ok_or(RunError::AlreadyRunning)?;
        self.running.set(true);
        self.shared().unpark();
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
}

/// Marks the loop as running on this thread; undone on drop.
pub(crate) struct Running {
    core: Rc<Core>,
    _guard: EnterGuard,
}

impl Drop for Running {
    fn drop(&mut self) {
        // The items since the last stamp end with the call.
        self.core.judge(self.core.watch.stamp());
        self.core.running.set(false);
        self.core.shared().leave();
    }
}

// ---- the running loop, for the layers above ---------------------------------

/// The loop running on this thread, if any.
pub(crate) fn current() -> Option<Rc<Core>> {
    context::owner::<Core>()
}

/// The running loop, or a panic naming `function` at the caller's line.
#[track_caller]
pub(crate) fn expect_current(function: &str) -> Rc<Core> {
    match current() {
        Some(core) => core,
        None => not_running(function),
    }
}

/// The running loop's scheduler, or a panic like [`expect_current`]'s,
/// without cloning an `Rc` (the hot path of `evloop::ensure_future`).
///
/// The panic is raised here, not inside the thread-local's closure: a
/// closure does not carry `#[track_caller]`, and the panic must name the
/// user's line.
#[track_caller]
pub(crate) fn with_scheduler<R>(function: &str, f: impl FnOnce(&Rc<Scheduler>) -> R) -> R {
    match context::with_scheduler(f) {
        Some(r) => r,
        None => not_running(function),
    }
}

/// The panic of the free functions called with no loop running.
#[track_caller]
fn not_running(function: &str) -> ! {
    panic!("{function} called outside a running evloop: no evloop is running on this thread")
}

#[cfg(all(test, evloop_loom))]
mod loom_tests;
