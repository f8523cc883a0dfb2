//! The state machine of a task, as named bits (the way async-task's
//! `state.rs` writes its own down).
//!
//! A task's state lives in two words:
//!
//! - [`Shared`] bits, in an atomic of the header, for what other threads
//!   read or write: `COMPLETE` and `REMOTE_SCHEDULED`.
//! - [`Local`] bits, in a `Cell` only the loop thread touches: `SCHEDULED`,
//!   `RUNNING`, `CANCEL_REQUESTED`, `HANDLE`, `NAMED`.
//!
//! # The life of a task
//!
//! ```text
//!              spawn                 the loop pops the entry (its turn)
//!   (new) ───────────────► SCHEDULED ───────────────────────► RUNNING
//!                             ▲  │                            │  │  │
//!                      wake   │  │ cancelled entry            │  │  │ Ready
//!                             │  │ or close(): COMPLETE       │  │  └─────► COMPLETE
//!                             │  ▼                      Pending│  │ woken while
//!                            IDLE ◄───────────────────────────┘  │ running
//!                             │                                  ▼
//!                             │ close()               RUNNING | SCHEDULED
//!                             ▼                        (Pending: stays
//!                          COMPLETE                     SCHEDULED, runs again
//!                                                       next iteration)
//! ```
//!
//! Each state, and what may leave it:
//!
//! | state | holds when | may go to |
//! | --- | --- | --- |
//! | IDLE (no bit) | the future is alive and waits for a wake: in no queue, not being polled | SCHEDULED ([`Local::schedule`]); COMPLETE (teardown) |
//! | `SCHEDULED` | exactly one ready-queue entry stands for the task | RUNNING ([`Local::take_turn`], [`Local::begin_poll`]); COMPLETE (a cancelled task's turn, or teardown) |
//! | `RUNNING` | its future is being polled; never two polls at once, never nested | IDLE ([`Local::end_poll`], `Pending`); COMPLETE (`Ready`) |
//! | `RUNNING` and `SCHEDULED` | it was woken during its own poll | SCHEDULED (`Pending`: it runs again next iteration) |
//! | `COMPLETE` (shared) | the future is gone; the output is stored or consumed | nothing: final. A wake is ignored, a queued entry is discarded when popped |
//!
//! And the flags beside them:
//!
//! | flag | holds when | set / cleared |
//! | --- | --- | --- |
//! | `REMOTE_SCHEDULED` (shared) | a `Wake` job for the task is in the remote queue (wakes from other threads coalesce on it) | set by a wake off the loop thread ([`Shared::mark_remote`]); cleared by the loop when it takes the job ([`Shared::clear_remote`]) |
//! | `CANCEL_REQUESTED` | `Task::cancel` was called; the next turn drops the future | set once, never cleared |
//! | `HANDLE` | the `Task` handle exists; without it the task is *detached* and its output is dropped when it completes | set at spawn; cleared when the handle is dropped |
//! | `NAMED` | the task has an entry in the loop's table of names | set by `Task::set_name`; the entry goes when the task completes |

use crate::sync::shim::{AtomicUsize, Ordering};

/// The future is gone; the output is stored (or already consumed). Final.
pub(crate) const COMPLETE: usize = 1 << 0;
/// A `Wake` job for the task is in the remote queue.
pub(crate) const REMOTE_SCHEDULED: usize = 1 << 1;

/// An entry for the task is in the ready queue.
pub(crate) const SCHEDULED: u8 = 1 << 0;
/// The task's future is being polled.
pub(crate) const RUNNING: u8 = 1 << 1;
/// `Task::cancel` was called: the next turn drops the future.
pub(crate) const CANCEL_REQUESTED: u8 = 1 << 2;
/// The `Task` handle exists (else the task is detached).
pub(crate) const HANDLE: u8 = 1 << 3;
/// The task has an entry in the loop's table of names.
pub(crate) const NAMED: u8 = 1 << 4;

/// The bits other threads see: an atomic word.
pub(crate) struct Shared(AtomicUsize);

