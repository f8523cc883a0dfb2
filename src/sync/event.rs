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
            generation: None,
            slot: None,
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
    /// The generation seen at the first poll.
    generation: Option<u64>,
    /// Where this waiter's waker sits in `waiters`: valid within the
    /// generation it was stored in (a `set` empties the list).
    slot: Option<(u64, usize)>,
}

impl Future for EventWait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut state = this.event.inner.borrow_mut();
        let first = *this.generation.get_or_insert(state.generation);
        if state.set || state.generation != first {
            return Poll::Ready(());
        }
        let current = state.generation;
        let slot = this.slot.filter(|(g, _)| *g == current).map(|(_, i)| i);
        let index = crate::future::register(&mut state.waiters, slot, cx.waker());
        this.slot = Some((current, index));
        Poll::Pending
    }
}
