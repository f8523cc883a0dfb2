//! One level of the wheel, the list of timers each slot holds, and the tick
//! arithmetic that picks a level and a slot for a timer.
//!
//! A level is 64 timer lists plus a `u64` whose bit `s` says whether slot
//! `s` is non-empty, so the next non-empty slot is one `trailing_zeros` away
//! however many empty slots come before it.

/// log2 of [`SLOTS`].
pub(super) const LEVEL_BITS: u32 = 6;

/// Slots per level. 64, so that a level's occupancy is exactly one `u64`.
pub(super) const SLOTS: usize = 1 << LEVEL_BITS;

/// Levels in the wheel. Six levels of 64 slots span 2^36 ticks: about two
/// years with the default 1 ms tick, which covers nearly every real timer.
pub(super) const NUM_LEVELS: usize = 6;

/// log2 of the wheel's range in ticks (36). Ticks that agree on every bit from
/// this one up are in the same *rotation*; a timer of a later rotation than
/// the clock's waits in the overflow map.
pub(super) const WHEEL_BITS: u32 = LEVEL_BITS * NUM_LEVELS as u32;

/// The entry index that means "none": the end of the wheel's list of
/// vacant entries.
pub(super) const NIL: u32 = u32::MAX;

/// The room a new list's array starts with, and the most an emptied one
/// may have to be kept as a spare.
const SPARE_ROOM: usize = 16;

/// The most spare arrays kept (1 KB of room in all).
const SPARE_LISTS: usize = 16;

/// The bits of a tick that, shifted down to a level, number its slot.
const SLOT_MASK: u64 = SLOTS as u64 - 1;

/// The level for a timer due at tick `when` (`>= now`), or `None` if `when`
/// lies in a later rotation than `now`.
///
/// It is the level of the highest bit in which `now` and `when` differ: above
/// that level they agree, so `when` lies in the current slot of every higher
/// level, and on this level it lies in a later slot than `now`, the finest
/// slot that can hold the timer until it is due.
pub(super) fn level_for(now: u64, when: u64) -> Option<usize> {
    let differ = now ^ when;
    if differ >> WHEEL_BITS != 0 {
        return None;
    }
    // `| SLOT_MASK` sends `when == now` (no differing bit) to level 0.
    let highest = u64::BITS - 1 - (differ | SLOT_MASK).leading_zeros();
    Some((highest / LEVEL_BITS) as usize)
}

/// The timers of one slot (or one overflow rotation): their entry indices,
/// in no order, and a lower bound of their ticks.
///
/// An array rather than a list linked through the entries: visiting a slot
/// reads the indices one after the other and then each entry, and the
/// entries' loads do not wait for one another, so the processor has many of
/// them in flight at once. Walking a linked list waits for each entry's
/// `next` before it can ask for the next entry: one cache miss after
/// another when a million timers are spread over memory. Each pending entry
/// keeps its position here, so cancelling is still O(1): the last index
/// moves into the hole.
pub(super) struct TimerList {
    /// The entry index of each timer of the list.
    timers: Vec<u32>,
    /// No timer of the list is due before this tick. Lowered as timers join,
    /// never raised as they leave (that would take a scan of the list), so it
    /// is exact unless the list's earliest timer was cancelled; back to
    /// `u64::MAX` when the list empties.
    pub(super) earliest: u64,
}

impl TimerList {
    /// An empty list.
    pub(super) const fn new() -> TimerList {
        TimerList {
            timers: Vec::new(),
            earliest: u64::MAX,
        }
    }

    /// Adds entry `index`, due at `tick`; returns its position in the list.
    /// An empty list gets its array from `spares`.
    pub(super) fn push(&mut self, index: u32, tick: u64, spares: &mut Spares) -> u32 {
        if self.timers.capacity() == 0 {
            self.timers = spares.take();
        }
        let pos = self.timers.len() as u32;
        self.timers.push(index);
        self.earliest = self.earliest.min(tick);
        pos
    }

    /// Removes the timer at position `pos`; returns the entry index moved
    /// into its place, whose position is now `pos`, if any. An emptied
    /// list gives its array to `spares`.
    ///
    /// A big array three quarters empty gives half its room back, so that
    /// a burst of timers cancelled before their slot comes round (a million
    /// timeouts a year away, say) does not keep its memory until then.
    pub(super) fn swap_remove(&mut self, pos: u32, spares: &mut Spares) -> Option<u32> {
        self.timers.swap_remove(pos as usize);
        if self.timers.is_empty() {
            spares.give(self.take());
            return None;
        }
        let room = self.timers.capacity();
        if room > SPARE_ROOM && self.timers.len() <= room / 4 {
            self.timers.shrink_to(room / 2);
        }
        self.timers.get(pos as usize).copied()
    }

    /// Empties the list and returns its array of entry indices (for the
    /// caller to give to the spares when done with it).
    pub(super) fn take(&mut self) -> Vec<u32> {
        self.earliest = u64::MAX;
        std::mem::take(&mut self.timers)
    }

