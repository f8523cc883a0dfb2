//! [`Queue`], [`LifoQueue`], [`PriorityQueue`]: asyncio's queues.
//!
//! # How waiting works
//!
//! A `put` that finds getters waiting serves the first of them (in arrival
//! order), so a getter that arrives later cannot take the item a waiting
//! one was promised: waiters are served first come, first served. What the
//! served getter is given depends on the order:
//!
//! - **FIFO** ([`Queue`]): the item itself. A getter waits only while
//!   nothing is stored, so the item put is the next one anyway; it goes
//!   straight into the getter's place in line, never through the store
//!   (the two-task hand-off, the common case, costs no store push and pop).
//!   Items in hand count in `len` and `is_full`, and an immediate
//!   `shutdown` takes them back.
//! - **LIFO and priority**: a *claim* on a stored item. The item stays in
//!   the store, counted as claimed, and the getter takes whichever item is
//!   next when it runs, as asyncio's does (a later put may be newer or
//!   smaller); a new `get` may take an item only if more are stored than
//!   claimed.
//!
//! A served getter dropped before it runs passes what it was given on: to
//! the next waiting getter, or back to the queue (a FIFO item back at the
//! front). Nothing is lost and nothing stays promised to a future that is
//! gone.
//!
//! A `put` waiting for room in a bounded queue keeps its item in its place
//! in line. A `get` that makes room serves the first waiting putter by
//! moving that item into the queue at once, so the item is in the queue
//! even if the putter's future is dropped before it runs; a putter dropped
//! while still in line takes its item with it (that put never happened).

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::wait_queue::{WaitQueue, WaiterKey, WakerSource, Wakes};
use super::waiters::{self, WaiterList, WaiterSlot};

/// The state behind each of the three queue types (they differ only in
/// [`Order`]).
struct Core<T, O> {
    inner: Rc<RefCell<State<T, O>>>,
}

struct State<T, O> {
    items: O,
    /// The most items the queue holds; 0: no limit.
    maxsize: usize,
    /// Stored items promised to getters that were served a claim and have
    /// not run yet (LIFO and priority queues).
    claimed: usize,
    /// Items handed to getters that have not run yet (FIFO queues); still
    /// the queue's, for `len`, `is_full` and an immediate `shutdown`.
    in_hand: usize,
    /// Waiting getters; a served node holds what it was given (nothing if
    /// it was woken by `shutdown`).
    getters: WaitQueue<Grant<T>>,
    /// Waiting putters, each with its item.
    putters: WaitQueue<T>,
    /// Items put and not yet marked done.
    unfinished: usize,
    /// `join()`s waiting for `unfinished` to reach 0.
    joiners: WaiterList,
    shut_down: bool,
}

/// What a served getter was given.
enum Grant<T> {
    /// A claim on the next stored item.
    Claim,
    /// The item itself (FIFO).
    Item(T),
}

impl<T, O: Order<T>> State<T, O> {
    /// Items in the queue, stored or in a served getter's hand.
    fn len(&self) -> usize {
        self.items.len() + self.in_hand
    }

    fn is_full(&self) -> bool {
        self.maxsize > 0 && self.len() >= self.maxsize
    }

    /// Stored items no served getter has a claim on.
    fn unclaimed(&self) -> usize {
        self.items.len().saturating_sub(self.claimed)
    }

    fn push(&mut self, item: T, wakes: &mut Wakes) {
        self.unfinished += 1;
        if O::HANDS_OFF && self.getters.waiting() > 0 {
            // Getters wait only while nothing is stored: this is the next
            // item.
            self.hand(item, wakes);
        } else {
            self.items.push(item);
            self.serve_getters(wakes);
        }
    }

    /// Serves the first waiting getter (there is one) with `item`.
    #[inline(always)]
    fn hand(&mut self, item: T, wakes: &mut Wakes) {
        let Ok(waker) = self.getters.serve_front_with(Grant::Item(item)) else {
            unreachable!("a getter waits");
        };
        self.in_hand += 1;
        wakes.push(waker);
    }

    /// Gives claims on unclaimed items to waiting getters, first come
    /// first (LIFO and priority queues).
    fn serve_getters(&mut self, wakes: &mut Wakes) {
        while self.unclaimed() > 0 {
            match self.getters.serve_front_with(Grant::Claim) {
                Ok(waker) => {
                    self.claimed += 1;
                    wakes.push(waker);
                }
                Err(_) => break,
            }
        }
    }

