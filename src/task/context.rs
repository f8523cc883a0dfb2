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
    /// receives and sends. `u32::MAX` outside a task poll: a callback, a
    /// plain thread or another executor is not limited.
    static BUDGET: Cell<u32> = const { Cell::new(u32::MAX) };
}

/// Sets the budget of the task about to be polled (`u32::MAX`: no limit).
#[inline]
pub(crate) fn set_budget(operations: u32) {
    BUDGET.with(|b| b.set(operations));
}

/// Whether the task being polled may complete one more operation (always
/// outside a task poll).
#[inline]
pub(crate) fn budget_left() -> bool {
    BUDGET.with(|b| b.get() > 0)
}

/// An operation completed: one unit of the budget is spent.
#[inline]
pub(crate) fn spend_budget() {
    BUDGET.with(|b| b.set(b.get().saturating_sub(1)));
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
