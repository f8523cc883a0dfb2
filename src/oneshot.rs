//! A one-value channel between threads: the result of an executor job or of
//! a `run_coroutine_threadsafe` task travels through it.
//!
//! The receiver can await it (a `Waker`), block on it (a `Condvar`), or
//! cancel it; the sender can watch for that cancellation (its own `Waker`).
//! A sender dropped without sending resolves the channel to `Dropped`, so a
//! receiver never waits for a value that cannot come.

use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::sync::shim::{Arc, AtomicBool, Condvar, Mutex, Ordering};

/// What the receiver finds.
pub(crate) enum Outcome<T> {
    /// The sender sent a value.
    Value(T),
    /// The receiver cancelled before a value came.
    Cancelled,
    /// The sender was dropped without sending.
    Dropped,
    /// The value was already taken by an earlier receive.
    Taken,
}

enum Slot<T> {
    Empty,
    Full(T),
    Cancelled,
    Dropped,
    Taken,
}

struct State<T> {
    slot: Slot<T>,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
}

struct Inner<T> {
    state: Mutex<State<T>>,
    filled: Condvar,
    /// Set (after the slot) when the channel is resolved: what a spinning
    /// receiver watches without taking the lock.
    resolved: AtomicBool,
}

pub(crate) struct Sender<T> {
    inner: Arc<Inner<T>>,
    sent: bool,
}

pub(crate) struct Receiver<T> {
    inner: Arc<Inner<T>>,
}

pub(crate) fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State {
            slot: Slot::Empty,
            rx_waker: None,
            tx_waker: None,
        }),
        filled: Condvar::new(),
        resolved: AtomicBool::new(false),
    });
    (
        Sender {
            inner: inner.clone(),
            sent: false,
        },
        Receiver { inner },
    )
}

impl<T> Inner<T> {
    /// Fills an empty slot and wakes the receiver; wakers run after the
    /// lock is released. Gives back `slot` if it was not empty.
    fn fill(&self, slot: Slot<T>) -> Result<(), Slot<T>> {
        let mut state = self.state.lock();
        if !matches!(state.slot, Slot::Empty) {
            return Err(slot);
        }
        state.slot = slot;
        self.resolved.store(true, Ordering::Release);
        let rx = state.rx_waker.take();
        let tx = state.tx_waker.take();
        drop(state);
        self.filled.notify_all();
        rx.into_iter().chain(tx).for_each(Waker::wake);
        Ok(())
    }
}

impl<T> Sender<T> {
    /// Sends `value`; it is dropped (here) if the receiver cancelled.
    pub(crate) fn send(mut self, value: T) {
        self.sent = true;
        let _ = self.inner.fill(Slot::Full(value));
    }

    /// Whether the receiver cancelled; otherwise registers `cx` to be woken
    /// when it does.
    pub(crate) fn poll_cancelled(&self, cx: &mut Context<'_>) -> bool {
        let mut state = self.inner.state.lock();
        if matches!(state.slot, Slot::Cancelled) {
            return true;
        }
        match &mut state.tx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        false
    }

    /// Whether the receiver cancelled.
    pub(crate) fn is_cancelled(&self) -> bool {
        matches!(self.inner.state.lock().slot, Slot::Cancelled)
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if !self.sent {
            let _ = self.inner.fill(Slot::Dropped);
        }
    }
}

impl<T> Receiver<T> {
    /// Cancels if nothing was sent yet; returns whether it did.
    pub(crate) fn cancel(&self) -> bool {
        self.inner.fill(Slot::Cancelled).is_ok()
    }

    /// Whether the channel is resolved (sent, cancelled or dropped).
    pub(crate) fn is_done(&self) -> bool {
        !matches!(self.inner.state.lock().slot, Slot::Empty)
    }

    /// Takes the outcome if resolved; else registers `cx`.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Outcome<T>> {
        let mut state = self.inner.state.lock();
        if let Slot::Empty = state.slot {
            match &mut state.rx_waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        Poll::Ready(take(&mut state.slot))
    }

    /// Blocks until resolved or until `deadline`; `None` on timeout. Spins
    /// for up to `spin` first (a futex wake costs tens of µs on a VM; a
    /// value that arrives within the spin is taken without sleeping).
    pub(crate) fn recv_blocking(
        &self,
        deadline: Option<Instant>,
        spin: Duration,
    ) -> Option<Outcome<T>> {
        crate::sync::spin::spin_until(spin, || self.inner.resolved.load(Ordering::Acquire));
        let mut state = self.inner.state.lock();
        while let Slot::Empty = state.slot {
            match deadline {
                None => self.inner.filled.wait(&mut state),
                Some(d) => {
                    if self.inner.filled.wait_until(&mut state, d).timed_out() {
                        if let Slot::Empty = state.slot {
                            return None;
                        }
                    }
                }
            }
        }
        Some(take(&mut state.slot))
    }
}

/// Moves the outcome out, leaving `Taken` (a value) or the same state.
fn take<T>(slot: &mut Slot<T>) -> Outcome<T> {
    match std::mem::replace(slot, Slot::Taken) {
        Slot::Full(v) => Outcome::Value(v),
        Slot::Cancelled => {
            *slot = Slot::Cancelled;
            Outcome::Cancelled
        }
        Slot::Dropped => {
            *slot = Slot::Dropped;
            Outcome::Dropped
        }
        Slot::Taken => Outcome::Taken,
        Slot::Empty => unreachable!("callers check for Empty first"),
    }
}
