//! [`LoopFuture`]: asyncio's `Future`, an awaitable that the caller completes.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use crate::core::Core;
use crate::error::{Cancelled, FutureError};

/// A result that will be set later, bound to one loop (asyncio's `Future`,
/// made with [`EventLoop::create_future`](crate::EventLoop::create_future)).
///
/// A cheap `Clone` handle (an `Rc`): every clone sees the same state. Any
/// number of tasks may await it; each gets a clone of the result, so
/// awaiting needs `T: Clone`. A single consumer of a non-`Clone` value uses
/// [`take`](LoopFuture::take) or awaits [`taken`](LoopFuture::taken).
/// Done callbacks are scheduled with `call_soon`, as asyncio does.
///
/// `!Send`: to complete it from another thread, see the threads part of the
/// docs (`docs/asyncio-map.md`).
///
/// ```
/// let lp = evloop::EventLoop::new();
/// let fut = lp.create_future::<u32>();
/// let setter = fut.clone();
/// lp.call_soon(move || setter.set_result(7).unwrap()).unwrap();
/// assert_eq!(lp.run_until_complete(fut), Ok(Ok(7)));
/// ```
pub struct LoopFuture<T> {
    inner: Rc<Inner<T>>,
}

struct Inner<T> {
    core: Weak<Core>,
    state: RefCell<State<T>>,
}

/// The life of a future: `Pending` → `Done` | `Cancelled`; `Done` → `Taken`
/// when a single consumer moves the value out.
enum Slot<T> {
    Pending,
    Done(T),
    Cancelled,
    Taken,
}

type DoneCallback<T> = Box<dyn FnOnce(&LoopFuture<T>)>;

struct State<T> {
    slot: Slot<T>,
    waiters: Vec<Waker>,
    callbacks: Vec<(DoneCallback<T>, &'static Location<'static>)>,
}

impl<T: 'static> LoopFuture<T> {
    pub(crate) fn new(core: Weak<Core>) -> LoopFuture<T> {
        LoopFuture {
            inner: Rc::new(Inner {
                core,
                state: RefCell::new(State {
                    slot: Slot::Pending,
                    waiters: Vec::new(),
                    callbacks: Vec::new(),
                }),
            }),
        }
    }

    /// Completes the future with `value` and wakes every awaiter. A second
    /// call (or a call after `cancel`) returns `Err(InvalidState)` and drops
    /// `value`.
    pub fn set_result(&self, value: T) -> Result<(), FutureError> {
        self.complete(Slot::Done(value))
    }

    /// Cancels the future if it is pending; awaiters get `Err(Cancelled)`.
    /// Returns whether it was pending.
    pub fn cancel(&self) -> bool {
        self.complete(Slot::Cancelled).is_ok()
    }

    /// Whether a result was set or the future cancelled.
    pub fn done(&self) -> bool {
        !matches!(self.inner.state.borrow().slot, Slot::Pending)
    }

    /// Whether the future was cancelled.
    pub fn cancelled(&self) -> bool {
        matches!(self.inner.state.borrow().slot, Slot::Cancelled)
    }

    /// Moves the result out, for a single consumer of a non-`Clone` value.
    /// `Err(InvalidState)` while pending or once taken; `Err(Cancelled)` if
    /// cancelled.
    pub fn take(&self) -> Result<T, FutureError> {
        let mut state = self.inner.state.borrow_mut();
        match std::mem::replace(&mut state.slot, Slot::Taken) {
            Slot::Done(v) => Ok(v),
            other => {
                let err = match other {
                    Slot::Cancelled => FutureError::Cancelled,
                    _ => FutureError::InvalidState,
                };
                state.slot = other;
                Err(err)
            }
        }
    }

    /// Awaits completion, then takes the result (see [`take`](LoopFuture::take)).
    pub fn taken(self) -> Taken<T> {
        Taken { fut: self }
    }

    /// Runs `f` (through `call_soon`) once the future is done; right away
    /// (next iteration) if it already is. On a closed loop, callbacks are
    /// dropped, as `close()` drops every pending callback.
    #[track_caller]
    pub fn add_done_callback<F>(&self, f: F)
    where
        F: FnOnce(&LoopFuture<T>) + 'static,
    {
        let location = Location::caller();
        let mut state = self.inner.state.borrow_mut();
        if matches!(state.slot, Slot::Pending) {
            state.callbacks.push((Box::new(f), location));
            return;
        }
        drop(state);
        self.schedule_callback(Box::new(f), location);
    }

    fn complete(&self, slot: Slot<T>) -> Result<(), FutureError> {
        let mut state = self.inner.state.borrow_mut();
        if !matches!(state.slot, Slot::Pending) {
            drop(state);
            drop(slot);
            return Err(FutureError::InvalidState);
        }
        state.slot = slot;
        let waiters = std::mem::take(&mut state.waiters);
        let callbacks = std::mem::take(&mut state.callbacks);
        drop(state);
        waiters.into_iter().for_each(Waker::wake);
        for (cb, location) in callbacks {
            self.schedule_callback(cb, location);
        }
        Ok(())
    }

    fn schedule_callback(&self, cb: DoneCallback<T>, location: &'static Location<'static>) {
        let Some(core) = self.inner.core.upgrade() else {
            return;
        };
        let fut = self.clone();
        let _ = core.call_soon(Box::new(move || cb(&fut)), location);
    }

    /// Registers `cx`'s waker, or reports the state if no longer pending.
    fn poll_state<R>(&self, cx: &mut Context<'_>, done: impl FnOnce(&mut Slot<T>) -> R) -> Poll<R> {
        let mut state = self.inner.state.borrow_mut();
        if let Slot::Pending = state.slot {
            let waker = cx.waker();
            if !state.waiters.iter().any(|w| w.will_wake(waker)) {
                state.waiters.push(waker.clone());
            }
            return Poll::Pending;
        }
        Poll::Ready(done(&mut state.slot))
    }
}

