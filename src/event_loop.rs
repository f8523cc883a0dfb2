//! [`EventLoop`] and [`run`].

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::RawFd;
use std::panic::{resume_unwind, Location};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use crate::builder::Builder;
use crate::callback::InlineFn;
use crate::core::{Core, TimerEntry};
use crate::error::{LoopClosed, RunError};
use crate::exception::Exception;
use crate::executor::{job_for, Executor, RunInExecutor};
use crate::future::LoopFuture;
use crate::handle::{Handle, TimerHandle};
use crate::io::sources::{Direction, FdCallback};
use crate::loop_handle::LoopHandle;
use crate::oneshot;
use crate::ready::Callback;
use crate::stats::Stats;
use crate::task::Task;

/// A single-threaded event loop: asyncio's `AbstractEventLoop`.
///
/// The loop owns a ready queue, a timer wheel and a mio `Poll`, and runs
/// callbacks and tasks on the thread that created it. It is `!Send`; other
/// threads reach it through a [`LoopHandle`].
///
/// The value returned by [`EventLoop::new`] or [`Builder::build`] *owns*
/// the loop: dropping it closes the loop. [`EventLoop::current`] gives a
/// *reference* to the running loop (same methods; dropping it does nothing).
///
/// ```
/// use std::time::Duration;
/// let lp = evloop::EventLoop::new();
/// lp.call_soon(|| println!("first")).unwrap();
/// lp.call_later(Duration::from_millis(1), || println!("later")).unwrap();
/// let answer = lp.run_until_complete(async {
///     evloop::sleep(Duration::from_millis(2)).await;
///     42
/// });
/// assert_eq!(answer, Ok(42));
/// ```
///
/// The loop cannot be sent to another thread:
///
/// ```compile_fail
/// let lp = evloop::EventLoop::new();
/// std::thread::spawn(move || drop(lp));
/// ```
pub struct EventLoop {
    core: Rc<Core>,
    owner: bool,
}

impl EventLoop {
    /// A loop with the default settings.
    ///
    /// # Panics
    ///
    /// If the OS refuses an epoll instance or an eventfd (out of file
    /// descriptors); [`Builder::build`] returns that error instead.
    pub fn new() -> EventLoop {
        EventLoop::builder()
            .build()
            .unwrap_or_else(|e| panic!("evloop: cannot create an event loop: {e}"))
    }

    /// A [`Builder`] to configure a loop.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The loop running on this thread (asyncio's `get_running_loop`).
    ///
    /// The value returned is a *reference* to the loop, not its owner:
    /// dropping it does not close the loop (only dropping the `EventLoop`
    /// that [`new`](EventLoop::new) or [`Builder::build`] returned does).
    /// Both are the same type so that code taking `&EventLoop` accepts
    /// either; [`close`](EventLoop::close) through a reference still works
    /// once the loop is not running.
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread; see [`EventLoop::try_current`].
    #[track_caller]
    pub fn current() -> EventLoop {
        EventLoop::reference(crate::core::expect_current("EventLoop::current"))
    }

    /// The loop running on this thread, if any.
    pub fn try_current() -> Option<EventLoop> {
        crate::core::current().map(EventLoop::reference)
    }

    /// A reference to `core` (not its owner: dropping it does nothing).
    pub(crate) fn reference(core: Rc<Core>) -> EventLoop {
        EventLoop { core, owner: false }
    }

    /// The owner of a new loop (`Builder::build`): dropping it closes the
    /// loop.
    pub(crate) fn owning(core: Rc<Core>) -> EventLoop {
        EventLoop { core, owner: true }
    }

    // ---- running -----------------------------------------------------------

    /// Runs the loop until [`stop`](EventLoop::stop) is called.
    ///
    /// Errors: `AlreadyRunning` if any evloop is running on this thread,
    /// `Closed` if the loop is closed.
    pub fn run_forever(&self) -> Result<(), RunError> {
        self.core.run_forever()
    }