    /// Takes the next stored item, for a getter that had a claim on it or
    /// found it unclaimed, and lets waiting putters into the room it
    /// leaves.
    fn pop(&mut self, claim: bool, wakes: &mut Wakes) -> Option<T> {
        if claim {
            self.claimed = self.claimed.saturating_sub(1);
        }
        let item = self.items.pop()?;
        self.room_made(wakes);
        Some(item)
    }

    /// Takes an item a getter was handed out of the count, and lets
    /// waiting putters into the room it leaves.
    #[inline]
    fn took_from_hand(&mut self, wakes: &mut Wakes) {
        self.in_hand -= 1;
        self.room_made(wakes);
    }

    /// An item left the queue: lets waiting putters in, if any wait (the
    /// check inline, the work out of line).
    #[inline]
    fn room_made(&mut self, wakes: &mut Wakes) {
        if self.putters.waiting() > 0 {
            self.admit_putters(wakes);
        }
    }

    /// Moves the items of the first waiting putters into the queue while
    /// there is room.
    #[inline(never)]
    fn admit_putters(&mut self, wakes: &mut Wakes) {
        while self.putters.waiting() > 0 && !self.is_full() {
            let Some((waker, item)) = self.putters.serve_front() else {
                break;
            };
            self.push(item.expect("a waiting putter holds its item"), wakes);
            wakes.push(waker);
        }
    }

    /// Takes every item out, stored or in a served getter's hand (those
    /// getters then fail, as if they came after the drain), and counts
    /// them done: an immediate `shutdown`.
    fn drain(&mut self) -> Vec<T> {
        let mut items = self.items.take_all();
        items.extend(
            self.getters
                .served_values()
                .filter_map(|grant| match grant.take() {
                    Some(Grant::Item(item)) => Some(item),
                    claim => {
                        *grant = claim;
                        None
                    }
                }),
        );
        self.unfinished = self.unfinished.saturating_sub(items.len());
        self.claimed = 0;
        self.in_hand = 0;
        items
    }

    /// Passes on what a served getter that is gone was given.
    fn pass_on(&mut self, grant: Grant<T>, wakes: &mut Wakes) {
        match grant {
            Grant::Claim => {
                // (0 already if an immediate `shutdown` dropped the items.)
                self.claimed = self.claimed.saturating_sub(1);
                self.serve_getters(wakes);
            }
            Grant::Item(item) => {
                self.in_hand -= 1;
                if self.getters.waiting() > 0 {
                    self.hand(item, wakes);
                } else {
                    self.items.push_front(item); // the next item again
                }
            }
        }
    }
}

impl<T, O: Order<T>> Core<T, O> {
    fn with_maxsize(maxsize: usize) -> Core<T, O> {
        Core {
            inner: Rc::new(RefCell::new(State {
                items: O::default(),
                maxsize,
                claimed: 0,
                in_hand: 0,
                getters: WaitQueue::default(),
                putters: WaitQueue::default(),
                unfinished: 0,
                joiners: WaiterList::default(),
                shut_down: false,
            })),
        }
    }

