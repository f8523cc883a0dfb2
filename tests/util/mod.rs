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

/// Runs `f` with the process's stderr (fd 2) sent to a memory file, and
/// returns what was written there: for tests of what evloop prints on its
/// own (the default exception handler), so that a passing run stays quiet
/// and the text is checked rather than shown. Captures of one test binary
/// take turns; another test's direct writes to fd 2 meanwhile land in the
/// capture too, so check with `contains`.
pub fn capture_stderr<R>(f: impl FnOnce() -> R) -> (R, String) {
    use std::io::{Read, Seek, Write};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let _ = std::io::stderr().flush();
    // SAFETY: plain system calls on descriptors this function owns (the
    // memory file, the saved stderr) or on fd 2, restored before return.
    let (file, saved) = unsafe {
        let mem = libc::memfd_create(c"evloop-test-stderr".as_ptr(), libc::MFD_CLOEXEC);
        assert!(mem >= 0, "memfd_create");
        let saved = libc::dup(2);
        assert!(saved >= 0, "dup");
        assert_eq!(libc::dup2(mem, 2), 2, "dup2");
        (std::fs::File::from_raw_fd(mem), OwnedFd::from_raw_fd(saved))
    };
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let _ = std::io::stderr().flush();
    // SAFETY: `saved` is a live descriptor; fd 2 gets its old file back.
    assert_eq!(unsafe { libc::dup2(saved.as_raw_fd(), 2) }, 2, "dup2 back");
    let mut file = file;
    let mut text = String::new();
    file.rewind().unwrap();
    file.read_to_string(&mut text).unwrap();
    match out {
        Ok(r) => (r, text),
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// A loop that does not report slow callbacks or loop lag: for tests whose
/// tasks do slow work on purpose (a blocking read of `/proc`, a hundred
/// connections in a debug build), so that a passing run prints nothing.
pub fn quiet_loop() -> EventLoop {
    EventLoop::builder()
        .slow_callback_duration(None)
        .build()
        .unwrap()
}

/// A pipe as two files, read end first (`std::io::pipe` needs Rust 1.87;
/// the crate supports 1.85).
pub fn pipe() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 just made these two descriptors, owned by nobody else.
    unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    }
}
