//! [`EvloopTimer`] and [`EvloopSleep`]: hyper's timer on evloop's timers.
//!
//! hyper wants its sleeps `Send + Sync` (its builders take a timer that is
//! `Send + Sync` too), while an `evloop::Sleep` belongs to its loop's thread
//! (`!Send`). So the [`EvloopSleep`] hyper holds is plain data, a deadline
//! and, once armed, the place of its `evloop::Sleep` in a thread-local slab
//! on the loop's thread. Nothing `!Send` ever crosses a thread, and no
//! `unsafe` is needed to say otherwise.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use slab::Slab;

/// hyper's timer on evloop: the header-read timeout of HTTP/1 servers, the
/// keep-alive pings of HTTP/2, and every other timeout hyper arms.
///
/// Its sleeps are evloop timers on the loop running on the thread that
/// polls them, and its clock ([`now`](hyper::rt::Timer::now)) is that
/// loop's ([`evloop::time`]), so hyper's timeouts follow a loop with
/// [virtual time](evloop::Builder::virtual_time) as the loop's own
/// timers do.
///
/// ```
/// use std::time::Duration;
/// use hyper::rt::Timer;
///
/// let lp = evloop::EventLoop::builder().virtual_time().build().unwrap();
/// lp.run_until_complete(async {
///     let start = evloop::time();
///     evloop_hyper::EvloopTimer.sleep(Duration::from_secs(30)).await; // instant
///     assert_eq!(evloop::time() - start, Duration::from_secs(30));
/// })
/// .unwrap();
/// ```
///
/// In a server: `hyper::server::conn::http1::Builder::new().timer(EvloopTimer)`.
///
/// # Panics
///
/// A sleep panics when it is polled on a thread with no running evloop, or
/// on another thread than the one it was first polled on.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvloopTimer;

impl hyper::rt::Timer for EvloopTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(EvloopSleep::until(self.now() + duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(EvloopSleep::until(deadline))
    }

    /// The running loop's clock; outside a loop, the system's.
    fn now(&self) -> Instant {
        evloop::EventLoop::try_current().map_or_else(Instant::now, |lp| lp.time())
    }

    /// Moves the deadline of one of this timer's sleeps in place (no new
    /// allocation); any other sleep is replaced.
    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<EvloopSleep>() {
            Some(mut ours) => ours.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A sleep of [`EvloopTimer`]: a future that completes at its deadline, in
/// the time of the loop that polls it.
///
/// It is armed (an evloop timer is set) at its first poll, so a sleep that
/// is dropped unpolled, as hyper's header-read timeout is whenever the head
/// is already there, costs no timer. Dropping an armed sleep cancels its
/// timer.
///
/// # Panics
///
/// Polling panics on a thread with no running evloop, or on another thread
/// than the one it was armed on.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct EvloopSleep {
    deadline: Instant,
    state: State,
}

/// Where an [`EvloopSleep`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not polled since it was made or reset: no evloop timer.
    Unarmed,
    /// Polled and pending: its `evloop::Sleep` is at `key` in the slab of
    /// the thread whose [`Sleeps::thread`] is `thread`.
    Armed { thread: u64, key: usize },
    /// The deadline has passed (the slab entry is gone); polls return
    /// `Ready` until a reset.
    Done,
}

impl EvloopSleep {
    /// A sleep until `deadline` (in the polling loop's time).
    pub fn until(deadline: Instant) -> EvloopSleep {
        EvloopSleep {
            deadline,
            state: State::Unarmed,
        }
    }

    /// When the sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline (earlier or later); the sleep is pending again
    /// until then, and its timer is re-armed at the next poll.
    pub fn reset(&mut self, deadline: Instant) {
        self.disarm();
        self.deadline = deadline;
    }

    /// Cancels the evloop timer, if armed on this thread.
    fn disarm(&mut self) {
        if let State::Armed { thread, key } = std::mem::replace(&mut self.state, State::Unarmed) {
            // Taken out first and dropped after the borrow ends. On another
            // thread (or during its exit) the entry stays where it is: its
            // timer fires once, wakes nobody that cares, and the entry goes
            // with its thread.
            let taken = SLEEPS
                .try_with(|s| (s.thread == thread).then(|| s.slab.borrow_mut().try_remove(key)))
                .ok()
                .flatten()
                .flatten();
            drop(taken);
        }
    }
}

impl Future for EvloopSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let (thread, key) = match this.state {
            State::Done => return Poll::Ready(()),
            State::Armed { thread, key } => (thread, key),
            State::Unarmed => {
                let sleep = evloop::sleep_until(this.deadline);
                let (thread, key) = SLEEPS.with(|s| (s.thread, s.slab.borrow_mut().insert(sleep)));
                this.state = State::Armed { thread, key };
                (thread, key)
            }
        };
        let ready = SLEEPS.with(|s| {
            assert_eq!(
                s.thread, thread,
                "EvloopSleep polled on another thread than its loop's"
            );
            Pin::new(&mut s.slab.borrow_mut()[key]).poll(cx).is_ready()
        });
        if !ready {
            return Poll::Pending;
        }
        this.disarm();
        this.state = State::Done;
        Poll::Ready(())
    }
}

impl hyper::rt::Sleep for EvloopSleep {}

impl Drop for EvloopSleep {
    fn drop(&mut self) {
        self.disarm();
    }
}

/// The evloop sleeps behind this thread's armed [`EvloopSleep`]s.
struct Sleeps {
    /// A number no other thread's `Sleeps` has (thread ids are not
    /// reused, unlike the addresses of thread-locals).
    thread: u64,
    slab: RefCell<Slab<evloop::Sleep>>,
}

/// The next [`Sleeps::thread`].
static NEXT_THREAD: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static SLEEPS: Sleeps = Sleeps {
        thread: NEXT_THREAD.fetch_add(1, Ordering::Relaxed),
        slab: RefCell::new(Slab::new()),
    };
}
