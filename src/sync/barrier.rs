//! [`Barrier`]: asyncio's (Python 3.11), a meeting point for a fixed
//! number of tasks, reusable, with `abort` and `reset`.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::waiters::{self, WaiterList, WaiterSlot};

/// Blocks each task that calls [`wait`](Barrier::wait) until `parties`
/// tasks have, then lets them all go (asyncio's `Barrier`; tokio's
/// `sync::Barrier`). The barrier can then be used again.
///
/// [`abort`](Barrier::abort) breaks it: waiting and later `wait`s fail with
/// [`BrokenBarrier`] until [`reset`](Barrier::reset). `reset` sends the
/// tasks waiting now away with that error and makes the barrier ready for a
/// new round. Cheap to clone: clones are one barrier.
///
/// ```
/// use evloop::sync::Barrier;
/// let leaders = evloop::run(async {
///     let barrier = Barrier::new(3);
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let barrier = barrier.clone();
///             evloop::ensure_future(async move { barrier.wait().await.unwrap() })
///         })
///         .collect();
///     let mut leaders = 0;
///     for t in tasks {
///         leaders += usize::from(t.await.unwrap().is_leader());
///     }
///     leaders
/// });
/// assert_eq!(leaders, Ok(1));
/// ```
#[derive(Clone)]
pub struct Barrier {
    inner: Rc<RefCell<State>>,
}

/// Python's barrier states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Tasks arrive and wait.
    Filling,
    /// The last party arrived: the waiting tasks leave; arrivals wait for
    /// them to be gone.
    Draining,
    /// `reset` while tasks waited: they leave with an error; arrivals wait.
    Resetting,
    /// `abort`: every `wait` fails until `reset`.
    Broken,
}

struct State {
    parties: usize,
    phase: Phase,
    /// Tasks inside `wait` (arrived and not yet left).
    count: usize,
    /// Every task waiting for a phase change.
    waiters: WaiterList,
}

impl State {
    /// A task leaves `wait`: the last one out of a drain or reset opens
    /// the barrier for the next round.
    fn leave(&mut self, foreign: &mut Vec<Waker>) {
        self.count -= 1;
        if self.count == 0 && matches!(self.phase, Phase::Draining | Phase::Resetting) {
            self.phase = Phase::Filling;
            self.waiters.wake_all(foreign);
        }
    }

    fn set_phase(&mut self, phase: Phase, foreign: &mut Vec<Waker>) {
        self.phase = phase;
        self.waiters.wake_all(foreign);
    }
}

impl Barrier {
    /// A barrier for `parties` tasks.
    ///
    /// # Panics
    ///
    /// If `parties` is 0 (asyncio's `ValueError`).
    #[track_caller]
    pub fn new(parties: usize) -> Barrier {
        assert!(parties > 0, "Barrier::new: parties must be at least 1");
        Barrier {
            inner: Rc::new(RefCell::new(State {
                parties,
                phase: Phase::Filling,
                count: 0,
                waiters: WaiterList::default(),
            })),
        }
    }

    /// Waits until `parties` tasks are waiting, then returns for all of
    /// them. Fails with [`BrokenBarrier`] if the barrier is broken or is
    /// reset while this task waits.
    ///
    /// Cancellation: a task dropped while it waits leaves the count (as
    /// asyncio's cancelled waiter does); one dropped after the barrier let
    /// it go still counts as gone.
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            arrived: None,
            slot: WaiterSlot::NONE,
            done: false,
        }
    }

    /// Breaks the barrier: waiting and future `wait`s fail with
    /// [`BrokenBarrier`] until [`reset`](Barrier::reset).
    pub fn abort(&self) {
        let mut foreign = Vec::new();
        self.inner
            .borrow_mut()
            .set_phase(Phase::Broken, &mut foreign);
        foreign.into_iter().for_each(Waker::wake);
    }

    /// Returns the barrier to its initial state; tasks waiting now fail
    /// with [`BrokenBarrier`].
    pub fn reset(&self) {
        let mut foreign = Vec::new();
        let mut state = self.inner.borrow_mut();
        let phase = if state.count > 0 {
            Phase::Resetting
        } else {
            Phase::Filling
        };
        state.set_phase(phase, &mut foreign);
        drop(state);
        foreign.into_iter().for_each(Waker::wake);
    }

    /// The number of tasks needed to pass.
    pub fn parties(&self) -> usize {
        self.inner.borrow().parties
    }

    /// Tasks waiting while the barrier fills (asyncio's `n_waiting`).
    pub fn n_waiting(&self) -> usize {
        let state = self.inner.borrow();
        if state.phase == Phase::Filling {
            state.count
        } else {
            0
        }
    }

    /// Whether the barrier is broken.
    pub fn broken(&self) -> bool {
        self.inner.borrow().phase == Phase::Broken
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.borrow();
        f.debug_struct("Barrier")
            .field("parties", &state.parties)
            .field("phase", &state.phase)
            .field("count", &state.count)
            .finish()
    }
}

