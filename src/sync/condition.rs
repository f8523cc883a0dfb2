//! [`Condition`]: asyncio's condition variable, over a [`Lock`].

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::semaphore::{Lock, LockAcquire, LockGuard};
use super::wait_queue::{WaitQueue, WaiterKey, WakerSource, Wakes};

/// Lets tasks wait, with a [`Lock`] released meanwhile, until another task
/// notifies them (asyncio's `Condition`; tokio's nearest is `Notify`).
///
/// [`wait`](Condition::wait) takes the guard of the condition's lock,
/// releases the lock, waits for a [`notify`](Condition::notify), takes the
/// lock again and gives the guard back. Waiters are notified in the order
/// they started waiting. Unlike asyncio, `notify` does not require the
/// lock: on one thread a waiter is in line before it releases the lock
/// (in the same poll), so a notification cannot slip between. Cheap to
/// clone: clones are one condition.
///
/// ```
/// use evloop::sync::Condition;
/// use std::{cell::Cell, rc::Rc};
/// let out = evloop::run(async {
///     let (cond, ready) = (Condition::new(), Rc::new(Cell::new(false)));
///     let waiter = evloop::ensure_future({
///         let (cond, ready) = (cond.clone(), ready.clone());
///         async move {
///             let guard = cond.lock().await;
///             let _guard = cond.wait_for(guard, || ready.get()).await;
///             "ready"
///         }
///     });
///     evloop::yield_now().await; // the waiter waits
///     let _guard = cond.lock().await;
///     ready.set(true);
///     cond.notify_all();
///     drop(_guard);
///     waiter.await.unwrap()
/// });
/// assert_eq!(out, Ok("ready"));
/// ```
#[derive(Clone)]
pub struct Condition {
    lock: Lock,
    /// Waiting tasks; a served node was notified.
    waiters: Rc<RefCell<WaitQueue<()>>>,
}

impl Condition {
    /// A condition with a lock of its own.
    pub fn new() -> Condition {
        Condition::with_lock(Lock::new())
    }

    /// A condition over `lock` (asyncio's `Condition(lock)`), which other
    /// code may lock directly as well.
    pub fn with_lock(lock: Lock) -> Condition {
        Condition {
            lock,
            waiters: Rc::default(),
        }
    }

    /// Waits for the condition's lock (see [`Lock::lock`]).
    pub fn lock(&self) -> LockAcquire<'_> {
        self.lock.lock()
    }

    /// Whether the condition's lock is held.
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Releases the lock `guard` holds, waits for a notification, then
    /// takes the lock again and returns its guard.
    ///
    /// Cancellation: dropping the future after it was notified, before it
    /// took the lock back, passes the notification to the next waiter.
    ///
    /// # Panics
    ///
    /// If `guard` holds another lock than the condition's.
    #[track_caller]
    pub fn wait<'a>(&'a self, guard: LockGuard<'a>) -> ConditionWait<'a> {
        assert!(
            self.lock.holds(&guard),
            "Condition::wait: the guard is of another lock than the condition's"
        );
        ConditionWait {
            condition: self,
            stage: Stage::Start(guard),
        }
    }

    /// Waits (as [`wait`](Condition::wait), repeatedly) until `predicate`
    /// holds; it is checked with the lock held, first before any wait.
    #[track_caller]
    pub fn wait_for<'a>(
        &'a self,
        guard: LockGuard<'a>,
        mut predicate: impl FnMut() -> bool + 'a,
    ) -> impl Future<Output = LockGuard<'a>> + 'a {
        assert!(
            self.lock.holds(&guard),
            "Condition::wait_for: the guard is of another lock than the condition's"
        );
        async move {
            let mut guard = guard;
            while !predicate() {
                guard = self.wait(guard).await;
            }
            guard
        }
    }

    /// Wakes up to `n` waiting tasks, first come first; returns how many.
    pub fn notify(&self, n: usize) -> usize {
        let mut wakes = Wakes::default();
        let mut waiters = self.waiters.borrow_mut();
        let mut woken = 0;
        while woken < n {
            match waiters.serve_front_with(()) {
                Ok(waker) => wakes.push(waker),
                Err(()) => break,
            }
            woken += 1;
        }
        drop(waiters);
        wakes.wake();
        woken
    }

    /// Wakes every waiting task.
    pub fn notify_all(&self) {
        let mut wakes = Wakes::default();
        self.waiters.borrow_mut().serve_all(&mut wakes);
        wakes.wake();
    }

    /// Tasks waiting for a notification.
    pub fn waiting(&self) -> usize {
        self.waiters.borrow().waiting()
    }
}

