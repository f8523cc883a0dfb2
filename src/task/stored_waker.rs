//! [`StoredWaker`]: a waker as a loop-local waiter list keeps it.
//!
//! Keeping a `Waker` means cloning it, and for a task waker that is an
//! atomic increment of the task's count, paired with an atomic decrement
//! when the clone is woken or dropped: two read-modify-writes per wait,
//! which cost two tasks waking each other through an `Event` about a fifth
//! of their round trip. The lists of the loop-local primitives (`Event`,
//! `LoopFuture`, the queues and locks, I/O readiness) live on the loop
//! thread, so for a task of the loop running there they keep a
//! [`LocalRef`] instead: the task's loop-thread count, a plain cell.
//! Any other waker (another executor's, or a task of another loop) is
//! cloned as before.

use std::cell::RefCell;
use std::task::Waker;

use super::context;
use super::raw::{is_task_waker, local_ref, LocalRef};

/// A waker kept by a loop-local list (see the module docs).
pub(crate) enum StoredWaker {
    /// A task of the loop running on this thread: holds it alive without
    /// an atomic count.
    Task(LocalRef),
    /// Any other waker.
    Other(Waker),
}

impl StoredWaker {
    /// `waker` to keep, if keeping it runs no code of another executor:
    /// `None` for a foreign waker, whose clone may run anything (the
    /// caller clones it with no borrow held, [`StoredWaker::new`]). A
    /// task waker of another loop is cloned (its clone touches only the
    /// task's count).
    #[inline]
    pub(crate) fn try_new(waker: &Waker) -> Option<StoredWaker> {
        if !is_task_waker(waker) {
            return None;
        }
        Some(
            match context::with_running_scheduler(|s| local_ref(waker, s)).flatten() {
                Some(task) => StoredWaker::Task(task),
                None => StoredWaker::Other(waker.clone()),
            },
        )
    }

    /// `waker` to keep, whatever it is (a foreign waker's clone runs its
    /// executor's code: call this with no borrow held).
    #[inline]
    pub(crate) fn new(waker: &Waker) -> StoredWaker {
        StoredWaker::try_new(waker).unwrap_or_else(|| StoredWaker::Other(waker.clone()))
    }

    /// Whether waking `waker` would wake the same task as this one (so a
    /// re-poll has nothing to store).
    #[inline]
    pub(crate) fn will_wake(&self, waker: &Waker) -> bool {
        match self {
            // The reference keeps the task alive, so no other task has
            // its address.
            StoredWaker::Task(task) => waker.data() as usize == task.addr() && is_task_waker(waker),
            StoredWaker::Other(w) => w.will_wake(waker),
        }
    }

    /// Brings a task's memory into the cache ahead of its wake
    /// ([`RawTask::prefetch`](super::raw::RawTask::prefetch)); nothing for
    /// another waker.
    #[inline]
    pub(crate) fn prefetch(&self) {
        if let StoredWaker::Task(task) = self {
            task.prefetch();
        }
    }

    /// Wakes it: a task of the running loop onto the ready queue (its
    /// remote queue if the loop is not running now).
    #[inline]
    pub(crate) fn wake(self) {
        match self {
            StoredWaker::Task(task) => context::wake(&task),
            StoredWaker::Other(w) => w.wake(),
        }
    }

    /// Wakes it now if that runs no foreign code; otherwise hands the
    /// waker to `foreign`, to wake with no borrow held.
    #[inline]
    pub(crate) fn wake_or_defer(self, foreign: &mut Vec<Waker>) {
        match self {
            StoredWaker::Other(w) if !is_task_waker(&w) => foreign.push(w),
            local => local.wake(),
        }
    }
}

/// The waker of the one task waiting on something (a `TaskGroup`'s
/// `wait`, a `timeout`), kept across its polls.
#[derive(Default)]
pub(crate) struct WakerCell(RefCell<Option<StoredWaker>>);

impl WakerCell {
    /// Keeps `waker` unless an equivalent one is kept already. The new
    /// waker is made, and the replaced one dropped, with no borrow held: a
    /// foreign waker's clone and drop are user code.
    pub(crate) fn set(&self, waker: &Waker) {
        let stale = !matches!(&*self.0.borrow(), Some(w) if w.will_wake(waker));
        if stale {
            let old = self.0.replace(Some(StoredWaker::new(waker)));
            drop(old);
        }
    }

    /// Wakes the kept waker, if any, and forgets it (woken with no borrow
    /// held: a foreign waker's `wake` is user code).
    pub(crate) fn wake(&self) {
        let waker = self.0.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Forgets the kept waker, if any.
    pub(crate) fn clear(&self) {
        drop(self.0.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::task::Poll;

    /// A task of the running loop is kept by its loop-thread count (no
    /// atomic), recognised on a re-poll, and woken onto the ready queue;
    /// the same waker once no loop runs is kept as a clone, and a foreign
    /// waker is left to the caller to clone.
    #[test]
    fn each_kind_of_waker_is_kept_the_right_way() {
        let lp = crate::EventLoop::new();
        let outside: Rc<Cell<Option<Waker>>> = Rc::default();
        let polls = Rc::new(Cell::new(0));
        let task = lp.ensure_future({
            let (outside, polls) = (outside.clone(), polls.clone());
            std::future::poll_fn(move |cx| {
                polls.set(polls.get() + 1);
                if polls.get() == 2 {
                    return Poll::Ready(());
                }
                let kept = StoredWaker::try_new(cx.waker()).expect("a task waker");
                assert!(matches!(kept, StoredWaker::Task(_)));
                assert!(kept.will_wake(cx.waker()));
                assert!(!kept.will_wake(Waker::noop()));
                outside.set(Some(cx.waker().clone()));
                kept.wake(); // queued for the next iteration
                Poll::Pending
            })
        });
        lp.run_until_complete(task).unwrap().unwrap();
        assert_eq!(polls.get(), 2);
        let waker = outside.take().unwrap();
        assert!(matches!(
            StoredWaker::try_new(&waker),
            Some(StoredWaker::Other(_))
        ));
        assert!(StoredWaker::try_new(Waker::noop()).is_none());
    }
}