/// What a task passing a [`Barrier`] learns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarrierWaitResult {
    index: usize,
    parties: usize,
}

impl BarrierWaitResult {
    /// The task's place in its round: 0 for the first to arrive,
    /// `parties - 1` for the last (asyncio's return value).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Whether this task was the last to arrive, which let the others go:
    /// exactly one task per round is the leader (tokio's `is_leader`).
    pub fn is_leader(&self) -> bool {
        self.index + 1 == self.parties
    }
}

/// The barrier was broken (`abort`) or reset while a task waited
/// (asyncio's `BrokenBarrierError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokenBarrier;

impl fmt::Display for BrokenBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier is broken or was reset")
    }
}

impl std::error::Error for BrokenBarrier {}

/// The future of [`Barrier::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    /// This task's index once it arrived (it then counts in `count` until
    /// it leaves).
    arrived: Option<usize>,
    slot: WaiterSlot,
    /// Returned its output (a later poll is a bug, not a new arrival).
    done: bool,
}

impl BarrierWait<'_> {
    /// Waits for the next phase change; always `Pending`.
    fn park(&mut self, cx: &mut Context<'_>) -> Poll<Result<BarrierWaitResult, BrokenBarrier>> {
        waiters::register(&self.barrier.inner, &mut self.slot, cx.waker(), |s| {
            Some(&mut s.waiters)
        });
        Poll::Pending
    }

    /// Leaves the barrier with `out`.
    fn leave<T>(&mut self, out: T) -> Poll<T> {
        self.arrived = None;
        self.done = true;
        let mut foreign = Vec::new();
        self.barrier.inner.borrow_mut().leave(&mut foreign);
        foreign.into_iter().for_each(Waker::wake);
        Poll::Ready(out)
    }
}

impl Future for BarrierWait<'_> {
    type Output = Result<BarrierWaitResult, BrokenBarrier>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "`BarrierWait` polled after it completed");
        let mut state = this.barrier.inner.borrow_mut();
        let parties = state.parties;
        let Some(index) = this.arrived else {
            // Not in yet: wait out a drain or a reset, then arrive.
            match state.phase {
                Phase::Broken => {
                    this.done = true;
                    return Poll::Ready(Err(BrokenBarrier));
                }
                Phase::Draining | Phase::Resetting => {
                    drop(state);
                    return this.park(cx);
                }
                Phase::Filling => {}
            }
            let index = state.count;
            state.count += 1;
            this.arrived = Some(index);
            if index + 1 < parties {
                drop(state);
                return this.park(cx);
            }
            let mut foreign = Vec::new();
            state.set_phase(Phase::Draining, &mut foreign);
            drop(state);
            foreign.into_iter().for_each(Waker::wake);
            return this.leave(Ok(BarrierWaitResult { index, parties }));
        };
        let phase = state.phase;
        drop(state);
        match phase {
            Phase::Filling => this.park(cx),
            Phase::Draining => this.leave(Ok(BarrierWaitResult { index, parties })),
            Phase::Resetting | Phase::Broken => this.leave(Err(BrokenBarrier)),
        }
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        waiters::unregister(&self.barrier.inner, &mut self.slot, |s| {
            Some(&mut s.waiters)
        });
        if self.arrived.is_some() {
            let _ = self.leave(());
        }
    }
}
