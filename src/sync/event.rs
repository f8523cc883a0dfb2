//! [`Event`]: asyncio's `Event`.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::waiters::{self, WaiterList, WaiterSlot};

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
    /// The tasks waiting. Each `set()` that finds the flag clear wakes them
    /// all and starts a new epoch of the list: a waiter registered in an
    /// earlier epoch was woken by a `set`, and completes even if `clear()`
    /// came since.
    waiters: WaiterList,
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
        let mut foreign = Vec::new();
        state.waiters.wake_all(&mut foreign);
        drop(state);
        if !foreign.is_empty() {
            foreign.into_iter().for_each(Waker::wake);
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

    /// Waits until the flag is set (immediately if it is). Dropping the
    /// wait before it ends (a `wait_for` that timed out) takes its waker
    /// out of the event's list.
    pub fn wait(&self) -> EventWait {
        EventWait {
            event: self.clone(),
            slot: WaiterSlot::NONE,
        }
    }

    /// How many `wait()`s are registered and not yet woken.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.inner.borrow().waiters.len()
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
    /// Where this waiter's waker sits in the event's list, and in which
    /// epoch (`WaiterSlot::NONE` before the first poll that waited): a
    /// later epoch means a `set` has woken this waiter.
    slot: WaiterSlot,
}

impl Future for EventWait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let first = this.slot;
        let waiting = waiters::register(&this.event.inner, &mut this.slot, cx.waker(), |s| {
            let woken = first.is_some() && first.epoch() != s.waiters.epoch();
            (!s.set && !woken).then_some(&mut s.waiters)
        });
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

impl Drop for EventWait {
    fn drop(&mut self) {
        waiters::unregister(&self.event.inner, &mut self.slot, |s| Some(&mut s.waiters));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn dropped_waits_leave_no_entry() {
        let ev = Event::new();
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..10_000 {
            let mut wait = ev.wait();
            assert!(Pin::new(&mut wait).poll(&mut cx).is_pending());
        }
        assert_eq!(ev.waiting(), 0);
    }

    #[test]
    fn a_set_wakes_a_waiter_even_if_clear_follows() {
        let ev = Event::new();
        let mut cx = Context::from_waker(Waker::noop());
        let mut wait = ev.wait();
        assert!(Pin::new(&mut wait).poll(&mut cx).is_pending());
        ev.set();
        ev.clear();
        assert!(Pin::new(&mut wait).poll(&mut cx).is_ready());
        let mut later = ev.wait();
        assert!(Pin::new(&mut later).poll(&mut cx).is_pending());
    }
}
