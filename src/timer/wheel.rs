//! [`Wheel`] and [`TimerKey`]: storing, cancelling and expiring timers.
//!
//! The geometry and the firing rule are described in the parent module.

use std::collections::BTreeMap;
use std::fmt;

use crate::prefetch::prefetch;

use super::level::{level_for, Level, Spares, TimerList, NIL, NUM_LEVELS, WHEEL_BITS};

/// Identifies one timer: its entry index and the generation of that entry
/// when the timer was inserted, so a stale key (timer already removed, its
/// entry reused by a newer timer) never touches another timer.
///
/// Generations are `u32`, and an entry whose generation would wrap around
/// is retired (never reused), so no key ever names a newer timer: not even
/// one kept while 2^32 timers come and go at its index, which arming and
/// cancelling one timer at a time does in minutes (the vacant entry freed
/// last is the first reused).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub(crate) struct TimerKey {
    /// The timer's index in the wheel's entries.
    index: u32,
    /// The entry's generation at insertion; bumped when it is removed.
    generation: u32,
}

/// A list that a pending timer is in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum List {
    /// Slot `slot` of level `level`.
    Slot { level: u8, slot: u8 },
    /// The overflow list of rotation `rotation`: the timers due in ticks
    /// `rotation << WHEEL_BITS ..`, beyond the wheel until the clock gets there.
    Overflow { rotation: u64 },
}

/// Where an entry is in its life, in two bytes (an entry is 80 bytes
/// with a callback's value, not 96: a million pending timers touch 16 MB
/// less): pending in slot `slot` of level `level` (`level << 8 | slot`),
/// pending in the overflow list of its rotation (which its tick gives:
/// `tick >> WHEEL_BITS`), expired by `advance` and in no list, its value
/// waiting for `remove`, or vacant (no timer; free for the next insert).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct State(u16);

impl State {
    const EXPIRED: State = State(u16::MAX);
    const OVERFLOW: State = State(u16::MAX - 1);
    const VACANT: State = State(u16::MAX - 2);

    /// Pending in `list`.
    fn pending(list: List) -> State {
        match list {
            List::Slot { level, slot } => State(u16::from(level) << 8 | u16::from(slot)),
            List::Overflow { .. } => State::OVERFLOW,
        }
    }

    /// The list a timer due at `tick` is in; `None` if expired or vacant.
    fn list(self, tick: u64) -> Option<List> {
        match self {
            State::EXPIRED | State::VACANT => None,
            State::OVERFLOW => Some(List::Overflow {
                rotation: tick >> WHEEL_BITS,
            }),
            State(packed) => Some(List::Slot {
                level: (packed >> 8) as u8,
                slot: packed as u8,
            }),
        }
    }
}

/// One timer, or a vacant place for one: the caller's value and the
/// wheel's bookkeeping.
struct Entry<T> {
    /// The caller's value, given back by `remove` or `drain`; `None` while
    /// the entry is vacant.
    value: Option<T>,
    /// The exact deadline; orders an expired batch.
    deadline: u64,
    /// Insertion sequence number; orders equal deadlines.
    seq: u64,
    /// The tick the timer belongs to: `ceil(deadline / tick)`, or the
    /// current tick if the deadline had passed when the timer was inserted.
    tick: u64,
    /// Pending: the timer's position in its list ([`TimerList`]). Vacant:
    /// the next vacant entry, or [`NIL`].
    pos: u32,
    /// Pending in a list, expired, or vacant.
    state: State,
    /// The generation of the entry: a key is good while it matches. Bumped
    /// when the timer is removed, kept while the entry is vacant and given
    /// to the next timer inserted here, so each entry's generations only
    /// move forward. Kept in the entry, not in a table beside it, so that
    /// making a key (at expiry) and checking one (`get`, `remove`) read
    /// only the entry (a table is a second cache miss per timer when a
    /// million expire).
    generation: u32,
}

impl<T> Entry<T> {
    /// Vacant for good: its generation wrapped around (see [`TimerKey`]),
    /// so it is never reused.
    fn is_retired(&self) -> bool {
        self.state == State::VACANT && self.generation == 0
    }
}

/// A hierarchical timer wheel: 6 levels of 64 slots over an array of timers.
pub(crate) struct Wheel<T> {
    /// Every timer not yet removed, pending or expired, and the vacant
    /// entries left by removed ones.
    entries: Vec<Entry<T>>,
    /// The first vacant entry, or [`NIL`]; each vacant entry's `pos` names
    /// the next. Insertions take the first; a freed entry goes first too
    /// (it is the one in cache), unless it lies at or above `move_down`.
    vacant: u32,
    /// The last vacant entry, or [`NIL`].
    vacant_tail: u32,
    /// Entries at or above this index go to the end of the free list when
    /// freed (`usize::MAX`: none): set by a [`shrink`](Wheel::shrink) that
    /// a timer in use high up kept from cutting the array, so that such a
    /// timer, re-armed, moves down (a keep-alive re-armed after a burst
    /// would otherwise take its own entry again at every turn).
    move_down: usize,
    /// The number of timers stored, pending or expired.
    stored: usize,
    /// The levels, finest first.
    levels: [Level; NUM_LEVELS],
    /// The timers of each far-away rotation, by rotation (none empty).
    /// Ordered, so the next rotation with timers is its first key; there
    /// are as many keys as distinct far-away rotations (a handful), not as
    /// many as timers.
    overflow: BTreeMap<u64, TimerList>,
    /// Emptied lists' arrays, kept for new lists.
    spares: Spares,
    /// The length of a tick, in the caller's unit of time.
    tick: u64,
    /// The current time: the last `now` given to `advance`.
    now: u64,
    /// The current tick: the tick `now` falls in.
    now_tick: u64,
    /// The sequence number of the next insertion.
    next_seq: u64,
    /// The generation a new entry starts at: above every generation of
    /// the entries [`shrink`](Wheel::shrink) cut off, so that no key kept
    /// from those names a newer timer at the same index.
    fresh_generation: u32,
    /// Insertions since `shrink` last looked at the array: it looks again
    /// only after as many as half the array, so its scans cost O(1) an
    /// insertion.
    inserted_since_shrink: usize,
    /// The number of pending timers.
    pending: usize,
    /// Scratch for `advance`: the expired batch with its sort key, so the
    /// sort compares contiguous memory instead of reading the scattered
    /// entries (a third of the expiry time with a million timers).
    batch: Vec<(u64, u64, TimerKey)>,
}

impl<T> Wheel<T> {
    /// An empty wheel at time 0 whose level-0 slots are `tick` long, in the
    /// unit of every time argument (the loop uses nanoseconds, so `1_000_000`
    /// is the default 1 ms tick and `1_000` the high-resolution 1 µs tick).
    ///
    /// # Panics
    ///
    /// If `tick` is 0.
    pub(crate) fn new(tick: u64) -> Wheel<T> {
        assert!(tick > 0, "a timer wheel's tick must be at least 1");
        Wheel {
            entries: Vec::new(),
            vacant: NIL,
            vacant_tail: NIL,
            move_down: usize::MAX,
            stored: 0,
            levels: std::array::from_fn(Level::new),
            overflow: BTreeMap::new(),
            spares: Spares::new(),
            tick,
            now: 0,
            now_tick: 0,
            next_seq: 0,
            fresh_generation: 0,
            inserted_since_shrink: 0,
            pending: 0,
            batch: Vec::new(),
        }
    }