    /// Runs `future` as a task until it completes, and returns its output
    /// (asyncio's `run_until_complete`).
    ///
    /// Errors: `AlreadyRunning` (called from inside a running loop),
    /// `Stopped` (`stop()` was called before the future finished: it stays
    /// scheduled as a task and runs on when the loop runs again), `Closed`.
    ///
    /// # Panics
    ///
    /// If the future panics, the panic is resumed here, as asyncio re-raises.
    #[track_caller]
    pub fn run_until_complete<F>(&self, future: F) -> Result<F::Output, RunError>
    where
        F: Future + 'static,
    {
        if self.core.is_closed() {
            return Err(RunError::Closed);
        }
        if crate::core::current().is_some() {
            return Err(RunError::AlreadyRunning);
        }
        let armed = Rc::new(Cell::new(true));
        let stop = StopWhenDone {
            core: Rc::downgrade(&self.core),
            armed: armed.clone(),
        };
        let task = self.core.spawn(
            async move {
                let _stop = stop;
                future.await
            },
            Location::caller(),
        );
        self.core.run_forever()?;
        if !task.done() {
            armed.set(false); // the task stays scheduled, but must not stop the loop later
            return Err(RunError::Stopped);
        }
        match crate::util::now_or_never(task) {
            Some(Ok(value)) => Ok(value),
            Some(Err(e)) if e.is_panic() => resume_unwind(e.into_panic()),
            _ => Err(RunError::Closed),
        }
    }

    /// Runs one iteration, blocking at most `timeout` (`None`: until
    /// something happens; `Some(Duration::ZERO)`: never blocks). For hosts
    /// that drive the loop from their own loop. A pending `stop()` request
    /// ends with it.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// lp.call_soon(|| println!("hello from the loop")).unwrap();
    /// lp.run_once(Some(std::time::Duration::ZERO)).unwrap();
    /// ```
    pub fn run_once(&self, timeout: Option<Duration>) -> Result<(), RunError> {
        let _running = self.core.enter()?;
        self.core.run_once(timeout);
        self.core.run_ends();
        self.core.stop_handled();
        Ok(())
    }

    /// For hosts that drive the loop from their own poll loop (libuv's
    /// `uv_backend_timeout`): `Some(Duration::ZERO)` when work is ready,
    /// the time until the next timer otherwise, `None` when only I/O or
    /// another thread can bring work — then wait for the loop's fd
    /// ([`AsRawFd`](std::os::fd::AsRawFd)) to become readable. Either way,
    /// then call `run_once(Some(Duration::ZERO))`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = evloop::EventLoop::new();
    /// assert_eq!(lp.next_timeout(), None);
    /// lp.call_later(Duration::from_secs(60), || {}).unwrap();
    /// // Timers fire on the first tick (1 ms) boundary at or after their deadline.
    /// assert!(lp.next_timeout().unwrap() <= Duration::from_millis(60_001));
    /// lp.call_soon(|| {}).unwrap();
    /// assert_eq!(lp.next_timeout(), Some(Duration::ZERO));
    /// ```
    pub fn next_timeout(&self) -> Option<Duration> {
        self.core.next_timeout()
    }

    /// Asks `run_forever` / `run_until_complete` to return after the current
    /// iteration. If the loop is not running, the next run does one
    /// iteration and returns.
    pub fn stop(&self) {
        self.core.stop();
    }

    /// Closes the loop (asyncio's `close`). Idempotent;
    /// `Err(AlreadyRunning)` while the loop runs (asyncio raises too).
    ///
    /// What happens to each kind of pending work:
    ///
    /// - task futures are dropped, here, on this thread; whoever awaits a
    ///   `Task` sees [`TaskError::is_cancelled`](crate::TaskError::is_cancelled);
    /// - queued callbacks, timers and accepted threadsafe jobs are dropped;
    /// - later calls are refused: `Err(Closed)` / `Err(LoopClosed)`, and
    ///   `ensure_future` returns an already-cancelled task;
    /// - [`ConcurrentFuture`](crate::ConcurrentFuture)s of unfinished work
    ///   resolve to [`ConcurrentError::LoopClosed`](crate::ConcurrentError);
    /// - executor jobs that are running finish on their threads and their
    ///   results are dropped there; the pool's threads exit when idle;
    /// - I/O: `add_reader` / `add_writer` callbacks are dropped, and the
    ///   loop's sockets stay open until dropped, but every operation on them
    ///   fails with an `io::Error` wrapping [`LoopClosed`];
    /// - child processes ([`process`](crate::process)) are not killed.
    ///   Of those whose `Child` was dropped, the ones that exited are
    ///   reaped now, and the ones still running are reaped after they
    ///   exit by an "evloop-reaper" thread (started only if there are
    ///   any). A [`Child`](crate::process::Child) still held can
    ///   `try_wait`, its `wait` fails with [`LoopClosed`], and dropping it
    ///   hands its child to a reaper thread too.
    ///
    /// What it waits for: nothing but the `call_soon_threadsafe` pushes that
    /// are in flight at that instant (a few instructions each), so that no
    /// job is accepted and then lost. It joins no thread (use
    /// [`shutdown_default_executor`](EventLoop::shutdown_default_executor)
    /// first to wait for executor jobs).
    #[track_caller]
    pub fn close(&self) -> Result<(), RunError> {
        self.core.close(Location::caller())
    }

