//! [`Owner`]: a task's reference to its loop's remote queue.
//!
//! A task may outlive its loop (a `Task` handle or a waker kept after the
//! loop is dropped), and a wake from another thread goes through the
//! loop's remote queue, so every task keeps that queue alive. An `Arc`
//! clone per task would do it, at the price of an atomic increment at
//! spawn and a decrement at the free: a tenth of a trivial task's time.
//!
//! Instead, the tasks of a loop together hold one strong count of the
//! queue's `Arc`, and the queue counts *task references* in an atomic of
//! its own (`Shared::task_refs`), which the loop adds to in batches: its
//! [`TaskOwners`] keeps a stock of references taken in advance, hands one
//! to each task it spawns, and takes back the reference of a task freed
//! on its thread while it runs. Only a task freed elsewhere (another
//! thread, or while the loop is not running) gives its reference back to
//! the atomic, and the loop gives back its stock, and the reference that
//! stands for itself, when it is dropped. Whoever brings the count to zero
//! (no task left anywhere, and no loop) releases the strong count.

use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::Arc;

use super::context;
use super::scheduler::Remote;

/// References a loop takes at a time when its stock runs out.
const STOCK: usize = 1024;

/// A task's reference to its loop's remote queue (see the module docs).
pub(crate) struct Owner(NonNull<Remote>);

// The two impls below rest on this: checked at compile time.
const _: fn() = || {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Remote>();
};

// SAFETY: an `Owner` is a shared reference to a `Remote`, which is `Send`
// and `Sync` (checked above); the task reference it holds keeps the
// `Remote` alive until the `Owner` is dropped, on whichever thread.
unsafe impl Send for Owner {}
// SAFETY: as above: only `&Remote` is reached through it.
unsafe impl Sync for Owner {}

impl Owner {
    /// The queue.
    pub(crate) fn get(&self) -> &Remote {
        // SAFETY: the task reference this owner holds keeps the `Remote`
        // alive (module docs).
        unsafe { self.0.as_ref() }
    }

    /// Whether this is a reference to `remote`.
    pub(crate) fn is(&self, remote: &Arc<Remote>) -> bool {
        std::ptr::eq(self.0.as_ptr(), Arc::as_ptr(remote))
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let taken = context::with_running_scheduler(|s| s.owners().take_back(self));
        if taken != Some(true) {
            // SAFETY: this owner holds one task reference, given back once.
            unsafe { release(self.0, 1) }
        }
    }
}

/// A loop's side of the task references: the stock it hands out.
pub(crate) struct TaskOwners {
    /// The queue, whose `Arc` holds one strong count for the tasks.
    remote: NonNull<Remote>,
    /// References taken and not handed out.
    stock: Cell<usize>,
}

impl TaskOwners {
    /// Takes the tasks' strong count of `remote` and the reference that
    /// stands for the loop itself (so the count cannot reach zero while
    /// the loop lives).
    pub(crate) fn new(remote: &Arc<Remote>) -> TaskOwners {
        remote.add_task_refs(1);
        // The tasks' strong count, given back by `release`.
        let share = Arc::into_raw(remote.clone()).cast_mut();
        TaskOwners {
            remote: NonNull::new(share).expect("Arc::into_raw is never null"),
            stock: Cell::new(0),
        }
    }

    /// A reference for a new task.
    #[inline]
    pub(crate) fn hand_out(&self) -> Owner {
        let stock = match self.stock.get() {
            0 => {
                // SAFETY: the loop's own reference keeps the `Remote` alive.
                unsafe { self.remote.as_ref() }.add_task_refs(STOCK);
                STOCK
            }
            n => n,
        };
        self.stock.set(stock - 1);
        Owner(self.remote)
    }

    /// Takes `owner`'s reference back into the stock if it is one of this
    /// loop's; whether it did.
    #[inline]
    fn take_back(&self, owner: &Owner) -> bool {
        if owner.0 != self.remote {
            return false;
        }
        self.stock.set(self.stock.get() + 1);
        true
    }
}

impl Drop for TaskOwners {
    fn drop(&mut self) {
        // SAFETY: the loop holds its own reference and its stock, given
        // back once, here.
        unsafe { release(self.remote, self.stock.get() + 1) }
    }
}

/// Gives back `n` task references of the loop whose queue is `remote`;
/// with the last of them, the strong count the loop's tasks held together.
///
/// # Safety
///
/// `remote` is the pointer `TaskOwners::new` made, and the caller holds
/// the `n` references (which keep the `Remote` alive until here) and does
/// not use them again.
unsafe fn release(remote: NonNull<Remote>, n: usize) {
    // SAFETY: the caller's references keep the `Remote` alive.
    if unsafe { remote.as_ref() }.release_task_refs(n) {
        // SAFETY: the last task reference went here, so no task and no
        // loop is left to use the `Remote` through this strong count,
        // taken by `Arc::into_raw` in `TaskOwners::new` and released once.
        drop(unsafe { Arc::from_raw(remote.as_ptr().cast_const()) });
    }
}

#[cfg(all(test, not(evloop_loom)))]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A remote queue as a loop makes one, with its own poll for the waker.
    fn new_remote() -> (Arc<Remote>, mio::Poll) {
        let poll = mio::Poll::new().unwrap();
        let waker = mio::Waker::new(poll.registry(), mio::Token(0)).unwrap();
        (Arc::new(Remote::new(waker, Duration::ZERO, None)), poll)
    }

    #[test]
    fn the_queue_outlives_the_loop_until_its_last_task_goes() {
        let (remote, _poll) = new_remote();
        let owners = TaskOwners::new(&remote);
        assert_eq!(Arc::strong_count(&remote), 2, "one count for all the tasks");
        let (a, b) = (owners.hand_out(), owners.hand_out());
        assert!(a.is(&remote));
        drop(owners);
        assert_eq!(Arc::strong_count(&remote), 2, "its tasks still hold it");
        std::thread::spawn(move || drop(a)).join().unwrap();
        assert_eq!(Arc::strong_count(&remote), 2);
        drop(b);
        assert_eq!(Arc::strong_count(&remote), 1, "the last task let it go");
    }

    #[test]
    fn the_loop_going_last_lets_it_go_across_stock_refills() {
        let (remote, _poll) = new_remote();
        let owners = TaskOwners::new(&remote);
        let handed: Vec<Owner> = (0..2 * STOCK + 5).map(|_| owners.hand_out()).collect();
        drop(handed); // no loop running here: each goes back to the atomic
        assert_eq!(Arc::strong_count(&remote), 2);
        drop(owners);
        assert_eq!(Arc::strong_count(&remote), 1);
    }

    #[test]
    fn a_loop_takes_back_only_its_own_tasks_references() {
        let (remote, _poll) = new_remote();
        let (other, _other_poll) = new_remote();
        let (owners, others) = (TaskOwners::new(&remote), TaskOwners::new(&other));
        let mine = owners.hand_out();
        assert!(!others.take_back(&mine));
        assert!(owners.take_back(&mine));
        std::mem::forget(mine); // its reference is back in the stock
        drop((owners, others));
        assert_eq!(Arc::strong_count(&remote), 1);
        assert_eq!(Arc::strong_count(&other), 1);
    }
}