    /// Inserts a timer that expires once the time reaches `deadline`. O(1),
    /// except for a deadline beyond the wheel's range, which costs a lookup
    /// in the map of far-away rotations.
    ///
    /// A deadline at or before the current time expires at the next
    /// `advance`.
    ///
    /// # Panics
    ///
    /// If `u32::MAX - 1` timers are already stored.
    pub(crate) fn insert(&mut self, deadline: u64, value: T) -> TimerKey {
        let (seq, tick) = (self.next_seq, self.tick_for(deadline));
        let (index, generation) = if self.vacant != NIL {
            let index = self.vacant;
            let entry = &mut self.entries[index as usize];
            self.vacant = entry.pos;
            if entry.pos == NIL {
                self.vacant_tail = NIL;
            }
            entry.value = Some(value);
            (entry.deadline, entry.seq, entry.tick) = (deadline, seq, tick);
            (index, entry.generation)
        } else {
            assert!(self.entries.len() < NIL as usize, "too many timers");
            self.entries.push(Entry {
                value: Some(value),
                deadline,
                seq,
                tick,
                pos: NIL,
                state: State::VACANT,
                generation: self.fresh_generation,
            });
            ((self.entries.len() - 1) as u32, self.fresh_generation)
        };
        self.next_seq += 1;
        self.inserted_since_shrink += 1;
        self.place(index);
        self.pending += 1;
        self.stored += 1;
        TimerKey { index, generation }
    }

    /// Gives back what a burst of timers left behind: if at most a quarter
    /// of the entries are in use, the array is cut after the last one in
    /// use (never below `keep` entries), and the free list rebuilt from the
    /// lowest index up, so that later timers fill the array from its start
    /// and a later call can cut what the earlier one could not. Looks only
    /// after as many insertions as half the array since it last looked.
    /// The loop calls it when it goes to sleep.
    pub(crate) fn shrink(&mut self, keep: usize) {
        let len = self.entries.len();
        if len <= keep || self.stored > len / 4 || self.inserted_since_shrink < len / 2 {
            return;
        }
        self.inserted_since_shrink = 0;
        // Never cut an entry in use, nor one whose generations could not
        // be started above: a retired entry (it gave out every generation)
        // or one past half the range (so that new entries always have at
        // least 2^31 generations to go before they retire).
        let kept =
            |e: &Entry<T>| e.state != State::VACANT || e.is_retired() || e.generation >= 1 << 31;
        let in_use = self.entries.iter().rposition(kept);
        let cut = in_use.map_or(0, |last| last + 1).max(keep);
        // At most half the array is wanted; what is in use above that
        // moves down as it is re-armed.
        let wanted = (len / 2).max(keep);
        self.move_down = if cut > wanted { wanted } else { usize::MAX };
        if let Some(highest) = self.entries[cut..].iter().map(|e| e.generation).max() {
            self.fresh_generation = self.fresh_generation.max(highest + 1);
            self.entries.truncate(cut);
            self.entries.shrink_to_fit();
        }
        // The scratch of `advance` holds a tick's batch: keep room for a
        // usual one.
        self.batch.shrink_to(keep);
        (self.vacant, self.vacant_tail) = (NIL, NIL);
        for index in (0..self.entries.len() as u32).rev() {
            let entry = &self.entries[index as usize];
            if entry.state == State::VACANT && !entry.is_retired() {
                self.free_first(index);
            }
        }
    }

    /// Removes a timer, pending or expired, freeing its entry at once, and
    /// returns its value; `None` if the key is stale. O(1), except for a
    /// timer in the overflow map (a lookup by rotation).
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<T> {
        if !self.is_live(key) {
            return None;
        }
        let entry = &self.entries[key.index as usize];
        if let Some(list) = entry.state.list(entry.tick) {
            self.unlink(key.index, list);
            self.pending -= 1;
        }
        self.stored -= 1;
        let value = self.entries[key.index as usize].value.take();
        self.vacate(key.index);
        value
    }

    /// Makes entry `index` (its value gone) vacant under a new generation,
    /// first in the free list (last if it lies at or above `move_down`);
    /// an entry whose generation wraps around is retired instead, vacant
    /// but never reused (see [`TimerKey`]).
    fn vacate(&mut self, index: u32) {
        let entry = &mut self.entries[index as usize];
        entry.generation = entry.generation.wrapping_add(1);
        entry.state = State::VACANT;
        if entry.is_retired() {
            return;
        }
        if self.vacant != NIL && index as usize >= self.move_down {
            entry.pos = NIL;
            self.entries[self.vacant_tail as usize].pos = index;
            self.vacant_tail = index;
        } else {
            self.free_first(index);
        }
    }

    /// Puts vacant entry `index` first in the free list.
    fn free_first(&mut self, index: u32) {
        self.entries[index as usize].pos = self.vacant;
        if self.vacant == NIL {
            self.vacant_tail = index;
        }
        self.vacant = index;
    }

    /// The value of a timer, pending or expired; `None` if the key is stale.
    pub(crate) fn get(&self, key: TimerKey) -> Option<&T> {
        let entry = self.entries.get(key.index as usize)?;
        let live = entry.generation == key.generation;
        live.then_some(entry.value.as_ref()).flatten()
    }

    /// Asks for `key`'s entry to be brought into the cache (see
    /// `prefetch`): the loop does it some timers ahead of reading an
    /// expired batch's entries, which a big batch has let go cold.
    #[inline]
    pub(crate) fn prefetch(&self, key: TimerKey) {
        prefetch(self.entries.as_ptr().wrapping_add(key.index as usize));
    }

