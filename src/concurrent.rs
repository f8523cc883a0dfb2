//! [`ConcurrentFuture`]: the result of work submitted to a loop from another
//! thread (asyncio's `concurrent.futures.Future`, as returned by
//! `run_coroutine_threadsafe`).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crate::error::TaskError;
use crate::oneshot::{self, Outcome};

/// Why a [`ConcurrentFuture`] gave no value.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConcurrentError {
    /// [`ConcurrentFuture::cancel`] was called first.
    Cancelled,
    /// The future panicked on the loop; the payload is here.
    Panicked(Box<dyn Any + Send + 'static>),
    /// `result_timeout` ran out of time; the work goes on (cancel it if needed).
    TimedOut,
    /// The loop closed before the work finished (or refused it, already closed).
    LoopClosed,
    /// `result()` was called on the loop's own thread, where blocking would
    /// deadlock: the loop could never run the work. Await the future instead.
    OnLoopThread,
    /// The value was already taken by an earlier `result`.
    AlreadyTaken,
}

impl ConcurrentError {
    /// Whether the work was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, ConcurrentError::Cancelled)
    }
    /// Whether the work panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, ConcurrentError::Panicked(_))
    }
    /// Whether `result_timeout` timed out.
    pub fn is_timed_out(&self) -> bool {
        matches!(self, ConcurrentError::TimedOut)
    }
    /// Whether the loop was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, ConcurrentError::LoopClosed)
    }
}

impl fmt::Display for ConcurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConcurrentError::Cancelled => f.write_str("cancelled"),
            ConcurrentError::Panicked(p) => match crate::error::panic_message(&**p) {
                Some(m) => write!(f, "the future panicked: {m}"),
                None => f.write_str("the future panicked"),
            },
            ConcurrentError::TimedOut => f.write_str("timed out"),
            ConcurrentError::LoopClosed => f.write_str("the event loop is closed"),
            ConcurrentError::OnLoopThread => f.write_str(
                "ConcurrentFuture::result called on the loop's own thread (it would deadlock)",
            ),
            ConcurrentError::AlreadyTaken => f.write_str("the result was already taken"),
        }
    }
}

impl std::error::Error for ConcurrentError {}

/// The result of [`LoopHandle::run_coroutine_threadsafe`](crate::LoopHandle::run_coroutine_threadsafe),
/// for the thread that submitted the work.
///
/// Block on it with [`result`](ConcurrentFuture::result) or
/// [`result_timeout`](ConcurrentFuture::result_timeout), or await it: it is a
/// `Future` too, so another evloop (or tokio) can wait for it. `Send + Sync`.
pub struct ConcurrentFuture<T> {
    rx: oneshot::Receiver<Result<T, TaskError>>,
    loop_thread: ThreadId,
    /// [`Builder::spin_before_park`](crate::Builder::spin_before_park) of the loop.
    spin: Duration,
}

impl<T> ConcurrentFuture<T> {
    pub(crate) fn new(
        rx: oneshot::Receiver<Result<T, TaskError>>,
        loop_thread: ThreadId,
        spin: Duration,
    ) -> Self {
        ConcurrentFuture {
            rx,
            loop_thread,
            spin,
        }
    }

    /// Blocks until the work is done and takes its value.
    ///
    /// On the loop's own thread, while the work is not done, this is
    /// `Err(OnLoopThread)` instead of a deadlock.
    pub fn result(&self) -> Result<T, ConcurrentError> {
        self.wait(None)
    }

    /// As [`result`](ConcurrentFuture::result), but gives up after `timeout`
    /// with `Err(TimedOut)`; the work goes on and the future stays usable.
    pub fn result_timeout(&self, timeout: Duration) -> Result<T, ConcurrentError> {
        self.wait(Some(Instant::now() + timeout))
    }

    fn wait(&self, deadline: Option<Instant>) -> Result<T, ConcurrentError> {
        // Blocking on the loop's own thread would deadlock; a result that is
        // already there needs no blocking.
        if !self.rx.is_done() && std::thread::current().id() == self.loop_thread {
            return Err(ConcurrentError::OnLoopThread);
        }
        match self.rx.recv_blocking(deadline, self.spin) {
            Some(outcome) => convert(outcome),
            None => Err(ConcurrentError::TimedOut),
        }
    }

    /// Cancels the work: this future resolves to `Err(Cancelled)` now, and
    /// the task's future is dropped on the loop thread at its next turn.
    /// Returns `false` if the work was already done.
    pub fn cancel(&self) -> bool {
        self.rx.cancel()
    }

    /// Whether the work is done (finished, panicked, cancelled or lost to a
    /// closed loop).
    pub fn done(&self) -> bool {
        self.rx.is_done()
    }
}

fn convert<T>(outcome: Outcome<Result<T, TaskError>>) -> Result<T, ConcurrentError> {
    match outcome {
        Outcome::Value(Ok(v)) => Ok(v),
        Outcome::Value(Err(e)) => match e.try_into_panic() {
            Ok(payload) => Err(ConcurrentError::Panicked(payload)),
            Err(_) => Err(ConcurrentError::Cancelled),
        },
        Outcome::Cancelled => Err(ConcurrentError::Cancelled),
        Outcome::Dropped => Err(ConcurrentError::LoopClosed),
        Outcome::Taken => Err(ConcurrentError::AlreadyTaken),
    }
}

