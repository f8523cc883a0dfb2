//! The ready queue: what runs in phase 6 of the next iteration.
//!
//! A `VecDeque` of [`Runnable`]s, in FIFO order. Every entry gets a sequence
//! number when it is pushed (the number of entries ever pushed before it), so
//! a [`Handle`](crate::Handle) finds its entry by arithmetic: entry `seq` sits
//! at index `seq - head` while `head <= seq < head + len`. Cancelling replaces
//! the entry with [`Runnable::Cancelled`] in O(1); the hole is skipped when it
//! is popped (never searched for, never compacted). This costs nothing when
//! nobody cancels: no allocation, no hashing, no flag per callback.
//!
//! Generic over what stands for a task (`T`): the task layer, above this
//! one, fills it in (`task::TaskEntry`).

use std::collections::VecDeque;
use std::panic::Location;

use crate::callback::InlineFn;
use crate::timer::TimerKey;

/// One unit of work in the ready queue.
pub(crate) enum Runnable<T> {
    /// A callback from `call_soon` or `call_soon_threadsafe`.
    Callback(Callback),
    /// A task to poll (the task's `SCHEDULED` bit is set while this entry
    /// exists).
    Task(T),
    /// A `call_later`/`call_at` timer that has expired. Its callback stays in
    /// the timer slab until the entry runs, so `TimerHandle::cancel` still
    /// works in between (asyncio allows cancelling a timer that is already in
    /// `_ready`).
    Timer(TimerKey),
    /// A cancelled callback: skipped when popped.
    Cancelled,
}

/// A boxed callback and where it was scheduled from (for the exception
/// handler's report).
pub(crate) struct Callback {
    pub(crate) f: InlineFn,
    pub(crate) location: &'static Location<'static>,
}

/// The FIFO of runnables, addressed by sequence numbers for cancellation.
pub(crate) struct ReadyQueue<T> {
    entries: VecDeque<Runnable<T>>,
    /// Sequence number of `entries[0]`: how many entries were ever popped.
    head: u64,
}

impl<T> Default for ReadyQueue<T> {
    fn default() -> ReadyQueue<T> {
        ReadyQueue {
            entries: VecDeque::new(),
            head: 0,
        }
    }
}

impl<T> ReadyQueue<T> {
    /// Appends `r`; returns its sequence number, for [`ReadyQueue::cancel`].
    #[inline(always)]
    pub(crate) fn push(&mut self, r: Runnable<T>) -> u64 {
        self.entries.push_back(r);
        self.head + self.entries.len() as u64 - 1
    }

    /// Removes the oldest entry.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Runnable<T>> {
        let r = self.entries.pop_front()?;
        self.head += 1;
        Some(r)
    }

    /// The oldest entry, left in place.
    pub(crate) fn front(&self) -> Option<&Runnable<T>> {
        self.entries.front()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Cancels the callback pushed with sequence number `seq`, if it is still
    /// queued, and hands it back so that the caller drops it outside of any
    /// borrow (its `Drop` may re-enter the loop).
    pub(crate) fn cancel(&mut self, seq: u64) -> Option<Callback> {
        let index = self.index_of(seq)?;
        let slot = self.entries.get_mut(index)?;
        match std::mem::replace(slot, Runnable::Cancelled) {
            Runnable::Callback(cb) => Some(cb),
            other => {
                *slot = other;
                None
            }
        }
    }

    /// Whether the entry with sequence number `seq` is still queued and live.
    pub(crate) fn is_pending(&self, seq: u64) -> bool {
        let entry = self.index_of(seq).and_then(|i| self.entries.get(i));
        matches!(entry, Some(Runnable::Callback(_)))
    }

    /// Where entry `seq` sits, if it has not been popped (`seq - head`).
    fn index_of(&self, seq: u64) -> Option<usize> {
        usize::try_from(seq.checked_sub(self.head)?).ok()
    }

    /// Takes every entry out (for teardown), leaving the sequence numbering intact.
    pub(crate) fn take_all(&mut self) -> VecDeque<Runnable<T>> {
        self.head += self.entries.len() as u64;
        std::mem::take(&mut self.entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cb() -> Runnable<()> {
        Runnable::Callback(Callback {
            f: InlineFn::new(|| {}),
            location: Location::caller(),
        })
    }

    #[test]
    fn sequence_numbers_address_entries_after_pops() {
        let mut q = ReadyQueue::<()>::default();
        let a = q.push(cb());
        let b = q.push(cb());
        assert_eq!((a, b), (0, 1));
        assert!(q.pop().is_some());
        let c = q.push(cb());
        assert_eq!(c, 2);
        assert!(!q.is_pending(a), "popped entry is no longer pending");
        assert!(q.cancel(a).is_none(), "a stale handle cancels nothing");
        assert!(q.cancel(c).is_some());
        assert!(q.cancel(c).is_none(), "second cancel is a no-op");
        assert!(q.is_pending(b));
        assert!(matches!(q.pop(), Some(Runnable::Callback(_))));
        assert!(matches!(q.pop(), Some(Runnable::Cancelled)));
        assert!(q.pop().is_none());
        assert!(
            q.cancel(99).is_none(),
            "a future sequence number is not queued"
        );
    }

    #[test]
    fn take_all_keeps_numbering() {
        let mut q = ReadyQueue::<()>::default();
        q.push(cb());
        q.push(cb());
        assert_eq!(q.take_all().len(), 2);
        assert_eq!(q.push(cb()), 2);
        assert_eq!(q.len(), 1);
    }
}
