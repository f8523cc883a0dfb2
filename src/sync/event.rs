//! [`Event`]: asyncio's `Event`.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A flag that tasks can wait for (asyncio's `Event`).
///
/// `set()` wakes every waiter; `clear()` resets the flag. A waiter woken by
/// a `set()` completes even if `clear()` follows before it runs (each `set`
/// opens a new generation, as asyncio resolves each waiter's future).
/// Cheap to clone: clones share the flag.
///
/// ```
/// use evloop::sync::Event;
/// let ev = Event::new();
/// let out = evloop::run({
///     let ev = ev.clone();
///     async move {
///         let waiter = evloop::ensure_future({
///             let ev = ev.clone();
///             async move { ev.wait().await; "woken" }
///         });
///         ev.set();
///         waiter.await.unwrap()
///     }
/// });
/// assert_eq!(out, Ok("woken"));
/// ```
#[derive(Clone, Default)]
pub struct Event {
    inner: Rc<RefCell<State>>,
}

#[derive(Default)]
struct State {
    set: bool,
    /// Counts `set()` calls that found the flag clear.
    generation: u64,
    waiters: Vec<Waker>,
}

impl Event {
    /// A new, clear event.
    pub fn new() -> Event {
        Event::default()
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        let mut state = self.inner.borrow_mut();
        if state.set {
            return;
        }
        state.set = true;
        state.generation += 1;
        let mut waiters = std::mem::take(&mut state.waiters);
        drop(state);
        waiters.drain(..).for_each(Waker::wake);
        // Hand the emptied buffer back, so that the next waiters do not
        // allocate (a ping-pong through an `Event` would otherwise pay a
        // malloc and a free per hop).
        let mut state = self.inner.borrow_mut();
        if state.waiters.capacity() == 0 {
            state.waiters = waiters;
        }
    }

    /// Clears the flag: later `wait()`s block until the next `set()`.
    pub fn clear(&self) {
        self.inner.borrow_mut().set = false;
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.inner.borrow().set
    }

    /// Waits until the flag is set (immediately if it is).
    pub fn wait(&self) -> EventWait {
        EventWait {
            event: self.clone(),
            generation: NOT_POLLED,
            slot: NO_SLOT,
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}

/// The future of [`Event::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait {
    event: Event,
    /// The generation seen at the first poll (`NOT_POLLED` before).
    generation: u64,
    /// Where this waiter's waker sits in `waiters` (`NO_SLOT`: nowhere).
    /// Valid while the generation is still `generation`: a `set` empties
    /// the list, and the wait is over then. Plain integers with sentinels
    /// rather than `Option`s keep a waiting task 24 bytes smaller.
    slot: u32,
}

const NOT_POLLED: u64 = u64::MAX;
const NO_SLOT: u32 = u32::MAX;

impl Future for EventWait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut state = this.event.inner.borrow_mut();
        if this.generation == NOT_POLLED {
            this.generation = state.generation;
        }
        if state.set || state.generation != this.generation {
            return Poll::Ready(());
        }
        let slot = (this.slot != NO_SLOT).then_some(this.slot as usize);
        let index = crate::future::register(&mut state.waiters, slot, cx.waker());
        // More than u32::MAX - 1 waiters: fall back to a fresh slot each poll.
        this.slot = u32::try_from(index).unwrap_or(NO_SLOT);
        Poll::Pending
    }
}