    fn put(&self, item: T) -> Put<'_, T, O> {
        Put {
            queue: self,
            item: Some(item),
            key: None,
        }
    }

    fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        let mut wakes = Wakes::default();
        let mut state = self.inner.borrow_mut();
        if state.shut_down {
            return Err(PutError::ShutDown(item));
        }
        // Putters wait only while the queue is full (a `get` that makes
        // room lets the first of them in at once), so a queue with room has
        // nobody in line to overtake.
        if state.is_full() {
            return Err(PutError::Full(item));
        }
        state.push(item, &mut wakes);
        drop(state);
        wakes.wake();
        Ok(())
    }

    fn get(&self) -> Get<'_, T, O> {
        Get {
            queue: self,
            key: None,
            done: false,
        }
    }

    fn get_nowait(&self) -> Result<T, GetError> {
        let mut wakes = Wakes::default();
        let mut state = self.inner.borrow_mut();
        if state.unclaimed() == 0 {
            return Err(if state.shut_down {
                GetError::ShutDown
            } else {
                GetError::Empty
            });
        }
        let item = state.pop(false, &mut wakes);
        drop(state);
        wakes.wake();
        Ok(item.expect("an unclaimed item is stored"))
    }

    fn len(&self) -> usize {
        self.inner.borrow().len()
    }

    fn is_full(&self) -> bool {
        self.inner.borrow().is_full()
    }

    fn maxsize(&self) -> usize {
        self.inner.borrow().maxsize
    }

    fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut state = self.inner.borrow_mut();
        if state.unfinished == 0 {
            return Err(TaskDoneError);
        }
        state.unfinished -= 1;
        let finished = state.unfinished == 0;
        drop(state);
        if finished {
            self.wake_joiners();
        }
        Ok(())
    }

    fn join(&self) -> Join<'_, T, O> {
        Join {
            queue: self,
            slot: WaiterSlot::NONE,
        }
    }

    fn shutdown(&self, immediate: bool) {
        let mut wakes = Wakes::default();
        let mut state = self.inner.borrow_mut();
        state.shut_down = true;
        let dropped = if immediate { state.drain() } else { Vec::new() };
        // Getters holding a claim keep it; the others have nothing to wait
        // for any more.
        if state.unclaimed() == 0 {
            state.getters.serve_all(&mut wakes);
        }
        state.putters.serve_all(&mut wakes);
        let finished = state.unfinished == 0;
        drop(state);
        drop(dropped);
        wakes.wake();
        if finished {
            self.wake_joiners();
        }
    }

    fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.borrow();
        f.debug_struct(name)
            .field("len", &state.len())
            .field("maxsize", &state.maxsize)
            .field("getters", &state.getters.waiting())
            .field("putters", &state.putters.waiting())
            .field("unfinished", &state.unfinished)
            .field("shut_down", &state.shut_down)
            .finish()
    }

    fn is_shut_down(&self) -> bool {
        self.inner.borrow().shut_down
    }

    fn wake_joiners(&self) {
        let mut foreign = Vec::new();
        self.inner.borrow_mut().joiners.wake_all(&mut foreign);
        foreign.into_iter().for_each(Waker::wake);
    }

    #[cfg(test)]
    fn waiting(&self) -> (usize, usize, usize) {
        let state = self.inner.borrow();
        let nodes = state.getters.nodes() + state.putters.nodes();
        (state.getters.waiting(), state.putters.waiting(), nodes)
    }
}

