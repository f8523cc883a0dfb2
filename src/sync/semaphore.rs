//! [`Semaphore`] and [`Lock`]: asyncio's, with permits and guards that
//! give back on drop.
//!
//! A permit released while tasks wait is *handed* to the first of them
//! (the count does not go up), so a task that comes later cannot take it
//! first: waiters are served in arrival order. A waiter dropped after it
//! was handed a permit, before it ran, hands it on in turn.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::wait_queue::{WaitQueue, WaiterKey, WakerSource};

/// A count of permits that tasks acquire and release (asyncio's
/// `Semaphore`; tokio's `sync::Semaphore`). Cheap to clone: clones share
/// the permits.
///
/// ```
/// use evloop::sync::Semaphore;
/// use std::{cell::Cell, rc::Rc};
/// let most = evloop::run(async {
///     let sem = Semaphore::new(2);
///     let (inside, most) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
///     let tasks: Vec<_> = (0..5)
///         .map(|_| {
///             let (sem, inside, most) = (sem.clone(), inside.clone(), most.clone());
///             evloop::ensure_future(async move {
///                 let _permit = sem.acquire().await;
///                 inside.set(inside.get() + 1);
///                 most.set(most.get().max(inside.get()));
///                 evloop::yield_now().await;
///                 inside.set(inside.get() - 1);
///             })
///         })
///         .collect();
///     for t in tasks {
///         t.await.unwrap();
///     }
///     most.get()
/// });
/// assert_eq!(most, Ok(2));
/// ```
#[derive(Clone)]
pub struct Semaphore {
    inner: Rc<RefCell<State>>,
}

struct State {
    /// Permits nobody holds. While it is above zero nobody waits.
    permits: usize,
    /// Waiting acquirers; a served node was handed a permit.
    waiters: WaitQueue<()>,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            inner: Rc::new(RefCell::new(State {
                permits,
                waiters: WaitQueue::default(),
            })),
        }
    }

    /// Waits for a permit; it is released when the returned
    /// [`SemaphorePermit`] drops. Cancellation: dropping the future at any
    /// point loses no permit.
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire {
            semaphore: self,
            key: None,
            done: false,
        }
    }

    /// A permit if one is free now and nobody waits for one.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        let mut state = self.inner.borrow_mut();
        if state.permits == 0 {
            return None;
        }
        state.permits -= 1;
        Some(SemaphorePermit { semaphore: self })
    }

    /// Adds `n` permits: each goes to a waiting task first, in arrival
    /// order.
    pub fn add_permits(&self, n: usize) {
        for _ in 0..n {
            self.release();
        }
    }

    /// Permits free now (asyncio's `_value`).
    pub fn available_permits(&self) -> usize {
        self.inner.borrow().permits
    }

    /// Whether an `acquire` would wait (asyncio's `locked()`).
    pub fn locked(&self) -> bool {
        self.available_permits() == 0
    }

    /// One permit back: to the first waiter if any, else to the count.
    fn release(&self) {
        let mut state = self.inner.borrow_mut();
        match state.waiters.serve_front_with(()) {
            Ok(waker) => {
                drop(state);
                waker.wake();
            }
            Err(()) => state.permits += 1,
        }
    }

    /// Tasks waiting and nodes left (for tests).
    #[cfg(test)]
    fn waiting(&self) -> (usize, usize) {
        let state = self.inner.borrow();
        (state.waiters.waiting(), state.waiters.nodes())
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.borrow();
        f.debug_struct("Semaphore")
            .field("permits", &state.permits)
            .field("waiters", &state.waiters.waiting())
            .finish()
    }
}

/// A permit of a [`Semaphore`], given back when dropped.
#[must_use = "the permit is released at once if not kept"]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit out of the semaphore for good (the count goes
    /// down by one).
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.semaphore.release();
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphorePermit")
    }
}

/// The future of [`Semaphore::acquire`].
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    semaphore: &'a Semaphore,
    key: Option<WaiterKey>,
    /// Returned its permit (polling again must not take another).
    done: bool,
}

