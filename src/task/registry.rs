//! [`Registry`]: every task of a loop whose future is alive, each held by
//! one reference, so that `close()` reaches tasks that wait on wakers held
//! elsewhere and `all_tasks` can list them.
//!
//! # Why not a slab
//!
//! A task leaves the registry when it finishes, usually long after it was
//! spawned: its entry has left the cache by then. A slab *reads* the entry
//! to take its value out (the reference) and to link it into its free
//! list: a cache miss that the processor waits for, one per task (9 % of
//! a million random sleeps, the largest single cost after the wake). Here
//! removing a task only *writes*: its slot becomes `None` and its key goes
//! on top of a stack of free keys, and a store to a line out of the cache
//! does not hold the processor up. The registry's reference comes back
//! through the finishing task's own handle, whose memory is in the cache,
//! and whether the task is registered at all is read from the task too
//! (its `registry_key`), never from the slot.
//!
//! A slot is 8 bytes (a slab's entry was 16) and a free key 4.

use std::mem::ManuallyDrop;

use super::raw::LocalRef;

/// The `registry_key` of a task that is not in a registry: not yet
/// spawned, finished, or taken out by the teardown.
pub(crate) const UNREGISTERED: usize = usize::MAX;

/// The tasks of a loop whose futures are alive (see the module docs).
///
/// Invariant: slot `k` is `Some(t)` exactly when task `t`'s `registry_key`
/// is `k`, and then the registry holds one of `t`'s loop-thread references
/// (counted in its `refs`), which the slot does not drop on its own.
#[derive(Default)]
pub(crate) struct Registry {
    slots: Vec<Option<ManuallyDrop<LocalRef>>>,
    /// The keys of the `None` slots, every one of them, the one freed last
    /// on top (its slot is the likeliest to be in the cache).
    vacant: Vec<u32>,
    /// Insertions since [`shrink`](Registry::shrink) last looked: it looks
    /// again after as many as half the slots, so that its scans cost O(1)
    /// an insertion.
    inserted_since_shrink: usize,
    /// The highest slot in use when `shrink` last looked and could not cut
    /// (it held the array up): once that task is gone, `shrink` looks
    /// again without waiting for more insertions.
    blocker: Option<usize>,
}

impl Registry {
    /// Registers `task` (one of its references moves into the registry)
    /// and returns its key, which the task keeps.
    ///
    /// # Panics
    ///
    /// If 2^32 tasks are alive at once.
    #[inline]
    pub(crate) fn insert(&mut self, task: LocalRef) -> usize {
        debug_assert_eq!(task.view().registry_key(), UNREGISTERED);
        let key = match self.vacant.pop() {
            Some(key) => key as usize,
            None => {
                let key = self.slots.len();
                assert!(
                    u32::try_from(key).is_ok(),
                    "evloop: 2^32 tasks alive at once"
                );
                self.slots.push(None);
                key
            }
        };
        task.view().set_registry_key(key);
        self.slots[key] = Some(ManuallyDrop::new(task));
        self.inserted_since_shrink += 1;
        key
    }

    /// Takes `task` out: the registry's reference to it, or `None` if it
    /// is not registered (the teardown took it out already).
    ///
    /// # Safety
    ///
    /// `task` must be a task of this registry's loop: its key, if it has
    /// one, was given by this registry. (The slot is not read to check it:
    /// that read is what this registry exists to avoid.)
    #[inline]
    pub(crate) unsafe fn remove(&mut self, task: &LocalRef) -> Option<LocalRef> {
        let view = task.view();
        let key = view.registry_key();
        if key == UNREGISTERED {
            return None;
        }
        debug_assert!(
            self.get(key).is_some_and(|t| t.ptr_eq(task)),
            "a task's registry key names another slot"
        );
        // A store, not a read (module docs): `None` in a slot of
        // `ManuallyDrop` drops nothing, so the old value is not loaded.
        self.slots[key] = None;
        view.set_registry_key(UNREGISTERED);
        self.vacant.push(key as u32);
        // `task` is this registry's (the caller's promise) and its key names
        // its slot (the invariant): the registry held one of its references.
        // SAFETY: the slot no longer holds that reference; the owner takes it.
        Some(unsafe { task.adopt() })
    }

    /// The task registered under `key`, if any.
    #[inline]
    pub(crate) fn get(&self, key: usize) -> Option<&LocalRef> {
        self.slots.get(key)?.as_deref()
    }