/// Defines one of the public queue types over [`Core`]: the struct (its
/// docs given at the call) and the methods, the same for all three.
macro_rules! queue_type {
    ($(#[$doc:meta])* $name:ident, $order:ident, [$($bound:tt)*]) => {
        $(#[$doc])*
        pub struct $name<T> {
            core: Core<T, $order<T>>,
        }

        impl<T: $($bound)*> $name<T> {
            /// An unbounded queue.
            pub fn new() -> $name<T> {
                $name { core: Core::with_maxsize(0) }
            }

            /// A queue that holds at most `maxsize` items (asyncio's
            /// `maxsize`; 0 means no limit, as there).
            pub fn bounded(maxsize: usize) -> $name<T> {
                $name { core: Core::with_maxsize(maxsize) }
            }

            /// Puts `item` in the queue, waiting for room if it is bounded
            /// and full. Fails with [`PutError::ShutDown`] (the item given
            /// back) once the queue is shut down.
            ///
            /// Cancellation: dropping the future while it waits takes the
            /// item away with it (the put never happened); once the future
            /// has been woken for room, the item is already in the queue.
            pub fn put(&self, item: T) -> Put<'_, T, $order<T>> {
                self.core.put(item)
            }

            /// Puts `item` in the queue if there is room now; gives it back
            /// in [`PutError::Full`] (asyncio's `QueueFull`) or
            /// [`PutError::ShutDown`] otherwise.
            pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
                self.core.put_nowait(item)
            }

            /// Takes the next item, waiting for one if the queue is empty.
            /// Fails with [`GetError::ShutDown`] once the queue is shut down
            /// and has no item left for this getter.
            ///
            /// Cancellation: dropping the future at any point loses no item
            /// (one promised to it goes to the next getter).
            pub fn get(&self) -> Get<'_, T, $order<T>> {
                self.core.get()
            }

            /// Takes the next item if one is there now and not promised to
            /// a waiting getter; [`GetError::Empty`] (asyncio's
            /// `QueueEmpty`) or [`GetError::ShutDown`] otherwise.
            pub fn get_nowait(&self) -> Result<T, GetError> {
                self.core.get_nowait()
            }

            /// Items in the queue (asyncio's `qsize()`), including those
            /// promised to getters that were woken and have not run yet.
            pub fn len(&self) -> usize {
                self.core.len()
            }

            /// Whether the queue holds no item.
            pub fn is_empty(&self) -> bool {
                self.core.len() == 0
            }

            /// Whether a bounded queue is at its limit (always `false`
            /// unbounded).
            pub fn is_full(&self) -> bool {
                self.core.is_full()
            }

            /// The limit given at creation; 0: unbounded.
            pub fn maxsize(&self) -> usize {
                self.core.maxsize()
            }

            /// Marks one item taken by `get` as processed (asyncio's
            /// `task_done()`); when every item put has been marked, the
            /// waiting `join`s end. Called more times than items were put,
            /// it fails with [`TaskDoneError`] (asyncio's `ValueError`).
            pub fn task_done(&self) -> Result<(), TaskDoneError> {
                self.core.task_done()
            }

            /// Waits until every item put has been marked done with
            /// `task_done` (at once if none is unfinished). A `join` woken
            /// by the count reaching zero completes even if more items are
            /// put before it runs.
            pub fn join(&self) -> Join<'_, T, $order<T>> {
                self.core.join()
            }

            /// Shuts the queue down (Python 3.13's `Queue.shutdown`): later
            /// puts fail with [`PutError::ShutDown`] and give their item
            /// back; gets take what is left and then fail with
            /// [`GetError::ShutDown`]; waiting putters, and waiting getters
            /// with nothing left for them, wake with that error. With
            /// `immediate`, the items left are dropped and counted as done
            /// (so a waiting `join` can end).
            pub fn shutdown(&self, immediate: bool) {
                self.core.shutdown(immediate)
            }

            /// Whether `shutdown` was called.
            pub fn is_shut_down(&self) -> bool {
                self.core.is_shut_down()
            }
        }

        impl<T: $($bound)*> Default for $name<T> {
            fn default() -> $name<T> {
                $name::new()
            }
        }

        impl<T> Clone for $name<T> {
            fn clone(&self) -> $name<T> {
                $name {
                    core: Core {
                        inner: self.core.inner.clone(),
                    },
                }
            }
        }

        impl<T: $($bound)*> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.core.debug(stringify!($name), f)
            }
        }
    };
}

queue_type!(
    /// An async queue for the tasks of one loop (asyncio's `Queue`; tokio's
    /// closest is `mpsc`, which has one consumer).
    ///
    /// First in, first out; [`LifoQueue`] and [`PriorityQueue`] have the
    /// same methods with another order. Unbounded ([`Queue::new`]) or
    /// bounded ([`Queue::bounded`]: `put` waits for room). Cheap to clone:
    /// clones are handles to one queue. Waiting getters and putters are
    /// served in the order they started waiting, and dropping a waiting
    /// `get` or `put` at any point loses no item (the module source says
    /// how).
    ///
    /// ```
    /// use evloop::sync::Queue;
    /// let out = evloop::run(async {
    ///     let q = Queue::bounded(2);
    ///     let consumer = evloop::ensure_future({
    ///         let q = q.clone();
    ///         async move {
    ///             let mut sum = 0;
    ///             while let Ok(n) = q.get().await {
    ///                 sum += n;
    ///                 q.task_done().unwrap();
    ///             }
    ///             sum
    ///         }
    ///     });
    ///     for n in 1..=10 {
    ///         q.put(n).await.unwrap(); // waits while two are queued
    ///     }
    ///     q.join().await; // every item was taken and marked done
    ///     q.shutdown(false); // the consumer's next `get` fails
    ///     consumer.await.unwrap()
    /// });
    /// assert_eq!(out, Ok(55));
    /// ```
    Queue,
    Fifo,
    []
);

queue_type!(
    /// A last-in, first-out queue (asyncio's `LifoQueue`), otherwise a
    /// [`Queue`].
    ///
    /// ```
    /// use evloop::sync::LifoQueue;
    /// let q = LifoQueue::new();
    /// for n in 1..=3 {
    ///     q.put_nowait(n).unwrap();
    /// }
    /// assert_eq!(q.get_nowait().unwrap(), 3);
    /// ```
    LifoQueue,
    Lifo,
    []
);