    /// The value of a timer, pending or expired; `None` if the key is stale.
    pub(crate) fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        let entry = self.entries.get_mut(key.index as usize)?;
        let live = entry.generation == key.generation;
        live.then_some(entry.value.as_mut()).flatten()
    }

    /// Moves the clock to `now` and expires every timer whose tick it
    /// reaches (the firing rule), appending their keys to `out`, sorted by
    /// (deadline, insertion order). Their values stay until `remove`d.
    ///
    /// A `now` before the current time counts as the current time: the clock
    /// never goes back, but timers already due still expire.
    ///
    /// Visits only non-empty slots, so a jump of years costs no more than the
    /// slots (at most 7 per timer) that lie in between.
    #[cfg(test)]
    pub(crate) fn advance(&mut self, now: u64, out: &mut Vec<TimerKey>) {
        self.advance_at_most(now, out, usize::MAX);
    }

    /// [`advance`](Self::advance), except that it stops once `at_least`
    /// timers expired, at the end of a tick: the clock then stays at that
    /// tick (its `now` at the tick's start, or where it was), the timers of
    /// later ticks still pending, and the next call goes on from there. A
    /// batch never splits a tick, so the batches come out in (deadline,
    /// insertion) order one after the other; each is sorted on its own,
    /// and a million timers due at once are visited, sorted and handed out
    /// a tick at a time instead of in one cold sweep.
    pub(crate) fn advance_at_most(&mut self, now: u64, out: &mut Vec<TimerKey>, at_least: usize) {
        let now = now.max(self.now);
        let now_tick = self.tick_at(now);
        let mut batch = std::mem::take(&mut self.batch);
        let mut stopped = false;
        while let Some((start, list)) = self.next_list().filter(|&(start, _)| start <= now_tick) {
            if batch.len() >= at_least && start > self.now_tick {
                stopped = true;
                break;
            }
            self.visit(start, list, &mut batch);
        }
        if stopped {
            // The clock stays in the last tick visited.
            self.now = self.now.max(self.time_of(self.now_tick));
        } else {
            self.now = now;
            self.now_tick = now_tick;
        }
        // Lists are unordered and cascading mixes them: order this batch.
        batch.sort_unstable_by_key(|&(deadline, seq, _)| {
            u128::from(deadline) << 64 | u128::from(seq)
        });
        out.extend(batch.drain(..).map(|(_, _, key)| key));
        self.batch = batch;
    }

    /// When the loop should next call `advance`: the current time if a timer
    /// is already due, else the earliest time at which one expires, later
    /// than the current time. `None` if no timer is pending.
    ///
    /// It is read from the first list `advance` will visit, which holds the
    /// earliest timer, and from that list's lower bound (see [`TimerList`]):
    /// so it is exact, unless the earliest timer of that list was cancelled.
    /// Then the answer is early, a time at which that list cascades; still,
    /// advancing to it always makes progress: something expires, or the next
    /// answer is strictly later.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        let (_, list) = self.next_list()?;
        let earliest = self.list(list).earliest;
        Some(if earliest <= self.now_tick {
            self.now
        } else {
            self.time_of(earliest)
        })
    }

    /// The number of pending (not yet expired) timers.
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// The number of stored timers: pending, and expired but not removed.
    #[allow(dead_code)] // not called by the loop yet
    pub(crate) fn len(&self) -> usize {
        self.stored
    }

    /// Whether no timer is stored, pending or expired.
    #[allow(dead_code)] // not called by the loop yet
    pub(crate) fn is_empty(&self) -> bool {
        self.stored == 0
    }

    /// The current time: the last `now` given to `advance`, or 0.
    #[allow(dead_code)] // not called by the loop yet
    pub(crate) fn now(&self) -> u64 {
        self.now
    }

    /// Removes every timer and returns their values, in no particular order,
    /// so that the caller can drop them outside of any borrow (dropping a
    /// user's value may re-enter the loop). Every key turns stale.
    pub(crate) fn drain(&mut self) -> Vec<T> {
        self.levels.iter_mut().for_each(Level::clear);
        self.overflow.clear();
        (self.pending, self.stored) = (0, 0);
        let mut values = Vec::new();
        (self.vacant, self.vacant_tail) = (NIL, NIL);
        for index in (0..self.entries.len() as u32).rev() {
            let entry = &mut self.entries[index as usize];
            if entry.is_retired() {
                continue; // stays out of the free list
            }
            values.extend(entry.value.take());
            self.vacate(index);
        }
        values
    }

    /// Whether `key` names a stored timer.
    fn is_live(&self, key: TimerKey) -> bool {
        let entry = self.entries.get(key.index as usize);
        entry.is_some_and(|e| e.generation == key.generation && e.value.is_some())
    }

    /// The tick that a timer inserted now with `deadline` belongs to: the
    /// first tick that starts at or after the deadline, or the current tick
    /// if the deadline has been reached, even inside a tick the clock has not
    /// finished, so that it expires at the next `advance`.
    fn tick_for(&self, deadline: u64) -> u64 {
        if deadline <= self.now {
            self.now_tick
        } else {
            deadline.div_ceil(self.tick)
        }
    }

    /// The tick the clock is in at time `now`: `floor(now / tick)`, except
    /// that the end of time, `u64::MAX`, reaches the last partial tick too.
    fn tick_at(&self, now: u64) -> u64 {
        if now == u64::MAX {
            now.div_ceil(self.tick)
        } else {
            now / self.tick
        }
    }

    /// The earliest time whose tick is `tick` or later (`u64::MAX` for the
    /// last, partial tick).
    fn time_of(&self, tick: u64) -> u64 {
        tick.saturating_mul(self.tick)
    }

    /// The first list `advance` must visit, with the tick at which it starts;
    /// `None` if no timer is pending.
    ///
    /// The lowest non-empty level always holds it. The timers of level `n`
    /// all fall inside the current slot of level `n + 1` (`level_for` put
    /// them on level `n` because they agree with the clock above it), while
    /// those of level `n + 1` fall in its later slots, after every timer of
    /// level `n`. The overflow rotations come after the whole wheel. Slots of
    /// a level hold disjoint spans of ticks, so this first list also holds
    /// the earliest pending timer.
    fn next_list(&self) -> Option<(u64, List)> {
        for (level, slots) in self.levels.iter().enumerate() {
            if let Some(slot) = slots.next_occupied(self.now_tick) {
                let start = slots.slot_start(slot, self.now_tick);
                let (level, slot) = (level as u8, slot as u8);
                return Some((start, List::Slot { level, slot }));
            }
        }
        let (&rotation, _) = self.overflow.first_key_value()?;
        Some((rotation << WHEEL_BITS, List::Overflow { rotation }))
    }

    /// Visits `list`, which starts at tick `start`: moves the clock there,
    /// then expires each of its timers that is due and places the others
    /// again, on a lower level now that the clock is closer (the cascade).
    ///
    /// None of them goes back into `list` (they go to a lower level, or
    /// from the overflow map into the wheel), so `list` stays empty.
    fn visit(&mut self, start: u64, list: List, out: &mut Vec<(u64, u64, TimerKey)>) {
        debug_assert!(start >= self.now_tick, "visiting a list behind the clock");
        self.now_tick = start;
        let timers = match list {
            List::Slot { level, slot } => self.levels[level as usize].take(slot as usize),
            List::Overflow { rotation } => self
                .overflow
                .remove(&rotation)
                .map_or_else(Vec::new, |mut l| l.take()),
        };
        for &index in &timers {
            let entry = &mut self.entries[index as usize];
            if entry.tick <= self.now_tick {
                entry.state = State::EXPIRED;
                let key = TimerKey {
                    index,
                    generation: entry.generation,
                };
                self.pending -= 1;
                out.push((entry.deadline, entry.seq, key));
            } else {
                self.place(index);
            }
        }
        self.spares.give(timers);
    }

    /// Puts a pending timer in the list its tick calls for, given the
    /// current tick.
    fn place(&mut self, index: u32) {
        let entry = &self.entries[index as usize];
        let (tick, list) = (entry.tick, self.list_for(entry.tick));
        let pos = match list {
            List::Slot { level, slot } => {
                self.levels[level as usize].push(slot as usize, index, tick, &mut self.spares)
            }
            List::Overflow { rotation } => self
                .overflow
                .entry(rotation)
                .or_insert_with(TimerList::new)
                .push(index, tick, &mut self.spares),
        };
        let entry = &mut self.entries[index as usize];
        (entry.pos, entry.state) = (pos, State::pending(list));
    }

    /// The list for a timer due at tick `tick`, given the current tick.
    fn list_for(&self, tick: u64) -> List {
        // A timer already due waits in the current slot of level 0, which the
        // next `advance` visits first whatever its `now`.
        let when = tick.max(self.now_tick);
        match level_for(self.now_tick, when) {
            Some(level) => List::Slot {
                level: level as u8,
                slot: self.levels[level].slot_for(when) as u8,
            },
            None => List::Overflow {
                rotation: when >> WHEEL_BITS,
            },
        }
    }

    /// Takes entry `index` out of `list`, the list it is in: the list's last
    /// timer moves into its place.
    fn unlink(&mut self, index: u32, list: List) {
        let pos = self.entries[index as usize].pos;
        let moved = match list {
            List::Slot { level, slot } => {
                self.levels[level as usize].swap_remove(slot as usize, pos, &mut self.spares)
            }
            List::Overflow { rotation } => {
                let timers = self
                    .overflow
                    .get_mut(&rotation)
                    .expect("a pending timer's rotation");
                let moved = timers.swap_remove(pos, &mut self.spares);
                if timers.is_empty() {
                    self.overflow.remove(&rotation);
                }
                moved
            }
        };
        if let Some(moved) = moved {
            self.entries[moved as usize].pos = pos;
        }
    }

    /// The timers of `list` (an empty list for a rotation without any).
    fn list(&self, list: List) -> &TimerList {
        const EMPTY: &TimerList = &TimerList::new();
        match list {
            List::Slot { level, slot } => self.levels[level as usize].list(slot as usize),
            List::Overflow { rotation } => self.overflow.get(&rotation).unwrap_or(EMPTY),
        }
    }
}

