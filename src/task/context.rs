//! The thread-local state: which loop is running on this thread (and,
//! beside it, a plain pointer to its scheduler for the hot paths).
//!
//! It holds what tasks need to schedule themselves — the running loop's
//! [`Scheduler`] — and, for the layers above, the loop itself, as an
//! opaque `Rc<dyn Any>` this layer knows nothing about (the loop's own
//! module turns it back into its type). A task's waker uses the scheduler
//! to take the local path: woken on the thread where its own loop is
//! running, a task goes straight onto the ready queue (no lock, no
//! syscall); woken anywhere else, it goes through the loop's remote queue.

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::raw::RawTask;
use super::scheduler::{wake_remote, Scheduler};

struct Running {
    scheduler: Rc<Scheduler>,
    /// The loop (its `Core`), for the layers above.
    owner: Rc<dyn Any>,
    /// `owner`'s type, read once at `enter`: the hot lookups (`sleep`,
    /// `wait_for`) compare it instead of calling `Any::type_id` through
    /// the vtable.
    owner_type: TypeId,
}

thread_local! {
    static CURRENT: RefCell<Option<Running>> = const { RefCell::new(None) };
    /// The running loop's scheduler as a plain pointer, for the hot paths
    /// (a wake, keeping a waker): a `Cell` of a pointer has no destructor,
    /// so reading it is one thread-local load, where `CURRENT` costs a
    /// registration check and a `RefCell` borrow. Set and cleared together
    /// with `CURRENT`, whose `Rc` keeps the scheduler alive meanwhile.
    static SCHEDULER: Cell<*const Scheduler> = const { Cell::new(std::ptr::null()) };
    /// Operations the task being polled may still complete before it must
    /// yield (`core::tasks::TASK_BUDGET`): socket operations, channel
    /// receives and sends.
    static BUDGET: Cell<u32> = const { Cell::new(u32::MAX) };
    /// The data pointer of that task's waker (null outside a task poll):
    /// the budget limits only operations polled with it.
    static BUDGET_OWNER: Cell<*const ()> = const { Cell::new(std::ptr::null()) };
    /// Operations refused for want of budget during the current poll.
    static BUDGET_YIELDS: Cell<u32> = const { Cell::new(0) };
}

/// Gives the task whose waker is `waker` a budget of `operations` for the
/// poll about to start; `None` lifts it (the poll ended). Returns how many
/// operations were refused for want of budget since the last call.
#[inline]
pub(crate) fn set_budget(budget: Option<(u32, &Waker)>) -> u32 {
    let (operations, owner) = match budget {
        Some((operations, waker)) => (operations, waker.data()),
        None => (u32::MAX, std::ptr::null()),
    };
    BUDGET.with(|b| b.set(operations));
    BUDGET_OWNER.with(|o| o.set(owner));
    BUDGET_YIELDS.with(|y| y.replace(0))
}

/// Whether an operation polled with `waker` may complete now: always,
/// unless `waker` is the waker of the task being polled and that task has
/// spent its budget. A future polled with another waker (a runner nested
/// inside the task, such as `futures::executor::block_on`, or a
/// combinator that gives its futures wakers of their own) is not limited:
/// the budget is refilled only when the task's own poll ends, which a
/// nested runner would wait for forever.
#[inline]
fn budget_left(waker: &Waker) -> bool {
    let left = BUDGET.with(Cell::get) > 0 || !is_budget_owner(waker);
    if !left {
        BUDGET_YIELDS.with(|y| y.set(y.get().saturating_add(1)));
    }
    left
}

/// `Pending`, with the task woken to run again after what is already
/// queued, if an operation polled with `cx` must not complete now (see
/// [`budget_left`]); `Ready` if it may go on.
#[inline]
pub(crate) fn poll_budget(cx: &Context<'_>) -> Poll<()> {
    if budget_left(cx.waker()) {
        return Poll::Ready(());
    }
    cx.waker().wake_by_ref(); // to the back of the ready queue
    Poll::Pending
}