queue_type!(
    /// A queue that gives its smallest item first, and among equal items
    /// the one put first (asyncio's `PriorityQueue`, which would compare
    /// the entries' next fields instead); otherwise a [`Queue`].
    ///
    /// ```
    /// use evloop::sync::PriorityQueue;
    /// let q = PriorityQueue::new();
    /// for (priority, name) in [(2, "b"), (1, "a"), (2, "c")] {
    ///     q.put_nowait((priority, name)).unwrap();
    /// }
    /// let order: Vec<_> = (0..3).map(|_| q.get_nowait().unwrap().1).collect();
    /// assert_eq!(order, ["a", "b", "c"]);
    /// ```
    PriorityQueue,
    Smallest,
    [Ord]
);

/// The future of [`Queue::get`].
#[must_use = "futures do nothing unless awaited"]
pub struct Get<'a, T, O: Order<T>> {
    queue: &'a Core<T, O>,
    /// Its place in line, once it waited.
    key: Option<WaiterKey>,
    /// Returned its output (polling again must not take another item).
    done: bool,
}

impl<T, O: Order<T>> Future for Get<'_, T, O> {
    type Output = Result<T, GetError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "`Get` polled after it completed");
        let mut waker = WakerSource::new(cx.waker());
        let mut wakes = Wakes::default();
        let mut state = this.queue.inner.borrow_mut();
        let item = match this.key.take() {
            Some(key) if state.getters.is_served(&key) => match state.getters.remove(key).value {
                Some(Grant::Item(item)) => {
                    state.took_from_hand(&mut wakes);
                    Some(item)
                }
                Some(Grant::Claim) => state.pop(true, &mut wakes),
                // Served by `shutdown`: what is left unclaimed, if any.
                None if state.unclaimed() > 0 => state.pop(false, &mut wakes),
                None => None,
            },
            None if state.unclaimed() > 0 => state.pop(false, &mut wakes),
            None if state.shut_down => None,
            key => {
                this.key = key;
                let old = state.getters.wait(&mut this.key, &mut waker, || None);
                drop(state);
                drop(old);
                return Poll::Pending;
            }
        };
        drop(state);
        wakes.wake();
        this.done = true;
        Poll::Ready(item.ok_or(GetError::ShutDown))
    }
}

impl<T, O: Order<T>> Drop for Get<'_, T, O> {
    #[inline]
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.leave(key);
        }
    }
}

impl<T, O: Order<T>> Get<'_, T, O> {
    /// Dropped while in line, or served and never run: leaves the line,
    /// passing on what it was served.
    #[inline(never)]
    fn leave(&mut self, key: WaiterKey) {
        let mut wakes = Wakes::default();
        let mut state = self.queue.inner.borrow_mut();
        let mut removed = state.getters.remove(key);
        if let Some(grant) = removed.value.take() {
            // Served, and it will never run: pass on what it was given.
            state.pass_on(grant, &mut wakes);
        }
        drop(state);
        drop(removed);
        wakes.wake();
    }
}

/// The future of [`Queue::put`].
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T, O: Order<T>> {
    queue: &'a Core<T, O>,
    /// The item, until it is in the queue or waits in line.
    item: Option<T>,
    key: Option<WaiterKey>,
}

impl<T, O: Order<T>> Unpin for Put<'_, T, O> {}

impl<T, O: Order<T>> Future for Put<'_, T, O> {
    type Output = Result<(), PutError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut waker = WakerSource::new(cx.waker());
        let mut wakes = Wakes::default();
        let mut state = this.queue.inner.borrow_mut();
        if let Some(key) = &this.key {
            if !state.putters.is_served(key) {
                let old = state.putters.wait(&mut this.key, &mut waker, || None);
                drop(state);
                drop(old);
                return Poll::Pending;
            }
            // Served: by a get (the item is in the queue) or by shutdown
            // (the item is still in the node).
            let removed = state
                .putters
                .remove(this.key.take().expect("checked above"));
            drop(state);
            return Poll::Ready(match removed.value {
                Some(item) => Err(PutError::ShutDown(item)),
                None => Ok(()),
            });
        }
        let item = this.item.take().expect("`Put` polled after it completed");
        if state.shut_down {
            return Poll::Ready(Err(PutError::ShutDown(item)));
        }
        if state.is_full() {
            let old = state.putters.wait(&mut this.key, &mut waker, || Some(item));
            drop(state);
            drop(old);
            return Poll::Pending;
        }
        state.push(item, &mut wakes);
        drop(state);
        wakes.wake();
        Poll::Ready(Ok(()))
    }
}