    /// Every registered task, by key.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &LocalRef> {
        self.slots.iter().filter_map(|slot| slot.as_deref())
    }

    /// Tasks registered: the slots that are not free.
    fn len(&self) -> usize {
        self.slots.len() - self.vacant.len()
    }

    /// Every registered task, taken out with its reference (the
    /// teardown). The slots' memory is given back too.
    pub(crate) fn drain(&mut self) -> Vec<LocalRef> {
        let slots = std::mem::take(&mut self.slots);
        self.vacant = Vec::new();
        self.inserted_since_shrink = 0;
        self.blocker = None;
        slots
            .into_iter()
            .flatten()
            .map(|task| {
                let task = ManuallyDrop::into_inner(task);
                task.view().set_registry_key(UNREGISTERED);
                task
            })
            .collect()
    }

    /// Gives back the slots a burst of tasks left (the loop calls it when
    /// it goes to sleep). Once at most a quarter of the slots hold a task,
    /// it looks for the last one in use; if the array can lose at least
    /// half, it is cut after it (`keep` slots at least). Either way the
    /// free keys are rebuilt lowest on top, so that new tasks fill the
    /// array from its start and a task alive high up, which held the
    /// array, is the last one there: when it is gone, the next call looks
    /// again at once. Otherwise it looks only after half the slots' worth
    /// of insertions, so that its scans cost O(1) an insertion.
    pub(crate) fn shrink(&mut self, keep: usize) {
        let slots = self.slots.len();
        if slots <= keep || self.len() > slots / 4 {
            return;
        }
        let blocker_gone = self.blocker.is_some_and(|k| self.get(k).is_none());
        if self.inserted_since_shrink < slots / 2 && !blocker_gone {
            return;
        }
        let counted = self.inserted_since_shrink >= slots / 2;
        self.inserted_since_shrink = 0;
        // Scans the free slots at the top only: at most what it may cut.
        let in_use = self
            .slots
            .iter()
            .rposition(Option::is_some)
            .map_or(0, |k| k + 1);
        let cut = in_use.max(keep);
        if cut > (slots / 2).max(keep) {
            self.blocker = in_use.checked_sub(1);
            if counted {
                self.rebuild_vacant(); // O(slots), after slots / 2 insertions
            }
            return;
        }
        self.blocker = None;
        self.slots.truncate(cut);
        self.slots.shrink_to(cut);
        self.rebuild_vacant(); // O(cut), after giving back at least as much
        self.vacant.shrink_to_fit();
    }

    /// The free keys again, the lowest on top.
    fn rebuild_vacant(&mut self) {
        self.vacant.clear();
        let free = (0..self.slots.len())
            .rev()
            .filter(|&k| self.slots[k].is_none());
        self.vacant.extend(free.map(|k| k as u32));
    }

    /// Slots, used or not (for tests of the shrinking).
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.slots.len()
    }
}

impl Drop for Registry {
    /// Lets go of the tasks still registered (a loop dropped without its
    /// teardown having run).
    fn drop(&mut self) {
        drop(self.drain());
    }
}

#[cfg(all(test, not(evloop_loom)))]
mod tests {
    use std::collections::BTreeMap;
    use std::panic::Location;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::task::owner::TaskOwners;
    use crate::task::raw::RawTask;
    use crate::task::Remote;

    /// A remote queue as a loop makes one, and the stock its tasks take
    /// their owners from.
    fn owners() -> (TaskOwners, Arc<Remote>, mio::Poll) {
        let poll = mio::Poll::new().unwrap();
        let waker = mio::Waker::new(poll.registry(), mio::Token(0)).unwrap();
        let remote = Arc::new(Remote::new(waker, Duration::ZERO, None));
        (TaskOwners::new(&remote), remote, poll)
    }

    /// A task that never finishes, with one loop-thread reference.
    fn task(owners: &TaskOwners) -> LocalRef {
        RawTask::allocate(
            std::future::pending::<()>(),
            owners.hand_out(),
            Location::caller(),
        )
    }

    /// A registry holding `n` new tasks (keys 0 to n - 1), and the tasks.
    fn registered(owners: &TaskOwners, n: usize) -> (Registry, Vec<LocalRef>) {
        let mut registry = Registry::default();
        let tasks: Vec<LocalRef> = (0..n).map(|_| task(owners)).collect();
        for t in &tasks {
            registry.insert(t.clone());
        }
        (registry, tasks)
    }

    /// `Registry::remove`, for tests that use one registry for all their
    /// tasks.
    fn take(registry: &mut Registry, task: &LocalRef) -> Option<LocalRef> {
        // SAFETY: every task of a test goes into that test's one registry.
        unsafe { registry.remove(task) }
    }

    /// The loop-thread references a task has (its registry's included).
    fn refs(task: &LocalRef) -> u32 {
        task.local_refs()
    }

    #[test]
    fn removing_hands_back_the_registry_reference_and_frees_the_key() {
        let (owners, _remote, _poll) = owners();
        let mut registry = Registry::default();
        let a = task(&owners);
        let key = registry.insert(a.clone());
        assert_eq!(a.view().registry_key(), key);
        assert_eq!(refs(&a), 2, "the handle and the registry");
        assert!(registry.get(key).is_some_and(|t| t.ptr_eq(&a)));
        let taken = take(&mut registry, &a).expect("registered");
        assert!(taken.ptr_eq(&a));
        assert_eq!(refs(&a), 2, "the reference moved out, not copied");
        drop(taken);
        assert_eq!(refs(&a), 1);
        assert_eq!(a.view().registry_key(), UNREGISTERED);
        assert!(registry.get(key).is_none());
        assert!(take(&mut registry, &a).is_none(), "removed once only");
        let b = task(&owners);
        assert_eq!(registry.insert(b.clone()), key, "the freed key is reused");
        assert_eq!(registry.len(), 1);
    }

