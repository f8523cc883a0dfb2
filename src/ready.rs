//! The ready queue: what runs in phase 6 of the next iteration.
//!
//! A ring of [`Runnable`]s, in FIFO order. Every entry gets a sequence
//! number when it is pushed (the number of entries ever pushed before it), so
//! a [`Handle`](crate::Handle) finds its entry by arithmetic: entry `seq` is
//! `seq - head` places after the oldest while `head <= seq < head + len`.
//! Cancelling replaces the entry with [`Runnable::CANCELLED`] in O(1); the
//! hole is skipped when it is popped (never searched for, never compacted). This costs nothing when
//! nobody cancels: no allocation, no hashing, no flag per callback.
//!
//! Generic over what stands for a task (`T`): the task layer, above this
//! one, fills it in (`task::TaskEntry`).

use std::panic::Location;

use crate::callback::InlineFn;
use crate::timer::TimerKey;

/// One unit of work in the ready queue: 32 bytes.
///
/// Two levels, so that an entry is no bigger than a callback: a callback's
/// vtable pointer is never null, so the compiler lets null stand for
/// [`Runnable::Other`] and puts that enum in the callback's data words. As
/// one enum of four variants an entry would be 40 bytes, a tag beside the
/// callback: a fifth more memory written and read per entry.
pub(crate) enum Runnable<T> {
    /// A callback from `call_soon` or `call_soon_threadsafe`.
    Callback(Callback),
    /// Every entry that is not a callback.
    Other(Other<T>),
}

/// The entries of the ready queue that are not callbacks.
pub(crate) enum Other<T> {
    /// A task to poll (the task's `SCHEDULED` bit is set while this entry
    /// exists).
    Task(T),
    /// A `call_later`/`call_at` timer that has expired. Its callback stays in
    /// the timer wheel until the entry runs, so `TimerHandle::cancel` still
    /// works in between (asyncio allows cancelling a timer that is already in
    /// `_ready`).
    Timer(TimerKey),
    /// A cancelled callback: skipped when popped.
    Cancelled,
}

impl<T> Runnable<T> {
    /// A cancelled callback's place.
    pub(crate) const CANCELLED: Runnable<T> = Runnable::Other(Other::Cancelled);

    /// A task's turn.
    #[inline(always)]
    pub(crate) fn task(task: T) -> Runnable<T> {
        Runnable::Other(Other::Task(task))
    }

    /// An expired timer's callback.
    pub(crate) fn timer(key: TimerKey) -> Runnable<T> {
        Runnable::Other(Other::Timer(key))
    }
}

/// A boxed callback and where it was scheduled from (for the exception
/// handler's report).
pub(crate) struct Callback {
    pub(crate) f: InlineFn,
    pub(crate) location: &'static Location<'static>,
}

/// The FIFO of runnables, addressed by sequence numbers for cancellation.
///
/// A ring of slots, each an entry or a [`Runnable::CANCELLED`] placeholder,
/// rather than a `VecDeque`: pushing is then an assignment into a slot,
/// which the compiler writes in place, field by field.
/// `VecDeque::push_back` stays a call, and copying its argument into the
/// buffer reads 16 bytes at a time what the caller had just written in
/// smaller pieces: the processor cannot forward those stores to the loads,
/// and waits for them (a tenth of an `Event` ping-pong's time).
pub(crate) struct ReadyQueue<T> {
    /// The ring; its length is 0 or a power of two.
    slots: Vec<Runnable<T>>,
    /// The slot of the oldest entry.
    first: usize,
    /// How many entries there are, from `first` on (wrapping).
    len: usize,
    /// Sequence number of the oldest entry: how many entries were ever
    /// popped.
    head: u64,
}

impl<T> Default for ReadyQueue<T> {
    fn default() -> ReadyQueue<T> {
        ReadyQueue {
            slots: Vec::new(),
            first: 0,
            len: 0,
            head: 0,
        }
    }
}

impl<T> ReadyQueue<T> {
    /// Appends `r`; returns its sequence number, for [`ReadyQueue::cancel`].
    #[inline(always)]
    pub(crate) fn push(&mut self, r: Runnable<T>) -> u64 {
        if self.len == self.slots.len() {
            self.grow();
        }
        let at = self.slot_of(self.len);
        debug_assert!(
            matches!(self.slots[at], Runnable::Other(Other::Cancelled)),
            "pushing over a live entry"
        );
        // The slot holds a placeholder, which has nothing to drop.
        std::mem::forget(std::mem::replace(&mut self.slots[at], r));
        self.len += 1;
        self.head + self.len as u64 - 1
    }

