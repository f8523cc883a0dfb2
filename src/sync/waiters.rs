//! [`WaiterList`]: the wakers of the futures waiting for one thing (a
//! `LoopFuture`, an `Event`, a socket's readiness), each removable by the
//! future that registered it.
//!
//! A waiting future keeps a [`WaiterSlot`] saying where its waker sits. It
//! refreshes that entry when polled again, and removes it when it is
//! dropped, so a wait that gives up (a `wait_for` that times out, a
//! `select`-style race that another branch won) leaves nothing behind: a
//! list never grows with abandoned waits, and a wake-up reaches only
//! futures that still wait (asyncio's `Event.wait` and tokio's `Notified`
//! do the same).
//!
//! Waking everyone empties the list at once and starts a new *epoch*;
//! slots from an earlier epoch are stale (their entries were woken and
//! removed), so a stale slot can never remove a later waiter that reused
//! its key.
//!
//! # Foreign wakers and borrows
//!
//! A list lives inside a loop-local `RefCell`. Cloning or dropping a waker
//! of another executor runs that executor's code, which may call back into
//! the same state; doing it under the borrow would panic with
//! `BorrowMutError`. [`register`] therefore decides under the borrow, clones
//! after releasing it, and drops a replaced waker after the borrow too.
//! evloop's own task wakers are the exception: keeping one runs no foreign
//! code, so it is stored in place, with one borrow (the common case, and
//! the hot path of two tasks waking each other). A task of the loop
//! running on this thread is kept as a [`StoredWaker::Task`], without
//! touching the task's atomic count.

use std::cell::RefCell;
use std::task::Waker;

use slab::Slab;

use crate::task::StoredWaker;

/// Where one waiting future's waker sits in a [`WaiterList`]: a slab key
/// and the epoch it was stored in. 8 bytes, with a sentinel for "nowhere"
/// (a waiting future stays small).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WaiterSlot {
    key: u32,
    epoch: u32,
}

const NO_KEY: u32 = u32::MAX;

impl WaiterSlot {
    /// Registered nowhere (not polled yet, or removed).
    pub(crate) const NONE: WaiterSlot = WaiterSlot {
        key: NO_KEY,
        epoch: 0,
    };

    /// Whether the slot stands for an entry (possibly a stale one).
    pub(crate) fn is_some(self) -> bool {
        self.key != NO_KEY
    }

    /// The epoch the entry was stored in (meaningful if `is_some`).
    pub(crate) fn epoch(self) -> u32 {
        self.epoch
    }
}

impl Default for WaiterSlot {
    fn default() -> WaiterSlot {
        WaiterSlot::NONE
    }
}

/// The wakers of the futures waiting for one thing.
///
/// The first waiter sits in `first`, outside the slab: one task waiting
/// on an event or a socket (the common case, and every hop of two tasks
/// waking each other) stores, finds and takes its waker without a slab
/// insertion, removal or scan. Further waiters go to the slab.
#[derive(Default)]
pub(crate) struct WaiterList {
    first: Option<StoredWaker>,
    wakers: Slab<StoredWaker>,
    /// Bumped each time every waiter is taken out: slots of an earlier
    /// epoch are stale.
    epoch: u32,
}

/// The key of `WaiterList::first` in a slot (slab keys stay below it).
const FIRST_KEY: u32 = u32::MAX - 1;