    /// Whether the loop is running (inside `run_*`).
    pub fn is_running(&self) -> bool {
        self.core.is_running()
    }

    /// Whether the loop is closed.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// The loop's clock (asyncio's `loop.time()`): a fresh monotonic reading,
    /// or the virtual time under [`Builder::virtual_time`].
    pub fn time(&self) -> Instant {
        self.core.clock().instant()
    }

    /// Every task of this loop that has not finished, by id, with its
    /// name, spawn location and state (asyncio's `all_tasks()`).
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// let _t = lp.ensure_future(std::future::pending::<()>());
    /// for task in lp.all_tasks() {
    ///     println!("{task}"); // task 1 (Scheduled) spawned at src/main.rs:3:13
    /// }
    /// ```
    pub fn all_tasks(&self) -> Vec<crate::TaskInfo> {
        self.core.all_tasks()
    }

    /// A snapshot of the loop's counters.
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }

    /// The loop's state (for the crate's other modules).
    pub(crate) fn core(&self) -> &Rc<Core> {
        &self.core
    }

    /// A `Send + Sync` handle for other threads.
    pub fn handle(&self) -> LoopHandle {
        LoopHandle::new(self.core.shared().clone())
    }

    // ---- scheduling --------------------------------------------------------

    /// Schedules `f` to run in a later iteration, after everything already
    /// queued (FIFO). What a callback schedules runs in the next iteration,
    /// never the current one.
    #[track_caller]
    pub fn call_soon<F>(&self, f: F) -> Result<Handle, LoopClosed>
    where
        F: FnOnce() + 'static,
    {
        let seq = self.core.call_soon(InlineFn::new(f), Location::caller())?;
        Ok(Handle::new(Rc::downgrade(&self.core), seq))
    }

    /// Schedules `f` to run once `delay` has passed: never earlier, measured
    /// from a fresh reading of the clock.
    ///
    /// `call_later(Duration::ZERO, f)` runs after the callbacks already
    /// queued, once the clock has reached the next timer tick.
    #[track_caller]
    pub fn call_later<F>(&self, delay: Duration, f: F) -> Result<TimerHandle, LoopClosed>
    where
        F: FnOnce() + 'static,
    {
        let deadline = self.core.clock().deadline_after(delay);
        self.add_timer_callback(deadline, InlineFn::new(f), Location::caller())
    }

    /// Schedules `f` to run at `when` (in the loop's time; see
    /// [`EventLoop::time`]), never earlier.
    #[track_caller]
    pub fn call_at<F>(&self, when: Instant, f: F) -> Result<TimerHandle, LoopClosed>
    where
        F: FnOnce() + 'static,
    {
        let deadline = self.core.clock().instant_to_ticks(when);
        self.add_timer_callback(deadline, InlineFn::new(f), Location::caller())
    }

    fn add_timer_callback(
        &self,
        deadline: u64,
        f: InlineFn,
        location: &'static Location<'static>,
    ) -> Result<TimerHandle, LoopClosed> {
        let key = self
            .core
            .add_timer(deadline, TimerEntry::Callback(Callback { f, location }))?;
        let when = self.core.clock().to_instant(deadline);
        Ok(TimerHandle::new(Rc::downgrade(&self.core), key, when))
    }

    /// Wraps `future` in a [`Task`] scheduled on this loop (asyncio's
    /// `ensure_future` / `create_task`). The future need not be `Send`. On a
    /// closed loop the task is returned already cancelled.
    #[track_caller]
    pub fn ensure_future<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
    {
        self.core.spawn(future, Location::caller())
    }

    /// Calls `callback` on the loop thread whenever `fd` is readable
    /// (asyncio's `add_reader`), on any raw fd: a pipe, an eventfd, a socket
    /// from another library.
    ///
    /// Level-triggered, as asyncio's: the callback runs again in the next
    /// iterations for as long as the fd stays readable, even if it read only
    /// part of the data, until [`remove_reader`](EventLoop::remove_reader).
    /// mio is edge-triggered, so after each call the fd is re-armed with one
    /// `epoll_ctl(EPOLL_CTL_MOD)` (which reports it again if still ready):
    /// one syscall per callback run, the price of level triggering.
    ///
    /// The callback is `FnMut`: it may keep state of its own (a count, a
    /// buffer) without a `Cell`; it never runs inside itself.
    ///
    /// Adding a reader twice for the same fd replaces the callback. Errors
    /// come from epoll: a regular file is `EPERM`, a bad fd `EBADF`. The fd
    /// must stay open until removed; closing it first is allowed (the kernel
    /// forgets it) but `remove_reader` must still be called to free the entry.
    ///
    /// ```
    /// use std::io::Write;
    /// use std::os::fd::AsRawFd;
    /// use std::os::unix::net::UnixStream;
    /// let lp = evloop::EventLoop::new();
    /// let (mut a, b) = UnixStream::pair().unwrap();
    /// b.set_nonblocking(true).unwrap();
    /// let fd = b.as_raw_fd();
    /// lp.add_reader(fd, move || {
    ///     let lp = evloop::EventLoop::current();
    ///     lp.remove_reader(fd).unwrap();
    ///     lp.stop();
    /// })
    /// .unwrap();
    /// a.write_all(b"ping").unwrap();
    /// lp.run_forever().unwrap();
    /// ```
    #[track_caller]
    pub fn add_reader<F>(&self, fd: RawFd, callback: F) -> io::Result<()>
    where
        F: FnMut() + 'static,
    {
        self.core.add_fd_callback(
            fd,
            Direction::Read,
            FdCallback {
                f: Rc::new(RefCell::new(callback)),
                at: Location::caller(),
            },
        )
    }

    /// Stops watching `fd` for reading; returns whether a reader was set.
    pub fn remove_reader(&self, fd: RawFd) -> io::Result<bool> {
        self.core.remove_fd_callback(fd, Direction::Read)
    }

    /// Calls `callback` whenever `fd` is writable (asyncio's `add_writer`);
    /// level-triggered like [`add_reader`](EventLoop::add_reader).
    #[track_caller]
    pub fn add_writer<F>(&self, fd: RawFd, callback: F) -> io::Result<()>
    where
        F: FnMut() + 'static,
    {
        self.core.add_fd_callback(
            fd,
            Direction::Write,
            FdCallback {
                f: Rc::new(RefCell::new(callback)),
                at: Location::caller(),
            },
        )
    }

    /// Stops watching `fd` for writing; returns whether a writer was set.
    pub fn remove_writer(&self, fd: RawFd) -> io::Result<bool> {
        self.core.remove_fd_callback(fd, Direction::Write)
    }

    /// Calls `callback` on the loop thread when the process receives
    /// `signum` (asyncio's `add_signal_handler`; Unix only). Replaces an
    /// earlier callback for the same signal.
    ///
    /// Delivered through `sigaction` and a self-pipe, as libuv and asyncio
    /// do: the signal handler only writes a byte; the callback is scheduled
    /// with `call_soon` in a later iteration. The disposition the signal had
    /// before is restored when the last loop removes its handler (or
    /// closes). Errors: `EINVAL` for a signal that cannot be caught
    /// (`SIGKILL`, `SIGSTOP`) or out of range.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// lp.add_signal_handler(libc::SIGUSR2, || evloop::EventLoop::current().stop())
    ///     .unwrap();
    /// // SAFETY: raise(3) only delivers a signal to this process.
    /// unsafe { libc::raise(libc::SIGUSR2) };
    /// lp.run_forever().unwrap();
    /// assert!(lp.remove_signal_handler(libc::SIGUSR2).unwrap());
    /// ```
    pub fn add_signal_handler<F>(&self, signum: i32, callback: F) -> io::Result<()>
    where
        F: Fn() + 'static,
    {
        if self.core.is_closed() {
            return Err(io::Error::other(LoopClosed));
        }
        crate::io::signal::add(&self.core, signum, Rc::new(callback))
    }

    /// Stops handling `signum`; returns whether a handler was set.
    pub fn remove_signal_handler(&self, signum: i32) -> io::Result<bool> {
        crate::io::signal::remove(&self.core, signum)
    }

    /// Runs the blocking `f` on the loop's built-in [`ThreadPool`](crate::ThreadPool) and gives
    /// its return value to whoever awaits (asyncio's
    /// `run_in_executor(None, f)`). A panic in `f` arrives as
    /// [`TaskError::is_panic`](crate::TaskError::is_panic). The pool starts on first use.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// let fut = lp.run_in_executor(|| std::thread::current().name().map(String::from));
    /// let name = lp.run_until_complete(fut).unwrap().unwrap();
    /// assert_eq!(name.as_deref(), Some("evloop-executor-0"));
    /// ```
    pub fn run_in_executor<F, T>(&self, f: F) -> RunInExecutor<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.core.default_executor();
        let (tx, rx) = oneshot::channel();
        pool.submit_then_deliver(crate::executor::compute_then_send(f, tx));
        RunInExecutor::new(rx, &self.core)
    }

    /// [`run_in_executor`](EventLoop::run_in_executor) on an executor of
    /// your own.
    pub fn run_in_executor_on<E, F, T>(&self, executor: &E, f: F) -> RunInExecutor<T>
    where
        E: Executor + ?Sized,
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        executor.execute(job_for(f, tx));
        RunInExecutor::new(rx, &self.core)
    }

    /// Waits until every job of the built-in executor has finished, then
    /// stops its threads (asyncio's `shutdown_default_executor`). A later
    /// `run_in_executor` starts a fresh pool.
    pub fn shutdown_default_executor(&self) {
        self.core.shutdown_default_executor();
    }

    /// A new pending [`LoopFuture`] bound to this loop (asyncio's `create_future`).
    pub fn create_future<T: 'static>(&self) -> LoopFuture<T> {
        LoopFuture::new(Rc::downgrade(&self.core))
    }

    /// Sets the handler for panics that escape to the loop: from callbacks,
    /// from tasks nobody awaits, from `Drop`s the loop runs. `None` restores
    /// the default, which prints one line to stderr (with a closure type
    /// that `None` cannot name: [`clear_exception_handler`] does the same
    /// without a type annotation). The loop keeps running either way; a
    /// handler that panics is reported on stderr.
    ///
    /// [`clear_exception_handler`]: EventLoop::clear_exception_handler
    pub fn set_exception_handler<F>(&self, handler: Option<F>)
    where
        F: Fn(&Exception<'_>) + 'static,
    {
        self.core
            .set_handler(handler.map(|h| Rc::new(h) as crate::task::Handler));
    }

    /// Restores the default exception handler (asyncio's
    /// `set_exception_handler(None)`).
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// lp.set_exception_handler(Some(|_: &evloop::Exception<'_>| {}));
    /// lp.clear_exception_handler(); // no `None::<fn(&_)>` needed
    /// ```
    pub fn clear_exception_handler(&self) {
        self.core.set_handler(None);
    }
}