impl<'a> Future for Acquire<'a> {
    type Output = SemaphorePermit<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        let this = self.get_mut();
        assert!(!this.done, "`Acquire` polled after it completed");
        let mut waker = WakerSource::new(cx.waker());
        let mut state = this.semaphore.inner.borrow_mut();
        let acquired = match &this.key {
            Some(key) if state.waiters.is_served(key) => {
                state
                    .waiters
                    .remove(this.key.take().expect("checked above"));
                true
            }
            Some(_) => false,
            None if state.permits > 0 => {
                state.permits -= 1;
                true
            }
            None => false,
        };
        if acquired {
            this.done = true;
            return Poll::Ready(SemaphorePermit {
                semaphore: this.semaphore,
            });
        }
        let old = state.waiters.wait(&mut this.key, &mut waker, || None);
        drop(state);
        drop(old);
        Poll::Pending
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let removed = self.semaphore.inner.borrow_mut().waiters.remove(key);
        if removed.served {
            // Handed a permit it will never use: hand it on.
            self.semaphore.release();
        }
    }
}

/// A mutual-exclusion lock for tasks (asyncio's `Lock`; tokio's
/// `sync::Mutex<()>`). Like asyncio's, it guards no data: keep the data in
/// a `RefCell` beside it. Cheap to clone: clones are one lock. Waiters get
/// it in the order they asked.
///
/// ```
/// use evloop::sync::Lock;
/// evloop::run(async {
///     let lock = Lock::new();
///     let guard = lock.lock().await;
///     assert!(lock.locked());
///     assert!(lock.try_lock().is_none());
///     drop(guard);
///     assert!(!lock.locked());
/// })
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct Lock {
    semaphore: Semaphore,
}

impl Lock {
    /// An unlocked lock.
    pub fn new() -> Lock {
        Lock {
            semaphore: Semaphore::new(1),
        }
    }

    /// Waits for the lock; it is released when the [`LockGuard`] drops.
    /// Cancellation: dropping the future at any point never leaves the
    /// lock held.
    pub fn lock(&self) -> LockAcquire<'_> {
        LockAcquire {
            acquire: self.semaphore.acquire(),
            lock: self,
        }
    }

    /// The lock if it is free now and nobody waits for it.
    pub fn try_lock(&self) -> Option<LockGuard<'_>> {
        self.semaphore.try_acquire().map(|permit| LockGuard {
            lock: self,
            _permit: permit,
        })
    }

    /// Whether the lock is held (or handed to a waiter that has not run
    /// yet).
    pub fn locked(&self) -> bool {
        self.semaphore.locked()
    }

    /// Whether `guard` holds this lock.
    pub(crate) fn holds(&self, guard: &LockGuard<'_>) -> bool {
        Rc::ptr_eq(&self.semaphore.inner, &guard.lock.semaphore.inner)
    }
}

impl Default for Lock {
    fn default() -> Lock {
        Lock::new()
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .finish()
    }
}

/// A held [`Lock`], released when dropped.
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
    _permit: SemaphorePermit<'a>,
}

impl<'a> LockGuard<'a> {
    /// The lock this guard holds.
    pub fn lock(&self) -> &'a Lock {
        self.lock
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockGuard")
    }
}

/// The future of [`Lock::lock`].
#[must_use = "futures do nothing unless awaited"]
pub struct LockAcquire<'a> {
    acquire: Acquire<'a>,
    lock: &'a Lock,
}

impl<'a> Future for LockAcquire<'a> {
    type Output = LockGuard<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a>> {
        let this = self.get_mut();
        Pin::new(&mut this.acquire)
            .poll(cx)
            .map(|permit| LockGuard {
                lock: this.lock,
                _permit: permit,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_released_permit_goes_to_the_first_waiter_not_a_newcomer() {
        let sem = Semaphore::new(1);
        let held = sem.try_acquire().unwrap();
        let mut waiter = sem.acquire();
        assert!(poll(&mut waiter).is_pending());
        drop(held);
        assert!(sem.try_acquire().is_none(), "handed to the waiter");
        assert!(poll(&mut waiter).is_ready());
    }

    #[test]
    fn a_waiter_dropped_after_it_was_handed_a_permit_hands_it_on() {
        let sem = Semaphore::new(1);
        let held = sem.try_acquire().unwrap();
        let (mut a, mut b) = (sem.acquire(), sem.acquire());
        assert!(poll(&mut a).is_pending());
        assert!(poll(&mut b).is_pending());
        drop(held); // to `a`
        drop(a); // on to `b`
        let permit = match poll(&mut b) {
            Poll::Ready(p) => p,
            Poll::Pending => panic!("the permit was lost"),
        };
        drop(permit);
        drop(b);
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.waiting(), (0, 0));
    }

    #[test]
    fn forget_keeps_the_permit_out() {
        let sem = Semaphore::new(2);
        sem.try_acquire().unwrap().forget();
        assert_eq!(sem.available_permits(), 1);
        sem.add_permits(3);
        assert_eq!(sem.available_permits(), 4);
    }
}