impl Default for Condition {
    fn default() -> Condition {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("locked", &self.locked())
            .field("waiting", &self.waiting())
            .finish()
    }
}

/// The future of [`Condition::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct ConditionWait<'a> {
    condition: &'a Condition,
    stage: Stage<'a>,
}

/// Where a [`ConditionWait`] is.
enum Stage<'a> {
    /// Not polled yet: holds the lock.
    Start(LockGuard<'a>),
    /// In line for a notification, the lock released.
    Waiting(WaiterKey),
    /// Notified: taking the lock again.
    Relocking(LockAcquire<'a>),
    /// Returned the guard.
    Done,
}

impl<'a> Future for ConditionWait<'a> {
    type Output = LockGuard<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a>> {
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.stage, Stage::Done) {
                Stage::Start(guard) => {
                    let mut waker = WakerSource::new(cx.waker());
                    let mut key = None;
                    this.condition
                        .waiters
                        .borrow_mut()
                        .wait(&mut key, &mut waker, || None);
                    this.stage = Stage::Waiting(key.expect("just put in line"));
                    // In line first, then the lock goes: a task that takes
                    // it next and notifies reaches this waiter.
                    drop(guard);
                    return Poll::Pending;
                }
                Stage::Waiting(key) => {
                    let mut waiters = this.condition.waiters.borrow_mut();
                    if !waiters.is_served(&key) {
                        let mut waker = WakerSource::new(cx.waker());
                        let mut key = Some(key);
                        let old = waiters.wait(&mut key, &mut waker, || None);
                        drop(waiters);
                        drop(old);
                        this.stage = Stage::Waiting(key.expect("still in line"));
                        return Poll::Pending;
                    }
                    waiters.remove(key);
                    drop(waiters);
                    this.stage = Stage::Relocking(this.condition.lock.lock());
                }
                Stage::Relocking(mut acquire) => {
                    if let Poll::Ready(guard) = Pin::new(&mut acquire).poll(cx) {
                        return Poll::Ready(guard);
                    }
                    this.stage = Stage::Relocking(acquire);
                    return Poll::Pending;
                }
                Stage::Done => panic!("`ConditionWait` polled after it completed"),
            }
        }
    }
}

impl Drop for ConditionWait<'_> {
    fn drop(&mut self) {
        if let Stage::Waiting(key) = std::mem::replace(&mut self.stage, Stage::Done) {
            let removed = self.condition.waiters.borrow_mut().remove(key);
            if removed.served {
                // Notified, and will never act on it: pass it on.
                self.condition.notify(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
    }

    fn guard(cond: &Condition) -> LockGuard<'_> {
        match poll(&mut cond.lock()) {
            Poll::Ready(g) => g,
            Poll::Pending => panic!("the lock is held"),
        }
    }

    #[test]
    fn a_notified_waiter_dropped_before_it_ran_passes_the_notification_on() {
        let cond = Condition::new();
        let mut a = cond.wait(guard(&cond));
        assert!(poll(&mut a).is_pending());
        let mut b = cond.wait(guard(&cond));
        assert!(poll(&mut b).is_pending());
        assert!(!cond.locked(), "waiting releases the lock");
        assert_eq!(cond.notify(1), 1); // `a`
        drop(a); // ... passes it to `b`
        assert!(poll(&mut b).is_ready());
        assert_eq!(cond.waiting(), 0);
    }

    #[test]
    #[should_panic(expected = "another lock")]
    fn waiting_with_the_guard_of_another_lock_is_refused() {
        let (cond, other) = (Condition::new(), Lock::new());
        let g = other.try_lock().unwrap();
        drop(cond.wait(g));
    }
}