impl<T> Future for ConcurrentFuture<T> {
    type Output = Result<T, ConcurrentError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.rx.poll_recv(cx).map(convert)
    }
}

impl<T> fmt::Debug for ConcurrentFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrentFuture")
            .field("done", &self.done())
            .finish()
    }
}

/// The loop side: runs `future` and sends its output (or panic) to the
/// submitting thread; stops early, dropping the future, when that thread
/// cancels. If the loop drops this (close), the sender's drop resolves the
/// other side to `LoopClosed`.
pub(crate) async fn forward<F>(future: F, tx: oneshot::Sender<Result<F::Output, TaskError>>)
where
    F: Future,
{
    let mut future = std::pin::pin!(future);
    let output = std::future::poll_fn(|cx| {
        if tx.poll_cancelled(cx) {
            return Poll::Ready(None);
        }
        match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Some(Ok(v))),
            Err(payload) => Poll::Ready(Some(Err(TaskError::panicked(payload)))),
        }
    })
    .await;
    if let Some(output) = output {
        tx.send(output);
    }
}

/// Model checks of the one-value channel under a [`ConcurrentFuture`]
/// (`oneshot.rs`, its lock, condition variable and `Arc` are loom's):
/// `RUSTFLAGS="--cfg evloop_loom" cargo test --lib --release loom_`.
#[cfg(all(test, evloop_loom))]
mod loom_tests {
    use std::sync::Arc as StdArc;
    use std::task::{Wake, Waker};
    use std::thread::ThreadId;

    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    /// A value that counts its drops.
    struct Value(Arc<AtomicUsize>);

    impl Drop for Value {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    type Sent = Result<Value, TaskError>;

    /// The id of a thread that is not the model's, standing in for the
    /// loop's (loom runs every model thread on the test's OS thread).
    fn elsewhere() -> ThreadId {
        std::thread::spawn(|| std::thread::current().id())
            .join()
            .unwrap()
    }

    fn pair(loop_thread: ThreadId) -> (oneshot::Sender<Sent>, ConcurrentFuture<Value>) {
        let (tx, rx) = oneshot::channel();
        (tx, ConcurrentFuture::new(rx, loop_thread, Duration::ZERO))
    }

    /// (c) The loop completes the work while the submitting thread cancels
    /// it. Exactly one outcome: `cancel()` is true if and only if the
    /// result is `Cancelled`; the value is delivered (and then
    /// `AlreadyTaken`) or dropped by the sender, exactly once either way.
    #[test]
    fn loom_completion_racing_cancel() {
        let loop_thread = elsewhere();
        loom::model(move || {
            let drops = Arc::new(AtomicUsize::new(0));
            let (tx, fut) = pair(loop_thread);
            let value = Value(drops.clone());
            let completes = thread::spawn(move || tx.send(Ok(value)));
            let cancelled = fut.cancel();
            let result = fut.result();
            completes.join().unwrap();
            match result {
                Ok(value) => {
                    assert!(!cancelled, "cancel() said yes, yet the value came");
                    assert_eq!(drops.load(Ordering::Relaxed), 0);
                    drop(value);
                    assert!(matches!(fut.result(), Err(ConcurrentError::AlreadyTaken)));
                }
                Err(e) => assert!(cancelled && e.is_cancelled(), "{e}"),
            }
            assert_eq!(drops.load(Ordering::Relaxed), 1, "dropped once");
        });
    }

    /// `result()` blocks (on the condition variable) while the loop sends:
    /// the notification is never lost, and a sender dropped unsent (the
    /// loop closed) resolves it to `LoopClosed`.
    #[test]
    fn loom_blocking_result_is_woken() {
        let loop_thread = elsewhere();
        for send in [true, false] {
            loom::model(move || {
                let drops = Arc::new(AtomicUsize::new(0));
                let (tx, fut) = pair(loop_thread);
                let value = Value(drops.clone());
                let completes = thread::spawn(move || {
                    if send {
                        tx.send(Ok(value));
                    } else {
                        drop((tx, value));
                    }
                });
                let result = fut.result();
                completes.join().unwrap();
                match result {
                    Ok(_) => assert!(send, "a value from a dropped sender"),
                    Err(e) => assert!(!send && e.is_closed(), "{e}"),
                }
            });
        }
    }

    /// Counts wake-ups.
    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: StdArc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The loop side (`forward`) watches for cancellation with its waker
    /// while the other thread cancels: it either sees the cancellation or
    /// is woken to look again, never neither (a task left running for
    /// nobody).
    #[test]
    fn loom_cancel_wakes_the_loop_side() {
        let loop_thread = elsewhere();
        loom::model(move || {
            let (tx, fut) = pair(loop_thread);
            let loop_side = thread::spawn(move || {
                let wakes = StdArc::new(CountWakes(AtomicUsize::new(0)));
                let waker = Waker::from(wakes.clone());
                let seen = tx.poll_cancelled(&mut Context::from_waker(&waker));
                (seen, wakes, tx)
            });
            assert!(fut.cancel());
            let (seen, wakes, tx) = loop_side.join().unwrap();
            assert!(seen || wakes.0.load(Ordering::Relaxed) == 1, "cancel lost");
            assert!(tx.is_cancelled());
        });
    }
}
