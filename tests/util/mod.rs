//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use evloop::EventLoop;

/// An ordered record of what ran, shared by callbacks and tasks.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub fn new() -> Log {
        Log::default()
    }
    pub fn push(&self, s: impl Into<String>) {
        self.0.borrow_mut().push(s.into());
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
    pub fn get(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
    /// A callback that records `s`.
    pub fn cb(&self, s: &str) -> impl FnOnce() + 'static {
        let log = self.clone();
        let s = s.to_string();
        move || log.push(s)
    }
}

/// A loop on virtual time: timers fire instantly and deterministically.
pub fn virtual_loop() -> EventLoop {
    EventLoop::builder().virtual_time().build().unwrap()
}

/// Runs one non-blocking iteration.
pub fn tick(lp: &EventLoop) {
    lp.run_once(Some(Duration::ZERO)).unwrap();
}

/// Counts drops: each `DropCounter` adds one when dropped.
#[derive(Clone, Default)]
pub struct Drops(Rc<std::cell::Cell<usize>>);

impl Drops {
    pub fn token(&self) -> DropToken {
        DropToken(self.clone())
    }
    pub fn count(&self) -> usize {
        self.0.get()
    }
}

pub struct DropToken(Drops);

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0 .0.set(self.0 .0.get() + 1);
    }
}

/// Fails the test instead of hanging: panics if `f` takes longer than `secs`.
pub fn watchdog<R: Send + 'static>(secs: u64, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .expect("watchdog: the test did not finish in time (a hang)")
}

/// Runs `f` on this thread, failing (instead of hanging) after 30 s.
///
/// The watchdog thread is joined before this returns, so nothing of it
/// (its handle, its channel) outlives the call: tests that count the
/// process's live allocations may use it.
pub fn watchdog_local<R>(f: impl FnOnce() -> R) -> R {
    let (finished, watched) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        // A message or a dropped sender (a panic in `f`) both end the watch.
        if let Err(RecvTimeoutError::Timeout) = watched.recv_timeout(Duration::from_secs(30)) {
            eprintln!("watchdog: the test hung for 30 s");
            std::process::abort();
        }
    });
    let r = f();
    drop(finished);
    watchdog.join().unwrap();
    r
}

/// Polls `f` once with a no-op waker.
pub fn now_or_never<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::Pin::new(&mut f).poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}
