//! One level of the wheel, the head of a timer list, and the tick arithmetic
//! that picks a level and a slot for a timer.
//!
//! A level is 64 list heads plus a `u64` whose bit `s` says whether slot `s`
//! is non-empty, so the next non-empty slot is one `trailing_zeros` away
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

/// The slab index that means "none": an empty slot's head, or a list's end.
pub(super) const NIL: u32 = u32::MAX;

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

/// The head of one intrusive list of timers (a slot, or an overflow
/// rotation), whose links are threaded through the wheel's slab.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct ListHead {
    /// The first entry, or [`NIL`] if the list is empty.
    pub(super) first: u32,
    /// No timer of the list is due before this tick. Lowered as timers join,
    /// never raised as they leave (that would take a scan of the list), so it
    /// is exact unless the list's earliest timer was cancelled.
    pub(super) earliest: u64,
}

impl ListHead {
    /// An empty list.
    pub(super) const EMPTY: ListHead = ListHead {
        first: NIL,
        earliest: u64::MAX,
    };
}

/// One level: the heads of its 64 slot lists and the bitmap of the non-empty
/// ones.
pub(super) struct Level {
    /// Bit `s` is set exactly when slot `s` is non-empty.
    occupied: u64,
    /// The head of each slot's list.
    heads: [ListHead; SLOTS],
    /// log2 of the ticks one slot spans: `LEVEL_BITS * level`.
    shift: u32,
}

impl Level {
    /// An empty level number `level` (0 is the finest).
    pub(super) fn new(level: usize) -> Level {
        debug_assert!(level < NUM_LEVELS);
        Level {
            occupied: 0,
            heads: [ListHead::EMPTY; SLOTS],
            shift: LEVEL_BITS * level as u32,
        }
    }

    /// The slot of this level that `tick` falls in.
    pub(super) fn slot_for(&self, tick: u64) -> usize {
        ((tick >> self.shift) & SLOT_MASK) as usize
    }

    /// The head of slot `slot`'s list.
    pub(super) fn head(&self, slot: usize) -> ListHead {
        self.heads[slot]
    }

    /// Sets the head of slot `slot`'s list, keeping the bitmap in step.
    pub(super) fn set_head(&mut self, slot: usize, head: ListHead) {
        self.heads[slot] = head;
        if head.first == NIL {
            self.occupied &= !(1 << slot);
        } else {
            self.occupied |= 1 << slot;
        }
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
        self.heads = [ListHead::EMPTY; SLOTS];
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
    fn bitmap_follows_the_heads() {
        let mut level = Level::new(0);
        assert_eq!(level.next_occupied(0), None);
        let head = |first| ListHead { first, earliest: 0 };
        level.set_head(40, head(7));
        level.set_head(9, head(8));
        assert_eq!(level.next_occupied(0), Some(9));
        level.set_head(9, ListHead::EMPTY);
        assert_eq!(level.next_occupied(0), Some(40));
        assert_eq!(level.next_occupied(40), Some(40));
        level.clear();
        assert_eq!(level.next_occupied(0), None);
        assert_eq!(level.head(40), ListHead::EMPTY);
    }
}