impl<T: Clone + 'static> LoopFuture<T> {
    /// A clone of the result: `Err(InvalidState)` while pending or after
    /// `take`, `Err(Cancelled)` if cancelled.
    pub fn result(&self) -> Result<T, FutureError> {
        match &self.inner.state.borrow().slot {
            Slot::Done(v) => Ok(v.clone()),
            Slot::Cancelled => Err(FutureError::Cancelled),
            Slot::Pending | Slot::Taken => Err(FutureError::InvalidState),
        }
    }
}

impl<T> Clone for LoopFuture<T> {
    fn clone(&self) -> Self {
        LoopFuture {
            inner: self.inner.clone(),
        }
    }
}

impl<T: Clone + 'static> Future for LoopFuture<T> {
    type Output = Result<T, Cancelled>;

    /// # Panics
    ///
    /// If the value was moved out with `take()`: a single-consumer future
    /// awaited by a second consumer is a bug, reported rather than hung.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_state(cx, |slot| match slot {
            Slot::Done(v) => Ok(v.clone()),
            Slot::Cancelled => Err(Cancelled),
            Slot::Taken => panic!("LoopFuture awaited after its value was taken with take()"),
            Slot::Pending => unreachable!("poll_state handles Pending"),
        })
    }
}

impl<T> fmt::Debug for LoopFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.inner.state.try_borrow().map(|s| match s.slot {
            Slot::Pending => "pending",
            Slot::Done(_) => "done",
            Slot::Cancelled => "cancelled",
            Slot::Taken => "taken",
        }) {
            Ok(s) => s,
            Err(_) => "<borrowed>",
        };
        f.debug_struct("LoopFuture").field("state", &state).finish()
    }
}

/// Awaits a [`LoopFuture`] and takes its value ([`LoopFuture::taken`]).
#[must_use = "futures do nothing unless awaited"]
pub struct Taken<T> {
    fut: LoopFuture<T>,
}

impl<T: 'static> Future for Taken<T> {
    type Output = Result<T, FutureError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.fut.poll_state(cx, |slot| match std::mem::replace(slot, Slot::Taken) {
            Slot::Done(v) => Ok(v),
            Slot::Cancelled => {
                *slot = Slot::Cancelled;
                Err(FutureError::Cancelled)
            }
            _ => Err(FutureError::InvalidState),
        })
    }
}
