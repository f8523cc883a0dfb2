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
//! Tasks whose futures are `Send` are spawned with `tokio::spawn`; `!Send`
//! ones (an `Rc` inside) go to a `LocalSet` with `spawn_local`, each from
//! inside the runtime (its local, fast queue).
//!
//! Every workload builds a fresh runtime per measurement and starts its
//! clock only once the runtime exists (and, where it has threads or
//! connections, once those are up).

use std::sync::atomic::{AtomicBool, Ordering};

use evloop::EventLoop;

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