    /// Removes the oldest entry.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Runnable<T>> {
        if self.len == 0 {
            return None;
        }
        let r = std::mem::replace(&mut self.slots[self.first], Runnable::CANCELLED);
        self.first = self.slot_of(1);
        self.len -= 1;
        self.head += 1;
        Some(r)
    }

    /// The oldest entry, left in place.
    pub(crate) fn front(&self) -> Option<&Runnable<T>> {
        (self.len > 0).then(|| &self.slots[self.first])
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Cancels the callback pushed with sequence number `seq`, if it is still
    /// queued, and hands it back so that the caller drops it outside of any
    /// borrow (its `Drop` may re-enter the loop).
    pub(crate) fn cancel(&mut self, seq: u64) -> Option<Callback> {
        let at = self.index_of(seq)?;
        let slot = &mut self.slots[at];
        match std::mem::replace(slot, Runnable::CANCELLED) {
            Runnable::Callback(cb) => Some(cb),
            other => {
                *slot = other;
                None
            }
        }
    }

    /// Whether the entry with sequence number `seq` is still queued and live.
    pub(crate) fn is_pending(&self, seq: u64) -> bool {
        let entry = self.index_of(seq).map(|at| &self.slots[at]);
        matches!(entry, Some(Runnable::Callback(_)))
    }

    /// The slot of entry `seq`, if it is queued (`seq - head` entries after
    /// the oldest).
    fn index_of(&self, seq: u64) -> Option<usize> {
        let nth = usize::try_from(seq.checked_sub(self.head)?).ok()?;
        (nth < self.len).then(|| self.slot_of(nth))
    }

    /// The slot `nth` places after the oldest entry's.
    #[inline(always)]
    fn slot_of(&self, nth: usize) -> usize {
        (self.first + nth) & self.slots.len().wrapping_sub(1)
    }

    /// Doubles the ring (at least 64 slots). It is full: the entries run
    /// from `first` to the end and on from slot 0. Those from slot 0 move
    /// after the old end, where the bigger ring has them follow on, and
    /// placeholders fill the rest. (The vector grows with `realloc`, as a
    /// `VecDeque` does, which for big sizes moves pages rather than copying
    /// the entries.)
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        debug_assert_eq!(self.len, self.slots.len());
        let size = (self.slots.len() * 2).max(64);
        self.slots.reserve_exact(size - self.slots.len());
        for at in 0..self.first {
            let entry = std::mem::replace(&mut self.slots[at], Runnable::CANCELLED);
            self.slots.push(entry);
        }
        self.slots.resize_with(size, || Runnable::CANCELLED);
    }

    /// Gives back the room of a ring that a burst grew: if it is more than
    /// `keep` slots and at most a quarter full, it shrinks to the smallest
    /// size that is at least `keep` and twice its entries (nothing at all
    /// if it is empty and `keep` is 0). The loop calls it when it goes to
    /// sleep, and every so often while it stays busy, so that a burst of a
    /// million callbacks does not pin 32 MB for the loop's life.
    pub(crate) fn shrink(&mut self, keep: usize) {
        debug_assert!(keep == 0 || keep.is_power_of_two(), "a ring's size");
        let size = self.slots.len();
        if size <= keep || self.len > size / 4 {
            return;
        }
        let new_size = match (self.len * 2).max(keep) {
            0 => 0,
            n => n.next_power_of_two(),
        };
        let mut slots = self.entries_in_order(new_size);
        slots.resize_with(new_size, || Runnable::CANCELLED);
        (self.slots, self.first) = (slots, 0);
    }

    /// Takes every entry out, oldest first (for teardown), and lets the
    /// ring go; the sequence numbering goes on as if they had been popped.
    pub(crate) fn take_all(&mut self) -> Vec<Runnable<T>> {
        let entries = self.entries_in_order(self.len);
        self.head += self.len as u64;
        (self.slots, self.first, self.len) = (Vec::new(), 0, 0);
        entries
    }

    /// The entries, oldest first, moved into a vector with room for
    /// `room`; placeholders are left in their slots (`first` and `len`
    /// are the caller's to set).
    fn entries_in_order(&mut self, room: usize) -> Vec<Runnable<T>> {
        let mut entries = Vec::with_capacity(room);
        for nth in 0..self.len {
            let at = self.slot_of(nth);
            entries.push(std::mem::replace(&mut self.slots[at], Runnable::CANCELLED));
        }
        entries
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::mem::size_of;
    use std::rc::Rc;

    use super::*;
    use crate::task::TaskEntry;

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
        assert!(matches!(q.pop(), Some(Runnable::Other(Other::Cancelled))));
        assert!(q.pop().is_none());
        assert!(
            q.cancel(99).is_none(),
            "a future sequence number is not queued"
        );
    }

    #[test]
    fn an_entry_is_the_size_of_a_callback() {
        assert_eq!(size_of::<Runnable<TaskEntry>>(), size_of::<Callback>());
        assert_eq!(size_of::<Callback>(), 32);
    }

    /// What a popped entry was: a task's number, a callback's (run to
    /// find out), or a hole.
    fn name(r: Runnable<u32>, ran: &Rc<RefCell<Vec<u32>>>) -> Option<u32> {
        match r {
            Runnable::Other(Other::Task(n)) => Some(n),
            Runnable::Callback(cb) => {
                cb.f.call();
                ran.borrow_mut().pop()
            }
            _ => None,
        }
    }

    /// Random pushes (tasks and callbacks), pops and cancels, checked
    /// against a `VecDeque` of (sequence number, name, cancelled): the ring
    /// grows and wraps many times on the way.
    #[test]
    fn matches_a_plain_fifo_through_growth_and_wrapping() {
        let ran = Rc::new(RefCell::new(Vec::new()));
        let mut q = ReadyQueue::<u32>::default();
        let mut model: VecDeque<(u64, u32, bool)> = VecDeque::new();
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for step in 0..20_000u32 {
            let roll = next() % 10;
            // Bursts of pushes, then of pops, so that the ring grows.
            let pushing = (step / 500) % 3 != 2;
            if roll < 6 && pushing || roll < 2 {
                let seq = if step % 3 == 0 {
                    q.push(Runnable::task(step))
                } else {
                    let ran = ran.clone();
                    q.push(Runnable::Callback(Callback {
                        f: InlineFn::new(move || ran.borrow_mut().push(step)),
                        location: Location::caller(),
                    }))
                };
                assert_eq!(seq, model.back().map_or(q.head, |e| e.0 + 1));
                model.push_back((seq, step, false));
            } else if roll < 8 {
                let popped = q.pop().map(|r| name(r, &ran));
                let expected = model.pop_front().map(|(_, n, gone)| (!gone).then_some(n));
                assert_eq!(popped, expected, "step {step}");
            } else if let Some(&(seq, n, gone)) = model.get(next() as usize % model.len().max(1)) {
                let is_callback = n % 3 != 0;
                assert_eq!(q.is_pending(seq), is_callback && !gone);
                let cancelled = q.cancel(seq).is_some();
                assert_eq!(cancelled, is_callback && !gone);
                if cancelled {
                    model.iter_mut().find(|e| e.0 == seq).unwrap().2 = true;
                }
            }
            assert_eq!(q.len(), model.len());
        }
        let rest: Vec<_> = q.take_all().into_iter().map(|r| name(r, &ran)).collect();
        let expected: Vec<_> = model
            .iter()
            .map(|&(_, n, gone)| (!gone).then_some(n))
            .collect();
        assert_eq!(rest, expected);
    }

    /// A grown, wrapped ring with live entries and holes, dropped: each
    /// callback's captures are dropped exactly once.
    #[test]
    fn dropping_a_wrapped_ring_drops_each_entry_once() {
        let token = Rc::new(());
        let mut q = ReadyQueue::<u32>::default();
        let callback = |q: &mut ReadyQueue<u32>| {
            let token = token.clone();
            q.push(Runnable::Callback(Callback {
                f: InlineFn::new(move || drop(token)),
                location: Location::caller(),
            }))
        };
        for _ in 0..50 {
            callback(&mut q);
        }
        for _ in 0..40 {
            drop(q.pop());
        }
        // 10 left from slot 40 on; 100 more wrap around and grow the ring.
        let seqs: Vec<u64> = (0..100).map(|_| callback(&mut q)).collect();
        q.push(Runnable::task(7));
        for seq in seqs.iter().step_by(3) {
            drop(q.cancel(*seq));
        }
        assert_eq!(Rc::strong_count(&token), 1 + 10 + 100 - 34);
        drop(q);
        assert_eq!(Rc::strong_count(&token), 1);
    }

    #[test]
    fn a_ring_grown_by_a_burst_shrinks_once_mostly_empty() {
        let mut q = ReadyQueue::<u32>::default();
        for n in 0..10_000 {
            q.push(Runnable::task(n));
        }
        let big = q.slots.len();
        q.shrink(64);
        assert_eq!(q.slots.len(), big, "full: kept");
        for _ in 0..9_990 {
            q.pop();
        }
        let seq = q.push(Runnable::task(10_000));
        q.shrink(64);
        assert_eq!(q.slots.len(), 64, "11 entries: the smallest ring kept");
        // The entries, their order and their numbers survive (a task's
        // entry is queued, though not a pending callback).
        assert!(!q.is_pending(seq) && q.index_of(seq).is_some());
        let rest: Vec<_> = std::iter::from_fn(|| q.pop())
            .map(|r| match r {
                Runnable::Other(Other::Task(n)) => n,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(rest, (9_990..=10_000).collect::<Vec<_>>());
        q.shrink(0);
        assert_eq!(q.slots.len(), 0, "empty, nothing kept");
        assert_eq!(q.push(Runnable::task(1)), seq + 1);
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