/// The loop's epoll fd (libuv's `uv_backend_fd`): readable when I/O events
/// or jobs from other threads are waiting, so a host can watch it with
/// `poll(2)`, its own epoll, or tokio's `AsyncFd`, and call
/// `run_once(Some(Duration::ZERO))` when it fires (see
/// [`EventLoop::next_timeout`] for timers).
impl std::os::fd::AsRawFd for EventLoop {
    fn as_raw_fd(&self) -> RawFd {
        self.core.poll_fd()
    }
}

impl Default for EventLoop {
    fn default() -> EventLoop {
        EventLoop::new()
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        if self.owner {
            // While the loop runs (through a reference from `current()`),
            // this is refused; then `Core`'s own `Drop` closes it when the
            // last reference goes.
            let _ = self.core.close(Location::caller());
        }
    }
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("running", &self.is_running())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Stops the loop when the main future of `run_until_complete` finishes,
/// panics or is dropped, unless disarmed.
struct StopWhenDone {
    core: Weak<Core>,
    armed: Rc<Cell<bool>>,
}

impl Drop for StopWhenDone {
    fn drop(&mut self) {
        if let (true, Some(core)) = (self.armed.get(), self.core.upgrade()) {
            core.stop();
        }
    }
}

impl Builder {
    /// Builds the loop.
    pub fn build(self) -> io::Result<EventLoop> {
        Ok(EventLoop::owning(Rc::new(Core::new(&self.config)?)))
    }
}

/// Runs `future` on a fresh loop to completion, then closes the loop
/// (asyncio's `asyncio.run`).
///
/// ```
/// let out = evloop::run(async { 1 + 1 });
/// assert_eq!(out, Ok(2));
/// ```
///
/// Errors: `AlreadyRunning` if called from inside a running loop;
/// `Stopped` if the future called `stop()` on its loop before finishing.
///
/// # Panics
///
/// If the future panics (the panic is resumed), or the OS refuses an epoll
/// instance.
#[track_caller]
pub fn run<F>(future: F) -> Result<F::Output, RunError>
where
    F: Future + 'static,
{
    if crate::core::current().is_some() {
        return Err(RunError::AlreadyRunning);
    }
    let lp = EventLoop::new();
    let out = lp.run_until_complete(future);
    lp.close()?;
    out
}
