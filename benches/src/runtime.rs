//! How each side's runtime is built, in one place.
//!
//! - **evloop**: `EventLoop::new()`, the default settings (it always has
//!   its I/O poller: an idle loop sleeps in `epoll_wait`).
//! - **tokio**: a current-thread runtime with the drivers the workload
//!   needs: [`tokio()`] (`enable_time()` only) for the task, timer and
//!   cross-thread workloads, [`tokio_io`] (`enable_all()`) for the I/O ones.
//!   tokio is faster without the I/O driver in some workloads (arming a
//!   timer earlier than the next wake-up writes to the driver's eventfd when
//!   it is on), so the minimum is the fair choice. [`set_tokio_io_everywhere`]
//!   turns the I/O driver on everywhere, as `#[tokio::main(flavor =
//!   "current_thread")]` does (`cargo compare --tokio-io`).
//!
//! Where a tokio workload spawns tasks it runs in both of tokio's
//! idiomatic forms ([`TokioForm`]): `tokio::spawn` from inside
//! `Runtime::block_on`, and `spawn_local` on a `LocalSet`. Which is faster
//! depends on the workload (a `LocalSet` skips the `Send` machinery of the
//! runtime's scheduler, but adds its own queue and tick), so the compare
//! tool measures both and reports the faster one under its name.
//!
//! Every workload builds a fresh runtime per measurement and starts its
//! clock only once the runtime exists (and, where it has threads or
//! connections, once those are up).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Waker};
use std::time::Duration;

use evloop::EventLoop;
use tokio::task::{JoinHandle, LocalSet};

static TOKIO_IO_EVERYWHERE: AtomicBool = AtomicBool::new(false);

/// Whether [`tokio()`] runtimes get the I/O driver too (default: no).
pub fn set_tokio_io_everywhere(on: bool) {
    TOKIO_IO_EVERYWHERE.store(on, Ordering::Relaxed);
}

/// Whether [`tokio()`] runtimes get the I/O driver too.
pub fn tokio_io_everywhere() -> bool {
    TOKIO_IO_EVERYWHERE.load(Ordering::Relaxed)
}

/// A fresh evloop with the default settings.
pub fn evloop() -> EventLoop {
    EventLoop::new()
}

/// The builder of the non-I/O tokio runtimes: current-thread, the time
/// driver on (and the I/O driver if [`set_tokio_io_everywhere`]).
pub fn tokio_builder() -> tokio::runtime::Builder {
    let mut b = tokio::runtime::Builder::new_current_thread();
    if tokio_io_everywhere() {
        b.enable_all();
    } else {
        b.enable_time();
    }
    b
}

/// A fresh tokio current-thread runtime for a workload without I/O (see
/// [`tokio_builder`]).
pub fn tokio() -> tokio::runtime::Runtime {
    tokio_builder().build().expect("tokio runtime")
}

/// A fresh tokio current-thread runtime with every driver
/// (`enable_all()`), for the I/O workloads.
pub fn tokio_io() -> tokio::runtime::Runtime {
    let mut b = tokio::runtime::Builder::new_current_thread();
    b.enable_all();
    b.build().expect("tokio runtime")
}

/// One of tokio's two idiomatic ways to run tasks on a current-thread
/// runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokioForm {
    /// `spawn_local` from inside `LocalSet::block_on`.
    Local,
    /// `tokio::spawn` from inside `Runtime::block_on`.
    Spawn,
}

impl TokioForm {
    /// Both forms, in the order the compare tool runs them.
    pub const BOTH: [TokioForm; 2] = [TokioForm::Local, TokioForm::Spawn];

    /// The name the report shows.
    pub fn name(self) -> &'static str {
        match self {
            TokioForm::Local => "LocalSet + spawn_local",
            TokioForm::Spawn => "tokio::spawn",
        }
    }

    /// A short key for command lines: `local` or `spawn`.
    pub fn key(self) -> &'static str {
        match self {
            TokioForm::Local => "local",
            TokioForm::Spawn => "spawn",
        }
    }

    /// The form whose [`TokioForm::key`] is `key`.
    pub fn from_key(key: &str) -> Option<TokioForm> {
        TokioForm::BOTH.into_iter().find(|f| f.key() == key)
    }

    /// Runs `f` to completion on `rt`: in a fresh `LocalSet` for
    /// [`TokioForm::Local`], so that [`TokioForm::spawn`] can use it.
    pub fn block_on<F: Future>(self, rt: &tokio::runtime::Runtime, f: F) -> F::Output {
        match self {
            TokioForm::Local => LocalSet::new().block_on(rt, f),
            TokioForm::Spawn => rt.block_on(f),
        }
    }

    /// Spawns `f` in this form; call it inside [`TokioForm::block_on`].
    pub fn spawn<F>(self, f: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self {
            TokioForm::Local => tokio::task::spawn_local(f),
            TokioForm::Spawn => tokio::spawn(f),
        }
    }
}

/// How far away the pending timer of the `*_timer_pending` workloads is:
/// it never fires during a measurement, as a keep-alive or a request
/// timeout in a real program.
pub const FAR: Duration = Duration::from_secs(3600);

/// A tokio timer [`FAR`] away, registered with `rt`'s time driver (a
/// `Sleep` registers at its first poll); it stays pending while the
/// returned value lives.
pub fn tokio_far_timer(rt: &tokio::runtime::Runtime) -> Pin<Box<tokio::time::Sleep>> {
    let _inside = rt.enter();
    let mut sleep = Box::pin(tokio::time::sleep(FAR));
    let registered = sleep.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    assert!(registered.is_pending());
    sleep
}

/// An evloop timer [`FAR`] away on `lp` (a `call_later` whose handle is
/// dropped: it stays pending until the loop closes).
pub fn evloop_far_timer(lp: &EventLoop) {
    drop(lp.call_later(FAR, || {}).expect("a loop that is open"));
}

/// What the runtime holds or has done before a measurement starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// A fresh runtime, nothing else in it.
    Fresh,
    /// The runtime already ran the same workload once (untimed), as a
    /// long-lived program's runtime has: its queues and slabs are grown and
    /// the allocator holds the memory the first round freed.
    Warm,
    /// A fresh runtime with one timer [`FAR`] away pending, as a real
    /// program always has (a keep-alive, a request timeout).
    TimerPending,
}

/// Runs `run` on a fresh evloop prepared as `setting` says; returns what
/// the (last) run measured.
pub fn measure_evloop(setting: Setting, run: impl Fn(&EventLoop) -> Duration) -> Duration {
    let lp = evloop();
    match setting {
        Setting::Fresh => {}
        Setting::Warm => drop(run(&lp)),
        Setting::TimerPending => evloop_far_timer(&lp),
    }
    run(&lp)
}

/// Runs `run` on a fresh tokio runtime ([`tokio()`]) prepared as `setting`
/// says; returns what the (last) run measured.
pub fn measure_tokio(
    setting: Setting,
    run: impl Fn(&tokio::runtime::Runtime) -> Duration,
) -> Duration {
    let rt = tokio();
    let mut _far = None;
    match setting {
        Setting::Fresh => {}
        Setting::Warm => drop(run(&rt)),
        Setting::TimerPending => _far = Some(tokio_far_timer(&rt)),
    }
    run(&rt)
}