impl<T> fmt::Debug for Wheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wheel")
            .field("tick", &self.tick)
            .field("now", &self.now)
            .field("pending", &self.pending)
            .field("len", &self.stored)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::rc::Rc;

    use super::super::level::{LEVEL_BITS, SLOTS};
    use super::*;

    /// The default tick, with nanoseconds as the unit of time.
    const MS: u64 = 1_000_000;
    /// The high-resolution tick.
    const US: u64 = 1_000;

    impl<T> Wheel<T> {
        /// Asserts every structural invariant: positions kept right, bitmaps and
        /// overflow keys in step with the lists, each pending timer exactly
        /// where `place` would put it now, and the counters right.
        fn check(&self) {
            let mut linked = 0;
            for (level, slots) in self.levels.iter().enumerate() {
                for slot in 0..SLOTS {
                    let list = List::Slot {
                        level: level as u8,
                        slot: slot as u8,
                    };
                    assert_eq!(slots.is_occupied(slot), !slots.list(slot).is_empty());
                    linked += self.check_list(list);
                }
            }
            for (&rotation, timers) in &self.overflow {
                assert!(!timers.is_empty(), "an empty overflow list is kept");
                assert!(rotation > self.now_tick >> WHEEL_BITS);
                linked += self.check_list(List::Overflow { rotation });
            }
            let count = |state| self.entries.iter().filter(|e| e.state == state).count();
            let (expired, vacant) = (count(State::EXPIRED), count(State::VACANT));
            let retired = self
                .entries
                .iter()
                .filter(|e| e.is_retired() && e.value.is_none())
                .count();
            assert_eq!(linked, self.pending);
            assert_eq!(linked + expired, self.stored);
            assert_eq!(self.stored + vacant, self.entries.len());
            let (mut index, mut free, mut last) = (self.vacant, 0, NIL);
            while index != NIL {
                assert!(free < self.entries.len(), "a cycle in the free list");
                let entry = &self.entries[index as usize];
                assert!(entry.state == State::VACANT && entry.value.is_none());
                assert_ne!(entry.generation, 0, "a retired entry in the free list");
                (last, index, free) = (index, entry.pos, free + 1);
            }
            assert_eq!(last, self.vacant_tail, "the free list's tail");
            // Retired entries (generation wrapped to 0) stay out of it;
            // an entry never used twice has generation 0 only while stored.
            assert_eq!(
                free,
                vacant - retired,
                "a vacant entry is not in the free list"
            );
            assert_eq!(self.now_tick, self.tick_at(self.now));
        }

        /// Checks one list and returns its length.
        fn check_list(&self, list: List) -> usize {
            let timers = self.list(list);
            if timers.is_empty() {
                assert_eq!(timers.earliest, u64::MAX, "an empty list keeps a bound");
            }
            for (pos, &index) in timers.timers().iter().enumerate() {
                let entry = &self.entries[index as usize];
                assert!(timers.earliest <= entry.tick, "bound above a timer");
                assert_eq!(entry.pos as usize, pos);
                assert!(entry.value.is_some());
                assert_eq!(entry.state.list(entry.tick), Some(list));
                assert_eq!(self.list_for(entry.tick), list, "timer in the wrong list");
            }
            timers.timers().len()
        }
    }

    /// Advances `wheel` to `now`, checks its invariants, returns the batch.
    fn advance<T>(wheel: &mut Wheel<T>, now: u64) -> Vec<TimerKey> {
        let mut out = Vec::new();
        wheel.advance(now, &mut out);
        wheel.check();
        out
    }

    /// Runs the loop's sleep-advance cycle until no timer is pending, and
    /// returns each expired key with the time it expired at. With no timer
    /// cancelled, `next_expiration` is exact: every step expires something.
    fn run_until_idle<T>(wheel: &mut Wheel<T>) -> Vec<(TimerKey, u64)> {
        let mut fired = Vec::new();
        while let Some(at) = wheel.next_expiration() {
            assert!(at >= wheel.now());
            let batch = advance(wheel, at);
            assert!(!batch.is_empty(), "next_expiration {at} was early");
            fired.extend(batch.into_iter().map(|key| (key, at)));
        }
        fired
    }

    /// Tick offsets around every level boundary (64^n - 1, 64^n, 64^n + 1),
    /// up to and past the wheel's range, plus the first ticks.
    fn around_boundaries() -> Vec<u64> {
        let mut offsets = vec![1, 2];
        for level in 1..=NUM_LEVELS as u32 + 1 {
            let boundary = 1u64 << (LEVEL_BITS * level);
            offsets.extend([boundary - 1, boundary, boundary + 1]);
        }
        offsets
    }

    /// Clock positions (in ticks) to insert from: 0, and just before, at and
    /// after the boundaries of levels and rotations.
    const STARTS: [u64; 11] = [
        0,
        1,
        63,
        64,
        4095,
        (1 << 18) - 1,
        (1 << 24) - 1,
        (1 << 30) - 1,
        (1 << 36) - 1,
        1 << 36,
        (3 << 36) + (1 << 36) - 2,
    ];

    /// Runs `scenario(tick, start, offset)` over every start and offset.
    fn for_each_boundary(tick: u64, scenario: fn(u64, u64, u64)) {
        for start in STARTS {
            for offset in around_boundaries() {
                scenario(tick, start, offset);
            }
        }
    }

    /// A wheel of `tick` whose clock is at tick `start`.
    fn wheel_at(tick: u64, start: u64) -> Wheel<u64> {
        let mut wheel = Wheel::new(tick);
        assert_eq!(advance(&mut wheel, start * tick), []);
        wheel
    }

    #[test]
    fn boundaries_fire_exactly_at_the_deadline_and_not_before() {
        fn scenario(tick: u64, start: u64, offset: u64) {
            let mut wheel = wheel_at(tick, start);
            let deadline = (start + offset) * tick;
            let key = wheel.insert(deadline, offset);
            assert_eq!(advance(&mut wheel, deadline - 1), [], "{start} + {offset}");
            assert_eq!(advance(&mut wheel, deadline), [key], "{start} + {offset}");
            assert_eq!((wheel.pending(), wheel.len()), (0, 1));
        }
        for_each_boundary(1, scenario);
        for_each_boundary(US, scenario);
    }

    #[test]
    fn boundaries_fire_on_the_first_tick_after_a_deadline_between_ticks() {
        fn scenario(tick: u64, start: u64, offset: u64) {
            let mut wheel = wheel_at(tick, start);
            let slot_time = (start + offset) * tick;
            let key = wheel.insert(slot_time - tick / 2, offset);
            assert_eq!(advance(&mut wheel, slot_time - tick / 2), []);
            assert_eq!(advance(&mut wheel, slot_time - 1), []);
            assert_eq!(advance(&mut wheel, slot_time), [key]);
        }
        for_each_boundary(7, scenario);
        for_each_boundary(MS, scenario);
    }

    #[test]
    fn boundaries_fire_in_one_huge_step() {
        fn scenario(tick: u64, start: u64, offset: u64) {
            let mut wheel = wheel_at(tick, start);
            let deadline = (start + offset) * tick;
            let key = wheel.insert(deadline, offset);
            let jump = deadline + (1 << 45) * tick;
            let later = wheel.insert(jump + 1, 0);
            assert_eq!(advance(&mut wheel, jump), [key], "{start} + {offset}");
            assert_eq!(wheel.next_expiration(), Some(jump + tick - jump % tick));
            assert_eq!(advance(&mut wheel, u64::MAX - 1), [later]);
        }
        for_each_boundary(1, scenario);
        for_each_boundary(US, scenario);
    }

    #[test]
    fn boundaries_fire_on_time_when_following_next_expiration() {
        fn scenario(tick: u64, start: u64, offset: u64) {
            let mut wheel = wheel_at(tick, start);
            let deadline = (start + offset) * tick;
            let key = wheel.insert(deadline, offset);
            assert_eq!(run_until_idle(&mut wheel), [(key, deadline)]);
        }
        for_each_boundary(1, scenario);
        for_each_boundary(MS, scenario);
    }

    #[test]
    fn next_expiration_is_exact_unless_the_earliest_timer_was_cancelled() {
        let mut wheel = Wheel::new(1);
        // 5000 and 5010 differ from 0 in bit 12: level 2, slot 1 (4096..8192).
        let first = wheel.insert(5000, 0);
        let second = wheel.insert(5010, 1);
        assert_eq!(wheel.next_expiration(), Some(5000));
        // Cancelling the earliest leaves the slot's bound at 5000: early, but
        // advancing there cascades the slot, after which the answer is exact.
        wheel.remove(first);
        assert_eq!(wheel.next_expiration(), Some(5000));
        assert_eq!(advance(&mut wheel, 5000), []);
        assert_eq!(wheel.next_expiration(), Some(5010));
        assert_eq!(advance(&mut wheel, 5010), [second]);
        assert_eq!(wheel.next_expiration(), None);
    }

    #[test]
    fn a_list_bound_goes_when_the_list_empties() {
        let mut wheel = Wheel::new(1);
        let near = wheel.insert(5000, 0);
        let far = wheel.insert(1 << 40, 1);
        let farther = wheel.insert((1 << 40) + 5, 2);
        // The slot of `near` empties, and its bound with it.
        wheel.remove(near);
        assert_eq!(wheel.next_expiration(), Some(1 << 40));
        // The overflow list of `far` keeps `farther`, and a stale bound.
        wheel.remove(far);
        assert_eq!(wheel.next_expiration(), Some(1 << 40));
        assert_eq!(advance(&mut wheel, 1 << 40), []);
        assert_eq!(wheel.next_expiration(), Some((1 << 40) + 5));
        wheel.remove(farther);
        wheel.check();
        assert_eq!(wheel.next_expiration(), None);
    }

    #[test]
    fn due_timers_expire_at_the_next_advance() {
        let mut wheel = Wheel::new(MS);
        let zero = wheel.insert(0, 0);
        assert_eq!(wheel.next_expiration(), Some(0));
        assert_eq!(advance(&mut wheel, 0), [zero]);
        assert_eq!(advance(&mut wheel, 10 * MS + 5), []);
        // In the past, at the current time, or inside the current tick.
        let past = wheel.insert(3 * MS, 1);
        let now = wheel.insert(10 * MS + 5, 2);
        let this_tick = wheel.insert(10 * MS + 1, 3);
        assert_eq!(wheel.next_expiration(), Some(10 * MS + 5));
        assert_eq!(advance(&mut wheel, 10 * MS + 5), [past, this_tick, now]);
        assert_eq!(wheel.next_expiration(), None);
    }

    #[test]
    fn the_clock_never_goes_back() {
        let mut wheel = Wheel::new(US);
        assert_eq!(advance(&mut wheel, 5 * US), []);
        let key = wheel.insert(2 * US, 0);
        assert_eq!(advance(&mut wheel, US), [key]);
        assert_eq!(wheel.now(), 5 * US);
        let next = wheel.insert(6 * US, 0);
        assert_eq!(advance(&mut wheel, 0), []);
        assert_eq!(advance(&mut wheel, 6 * US), [next]);
    }

    #[test]
    fn equal_deadlines_fire_in_insertion_order_after_cascading() {
        let mut wheel = Wheel::new(1);
        // From these clock positions the deadline sits on levels 4, 3, 2, 1
        // and 0; two timers per position share a slot list.
        let steps = [
            0,
            1 << 24,
            (1 << 24) + (1 << 18),
            (1 << 24) + (1 << 18) + (1 << 12),
        ];
        let deadline = steps[3] + (1 << 6) + 5;
        let mut keys = Vec::new();
        for now in steps.into_iter().chain([deadline - 3]) {
            assert_eq!(advance(&mut wheel, now), []);
            keys.push(wheel.insert(deadline, 0));
            keys.push(wheel.insert(deadline, 1));
        }
        // Inserted last, due first.
        keys.insert(0, wheel.insert(deadline - 1, 2));
        assert_eq!(advance(&mut wheel, deadline), keys);
    }

    #[test]
    fn a_batch_is_ordered_by_exact_deadline_within_a_tick() {
        let mut wheel = Wheel::new(1000);
        let late = wheel.insert(5999, 0);
        let early = wheel.insert(5001, 1);
        let middle = wheel.insert(5500, 2);
        let tie = wheel.insert(5001, 3);
        assert_eq!(advance(&mut wheel, 5999), []);
        assert_eq!(advance(&mut wheel, 6000), [early, tie, middle, late]);
    }

    #[test]
    fn remove_a_pending_timer() {
        let mut wheel = Wheel::new(MS);
        let gone = wheel.insert(5 * MS, 1);
        let kept = wheel.insert(5 * MS, 2);
        assert_eq!(wheel.remove(gone), Some(1));
        wheel.check();
        assert_eq!((wheel.pending(), wheel.len()), (1, 1));
        assert_eq!(advance(&mut wheel, 5 * MS), [kept]);
        assert_eq!(wheel.remove(gone), None);
    }

    #[test]
    fn remove_from_the_head_middle_and_tail_of_a_slot() {
        let mut wheel = Wheel::new(1);
        let keys: Vec<_> = (0..5).map(|i| wheel.insert(9, i)).collect();
        for (key, value) in [(keys[2], 2), (keys[4], 4), (keys[0], 0)] {
            assert_eq!(wheel.remove(key), Some(value));
            wheel.check();
        }
        assert_eq!(advance(&mut wheel, 9), [keys[1], keys[3]]);
    }

    #[test]
    fn remove_an_expired_timer() {
        let mut wheel = Wheel::new(MS);
        let key = wheel.insert(MS, 7);
        assert_eq!(advance(&mut wheel, MS), [key]);
        assert_eq!((wheel.pending(), wheel.len()), (0, 1));
        assert_eq!(wheel.get(key), Some(&7));
        assert_eq!(wheel.next_expiration(), None, "expired timers do not count");
        assert_eq!(wheel.remove(key), Some(7));
        assert_eq!(wheel.remove(key), None);
        assert!(wheel.is_empty());
    }

    #[test]
    fn remove_far_timers_from_the_overflow_map() {
        let mut wheel = Wheel::new(1);
        let far = wheel.insert(1 << 40, 0);
        let farther = wheel.insert(1 << 50, 1);
        let same_rotation = wheel.insert((1 << 50) + 1, 2);
        assert_eq!(wheel.remove(farther), Some(1));
        assert_eq!(wheel.remove(far), Some(0));
        wheel.check();
        assert_eq!(wheel.next_expiration(), Some(1 << 50));
        assert_eq!(wheel.remove(same_rotation), Some(2));
        assert!(wheel.overflow.is_empty());
        assert_eq!(wheel.next_expiration(), None);
    }

    #[test]
    fn a_stale_key_never_reaches_the_timer_that_reuses_its_entry() {
        let mut wheel = Wheel::new(MS);
        let old = wheel.insert(MS, 1);
        assert_eq!(wheel.remove(old), Some(1));
        let new = wheel.insert(2 * MS, 2);
        assert_eq!(new.index, old.index, "the vacant entry is reused");
        assert_ne!(new, old);
        assert_eq!(wheel.get(old), None);
        assert_eq!(wheel.get_mut(old), None);
        assert_eq!(wheel.remove(old), None);
        assert_eq!(advance(&mut wheel, 2 * MS), [new]);
        // Expired, then removed, then reused again.
        assert_eq!(wheel.remove(new), Some(2));
        let newer = wheel.insert(0, 3);
        assert_eq!(newer.index, old.index);
        assert_eq!((wheel.remove(old), wheel.remove(new)), (None, None));
        assert_eq!(wheel.get(newer), Some(&3));
    }

    #[test]
    fn an_entry_whose_generation_wraps_around_is_never_reused() {
        let mut wheel = Wheel::new(MS);
        let first = wheel.insert(MS, 1);
        // As if 2^32 - 1 timers had come and gone at this index already.
        wheel.entries[first.index as usize].generation = u32::MAX;
        let last = TimerKey {
            generation: u32::MAX,
            ..first
        };
        assert_eq!(wheel.remove(last), Some(1));
        wheel.check();
        let next = wheel.insert(MS, 2);
        assert_ne!(next.index, first.index, "a worn-out entry is retired");
        // The key of the entry's first timer (generation 0) names nothing.
        assert_eq!(wheel.get(first), None);
        assert_eq!(wheel.remove(first), None);
        assert_eq!(wheel.drain(), [2]);
        wheel.check();
        // Still retired after a drain.
        let after = wheel.insert(MS, 3);
        assert_ne!(after.index, first.index);
        wheel.check();
    }

    #[test]
    fn a_burst_leaves_no_array_behind_and_no_key_names_a_later_timer() {
        let mut wheel = Wheel::new(MS);
        let burst: Vec<TimerKey> = (0..10_000).map(|n| wheel.insert(n * MS, n)).collect();
        assert_eq!(advance(&mut wheel, 20_000 * MS).len(), 10_000);
        for &key in &burst {
            wheel.remove(key);
        }
        wheel.shrink(64);
        wheel.check();
        assert_eq!(wheel.entries.len(), 64, "cut down to what is kept");
        // New timers fill the array from its start, and beyond the cut
        // they start above every generation cut off: no old key reaches
        // one of them.
        let later: Vec<TimerKey> = (0..1_000).map(|n| wheel.insert(MS, n)).collect();
        assert_eq!(later[0].index, 0);
        for key in &burst {
            assert_eq!(wheel.get(*key), None);
            assert!(!later.contains(key));
        }
        wheel.check();
    }

    #[test]
    fn a_retired_entry_is_never_cut_and_reused() {
        let mut wheel = Wheel::new(MS);
        let keys: Vec<TimerKey> = (0..100).map(|n| wheel.insert(MS, n)).collect();
        // Entry 99 gives out its last generation and retires.
        wheel.entries[99].generation = u32::MAX;
        let last = TimerKey {
            generation: u32::MAX,
            ..keys[99]
        };
        assert_eq!(wheel.remove(last), Some(99));
        for &key in &keys[..99] {
            wheel.remove(key);
        }
        wheel.shrink(4);
        wheel.check();
        assert_eq!(
            wheel.entries.len(),
            100,
            "the retired entry stays, and all below"
        );
        let later: Vec<TimerKey> = (0..100).map(|n| wheel.insert(MS, n)).collect();
        assert!(later.iter().all(|k| k.index != 99));
        // The key of the third timer ever stored at 99 names nothing.
        let old = TimerKey {
            index: 99,
            generation: 2,
        };
        assert_eq!(wheel.get(old), None);
        wheel.check();
    }

    /// Rounds of bursts, mostly cleared, then shrinks: no key is ever
    /// handed out twice, and every key removed stays stale.
    #[test]
    fn shrinking_between_bursts_never_hands_a_key_out_twice() {
        let mut wheel = Wheel::new(MS);
        let (mut rng, mut issued) = (Rng(7), HashSet::new());
        let (mut live, mut gone) = (HashSet::new(), Vec::new());
        let mut cuts = 0;
        for round in 0..100 {
            for n in 0..rng.below(2_000) {
                let key = wheel.insert((round * 10 + n % 7) * MS, n);
                assert!(issued.insert(key), "key {key:?} handed out twice");
                live.insert(key);
            }
            // Keep a few, as keep-alives and stragglers would be.
            live.retain(|&key| {
                let keep = rng.below(50) == 0;
                if !keep {
                    assert!(wheel.remove(key).is_some());
                    gone.push(key);
                }
                keep
            });
            let before = wheel.entries.len();
            wheel.shrink(4);
            cuts += usize::from(wheel.entries.len() < before);
            wheel.check();
            // A sample of the removed keys, old and new: all stale.
            for _ in 0..if gone.is_empty() { 0 } else { 200 } {
                let key = gone[rng.below(gone.len() as u64) as usize];
                assert_eq!(wheel.get(key), None, "{key:?}");
            }
            assert!(live.iter().all(|key| wheel.get(*key).is_some()));
        }
        assert!(
            cuts > 10,
            "only {cuts} cuts: the test does not test the cut"
        );
    }

    #[test]
    fn a_timer_in_use_high_up_moves_down_before_the_array_is_cut() {
        let mut wheel = Wheel::new(MS);
        let burst: Vec<TimerKey> = (0..1_000).map(|n| wheel.insert(MS, n)).collect();
        for &key in &burst[..999] {
            wheel.remove(key);
        }
        // Nothing to cut above the keep-alive at index 999, but the free
        // list now starts at the bottom.
        wheel.shrink(16);
        assert_eq!(wheel.entries.len(), 1_000);
        wheel.remove(burst[999]);
        let again = wheel.insert(2 * MS, 0);
        assert_eq!(again.index, 0, "re-armed at the lowest index");
        // Looked at again only after as many insertions as half the array.
        wheel.shrink(16);
        assert_eq!(wheel.entries.len(), 1_000);
        for n in 0..500 {
            let key = wheel.insert(MS, n);
            wheel.remove(key);
        }
        wheel.shrink(16);
        assert_eq!(wheel.entries.len(), 16);
        assert_eq!(wheel.get(again), Some(&0));
        wheel.check();
    }

    #[test]
    fn an_entry_of_the_loop_is_80_bytes() {
        // The figure the docs of `State` give; more would mean a million
        // pending timers touch more memory.
        assert_eq!(std::mem::size_of::<Entry<crate::core::TimerEntry>>(), 80);
    }

    #[test]
    fn unknown_keys_are_stale() {
        let mut wheel: Wheel<()> = Wheel::new(1);
        let key = TimerKey {
            index: 3,
            generation: 0,
        };
        assert_eq!(wheel.get(key), None);
        assert_eq!(wheel.remove(key), None);
    }

    #[test]
    fn get_mut_changes_the_value() {
        let mut wheel = Wheel::new(1);
        let key = wheel.insert(10, String::from("a"));
        wheel.get_mut(key).unwrap().push('b');
        assert_eq!(advance(&mut wheel, 10), [key]);
        wheel.get_mut(key).unwrap().push('c');
        assert_eq!(wheel.remove(key).as_deref(), Some("abc"));
    }

    #[test]
    fn deadline_u64_max_fires_at_the_end_of_time() {
        for tick in [1, 2, 7, US, MS, u64::MAX / 3, u64::MAX] {
            let mut wheel = Wheel::new(tick);
            let max = wheel.insert(u64::MAX, 0);
            let near = wheel.insert(u64::MAX - 1, 1);
            let fired = run_until_idle(&mut wheel);
            assert_eq!(fired.iter().map(|f| f.0).collect::<Vec<_>>(), [near, max]);
            assert!(fired[0].1 >= u64::MAX - 1 && fired[1].1 == u64::MAX);
            // At the end of time, every new timer is due at once.
            let late = wheel.insert(u64::MAX, 2);
            assert_eq!(wheel.next_expiration(), Some(u64::MAX));
            assert_eq!(advance(&mut wheel, u64::MAX), [late]);
            assert_eq!(wheel.next_expiration(), None);
        }
    }

    #[test]
    fn deadline_u64_max_in_one_step() {
        for tick in [1, 3, MS] {
            let mut wheel = Wheel::new(tick);
            let max = wheel.insert(u64::MAX, 0);
            assert_eq!(advance(&mut wheel, u64::MAX / 2), []);
            assert_eq!(advance(&mut wheel, u64::MAX - 1).len(), 0);
            assert_eq!(advance(&mut wheel, u64::MAX), [max]);
        }
    }

    #[test]
    fn deadlines_years_away() {
        const YEAR: u64 = 365 * 86_400 * 1_000_000_000;
        let years = [1, 2, 3, 10, 100, 500].map(|n| n * YEAR);
        for tick in [MS, US, 1] {
            let mut wheel = Wheel::new(tick);
            let keys = years.map(|deadline| wheel.insert(deadline, deadline));
            let expected: Vec<_> = keys.into_iter().zip(years).collect();
            assert_eq!(run_until_idle(&mut wheel), expected);

            let mut wheel = Wheel::new(tick);
            let keys = years.map(|deadline| wheel.insert(deadline, deadline));
            assert_eq!(advance(&mut wheel, 100 * YEAR - 1), keys[..4]);
            assert_eq!(advance(&mut wheel, u64::MAX - 1), keys[4..]);
        }
    }

    #[test]
    fn a_batch_of_far_timers_expires_in_one_step() {
        let mut wheel = Wheel::new(1);
        let deadline = (5 << 36) + (1 << 30) + (1 << 24) + (1 << 18) + (1 << 12) + 65;
        let keys: Vec<_> = (0..1000).map(|i| wheel.insert(deadline, i)).collect();
        assert_eq!(wheel.next_expiration(), Some(deadline));
        // One `advance` visits the overflow list, then levels 5 to 0.
        assert_eq!(advance(&mut wheel, deadline), keys);
        assert_eq!(wheel.next_expiration(), None);
    }

    #[test]
    fn drain_returns_every_value_and_staleness_follows() {
        let mut wheel = Wheel::new(1);
        let deadlines = [0, 5, 100, 5000, 1 << 40, u64::MAX];
        let keys = deadlines.map(|deadline| wheel.insert(deadline, deadline));
        assert_eq!(advance(&mut wheel, 50).len(), 2);
        let mut values = wheel.drain();
        values.sort_unstable();
        assert_eq!(values, deadlines);
        wheel.check();
        assert!(wheel.is_empty());
        assert_eq!((wheel.pending(), wheel.next_expiration()), (0, None));
        assert!(keys.iter().all(|&key| wheel.get(key).is_none()));
        // Still usable, with fresh keys in the reused entries.
        let key = wheel.insert(60, 1);
        assert!(!keys.contains(&key));
        assert_eq!(advance(&mut wheel, 60), [key]);
    }

    /// Counts its drops in a shared counter.
    struct Counted(Rc<Cell<usize>>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn dropping_the_wheel_drops_every_value() {
        let drops = Rc::new(Cell::new(0));
        let mut wheel = Wheel::new(1);
        for deadline in [1, 2, 70, 1 << 20, 1 << 40, u64::MAX] {
            wheel.insert(deadline, Counted(drops.clone()));
        }
        let removed = wheel.insert(3, Counted(drops.clone()));
        assert_eq!(advance(&mut wheel, 2).len(), 2);
        drop(wheel.remove(removed));
        assert_eq!(drops.get(), 1);
        drop(wheel);
        assert_eq!(drops.get(), 7);
    }

    /// xorshift64: a tiny seeded generator, enough to shuffle operations.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        /// Uniform enough in `0..n` (or 0 if `n` is 0).
        fn below(&mut self, n: u64) -> u64 {
            self.next().checked_rem(n).unwrap_or(0)
        }
    }

    /// Where a model timer is: pending at (tick, seq), or expired.
    type Position = Option<(u64, u64)>;

    /// The firing rule the slow, obvious way: pending timers in a map sorted
    /// by (tick, insertion sequence).
    struct Model {
        tick: u64,
        now: u64,
        seq: u64,
        /// Pending timers: (tick, seq) -> (deadline, key).
        pending: BTreeMap<(u64, u64), (u64, TimerKey)>,
        /// Stored timers (pending or expired): key -> (position, value).
        stored: HashMap<TimerKey, (Position, u64)>,
    }

    impl Model {
        fn new(tick: u64) -> Model {
            let (now, seq) = (0, 0);
            let (pending, stored) = (BTreeMap::new(), HashMap::new());
            Model {
                tick,
                now,
                seq,
                pending,
                stored,
            }
        }

        fn now_tick(&self) -> u64 {
            match self.now {
                u64::MAX => u64::MAX.div_ceil(self.tick),
                now => now / self.tick,
            }
        }

        fn insert(&mut self, key: TimerKey, deadline: u64, value: u64) {
            let due = deadline <= self.now;
            let tick = if due {
                self.now_tick()
            } else {
                deadline.div_ceil(self.tick)
            };
            let position = (tick, self.seq);
            self.seq += 1;
            self.pending.insert(position, (deadline, key));
            self.stored.insert(key, (Some(position), value));
        }

        fn remove(&mut self, key: TimerKey) -> Option<u64> {
            let (position, value) = self.stored.remove(&key)?;
            position.map(|position| self.pending.remove(&position));
            Some(value)
        }

        fn advance(&mut self, now: u64) -> Vec<TimerKey> {
            self.now = self.now.max(now);
            let (now_tick, mut fired) = (self.now_tick(), Vec::new());
            while let Some(first) = self.pending.first_entry() {
                if first.key().0 > now_tick {
                    break;
                }
                let ((_, seq), (deadline, key)) = first.remove_entry();
                self.stored.get_mut(&key).unwrap().0 = None;
                fired.push((deadline, seq, key));
            }
            fired.sort_unstable_by_key(|&(deadline, seq, _)| (deadline, seq));
            fired.into_iter().map(|(_, _, key)| key).collect()
        }

        /// The earliest time at which `advance` expires something.
        fn earliest(&self) -> Option<u64> {
            let (&(tick, _), _) = self.pending.first_key_value()?;
            let due = tick <= self.now_tick();
            Some(if due {
                self.now
            } else {
                tick.saturating_mul(self.tick)
            })
        }
    }

    /// A wheel and the model, driven by the same random operations.
    struct Run {
        rng: Rng,
        wheel: Wheel<u64>,
        model: Model,
        /// Every key handed out, live or stale.
        keys: Vec<TimerKey>,
        /// The same keys, to check that none is ever handed out twice (the
        /// model identifies timers by key, so it relies on that).
        issued: HashSet<TimerKey>,
    }

    impl Run {
        fn new(seed: u64, tick: u64) -> Run {
            let (wheel, model) = (Wheel::new(tick), Model::new(tick));
            let (keys, issued) = (Vec::new(), HashSet::new());
            Run {
                rng: Rng(seed),
                wheel,
                model,
                keys,
                issued,
            }
        }

        /// A deadline near or far, past or future, often on a boundary.
        fn deadline(&mut self) -> u64 {
            let (now, tick, rng) = (self.wheel.now(), self.wheel.tick, &mut self.rng);
            let ahead = |ticks: u64, rng: &mut Rng| {
                now.saturating_add(rng.below(ticks.saturating_mul(tick)))
            };
            match rng.below(8) {
                0 => now.saturating_sub(rng.below(100 * tick)),
                1 => ahead(8, rng),
                2 => ahead(64, rng),
                3 => ahead(1 << 18, rng),
                4 => ahead(1 << 37, rng),
                5 => rng.next(),
                6 => u64::MAX - rng.below(3 * tick),
                _ => {
                    let boundary = 1u64 << (LEVEL_BITS * (1 + rng.below(7) as u32));
                    let tick_now = now / tick;
                    let next = (tick_now | (boundary - 1)).saturating_add(1);
                    next.saturating_add(rng.below(3))
                        .saturating_sub(1)
                        .saturating_mul(tick)
                }
            }
        }

        fn insert(&mut self) {
            let (deadline, value) = (self.deadline(), self.rng.next());
            let key = self.wheel.insert(deadline, value);
            self.model.insert(key, deadline, value);
            assert!(self.issued.insert(key), "{key:?} handed out twice");
            self.keys.push(key);
        }

        fn remove(&mut self) {
            if self.keys.is_empty() {
                return;
            }
            // Half the time one of the 64 latest keys, which are more often
            // pending; else any key, more often expired or stale.
            let len = self.keys.len() as u64;
            let window = if self.rng.below(2) == 0 {
                len.min(64)
            } else {
                len
            };
            let key = self.keys[(len - 1 - self.rng.below(window)) as usize];
            assert_eq!(self.wheel.remove(key), self.model.remove(key));
            assert_eq!(self.wheel.get(key), None);
        }

        fn get(&self) {
            if let Some(&key) = self.keys.last() {
                let expected = self.model.stored.get(&key).map(|stored| stored.1);
                assert_eq!(self.wheel.get(key).copied(), expected);
            }
        }

        fn advance(&mut self, now: u64) {
            let expected = self.model.advance(now);
            assert_eq!(advance(&mut self.wheel, now), expected, "advance({now})");
        }

        fn advance_to_next_expiration(&mut self) {
            let Some(at) = self.wheel.next_expiration() else {
                return;
            };
            // Jump to a far-away timer only now and then, so that most runs
            // stay clear of the end of time, where everything is due.
            let far = at - self.wheel.now() > self.wheel.tick << 40;
            if far && self.rng.below(8) != 0 {
                return self.advance_by(self.wheel.tick << 20);
            }
            let fired = self.model.advance(at);
            assert_eq!(advance(&mut self.wheel, at), fired);
            if fired.is_empty() {
                assert!(self.wheel.next_expiration().unwrap() > at, "no progress");
            }
        }

        /// Advances by a random amount below `up_to`.
        fn advance_by(&mut self, up_to: u64) {
            let now = self.wheel.now().saturating_add(self.rng.below(up_to));
            self.advance(now);
        }

        fn step(&mut self) {
            let tick = self.wheel.tick;
            match self.rng.below(21) {
                // What the loop does when it goes to sleep (a small `keep`,
                // so that it cuts often).
                20 => self.wheel.shrink(4),
                0..=7 => self.insert(),
                8..=10 => self.remove(),
                11 => self.get(),
                12 | 13 => self.advance_by(4 * tick),
                14 => self.advance_by(tick << 12),
                15 => self.advance_by(tick << 38),
                16 | 17 => self.advance_to_next_expiration(),
                // Backwards: the clock stays, due timers still expire.
                18 => self.advance(self.wheel.now().saturating_sub(tick)),
                // Rarely, a jump of up to 1/1024 of the time that is left.
                _ if self.rng.below(40) == 0 => {
                    self.advance_by((u64::MAX - self.wheel.now()) >> 10)
                }
                _ => self.insert(),
            }
            self.compare();
        }

        /// Compares every observable outside of `advance`.
        fn compare(&self) {
            let (wheel, model) = (&self.wheel, &self.model);
            wheel.check();
            assert_eq!(wheel.pending(), model.pending.len());
            assert_eq!(wheel.len(), model.stored.len());
            assert_eq!(wheel.now(), model.now);
            match (wheel.next_expiration(), model.earliest()) {
                (None, None) => {}
                (Some(next), Some(earliest)) if earliest == model.now => assert_eq!(next, earliest),
                (Some(next), Some(earliest)) => assert!(model.now < next && next <= earliest),
                (next, earliest) => panic!("next_expiration {next:?}, model {earliest:?}"),
            }
        }
    }

    #[test]
    fn bounded_advances_expire_the_same_timers_in_the_same_order() {
        // Two wheels with the same timers (deadlines over several levels,
        // many sharing a tick); one advances at once, the other in batches
        // of at least `limit`, each ending at a tick boundary.
        for (seed, limit, tick) in [(3, 1, MS), (5, 10, MS), (7, 100, 1), (11, 1024, US)] {
            let mut rng = Rng(seed);
            let (mut whole, mut bounded) = (Wheel::new(tick), Wheel::new(tick));
            for i in 0..5_000u64 {
                let deadline = rng.below(300) * tick / 2 + rng.below(tick);
                whole.insert(deadline, i);
                bounded.insert(deadline, i);
            }
            let now = 400 * tick;
            let expected = advance(&mut whole, now);
            let mut got = Vec::new();
            loop {
                let mut batch = Vec::new();
                bounded.advance_at_most(now, &mut batch, limit);
                bounded.check();
                if batch.is_empty() {
                    break;
                }
                let ticks: HashSet<u64> = batch
                    .iter()
                    .map(|&k| bounded.entries[k.index as usize].tick)
                    .collect();
                assert!(
                    batch.len() < limit || ticks.len() <= 1 || {
                        // Past the limit only to finish the tick: the last
                        // tick is the only one after the limit was reached.
                        let at_limit = bounded.entries[batch[limit - 1].index as usize].tick;
                        batch[limit..]
                            .iter()
                            .all(|k| bounded.entries[k.index as usize].tick == at_limit)
                    },
                    "a batch went past its limit into another tick"
                );
                got.extend(batch);
            }
            let values = |w: &Wheel<u64>, keys: &[TimerKey]| -> Vec<u64> {
                keys.iter().map(|&k| *w.get(k).unwrap()).collect()
            };
            assert_eq!(values(&bounded, &got), values(&whole, &expected));
            assert_eq!(bounded.pending(), 0);
            assert_eq!(bounded.now(), now);
        }
    }

    #[test]
    fn matches_the_reference_model() {
        let ticks = [1, 7, US, MS];
        for seed in 1..=24u64 {
            let tick = ticks[seed as usize % ticks.len()];
            let mut run = Run::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), tick);
            // Start at 0, just before a rotation boundary, or anywhere.
            match seed % 3 {
                0 => {}
                1 => run.advance(((1 << WHEEL_BITS) - 1 - seed) * tick),
                _ => run.advance_by(u64::MAX / 4),
            }
            for _ in 0..2_000 {
                run.step();
            }
            // The end of time: everything expires, and stays due after.
            run.advance(u64::MAX);
            run.compare();
            assert_eq!(run.wheel.pending(), 0);
            for _ in 0..100 {
                run.step();
            }
        }
    }

    #[test]
    fn the_sleep_advance_loop_fires_everything_in_order_and_on_time() {
        for (seed, tick) in [(3, 1), (5, 7), (7, US), (11, MS)] {
            let mut run = Run::new(seed, tick);
            run.advance_by(1 << 40);
            let start = run.wheel.now();
            for _ in 0..300 {
                run.insert();
            }
            let fired = run_until_idle(&mut run.wheel);
            let mut expected: Vec<_> = run
                .model
                .pending
                .values()
                .map(|&(deadline, key)| (deadline, key))
                .collect();
            expected.sort_by_key(|&(deadline, key)| (deadline, run.model.stored[&key].0));
            let keys: Vec<_> = fired.iter().map(|&(key, _)| key).collect();
            assert_eq!(
                keys,
                expected.iter().map(|&(_, key)| key).collect::<Vec<_>>()
            );
            for ((_, at), (deadline, _)) in fired.into_iter().zip(expected) {
                // Never early, and exactly on time: at once if the deadline
                // had passed, else as soon as a `now` reaches its tick.
                let on_time = deadline.div_ceil(tick).saturating_mul(tick);
                assert_eq!(at, if deadline <= start { start } else { on_time });
                assert!(at >= deadline);
            }
        }
    }
}