impl<T, O: Order<T>> Drop for Put<'_, T, O> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // A putter still in line takes its item away (dropped after
            // the borrow: its `Drop` may use the queue).
            let removed = self.queue.inner.borrow_mut().putters.remove(key);
            drop(removed);
        }
    }
}

/// The future of [`Queue::join`].
#[must_use = "futures do nothing unless awaited"]
pub struct Join<'a, T, O: Order<T>> {
    queue: &'a Core<T, O>,
    slot: WaiterSlot,
}

impl<T, O: Order<T>> Future for Join<'_, T, O> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let first = this.slot;
        let waiting = waiters::register(&this.queue.inner, &mut this.slot, cx.waker(), |s| {
            // Woken by a count that reached zero: done, even if more items
            // were put since (as an `Event` waiter).
            let woken = first.is_some() && first.epoch() != s.joiners.epoch();
            (s.unfinished > 0 && !woken).then_some(&mut s.joiners)
        });
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

impl<T, O: Order<T>> Drop for Join<'_, T, O> {
    fn drop(&mut self) {
        waiters::unregister(&self.queue.inner, &mut self.slot, |s| Some(&mut s.joiners));
    }
}

/// Why [`Queue::put_nowait`] or [`Queue::put`] did not put the item; the
/// item comes back.
#[derive(PartialEq, Eq)]
pub enum PutError<T> {
    /// The bounded queue is full (asyncio's `QueueFull`); only from
    /// `put_nowait`.
    Full(T),
    /// The queue was shut down (asyncio's `QueueShutDown`).
    ShutDown(T),
}

impl<T> PutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(item) | PutError::ShutDown(item) => item,
        }
    }

    /// Whether the queue was full.
    pub fn is_full(&self) -> bool {
        matches!(self, PutError::Full(_))
    }

    /// Whether the queue was shut down.
    pub fn is_shut_down(&self) -> bool {
        matches!(self, PutError::ShutDown(_))
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::ShutDown(_) => f.write_str("ShutDown(..)"),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("the queue is full"),
            PutError::ShutDown(_) => f.write_str("the queue is shut down"),
        }
    }
}

impl<T> std::error::Error for PutError<T> {}

/// Why [`Queue::get_nowait`] or [`Queue::get`] gave no item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetError {
    /// No item (asyncio's `QueueEmpty`); only from `get_nowait`.
    Empty,
    /// The queue was shut down and has no item left for this getter
    /// (asyncio's `QueueShutDown`).
    ShutDown,
}

impl GetError {
    /// Whether the queue was empty.
    pub fn is_empty(&self) -> bool {
        *self == GetError::Empty
    }

    /// Whether the queue was shut down.
    pub fn is_shut_down(&self) -> bool {
        *self == GetError::ShutDown
    }
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GetError::Empty => "the queue is empty",
            GetError::ShutDown => "the queue is shut down",
        })
    }
}

impl std::error::Error for GetError {}

/// [`Queue::task_done`] was called more times than items were put.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called more times than items were put")
    }
}

impl std::error::Error for TaskDoneError {}

/// The order a [`Queue`] gives its items in: [`Fifo`], [`Lifo`] or
/// [`Smallest`]. Sealed: the three are all there is.
pub trait Order<T>: Default + sealed::Sealed {
    /// Whether a put hands its item straight to a waiting getter (only
    /// where the item put is the one the getter would take: FIFO).
    #[doc(hidden)]
    const HANDS_OFF: bool = false;
    #[doc(hidden)]
    fn push(&mut self, item: T);
    /// Puts back an item handed to a getter that is gone, as the next one
    /// (used only where items are handed off).
    #[doc(hidden)]
    fn push_front(&mut self, item: T) {
        self.push(item);
    }
    #[doc(hidden)]
    fn pop(&mut self) -> Option<T>;
    #[doc(hidden)]
    fn len(&self) -> usize;
    #[doc(hidden)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    #[doc(hidden)]
    fn take_all(&mut self) -> Vec<T>;
}

