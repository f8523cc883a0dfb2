//! Loop-local synchronisation primitives, asyncio's: [`Event`], [`Queue`]
//! (with [`LifoQueue`] and [`PriorityQueue`]), [`Lock`], [`Semaphore`],
//! [`Condition`] and [`Barrier`], for the tasks of one loop.
//!
//! They are `!Send`: one loop, one thread, no atomics and no locks; each
//! is a cheap-to-clone handle to state in an `Rc`. Tasks that wait are
//! served in the order they started waiting, and every wait is
//! cancellation-safe: dropping a waiting future (a `wait_for` that timed
//! out, a `select` another branch won) at any point loses no item, permit
//! or notification — one already handed to it passes to the next waiter —
//! and leaves no entry behind, so waiter lists do not grow with abandoned
//! waits.
//!
//! ```compile_fail
//! fn assert_send<T: Send>() {}
//! assert_send::<evloop::sync::Queue<u32>>();
//! ```

mod barrier;
mod condition;
mod event;
mod queue;
mod semaphore;
pub(crate) mod shim;
pub(crate) mod spin;
mod wait_queue;
pub(crate) mod waiters;

pub use barrier::{Barrier, BarrierWait, BarrierWaitResult, BrokenBarrier};
pub use condition::{Condition, ConditionWait};
pub use event::{Event, EventWait};
pub use queue::{
    Fifo, Get, GetError, Join, Lifo, LifoQueue, Order, PriorityQueue, Put, PutError, Queue,
    Smallest, TaskDoneError,
};
pub use semaphore::{Acquire, Lock, LockAcquire, LockGuard, Semaphore, SemaphorePermit};
