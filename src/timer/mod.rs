//! The hierarchical timer wheel, where `call_later` / `call_at` timers wait.
//!
//! [`Wheel`] is a pure data structure: it does no I/O and reads no clock. Time
//! is a `u64` parameter in whatever unit the caller picks (the loop passes
//! nanoseconds since its origin), so every behaviour is unit-tested with a
//! manual clock, at each level boundary and against a reference model.
//!
//! # Geometry
//!
//! Time is cut into *ticks* of a length given to [`Wheel::new`]: 1 ms by
//! default, finer (1 µs) in the high-resolution mode. The wheel has 6 levels
//! of 64 slots; a slot of level `n` spans 64^n ticks, so a whole level spans
//! as much as one slot of the level above it. 64 slots, so that a level's
//! occupancy is one `u64`; 6 levels, so that 1 ms ticks reach about two years,
//! past which timers are rare enough to wait in a slower overflow map.
//!
//! | level | one slot spans | the level spans  | with 1 ms ticks        | with 1 µs ticks       |
//! |-------|----------------|------------------|------------------------|-----------------------|
//! | 0     | 1 tick         | 64 ticks         | 1 ms / 64 ms           | 1 µs / 64 µs          |
//! | 1     | 64             | 4,096            | 64 ms / 4.096 s        | 64 µs / 4.096 ms      |
//! | 2     | 4,096          | 262,144          | 4.096 s / 4.37 min     | 4.096 ms / 262 ms     |
//! | 3     | 262,144        | 16,777,216       | 4.37 min / 4.66 h      | 262 ms / 16.8 s       |
//! | 4     | 16,777,216     | 2^30             | 4.66 h / 12.4 days     | 16.8 s / 17.9 min     |
//! | 5     | 2^30           | 2^36             | 12.4 days / 795.4 days | 17.9 min / 19.1 h     |
//!
//! The wheel's range is 64^6 = 2^36 = 68,719,476,736 ticks: 795.36 days
//! (about 2.18 years) with 1 ms ticks, 19.09 hours with 1 µs ticks. Ticks are
//! grouped into *rotations* of 2^36 ticks aligned on multiples of 2^36; the
//! wheel holds the timers of the rotation the clock is in, and later
//! rotations wait in an overflow map, one list per rotation, and move into
//! the wheel when the clock enters their rotation. So any deadline up to
//! `u64::MAX` works, whatever the tick.
//!
//! A timer goes on the level of the highest bit in which its tick and the
//! current tick differ (`level::level_for`). Above that level the two agree,
//! so the timer lies in the current slot of every higher level; on its own
//! level it lies in a later slot than the current one. That slot is the
//! finest one that can hold the timer until it is due, and `advance` visits it
//! exactly when the clock enters it: the timers there either expire or
//! *cascade*, placed again by the same rule, now on a lower level. So
//! `advance` visits a timer at most 6 times, 7 if it starts in the overflow
//! map, however far it jumps.
//!
//! # Firing rule: never early
//!
//! A timer with deadline `d` belongs to tick `ceil(d / tick)`: deadlines are
//! rounded up to the next tick boundary. `advance(now)` puts the clock in tick
//! `floor(now / tick)` and expires every pending timer whose tick is at or
//! before it. So no `now` before a timer's deadline expires it, and any `now`
//! a full tick after the deadline does. Two edges:
//!
//! - a timer inserted with a deadline at or before the current time (`0`, one
//!   in the past, or one inside the current tick but not after `now`) belongs
//!   to the current tick: it expires at the next `advance`, even
//!   `advance(now())`;
//! - `now == u64::MAX` is the end of time: it reaches every tick, including
//!   the last partial one, so that a deadline of `u64::MAX` fires even when
//!   `tick` does not divide it.
//!
//! # Why this shape
//!
//! - **O(1) insert and cancel.** Timers live in an array of entries
//!   that reuses the places of removed ones; each slot holds the indices of
//!   its timers in an array of its own, and each timer its position there.
//!   Inserting pushes an index, cancelling moves the slot's last index into
//!   the hole and frees the entry at once (asyncio, by contrast, keeps
//!   cancelled timers in its heap until they surface). Keys carry a
//!   generation, so a stale key never reaches a newer timer in a reused
//!   entry.
//! - **Visiting a slot does not chase pointers.** A slot as a list linked
//!   through its entries (tokio's shape, and this wheel's first) makes each
//!   entry's load wait for the previous entry's `next`: with a million
//!   timers spread over memory, one cache miss after another. Read from an
//!   array of indices, the entries' loads are independent and the processor
//!   keeps many in flight (a million random sleeps: 27 % less overhead).
//! - **Big jumps are cheap.** Each level keeps a `u64` bitmap of its
//!   non-empty slots; the next one is a `trailing_zeros` away, never a scan
//!   of empty slots. Advancing by years visits only non-empty slots.
//! - **Waking only when a timer is due.** The earliest timer is always in
//!   the first list `advance` will visit (the first non-empty slot of the
//!   lowest non-empty level), and each list keeps a lower bound of its
//!   timers' ticks, lowered as timers join, not raised as they leave (that
//!   would take a scan). So `next_expiration` is exact unless the earliest
//!   timer of that list was cancelled, which costs one early wake-up at most.
//!   A wheel that reports slot starts instead (as tokio's does) wakes the
//!   loop at each cascade: three times for a 5 s timer with 1 ms ticks.
//! - **Equal deadlines keep insertion order.** A slot's list is unordered,
//!   and cascading interleaves timers inserted at different times, so each
//!   batch that `advance` expires is sorted by (deadline, insertion sequence).
//!   Sorting one batch is cheap; keeping every list sorted would make insert
//!   O(n).
//! - **Expiring is not removing.** Expired timers stay in their entries until the
//!   caller removes them, so the loop can queue a batch and run each timer
//!   later; one cancelled in between (say, by an earlier callback of the same
//!   batch) is removed by the cancel, and the loop finds it gone.
//!
//! # How the loop drives it
//!
//! ```text
//! let timeout = wheel.next_expiration().map(|at| at.saturating_sub(clock()));
//! poll(timeout);
//! wheel.advance(clock(), &mut expired);   // keys, in firing order
//! ready.extend(expired.drain(..));
//! // ... later, when the ready queue reaches a key:
//! if let Some(callback) = wheel.remove(key) {  // None: cancelled meanwhile
//!     callback();
//! }
//! ```
//!
//! # The life of a timer
//!
//! ```text
//!              ┌─ advance: cascade ─┐
//!              ▼                    │
//!  insert ──► pending (in a slot or an overflow list) ── advance ──► expired ── remove ──► gone
//!              │                                                                            ▲
//!              └───────────────────────────────── remove ───────────────────────────────────┘
//! ```

mod level;
mod wheel;

pub(crate) use wheel::{TimerKey, Wheel};