mod sealed {
    pub trait Sealed {}
    impl<T> Sealed for super::Fifo<T> {}
    impl<T> Sealed for super::Lifo<T> {}
    impl<T> Sealed for super::Smallest<T> {}
}

/// First in, first out: [`Queue`]'s order.
pub struct Fifo<T>(VecDeque<T>);

/// Last in, first out: [`LifoQueue`]'s order.
pub struct Lifo<T>(Vec<T>);

/// Smallest first, first in first out among equals: [`PriorityQueue`]'s
/// order.
pub struct Smallest<T> {
    heap: BinaryHeap<Reverse<Ranked<T>>>,
    /// The sequence number of the next item put.
    next: u64,
}

/// An item and its arrival, ordered by item, then arrival.
struct Ranked<T>(T, u64);

impl<T: Ord> PartialEq for Ranked<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl<T: Ord> Eq for Ranked<T> {}

impl<T: Ord> PartialOrd for Ranked<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> Ord for Ranked<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

impl<T> Default for Fifo<T> {
    fn default() -> Fifo<T> {
        Fifo(VecDeque::new())
    }
}

impl<T> Default for Lifo<T> {
    fn default() -> Lifo<T> {
        Lifo(Vec::new())
    }
}

impl<T: Ord> Default for Smallest<T> {
    fn default() -> Smallest<T> {
        Smallest {
            heap: BinaryHeap::new(),
            next: 0,
        }
    }
}

impl<T> Order<T> for Fifo<T> {
    const HANDS_OFF: bool = true;
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn push_front(&mut self, item: T) {
        self.0.push_front(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn take_all(&mut self) -> Vec<T> {
        self.0.drain(..).collect()
    }
}

impl<T> Order<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn take_all(&mut self) -> Vec<T> {
        std::mem::take(&mut self.0)
    }
}

impl<T: Ord> Order<T> for Smallest<T> {
    fn push(&mut self, item: T) {
        self.heap.push(Reverse(Ranked(item, self.next)));
        self.next += 1;
    }
    fn pop(&mut self) -> Option<T> {
        self.heap.pop().map(|Reverse(Ranked(item, _))| item)
    }
    fn len(&self) -> usize {
        self.heap.len()
    }
    fn take_all(&mut self) -> Vec<T> {
        self.heap
            .drain()
            .map(|Reverse(Ranked(item, _))| item)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_dropped_served_getter_passes_its_claim_to_the_next() {
        let q = Queue::new();
        let (mut a, mut b) = (q.get(), q.get());
        assert!(poll(&mut a).is_pending());
        assert!(poll(&mut b).is_pending());
        q.put_nowait(1).unwrap(); // serves `a`
        assert_eq!(q.get_nowait(), Err(GetError::Empty), "promised to `a`");
        drop(a); // ... which never runs: `b` gets the claim
        assert_eq!(poll(&mut b), Poll::Ready(Ok(1)));
        drop(b);
        assert_eq!(q.core.waiting(), (0, 0, 0));
    }

    #[test]
    fn a_dropped_served_getter_with_nobody_behind_leaves_the_item_stored() {
        let q = Queue::new();
        let mut a = q.get();
        assert!(poll(&mut a).is_pending());
        q.put_nowait("x").unwrap();
        drop(a);
        assert_eq!(q.get_nowait(), Ok("x"));
    }

    #[test]
    fn dropped_waits_leave_no_node() {
        let q = Queue::bounded(1);
        q.put_nowait(0).unwrap();
        for i in 0..1_000 {
            let mut put = q.put(i);
            assert!(poll(&mut put).is_pending());
        }
        let e: Queue<u8> = Queue::new();
        for _ in 0..1_000 {
            let mut get = e.get();
            assert!(poll(&mut get).is_pending());
        }
        assert_eq!(q.core.waiting(), (0, 0, 0));
        assert_eq!(e.core.waiting(), (0, 0, 0));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn a_served_putter_dropped_before_it_runs_still_put_its_item() {
        let q = Queue::bounded(1);
        q.put_nowait(1).unwrap();
        let mut put = q.put(2);
        assert!(poll(&mut put).is_pending());
        assert_eq!(q.get_nowait(), Ok(1)); // room: 2 moves in
        drop(put);
        assert_eq!(q.get_nowait(), Ok(2));
    }
}