    #[test]
    fn draining_takes_every_task_out_with_its_reference() {
        let (owners, _remote, _poll) = owners();
        let (mut registry, tasks) = registered(&owners, 5);
        take(&mut registry, &tasks[1]);
        let drained = registry.drain();
        assert_eq!(drained.len(), 4);
        assert!(drained.iter().all(|t| refs(t) == 2));
        assert!(tasks
            .iter()
            .all(|t| t.view().registry_key() == UNREGISTERED));
        assert!(
            take(&mut registry, &tasks[0]).is_none(),
            "the teardown took it"
        );
        drop(drained);
        assert!(tasks.iter().all(|t| refs(t) == 1));
    }

    #[test]
    fn a_registry_dropped_with_tasks_in_it_lets_them_go() {
        let (owners, _remote, _poll) = owners();
        let mut registry = Registry::default();
        let a = task(&owners);
        registry.insert(a.clone());
        drop(registry);
        assert_eq!(refs(&a), 1);
    }

    /// Random inserts and removes against a map from key to task: the
    /// same tasks under the same keys, each reference counted once, keys
    /// reused, and the slots cut back after the burst.
    #[test]
    fn random_inserts_and_removes_agree_with_a_map() {
        let (owners, _remote, _poll) = owners();
        let mut registry = Registry::default();
        let mut model: BTreeMap<usize, LocalRef> = BTreeMap::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let steps = if cfg!(miri) { 400 } else { 20_000 };
        for step in 0..steps {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Mostly inserts for the first half, mostly removes after.
            let insert = (seed % 100) < if step < steps / 2 { 70 } else { 25 };
            if insert || model.is_empty() {
                let t = task(&owners);
                let key = registry.insert(t.clone());
                assert!(model.insert(key, t).is_none(), "key {key} handed out twice");
            } else {
                let key = *model
                    .keys()
                    .nth((seed >> 32) as usize % model.len())
                    .unwrap();
                let t = model.remove(&key).unwrap();
                drop(take(&mut registry, &t).expect("registered"));
                assert_eq!(refs(&t), 1);
            }
            assert_eq!(registry.len(), model.len());
            if step % 97 == 0 {
                registry.shrink(16);
            }
        }
        for (key, t) in &model {
            assert!(registry.get(*key).is_some_and(|r| r.ptr_eq(t)));
            assert_eq!(refs(t), 2);
        }
        assert_eq!(registry.iter().count(), model.len());
        for t in model.values() {
            drop(take(&mut registry, t));
        }
        let grown = registry.capacity();
        registry.inserted_since_shrink = grown; // as if many had come and gone
        registry.shrink(16);
        assert_eq!(
            registry.capacity(),
            16.min(grown),
            "an empty registry keeps 16 slots"
        );
        let t = task(&owners);
        assert!(
            registry.insert(t.clone()) < 16,
            "only keys below the cut are reused"
        );
    }

    #[test]
    fn a_task_alive_high_up_holds_the_slots_until_it_goes() {
        let (owners, _remote, _poll) = owners();
        let (mut registry, tasks) = registered(&owners, 100);
        for t in &tasks[10..99] {
            drop(take(&mut registry, t));
        }
        registry.shrink(4);
        assert_eq!(registry.capacity(), 100, "the last task holds the array");
        let newcomer = task(&owners);
        assert_eq!(
            registry.insert(newcomer.clone()),
            10,
            "the lowest free key first"
        );
        drop(take(&mut registry, &newcomer));
        registry.shrink(4);
        assert_eq!(registry.capacity(), 100, "still held");
        drop(take(&mut registry, &tasks[99]));
        registry.shrink(4); // no insertions since: the holder's end is enough
        assert_eq!(registry.capacity(), 10, "cut after the last task in use");
        let keys: Vec<usize> = (0..10).map(|_| registry.insert(task(&owners))).collect();
        assert!(
            keys.iter().all(|&k| k >= 10),
            "no free key below: new slots"
        );
    }

    #[test]
    fn shrink_waits_for_a_quarter_in_use_and_half_the_slots_in_insertions() {
        let (owners, _remote, _poll) = owners();
        let (mut registry, tasks) = registered(&owners, 100);
        let steps = [
            (30..100, 100, "30 of 100 in use: more than a quarter"),
            (20..30, 20, "20 of 100: cut after the last in use"),
            (2..20, 20, "no insertion since it last looked"),
        ];
        for (ended, capacity, why) in steps {
            for t in &tasks[ended] {
                drop(take(&mut registry, t));
            }
            registry.shrink(4);
            assert_eq!(registry.capacity(), capacity, "{why}");
        }
        for _ in 0..10 {
            let t = task(&owners);
            registry.insert(t.clone());
            drop(take(&mut registry, &t));
        }
        registry.shrink(4);
        assert_eq!(
            registry.capacity(),
            4,
            "half the slots' worth of insertions: it looks"
        );
    }
}