    /// The entry indices, for the wheel's invariant checks.
    #[cfg(test)]
    pub(super) fn timers(&self) -> &[u32] {
        &self.timers
    }

    /// Whether the list holds no timer.
    pub(super) fn is_empty(&self) -> bool {
        self.timers.is_empty()
    }
}

/// Arrays of emptied lists, kept for the next lists to start with: a
/// slot that the clock visits, or whose last timer is cancelled, would
/// otherwise free its array, and the next timer there allocate one. Only
/// small arrays are kept, and only a few, so that what a burst of timers
/// grew is handed back.
pub(super) struct Spares(Vec<Vec<u32>>);

impl Spares {
    /// No spare arrays.
    pub(super) const fn new() -> Spares {
        Spares(Vec::new())
    }

    /// An empty array with room for [`SPARE_ROOM`] indices or more.
    fn take(&mut self) -> Vec<u32> {
        self.0
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(SPARE_ROOM))
    }

    /// Keeps `list`'s array, emptied, unless it is big or enough are kept.
    pub(super) fn give(&mut self, mut list: Vec<u32>) {
        if list.capacity() != 0 && list.capacity() <= SPARE_ROOM && self.0.len() < SPARE_LISTS {
            list.clear();
            self.0.push(list);
        }
    }
}

/// One level: the lists of its 64 slots and the bitmap of the non-empty
/// ones.
pub(super) struct Level {
    /// Bit `s` is set exactly when slot `s` is non-empty.
    occupied: u64,
    /// Each slot's timers.
    lists: [TimerList; SLOTS],
    /// log2 of the ticks one slot spans: `LEVEL_BITS * level`.
    shift: u32,
}

impl Level {
    /// An empty level number `level` (0 is the finest).
    pub(super) fn new(level: usize) -> Level {
        debug_assert!(level < NUM_LEVELS);
        Level {
            occupied: 0,
            lists: [const { TimerList::new() }; SLOTS],
            shift: LEVEL_BITS * level as u32,
        }
    }

    /// The slot of this level that `tick` falls in.
    pub(super) fn slot_for(&self, tick: u64) -> usize {
        ((tick >> self.shift) & SLOT_MASK) as usize
    }

    /// Slot `slot`'s timers.
    pub(super) fn list(&self, slot: usize) -> &TimerList {
        &self.lists[slot]
    }

    /// Adds entry `index`, due at `tick`, to slot `slot`; returns its
    /// position there.
    pub(super) fn push(&mut self, slot: usize, index: u32, tick: u64, spares: &mut Spares) -> u32 {
        self.occupied |= 1 << slot;
        self.lists[slot].push(index, tick, spares)
    }

    /// Removes the timer at position `pos` of slot `slot`; returns the entry
    /// index moved into its place, if any.
    pub(super) fn swap_remove(
        &mut self,
        slot: usize,
        pos: u32,
        spares: &mut Spares,
    ) -> Option<u32> {
        let list = &mut self.lists[slot];
        let moved = list.swap_remove(pos, spares);
        if list.is_empty() {
            self.occupied &= !(1 << slot);
        }
        moved
    }

    /// Empties slot `slot` and returns its array of entry indices.
    pub(super) fn take(&mut self, slot: usize) -> Vec<u32> {
        self.occupied &= !(1 << slot);
        self.lists[slot].take()
    }

    /// The first non-empty slot, in time order, given that the clock is at
    /// tick `now`.
    ///
    /// That is simply the lowest set bit. Tokio rotates the bitmap by the
    /// current slot first because its top level wraps around; here no slot
    /// behind the clock's is ever occupied: a timer of a later rotation waits
    /// in the overflow map instead of wrapping, and `advance` empties each
    /// slot as the clock enters it.
    pub(super) fn next_occupied(&self, now: u64) -> Option<usize> {
        debug_assert_eq!(
            self.occupied & !(u64::MAX << self.slot_for(now)),
            0,
            "a slot behind the clock is occupied"
        );
        (self.occupied != 0).then(|| self.occupied.trailing_zeros() as usize)
    }

    /// The first tick of slot `slot` in this level's current turn, the one
    /// that contains tick `now`.
    pub(super) fn slot_start(&self, slot: usize, now: u64) -> u64 {
        // log2 of the ticks the whole level spans; at most WHEEL_BITS.
        let turn = self.shift + LEVEL_BITS;
        (now >> turn << turn) | ((slot as u64) << self.shift)
    }

    /// Empties every slot (the entries themselves belong to the caller).
    pub(super) fn clear(&mut self) {
        self.occupied = 0;
        self.lists = [const { TimerList::new() }; SLOTS];
    }