impl WaiterList {
    /// How many futures wait.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.wakers.len()
    }

    /// Whether no future waits.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current epoch: a slot stored now carries it.
    pub(crate) fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The entry `slot` stands for, if it is still in the list.
    #[inline]
    fn get(&self, slot: WaiterSlot) -> Option<&StoredWaker> {
        if !slot.is_some() || slot.epoch != self.epoch {
            return None;
        }
        if slot.key == FIRST_KEY {
            return self.first.as_ref();
        }
        self.wakers.get(slot.key as usize)
    }

    /// The entry `slot` stands for, mutably (see [`WaiterList::get`]).
    #[inline]
    fn get_mut(&mut self, slot: WaiterSlot) -> Option<&mut StoredWaker> {
        if !slot.is_some() || slot.epoch != self.epoch {
            return None;
        }
        if slot.key == FIRST_KEY {
            return self.first.as_mut();
        }
        self.wakers.get_mut(slot.key as usize)
    }

    /// Whether `slot` already holds a waker that wakes the same task as
    /// `waker` (so a re-poll has nothing to change).
    #[inline]
    pub(crate) fn is_current(&self, slot: WaiterSlot, waker: &Waker) -> bool {
        self.get(slot).is_some_and(|w| w.will_wake(waker))
    }

    /// Stores `waker` for the future whose slot is `slot`: in its entry if
    /// that is still in the list, in a new one otherwise. Returns the waker
    /// it replaced, for the caller to drop after releasing its borrow.
    #[inline]
    pub(crate) fn store(
        &mut self,
        slot: &mut WaiterSlot,
        waker: StoredWaker,
    ) -> Option<StoredWaker> {
        if let Some(entry) = self.get_mut(*slot) {
            return Some(std::mem::replace(entry, waker));
        }
        let key = if self.first.is_none() {
            self.first = Some(waker);
            FIRST_KEY
        } else {
            // Past FIRST_KEY - 1 waiters a key no longer fits: such a
            // waiter is stored but cannot remove itself (it is woken and
            // removed with everyone else).
            let key = self.wakers.insert(waker);
            u32::try_from(key)
                .ok()
                .filter(|&k| k < FIRST_KEY)
                .unwrap_or(NO_KEY)
        };
        *slot = WaiterSlot {
            key,
            epoch: self.epoch,
        };
        None
    }

    /// Removes the entry of the future whose slot is `slot` (a future that
    /// stops waiting), if still there; returns its waker for the caller to
    /// drop after releasing its borrow.
    #[inline]
    pub(crate) fn remove(&mut self, slot: &mut WaiterSlot) -> Option<StoredWaker> {
        let waker = match self.get(*slot) {
            None => None,
            Some(_) if slot.key == FIRST_KEY => self.first.take(),
            Some(_) => Some(self.wakers.remove(slot.key as usize)),
        };
        *slot = WaiterSlot::NONE;
        waker
    }

    /// Takes every waker out, for the caller to wake after releasing its
    /// borrow, and starts a new epoch.
    #[inline]
    pub(crate) fn take_all(&mut self, out: &mut Vec<StoredWaker>) {
        self.empty_into(|w| out.push(w));
    }

    /// Wakes every waiter and starts a new epoch, keeping the list's
    /// memory for the next waiters. evloop's own task wakers are woken in
    /// place: a task wake runs no foreign code (it pushes onto a ready
    /// queue, or the remote queue), and dropping a task waker frees at
    /// most memory. Any other waker goes to `foreign`, for the caller to
    /// wake after releasing its borrow.
    #[inline]
    pub(crate) fn wake_all(&mut self, foreign: &mut Vec<Waker>) {
        self.empty_into(|w| w.wake_or_defer(foreign));
    }

    /// Hands every waker to `f` and starts a new epoch. An empty list has
    /// no slot pointing into it (a slot is reset when its entry is
    /// removed), so it needs no new epoch: the common case of an event for
    /// a direction nobody waits on costs nothing.
    #[inline]
    fn empty_into(&mut self, mut f: impl FnMut(StoredWaker)) {
        let first = self.first.take();
        if first.is_none() && self.wakers.is_empty() {
            return;
        }
        first.into_iter().for_each(&mut f);
        if !self.wakers.is_empty() {
            self.wakers.drain().for_each(f);
        }
        self.epoch = self.epoch.wrapping_add(1);
    }
}

/// Registers `waker` for the future whose slot is `slot`, in the list that
/// `list` finds inside `cell`, for as long as `list` finds one (`None`:
/// the wait is over, nothing is registered). Returns whether the future
/// is registered (then it waits: `Poll::Pending`).
///
/// `waker` is kept only if the slot does not hold an equivalent one
/// already. An evloop task waker is kept in place; any
/// other is cloned outside the borrow, as a replaced waker is dropped (see
/// the module docs).
#[inline]
pub(crate) fn register<T>(
    cell: &RefCell<T>,
    slot: &mut WaiterSlot,
    waker: &Waker,
    mut list: impl FnMut(&mut T) -> Option<&mut WaiterList>,
) -> bool {
    let mut state = cell.borrow_mut();
    let Some(waiters) = list(&mut state) else {
        return false;
    };
    if waiters.is_current(*slot, waker) {
        return true;
    }
    let Some(stored) = StoredWaker::try_new(waker) else {
        drop(state);
        return register_foreign(cell, slot, waker, list);
    };
    let old = waiters.store(slot, stored);
    drop(state);
    drop(old);
    true
}

/// [`register`] for a waker of another executor: cloned with no borrow
/// held, after which the state is looked at again (the clone may have
/// changed it).
#[cold]
#[inline(never)]
fn register_foreign<T>(
    cell: &RefCell<T>,
    slot: &mut WaiterSlot,
    waker: &Waker,
    mut list: impl FnMut(&mut T) -> Option<&mut WaiterList>,
) -> bool {
    let clone = StoredWaker::Other(waker.clone());
    let mut state = cell.borrow_mut();
    let Some(waiters) = list(&mut state) else {
        drop(state);
        drop(clone);
        return false;
    };
    let old = waiters.store(slot, clone);
    drop(state);
    drop(old);
    true
}

