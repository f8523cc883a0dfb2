//! [`Builder`]: the settings of a new [`EventLoop`](crate::EventLoop)
//! (`build` is beside `EventLoop`).

use std::time::Duration;

use crate::clock::saturating_nanos;
use crate::core::Config;

/// Configures an [`EventLoop`](crate::EventLoop).
///
/// ```
/// let lp = evloop::EventLoop::builder().virtual_time().build().unwrap();
/// # drop(lp);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    pub(crate) config: Config,
}

impl Builder {
    /// Virtual time, for tests: the clock only moves when the loop would
    /// otherwise sleep, and then jumps to the next timer, so code full of
    /// `sleep(4 s)` runs instantly and deterministically (tokio's `pause`,
    /// asyncio's `TestLoop`).
    pub fn virtual_time(mut self) -> Builder {
        self.config.virtual_time = true;
        self
    }

    /// High-resolution timers (neither tokio nor asyncio has them): the
    /// wheel's tick becomes `resolution` (default 1 ms; at least 1 µs), and
    /// when timers are pending the loop waits on a `timerfd` armed for the
    /// exact earliest deadline instead of epoll's timeout, which mio and the
    /// kernel round up to whole milliseconds (plus up to 50 µs of slack).
    /// So a 100 µs sleep wakes about 100 µs later instead of 1 ms later.
    ///
    /// Cost: one `timerfd_settime` (and a `read`) each time the earliest
    /// deadline changes — not per wait — and one more fd. At 1 ms or more
    /// this is the default mode (epoll timeouts only).
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = evloop::EventLoop::builder()
    ///     .timer_resolution(Duration::from_micros(10))
    ///     .build()
    ///     .unwrap();
    /// lp.run_until_complete(async { evloop::sleep(Duration::from_micros(200)).await }).unwrap();
    /// assert!(lp.stats().timer_arms >= 1);
    /// ```
    pub fn timer_resolution(mut self, resolution: Duration) -> Builder {
        let resolution = resolution.max(Duration::from_micros(1));
        self.config.tick_ns = saturating_nanos(resolution);
        self.config.high_resolution = resolution < Duration::from_millis(1);
        self
    }

    /// The timer wheel's tick (default 1 ms): timers fire on the first tick
    /// boundary at or after their deadline. At least 1 ns. (For sub-
    /// millisecond timers prefer [`timer_resolution`](Builder::timer_resolution),
    /// which also stops waiting on epoll's millisecond timeout.)
    pub fn timer_tick(mut self, tick: Duration) -> Builder {
        self.config.tick_ns = saturating_nanos(tick).max(1);
        self
    }

    /// Spin before sleeping (off by default; it burns a core while idle).
    /// Waking a sleeping thread through an eventfd or a futex costs tens of
    /// µs on a virtual machine, while two spinning threads exchange a
    /// message in well under a µs. With a spin time `d`:
    ///
    /// - the loop watches its remote queue for up to `d` before it blocks in
    ///   `epoll_wait` (only when no timer is due sooner); a job that comes
    ///   meanwhile is taken with no eventfd write and no wake-up;
    /// - the built-in executor's idle workers watch for jobs for up to `d`
    ///   before they park;
    /// - [`ConcurrentFuture::result`](crate::ConcurrentFuture::result) spins
    ///   for up to `d` before it blocks.
    ///
    /// For latency-critical embedders, as parking_lot and Go's scheduler
    /// spin briefly. I/O readiness is not watched while spinning: it is seen
    /// at the next poll, at most `d` later.
    pub fn spin_before_park(mut self, d: Duration) -> Builder {
        self.config.spin = d;
        self
    }

    /// Bounds the threadsafe calls that may wait in the loop's remote queue
    /// (default: unbounded, as asyncio's `call_soon_threadsafe`). With a
    /// capacity, [`LoopHandle::try_call_soon_threadsafe`](crate::LoopHandle::try_call_soon_threadsafe)
    /// gives the job back while that many are queued and
    /// [`LoopHandle::call_soon_threadsafe_blocking`](crate::LoopHandle::call_soon_threadsafe_blocking)
    /// waits for room: back-pressure for producers that can outrun the
    /// loop. Plain `call_soon_threadsafe` still always queues (and counts).
    /// At least 1.
    ///
    /// Whatever the capacity, one iteration takes at most 1,024 jobs from
    /// the remote queue, so timers and I/O get their turn during a flood.
    ///
    /// ```
    /// let lp = evloop::EventLoop::builder().threadsafe_capacity(1024).build().unwrap();
    /// let handle = lp.handle();
    /// std::thread::spawn(move || {
    ///     for _ in 0..10_000 {
    ///         // Waits while 1,024 calls are queued.
    ///         handle.call_soon_threadsafe_blocking(|| {}).unwrap();
    ///     }
    ///     handle.stop().unwrap();
    /// });
    /// lp.run_forever().unwrap();
    /// ```
    pub fn threadsafe_capacity(mut self, capacity: usize) -> Builder {
        self.config.threadsafe_capacity = Some(capacity.max(1));
        self
    }