    /// Whether slot `slot`'s bit is set, for the wheel's invariant checks.
    #[cfg(test)]
    pub(super) fn is_occupied(&self, slot: usize) -> bool {
        self.occupied & (1 << slot) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_for_picks_the_highest_differing_bit() {
        assert_eq!(level_for(0, 0), Some(0));
        assert_eq!(level_for(0, 63), Some(0));
        assert_eq!(level_for(0, 64), Some(1));
        assert_eq!(level_for(0, 64 * 64 - 1), Some(1));
        assert_eq!(level_for(0, 64 * 64), Some(2));
        assert_eq!(level_for(0, (1 << WHEEL_BITS) - 1), Some(5));
        assert_eq!(level_for(0, 1 << WHEEL_BITS), None);
        assert_eq!(level_for(0, u64::MAX), None);
        // Relative to the clock, not to 0: 63 -> 64 crosses a level-0 turn.
        assert_eq!(level_for(63, 64), Some(1));
        assert_eq!(level_for(64, 127), Some(0));
        assert_eq!(level_for((1 << WHEEL_BITS) - 1, 1 << WHEEL_BITS), None);
        assert_eq!(level_for(u64::MAX - 1, u64::MAX), Some(0));
    }

    #[test]
    fn every_level_boundary() {
        for level in 1..NUM_LEVELS {
            let boundary = 1u64 << (LEVEL_BITS * level as u32);
            assert_eq!(level_for(0, boundary - 1), Some(level - 1));
            assert_eq!(level_for(0, boundary), Some(level));
            assert_eq!(level_for(0, boundary + 1), Some(level));
            // Just before the boundary, the next tick is already a level up.
            assert_eq!(level_for(boundary - 1, boundary), Some(level));
            assert_eq!(level_for(boundary, boundary + 1), Some(0));
        }
    }

    #[test]
    fn slots_and_their_starts() {
        let level = Level::new(2);
        let now = 5 * (1 << 18) + 3 * 4096 + 17;
        assert_eq!(level.slot_for(now), 3);
        assert_eq!(level.slot_start(3, now), 5 * (1 << 18) + 3 * 4096);
        assert_eq!(level.slot_start(63, now), 5 * (1 << 18) + 63 * 4096);
        let top = Level::new(NUM_LEVELS - 1);
        assert_eq!(
            top.slot_start(1, u64::MAX),
            (u64::MAX >> 36 << 36) | 1 << 30
        );
    }

    #[test]
    fn bitmap_follows_the_lists() {
        let (mut level, mut spares) = (Level::new(0), Spares::new());
        assert_eq!(level.next_occupied(0), None);
        assert_eq!(level.push(40, 7, 40, &mut spares), 0);
        assert_eq!(level.push(9, 8, 9, &mut spares), 0);
        assert_eq!(level.push(9, 5, 12, &mut spares), 1);
        assert_eq!(level.next_occupied(0), Some(9));
        // Removing the first moves the last into its place.
        assert_eq!(level.swap_remove(9, 0, &mut spares), Some(5));
        assert_eq!(level.list(9).earliest, 9, "a bound is not raised");
        assert_eq!(level.swap_remove(9, 0, &mut spares), None);
        assert_eq!(level.list(9).earliest, u64::MAX, "an empty list has none");
        assert_eq!(level.next_occupied(0), Some(40));
        assert_eq!(level.next_occupied(40), Some(40));
        assert_eq!(level.take(40), [7]);
        assert_eq!(level.next_occupied(0), None);
    }

    #[test]
    fn emptied_lists_leave_a_few_small_arrays_behind() {
        let (mut level, mut spares) = (Level::new(0), Spares::new());
        // Cancelling a slot's last timer frees its array for the next slot.
        level.push(3, 1, 3, &mut spares);
        assert_eq!(level.swap_remove(3, 0, &mut spares), None);
        assert_eq!(level.list(3).timers.capacity(), 0);
        assert_eq!(spares.0.len(), 1);
        level.push(4, 2, 4, &mut spares);
        assert_eq!(spares.0.len(), 0, "the kept array is reused");
        // A big array is not kept, nor more than a few.
        for index in 0..100 {
            level.push(5, index, 5, &mut spares);
        }
        spares.give(level.take(5));
        assert_eq!(spares.0.len(), 0);
        for _ in 0..2 * SPARE_LISTS {
            spares.give(Vec::with_capacity(SPARE_ROOM));
        }
        assert_eq!(spares.0.len(), SPARE_LISTS);
    }

    #[test]
    fn a_big_list_mostly_cancelled_gives_room_back() {
        let (mut level, mut spares) = (Level::new(5), Spares::new());
        for index in 0..4096 {
            level.push(7, index, 7, &mut spares);
        }
        let grown = level.list(7).timers.capacity();
        while level.list(7).timers.len() > 1 {
            level.swap_remove(7, 0, &mut spares);
        }
        let room = level.list(7).timers.capacity();
        assert!(
            room <= 2 * SPARE_ROOM,
            "{room} of {grown} kept for one timer"
        );
    }
}