/// An operation polled with `waker` completed: it spends a unit of the
/// budget if `waker` is the budgeted task's.
#[inline]
pub(crate) fn spend_budget(waker: &Waker) {
    if is_budget_owner(waker) {
        BUDGET.with(|b| b.set(b.get().saturating_sub(1)));
    }
}

#[inline]
fn is_budget_owner(waker: &Waker) -> bool {
    waker.data() == BUDGET_OWNER.with(Cell::get) && super::raw::is_task_waker(waker)
}

/// Marks a loop as running on this thread until the guard drops: its
/// scheduler, and the loop itself as `owner`. Fails if any loop is already
/// running here.
pub(crate) fn enter<T: 'static>(scheduler: &Rc<Scheduler>, owner: Rc<T>) -> Option<EnterGuard> {
    CURRENT.with(|c| {
        // Borrowed means some loop code is on the stack: already running.
        let mut c = c.try_borrow_mut().ok()?;
        if c.is_some() {
            return None;
        }
        *c = Some(Running {
            scheduler: scheduler.clone(),
            owner,
            owner_type: TypeId::of::<T>(),
        });
        SCHEDULER.with(|s| s.set(Rc::as_ptr(scheduler)));
        Some(EnterGuard(()))
    })
}

/// Clears the running loop on drop, also while unwinding.
pub(crate) struct EnterGuard(());

impl Drop for EnterGuard {
    fn drop(&mut self) {
        // The pointer goes first: the scheduler may go with the `Rc`.
        let _ = SCHEDULER.try_with(|s| s.set(std::ptr::null()));
        // Take the `Rc`s out before dropping them, outside the borrow.
        let running = CURRENT.try_with(|c| c.borrow_mut().take()).ok().flatten();
        drop(running);
    }
}

/// The running loop, as the type its module stored (`None` if no loop
/// runs here, or it is of another type).
pub(crate) fn owner<T: 'static>() -> Option<Rc<T>> {
    let owner = CURRENT
        .try_with(|c| {
            c.borrow()
                .as_ref()
                .filter(|r| r.owner_type == TypeId::of::<T>())
                .map(|r| r.owner.clone())
        })
        .ok()
        .flatten()?;
    // SAFETY: the `Rc` was made from an `Rc<T>` (`enter` recorded its
    // type, checked just above), so its data pointer points at a `T` in
    // an `Rc` allocation; dropping the vtable keeps that pointer.
    Some(unsafe { Rc::from_raw(Rc::into_raw(owner) as *const T) })
}

/// Runs `f` with the running loop's scheduler, without cloning its `Rc`
/// (the hot path of `evloop::ensure_future`); `None` if no loop runs here.
pub(crate) fn with_scheduler<R>(f: impl FnOnce(&Rc<Scheduler>) -> R) -> Option<R> {
    CURRENT
        .try_with(|c| c.borrow().as_ref().map(|r| f(&r.scheduler)))
        .ok()
        .flatten()
}

/// Runs `f` with the running loop's scheduler, read through the plain
/// pointer (the hot paths); `None` if no loop runs here. `f` must not end
/// the loop's run (it is called with scheduling work only, no user code).
#[inline]
pub(crate) fn with_running_scheduler<R>(f: impl FnOnce(&Scheduler) -> R) -> Option<R> {
    let scheduler = SCHEDULER.with(Cell::get);
    if scheduler.is_null() {
        return None;
    }
    // SAFETY: non-null only between `enter` and its guard's drop, while
    // `CURRENT` holds an `Rc` of this scheduler; `f` does not end the run
    // (the caller's promise), so the guard cannot drop during the call.
    Some(f(unsafe { &*scheduler }))
}

/// Wakes `task`: onto the ready queue if its loop is running on this
/// thread, through the loop's remote queue otherwise (another thread, the
/// loop not running, or this thread's thread-local already destroyed).
#[inline]
pub(crate) fn wake(task: &RawTask) {
    if !with_running_scheduler(|s| s.schedule(task)).unwrap_or(false) {
        wake_remote(task);
    }
}