/// Removes the entry of a future that stops waiting (from its `Drop`),
/// dropping its waker after the borrow. Does nothing if the slot is empty,
/// if `list` finds no list, or if `cell` is borrowed right now (a drop
/// from inside the state's own code; the entry then stays until the next
/// wake-up, as it would have without removal).
#[inline]
pub(crate) fn unregister<T>(
    cell: &RefCell<T>,
    slot: &mut WaiterSlot,
    list: impl FnOnce(&mut T) -> Option<&mut WaiterList>,
) {
    if !slot.is_some() {
        return;
    }
    let Ok(mut state) = cell.try_borrow_mut() else {
        return;
    };
    let old = list(&mut state).and_then(|waiters| waiters.remove(slot));
    drop(state);
    drop(old);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn waker() -> (Waker, Arc<Count>) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (Waker::from(count.clone()), count)
    }

    #[test]
    fn a_removed_waiter_leaves_no_entry_and_is_not_woken() {
        let mut list = WaiterList::default();
        let (a, a_count) = waker();
        let (b, b_count) = waker();
        let (mut sa, mut sb) = (WaiterSlot::NONE, WaiterSlot::NONE);
        assert!(list.store(&mut sa, StoredWaker::Other(a)).is_none());
        assert!(list.store(&mut sb, StoredWaker::Other(b)).is_none());
        assert!(list.remove(&mut sa).is_some());
        assert_eq!(list.len(), 1);
        assert_eq!(sa, WaiterSlot::NONE);
        let mut out = Vec::new();
        list.take_all(&mut out);
        out.into_iter().for_each(StoredWaker::wake);
        assert_eq!(a_count.0.load(Ordering::Relaxed), 0);
        assert_eq!(b_count.0.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_stale_slot_never_removes_a_later_waiter_at_its_key() {
        let mut list = WaiterList::default();
        let (a, _) = waker();
        let (b, _) = waker();
        let mut sa = WaiterSlot::NONE;
        list.store(&mut sa, StoredWaker::Other(a));
        list.take_all(&mut Vec::new()); // a was woken: its slot is stale
        let mut sb = WaiterSlot::NONE;
        list.store(&mut sb, StoredWaker::Other(b));
        assert_eq!(sa.key, sb.key, "the key (the inline first entry) is reused");
        assert!(
            list.remove(&mut sa).is_none(),
            "a stale slot removes nothing"
        );
        assert_eq!(list.len(), 1);
        assert!(list.remove(&mut sb).is_some());
        assert!(list.is_empty());
    }

    #[test]
    fn many_waiters_beside_the_inline_first_are_all_woken_once() {
        let mut list = WaiterList::default();
        let wakers: Vec<_> = (0..5).map(|_| waker()).collect();
        let mut slots = [WaiterSlot::NONE; 5];
        for ((w, _), slot) in wakers.iter().zip(&mut slots) {
            list.store(slot, StoredWaker::Other(w.clone()));
        }
        assert_eq!(slots[0].key, FIRST_KEY);
        assert!(slots[1..].iter().all(|s| s.key < FIRST_KEY));
        // The first leaves; a newcomer takes its place, not a slab entry.
        assert!(list.remove(&mut slots[0]).is_some());
        let (late, late_count) = waker();
        let mut late_slot = WaiterSlot::NONE;
        list.store(&mut late_slot, StoredWaker::Other(late));
        assert_eq!(late_slot.key, FIRST_KEY);
        assert_eq!(list.len(), 5);
        let mut out = Vec::new();
        list.take_all(&mut out);
        assert_eq!(out.len(), 5);
        out.into_iter().for_each(StoredWaker::wake);
        assert_eq!(wakers[0].1 .0.load(Ordering::Relaxed), 0, "it left");
        assert!(wakers[1..]
            .iter()
            .all(|(_, c)| c.0.load(Ordering::Relaxed) == 1));
        assert_eq!(late_count.0.load(Ordering::Relaxed), 1);
        assert!(list.is_empty());
        assert!(
            list.remove(&mut late_slot).is_none(),
            "stale after the wake"
        );
    }

    #[test]
    fn a_repoll_with_the_same_waker_reuses_the_entry() {
        let mut list = WaiterList::default();
        let (a, _) = waker();
        let mut slot = WaiterSlot::NONE;
        list.store(&mut slot, StoredWaker::Other(a.clone()));
        assert!(list.is_current(slot, &a));
        let (b, _) = waker();
        assert!(!list.is_current(slot, &b));
        assert!(
            list.store(&mut slot, StoredWaker::Other(b)).is_some(),
            "replaced in place"
        );
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn register_clones_and_drops_foreign_wakers_outside_the_borrow() {
        use std::task::{RawWaker, RawWakerVTable};
        // A waker whose clone and drop borrow the state, as a foreign
        // waker calling back into the loop would.
        thread_local! {
            static CELL: RefCell<WaiterList> = RefCell::default();
        }
        fn touch() {
            CELL.with(|c| drop(c.borrow_mut()));
        }
        unsafe fn clone(_: *const ()) -> RawWaker {
            touch();
            RawWaker::new(std::ptr::null(), &VTABLE)
        }
        unsafe fn noop(_: *const ()) {}
        unsafe fn drop_waker(_: *const ()) {
            touch();
        }
        static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, drop_waker);
        // SAFETY: the vtable's functions ignore the (null) data pointer.
        let w = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
        let mut slot = WaiterSlot::NONE;
        CELL.with(|c| {
            assert!(register(c, &mut slot, &w, |l| Some(l)));
            assert!(register(c, &mut slot, &w, |l| Some(l)), "a re-poll");
            unregister(c, &mut slot, |l| Some(l));
            assert!(c.borrow().is_empty());
        });
    }
}