impl Shared {
    pub(crate) fn new() -> Shared {
        Shared(AtomicUsize::new(0))
    }

    /// Whether the task is `COMPLETE`.
    pub(crate) fn is_complete(&self) -> bool {
        self.0.load(Ordering::Acquire) & COMPLETE != 0
    }

    /// `→ COMPLETE` (loop thread, after the future was dropped).
    pub(crate) fn set_complete(&self) {
        self.0.fetch_or(COMPLETE, Ordering::Release);
    }

    /// [`set_complete`](Shared::set_complete) when no other thread can
    /// reach the task (it holds no reference to it): a load and a store.
    pub(crate) fn set_complete_alone(&self) {
        let bits = self.0.load(Ordering::Relaxed);
        self.0.store(bits | COMPLETE, Ordering::Release);
    }

    /// A wake off the loop thread: sets `REMOTE_SCHEDULED`; returns whether
    /// the caller must queue a `Wake` job (the task is not complete and no
    /// job is queued already). `AcqRel`: the waker's writes happen before
    /// the poll that the job leads to (see [`clear_remote`](Shared::clear_remote)).
    pub(crate) fn mark_remote(&self) -> bool {
        if self.0.load(Ordering::Acquire) & COMPLETE != 0 {
            return false;
        }
        self.0.fetch_or(REMOTE_SCHEDULED, Ordering::AcqRel) & REMOTE_SCHEDULED == 0
    }

    /// The loop took the task's `Wake` job: later remote wakes must queue
    /// it again.
    ///
    /// A read-modify-write with `Acquire`, not a store: a wake that found
    /// the bit already set queued nothing, and counts on the poll that
    /// follows this clear to see what it wrote before waking. The RMW reads
    /// the word's latest value, written by the last wake that set the bit
    /// or found it set (each a `Release` RMW), so their writes are visible
    /// to that poll. (The loop's `is_complete` check right after, an
    /// `Acquire` load of the same word, orders them as well; the clear does
    /// not rely on it.) With neither `Acquire`, loom finds the lost wake
    /// (`core::loom_tests::loom_task_woken_from_two_threads_while_polled`).
    pub(crate) fn clear_remote(&self) {
        self.0.fetch_and(!REMOTE_SCHEDULED, Ordering::AcqRel);
    }
}

/// The bits only the loop thread touches, as a value: the task keeps them
/// in a cell, and each transition is a method here (loaded, changed,
/// stored back by `View::update`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Local(u8);

impl From<u8> for Local {
    fn from(bits: u8) -> Local {
        Local(bits)
    }
}

impl From<Local> for u8 {
    fn from(state: Local) -> u8 {
        state.0
    }
}

impl Local {
    /// A new task: IDLE, with its `HANDLE` (spawn then schedules it).
    pub(crate) fn new() -> Local {
        Local(HANDLE)
    }

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    fn set(&mut self, bit: u8, on: bool) {
        self.0 = if on { self.0 | bit } else { self.0 & !bit };
    }

    /// A wake on the loop thread (IDLE or RUNNING `→ + SCHEDULED`): returns
    /// whether the caller must push an entry (the task is not in the queue
    /// yet). The caller checks `COMPLETE` first.
    pub(crate) fn schedule(&mut self) -> bool {
        let was = self.has(SCHEDULED);
        self.set(SCHEDULED, true);
        !was
    }

    /// The loop popped the task's entry: its turn (`SCHEDULED →` IDLE, then
    /// RUNNING if it is polled).
    pub(crate) fn take_turn(&mut self) {
        self.set(SCHEDULED, false);
    }

    /// The poll starts (`→ RUNNING`).
    pub(crate) fn begin_poll(&mut self) {
        debug_assert!(!self.has(RUNNING), "a task polled inside its own poll");
        self.set(RUNNING, true);
    }

    /// The poll is over (`RUNNING →` IDLE, or SCHEDULED if the task was
    /// woken meanwhile).
    pub(crate) fn end_poll(&mut self) {
        self.set(RUNNING, false);
    }

    /// Whether the task's future is being polled.
    pub(crate) fn is_running(self) -> bool {
        self.has(RUNNING)
    }

