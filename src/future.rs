//! [`LoopFuture`]: asyncio's `Future`, an awaitable that the caller completes.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use crate::callback::InlineFn;
use crate::core::{Core, LoopValueId};
use crate::error::{Cancelled, FutureError, LoopClosed};
use crate::loop_handle::LoopHandle;
use crate::sync::waiters::{self, WaiterList, WaiterSlot};

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
    /// Where this handle's waker sits in `waiters`, once it awaited: a
    /// re-poll updates that entry instead of scanning the list (which made
    /// N awaiters cost O(N²)), and dropping the handle removes it (an
    /// awaiter that gives up leaves nothing behind). Clones start without
    /// one.
    waiter: WaiterSlot,
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
    waiters: WaiterList,
    callbacks: Vec<(DoneCallback<T>, &'static Location<'static>)>,
}

impl<T: 'static> LoopFuture<T> {
    pub(crate) fn new(core: Weak<Core>) -> LoopFuture<T> {
        LoopFuture {
            waiter: WaiterSlot::NONE,
            inner: Rc::new(Inner {
                core,
                state: RefCell::new(State {
                    slot: Slot::Pending,
                    waiters: WaiterList::default(),
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

    /// A `Send` setter, for completing this future from another thread.
    ///
    /// A `LoopFuture` is `!Send`, so asyncio's habit of calling
    /// `fut.set_result` from a foreign thread (a data race in the Python
    /// original) cannot compile. The setter carries only an id that the loop
    /// resolves: its `set_result` hops onto the loop through
    /// `call_soon_threadsafe`. Dropping it unused cancels the future, so a
    /// worker thread that dies does not leave a task waiting forever.
    ///
    /// # Panics
    ///
    /// If the future's loop is gone (dropped).
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// let fut = lp.create_future::<u64>();
    /// let setter = fut.threadsafe_setter();
    /// std::thread::spawn(move || setter.set_result(5 * 5).unwrap());
    /// assert_eq!(lp.run_until_complete(fut), Ok(Ok(25)));
    /// ```
    pub fn threadsafe_setter(&self) -> ThreadsafeSetter<T>
    where
        T: Send,
    {
        let core = self
            .inner
            .core
            .upgrade()
            .expect("LoopFuture::threadsafe_setter: the future's loop was dropped");
        let id = core.register_value(Box::new(self.clone()));
        ThreadsafeSetter {
            handle: LoopHandle::new(core.shared().clone()),
            id,
            armed: true,
            _value: PhantomData,
        }
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
        let mut foreign = Vec::new();
        state.waiters.wake_all(&mut foreign);
        let callbacks = std::mem::take(&mut state.callbacks);
        drop(state);
        if !foreign.is_empty() {
            foreign.into_iter().for_each(Waker::wake);
        }
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
        let _ = core.call_soon(InlineFn::new(move || cb(&fut)), location);
    }

    /// Registers `cx`'s waker, or reports the state if no longer pending.
    fn poll_state<R>(
        &mut self,
        cx: &mut Context<'_>,
        done: impl FnOnce(&mut Slot<T>) -> R,
    ) -> Poll<R> {
        let waiting = waiters::register(&self.inner.state, &mut self.waiter, cx.waker(), |s| {
            matches!(s.slot, Slot::Pending).then_some(&mut s.waiters)
        });
        if waiting {
            return Poll::Pending;
        }
        Poll::Ready(done(&mut self.inner.state.borrow_mut().slot))
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
            waiter: WaiterSlot::NONE,
        }
    }
}

impl<T> Drop for LoopFuture<T> {
    /// An awaiter that gives up (a timed-out `wait_for`, a lost race)
    /// takes its waker out of the list.
    fn drop(&mut self) {
        waiters::unregister(&self.inner.state, &mut self.waiter, |s| {
            Some(&mut s.waiters)
        });
    }
}

impl<T: Clone + 'static> Future for LoopFuture<T> {
    type Output = Result<T, Cancelled>;

    /// # Panics
    ///
    /// If the value was moved out with `take()`: a single-consumer future
    /// awaited by a second consumer is a bug, reported rather than hung.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().poll_state(cx, |slot| match slot {
            Slot::Done(v) => Ok(v.clone()),
            Slot::Cancelled => Err(Cancelled),
            Slot::Taken => panic!("LoopFuture awaited after its value was taken with take()"),
            Slot::Pending => unreachable!("poll_state handles Pending"),
        })
    }
}

impl<T> fmt::Debug for LoopFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self
            .inner
            .state
            .try_borrow()
            .map(|s| match s.slot {
                Slot::Pending => "pending",
                Slot::Done(_) => "done",
                Slot::Cancelled => "cancelled",
                Slot::Taken => "taken",
            })
            .unwrap_or("<borrowed>");
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
        self.get_mut()
            .fut
            .poll_state(cx, |slot| match std::mem::replace(slot, Slot::Taken) {
                Slot::Done(v) => Ok(v),
                Slot::Cancelled => {
                    *slot = Slot::Cancelled;
                    Err(FutureError::Cancelled)
                }
                _ => Err(FutureError::InvalidState),
            })
    }
}

/// Completes a [`LoopFuture`] from any thread
/// ([`LoopFuture::threadsafe_setter`]). `Send`; one use.
pub struct ThreadsafeSetter<T: Send + 'static> {
    handle: LoopHandle,
    id: LoopValueId,
    /// Still to be used: dropping it cancels the future.
    armed: bool,
    _value: PhantomData<fn(T)>,
}

impl<T: Send + 'static> ThreadsafeSetter<T> {
    /// Sets the future's result, on the loop thread, in a later iteration.
    /// `Err(LoopClosed)` (and `value` dropped here) if the loop is closed.
    /// If code on the loop completed or cancelled the future meanwhile,
    /// `value` is dropped there, as `set_result` refuses a done future.
    pub fn set_result(mut self, value: T) -> Result<(), LoopClosed> {
        self.armed = false;
        let id = self.id;
        self.handle
            .call_soon_threadsafe(move || resolve(id, Some(value)))
    }

    /// Cancels the future, on the loop thread (as dropping the setter does).
    pub fn cancel(mut self) -> Result<(), LoopClosed> {
        self.armed = false;
        let id = self.id;
        self.handle
            .call_soon_threadsafe(move || resolve::<T>(id, None))
    }
}

impl<T: Send + 'static> Drop for ThreadsafeSetter<T> {
    fn drop(&mut self) {
        if self.armed {
            let id = self.id;
            // A closed loop already dropped the future: nothing to resolve.
            let _ = self
                .handle
                .call_soon_threadsafe(move || resolve::<T>(id, None));
        }
    }
}

impl<T: Send + 'static> fmt::Debug for ThreadsafeSetter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadsafeSetter")
            .field("id", &self.id)
            .finish()
    }
}

/// On the loop thread: complete (or cancel) the registered future.
fn resolve<T: 'static>(id: LoopValueId, value: Option<T>) {
    let Some(core) = crate::core::current() else {
        return;
    };
    let Some(any) = core.take_value(id) else {
        return;
    };
    if let Ok(fut) = any.downcast::<LoopFuture<T>>() {
        match value {
            Some(v) => drop(fut.set_result(v)),
            None => drop(fut.cancel()),
        }
    }
}