    /// The most threads the built-in executor starts (default
    /// `min(32, cores + 4)`, asyncio's default). At least 1.
    pub fn executor_threads(mut self, threads: usize) -> Builder {
        self.config.executor_threads = Some(threads.max(1));
        self
    }

    /// Report callbacks and task polls that hold the loop for `threshold`
    /// or longer (default 100 ms, asyncio's `slow_callback_duration`;
    /// `None`: never), and stretches of that length without an I/O poll
    /// (loop lag). Unlike asyncio this is on without debug mode: reports go
    /// to the exception handler ([`ExceptionSource::SlowCallback`](crate::ExceptionSource::SlowCallback),
    /// [`SlowTask`](crate::ExceptionSource::SlowTask),
    /// [`LoopLag`](crate::ExceptionSource::LoopLag)), naming where the callback
    /// was scheduled or the task spawned.
    ///
    /// The loop reads a coarse clock (one kernel tick, 4 ms here) once per
    /// item or per chunk of 64 items of a long batch, never per callback:
    /// a slow item inside a long batch is named by its chunk's first item,
    /// and durations are rounded to the tick. [`debug`](Builder::debug)
    /// times each item on the precise clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = evloop::EventLoop::builder()
    ///     .slow_callback_duration(Some(Duration::from_millis(20)))
    ///     .build()
    ///     .unwrap();
    /// lp.set_exception_handler(Some(|e: &evloop::Exception<'_>| {
    ///     assert_eq!(e.source(), evloop::ExceptionSource::SlowCallback);
    ///     println!("{e}"); // slow callback scheduled at src/main.rs:11:4: the callback held the loop for 52ms …
    /// }));
    /// lp.call_soon(|| std::thread::sleep(Duration::from_millis(50))).unwrap();
    /// lp.run_once(Some(Duration::ZERO)).unwrap();
    /// assert_eq!(lp.stats().slow_items, 1);
    /// ```
    pub fn slow_callback_duration(mut self, threshold: Option<Duration>) -> Builder {
        self.config.slow_callback = threshold;
        self
    }

    /// Debug mode (asyncio's `debug=True`): every callback and task poll is
    /// timed on the precise clock (slow items named exactly, at about 25 ns
    /// per item), and a task still pending when the loop closes is
    /// reported as destroyed while pending, with where it was spawned
    /// ([`ExceptionSource::PendingTaskDestroyed`](crate::ExceptionSource::PendingTaskDestroyed)).
    ///
    /// Some checks asyncio's debug mode makes at run time cannot fail here:
    /// calling a loop-thread-only API from another thread does not compile
    /// (`EventLoop`, `Task`, `LoopFuture` are `!Send`; only
    /// [`LoopHandle`](crate::LoopHandle) and
    /// [`ThreadsafeSetter`](crate::ThreadsafeSetter) cross threads), and a
    /// panic nobody retrieved from a task is always reported, debug or not.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let lp = evloop::EventLoop::builder().debug(true).build().unwrap();
    /// let _pending = lp.ensure_future(std::future::pending::<()>());
    /// let reports = Rc::new(Cell::new(0));
    /// let seen = reports.clone();
    /// lp.set_exception_handler(Some(move |e: &evloop::Exception<'_>| {
    ///     assert_eq!(e.source(), evloop::ExceptionSource::PendingTaskDestroyed);
    ///     seen.set(seen.get() + 1);
    /// }));
    /// lp.close().unwrap();
    /// assert_eq!(reports.get(), 1);
    /// ```
    pub fn debug(mut self, on: bool) -> Builder {
        self.config.debug = on;
        self
    }

    /// Record a trace of the loop — each iteration, its phases, every
    /// callback and task poll with where it was scheduled or spawned — and
    /// write it to `path` as Chrome trace-event JSON when the loop closes
    /// (or is dropped). Open it in <https://ui.perfetto.dev> or
    /// `chrome://tracing`, or draw it with `cargo run --example trace_svg`
    /// (see `docs/internals.md`, "Seeing the loop"). For studying and
    /// debugging: every item is timed on the precise clock, and events stay
    /// in memory until the loop closes (at most a million; then recording
    /// stops and the file says where). Times are real even with
    /// [`virtual_time`](Builder::virtual_time): a jump of the virtual clock
    /// takes no time in the trace.
    ///
    /// ```
    /// let path = std::env::temp_dir().join("evloop-doc-trace.json");
    /// let lp = evloop::EventLoop::builder().trace(&path).build().unwrap();
    /// lp.run_until_complete(async { evloop::yield_now().await }).unwrap();
    /// lp.close().unwrap();
    /// let json = std::fs::read_to_string(&path).unwrap();
    /// assert!(json.contains(r#""cat":"task""#));
    /// # std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn trace(mut self, path: impl Into<std::path::PathBuf>) -> Builder {
        self.config.trace = Some(path.into());
        self
    }
}