    /// Whether an entry for the task is in the ready queue.
    pub(crate) fn is_scheduled(self) -> bool {
        self.has(SCHEDULED)
    }

    /// `Task::cancel`.
    pub(crate) fn request_cancel(&mut self) {
        self.set(CANCEL_REQUESTED, true);
    }

    pub(crate) fn cancel_requested(self) -> bool {
        self.has(CANCEL_REQUESTED)
    }

    /// The `Task` handle was dropped: the task is detached.
    pub(crate) fn detach(&mut self) {
        self.set(HANDLE, false);
    }

    pub(crate) fn is_detached(self) -> bool {
        !self.has(HANDLE)
    }

    pub(crate) fn set_named(&mut self) {
        self.set(NAMED, true);
    }

    pub(crate) fn is_named(self) -> bool {
        self.has(NAMED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawned() -> Local {
        let mut l = Local::new();
        assert!(l.schedule(), "spawn pushes the first entry");
        l
    }

    #[test]
    fn spawn_leaves_a_task_scheduled_with_its_handle() {
        let mut l = spawned();
        assert_eq!(u8::from(l), SCHEDULED | HANDLE);
        assert!(!l.schedule(), "already queued: no second entry");
    }

    #[test]
    fn scheduled_to_running_to_idle() {
        let mut l = spawned();
        l.take_turn();
        l.begin_poll();
        assert_eq!(u8::from(l) & (SCHEDULED | RUNNING), RUNNING);
        l.end_poll();
        assert_eq!(u8::from(l) & (SCHEDULED | RUNNING), 0, "idle");
    }

    #[test]
    fn idle_to_scheduled_once_however_often_woken() {
        let mut l = spawned();
        l.take_turn();
        assert!(l.schedule(), "the first wake pushes an entry");
        assert!(!l.schedule(), "later wakes do not");
        assert!(l.is_scheduled());
    }

    #[test]
    fn a_wake_while_running_schedules_the_next_turn() {
        let mut l = spawned();
        l.take_turn();
        l.begin_poll();
        assert!(l.schedule(), "woken during its own poll: queued again");
        l.end_poll();
        assert_eq!(u8::from(l) & (SCHEDULED | RUNNING), SCHEDULED);
    }

    #[test]
    fn a_cancelled_turn_goes_from_scheduled_to_idle_without_running() {
        let mut l = spawned();
        l.request_cancel();
        l.take_turn();
        assert!(!l.is_running() && !l.is_scheduled() && l.cancel_requested());
    }

    #[test]
    fn flags_are_independent_of_the_lifecycle() {
        let mut l = spawned();
        l.request_cancel();
        l.set_named();
        l.detach();
        assert!(l.cancel_requested() && l.is_named() && l.is_detached());
        l.take_turn();
        l.begin_poll();
        l.end_poll();
        assert!(l.cancel_requested() && l.is_named() && l.is_detached());
    }

    #[test]
    fn remote_wakes_coalesce_until_the_loop_takes_the_job() {
        let s = Shared::new();
        assert!(s.mark_remote(), "the first remote wake queues a job");
        assert!(!s.mark_remote(), "the next ones coalesce");
        s.clear_remote();
        assert!(s.mark_remote(), "after the loop took it, a new job");
    }

    #[test]
    fn complete_is_final_and_stops_remote_wakes() {
        let s = Shared::new();
        s.set_complete();
        assert!(s.is_complete());
        assert!(!s.mark_remote(), "a complete task is never queued again");
        s.clear_remote();
        assert!(s.is_complete());
    }

    #[test]
    fn completing_alone_keeps_the_other_bits_and_is_final() {
        let s = Shared::new();
        // A remote wake whose job was refused left its bit set.
        assert!(s.mark_remote());
        s.set_complete_alone();
        assert!(s.is_complete());
        assert_ne!(s.0.load(Ordering::Relaxed) & REMOTE_SCHEDULED, 0);
        assert!(!s.mark_remote(), "a complete task is never queued again");
    }
}
