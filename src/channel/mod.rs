//! [`channel`] and [`bounded`]: a multi-producer, single-consumer channel
//! across threads, for either direction — plain threads → a loop task
//! (`recv().await`), or a loop task → worker threads (`recv_blocking`).
//!
//! asyncio has no direct analogue (its `asyncio.Queue` is not thread-safe;
//! the asyncio way is `call_soon_threadsafe(queue.put_nowait, v)`); the
//! shape is tokio's `mpsc` and async-channel's, with async-channel's names.
//!
//! # The parts
//!
//! - the values sit in a lock-free queue (`crossbeam_queue::SegQueue`);
//! - `Park` is where the one receiver waits: a flag saying it may be
//!   waiting, its task's waker, and a condition variable for a thread
//!   blocked in `recv_blocking`;
//! - a bounded channel adds `Bound`: the count of queued values and
//!   `Room`, where senders wait for room (the wakers of `send_async`
//!   futures, and a condition variable for threads in `send_blocking`).
//!
//! # Why a burst of sends costs one wake-up
//!
//! The receiver, finding the queue empty, stores its waker, sets
//! `waiting`, issues a `SeqCst` fence, and checks the queue again before it
//! returns `Pending` (or blocks). A sender pushes, issues a `SeqCst` fence,
//! and wakes the receiver only if it swaps `waiting` from true to false.
//! The fences order the two store-then-load pairs, so at least one side
//! sees the other: the receiver finds the value, or the sender sees the
//! flag and wakes it. Only the send that flips the flag wakes; the rest of
//! a burst cost a plain load each. An evloop task's waker, woken from
//! another thread, travels through the loop's remote queue, whose own
//! flag makes the burst one eventfd write at most (`remote.rs`). Woken,
//! an evloop task takes at most one task budget of values per poll (128,
//! shared with socket operations) and then yields, so other threads that
//! keep the channel full cannot keep the loop in one poll; `send_async`
//! into a channel they keep draining yields the same way.
//!
//! Senders waiting for room use the same handshake the other way round:
//! a sender announces itself in `Room::waiting` (under the lock), fences,
//! then tries again; the receiver lowers the count after each value it
//! takes, fences, and wakes every waiting sender if any announced itself.
//!
//! # Closing
//!
//! When the last sender is gone the receiver is woken (the same
//! handshake, with the sender count in place of the queue); it takes what
//! is left, then sees `None`. When the receiver is dropped, `receiver_gone`
//! is set and the queue drained; a sender checks the flag before it
//! pushes (and gets its value back), and again after the fence that
//! follows its push: a send that raced the drop and found the flag set
//! drains the queue itself, so no value outlives the receiver in the
//! queue.

mod error;
#[cfg(all(test, evloop_loom))]
mod loom_tests;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::sync::shim::{fence, Arc, AtomicBool, AtomicUsize, Condvar, Mutex, Ordering, Queue};
use crate::task::context;

pub use error::{SendError, TryRecvError, TrySendError};

/// Creates an unbounded channel: a [`Sender`] for any number of threads
/// and tasks, and the one [`Receiver`].
///
/// Sending never blocks and never fails while the receiver lives
/// ([`Sender::send`]). The receiver awaits values in a loop task
/// ([`Receiver::recv`]) or blocks for them on a plain thread
/// ([`Receiver::recv_blocking`]). Each sender's values arrive in the order
/// it sent them.
///
/// # Examples
///
/// Plain threads feeding a loop task:
///
/// ```
/// let lp = evloop::EventLoop::new();
/// let (tx, mut rx) = evloop::channel::<u64>();
/// let producers: Vec<_> = (0..4)
///     .map(|p| {
///         let tx = tx.clone();
///         std::thread::spawn(move || {
///             for i in 0..1000 {
///                 tx.send(p * 1000 + i).unwrap();
///             }
///         })
///     })
///     .collect();
/// drop(tx); // `recv` gives `None` once the producers' senders are gone too
/// let count = lp
///     .run_until_complete(async move {
///         let mut count = 0;
///         while let Some(_value) = rx.recv().await {
///             count += 1;
///         }
///         count
///     })
///     .unwrap();
/// assert_eq!(count, 4000);
/// producers.into_iter().for_each(|t| t.join().unwrap());
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    pair(None)
}

/// Creates a bounded channel that holds at most `capacity` values.
///
/// [`Sender::send`] refuses a value while the channel is full
/// (`Err(TrySendError::Full(v))`), [`Sender::send_async`] waits for room in
/// a task, [`Sender::send_blocking`] blocks a plain thread until there is
/// room.
///
/// # Panics
///
/// If `capacity` is 0 (a rendezvous channel is not offered: every value
/// waits in the queue until it is received).
///
/// # Examples
///
/// A loop task feeding a worker thread, never more than 8 values ahead:
///
/// ```
/// let lp = evloop::EventLoop::new();
/// let (tx, mut rx) = evloop::bounded::<u32>(8);
/// let worker = std::thread::spawn(move || {
///     let mut sum = 0;
///     while let Some(v) = rx.recv_blocking() {
///         sum += v;
///     }
///     sum
/// });
/// lp.run_until_complete(async move {
///     for i in 1..=100 {
///         tx.send_async(i).await.unwrap(); // waits while 8 are queued
///     }
/// })
/// .unwrap();
/// assert_eq!(worker.join().unwrap(), 5050);
/// ```
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "evloop::bounded: the capacity must be at least 1"
    );
    pair(Some(capacity))
}

fn pair<T>(capacity: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        queue: Queue::new(),
        bound: capacity.map(Bound::new),
        senders: AtomicUsize::new(1),
        receiver_gone: AtomicBool::new(false),
        rx: Park::new(),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// The state the senders and the receiver share.
struct Chan<T> {
    queue: Queue<T>,
    /// `None`: unbounded.
    bound: Option<Bound>,
    /// Live `Sender`s; 0 means disconnected.
    senders: AtomicUsize,
    /// Set when the receiver is dropped; later sends are refused.
    receiver_gone: AtomicBool,
    /// Where the receiver waits.
    rx: Park,
}

impl<T> Chan<T> {
    /// Queues `value` unless the receiver is gone or the channel is full.
    fn try_push(&self, value: T) -> Result<(), TrySendError<T>> {
        if self.receiver_gone.load(Ordering::Acquire) {
            return Err(TrySendError::Closed(value));
        }
        if let Some(bound) = &self.bound {
            if !bound.reserve() {
                return Err(TrySendError::Full(value));
            }
            // The room may be the receiver's: its drop sets the flag, then
            // drains. A place taken from that drain (the compare-and-swap
            // read the drain's count) sees the flag here, so a sender that
            // was waiting for room gets `Closed`, not an `Ok` for a value
            // dropped at once.
            if self.receiver_gone.load(Ordering::SeqCst) {
                bound.len.fetch_sub(1, Ordering::SeqCst);
                return Err(TrySendError::Closed(value));
            }
        }
        self.queue.push(value);
        // Pairs with the receiver's fence in `poll_recv` / `Park::wait`
        // (the wake-up) and in `Receiver::drop` (the drain).
        fence(Ordering::SeqCst);
        if self.receiver_gone.load(Ordering::Relaxed) {
            // The receiver went while this value was being pushed, and may
            // have drained the queue before it landed.
            self.drain();
        } else {
            self.rx.wake();
        }
        Ok(())
    }

    /// Takes the next value; on a bounded channel, makes its room known to
    /// waiting senders.
    fn pop(&self) -> Option<T> {
        let value = self.queue.pop()?;
        if let Some(bound) = &self.bound {
            bound.len.fetch_sub(1, Ordering::SeqCst);
            bound.room.notify();
        }
        Some(value)
    }

    /// Every sender is gone: nothing more will be pushed.
    fn disconnected(&self) -> bool {
        self.senders.load(Ordering::Acquire) == 0
    }

    /// Drops every queued value (the receiver is gone).
    fn drain(&self) {
        while let Some(value) = self.pop() {
            drop(value);
        }
    }

    /// Whether a value is queued, or the senders are gone (the receiver
    /// has something to return).
    fn has_news(&self) -> bool {
        !self.queue.is_empty() || self.disconnected()
    }

    /// Whether a waiting sender has something to try again for.
    fn has_room(&self, bound: &Bound) -> bool {
        bound.len.load(Ordering::SeqCst) < bound.capacity
            || self.receiver_gone.load(Ordering::SeqCst)
    }
}

/// Where the one receiver waits (see the module docs).
struct Park {
    /// The receiver may be waiting: the sender that swaps this from true to
    /// false wakes it.
    waiting: AtomicBool,
    /// The waker of the task in `recv().await`, if one waited.
    waker: Mutex<Option<Waker>>,
    /// Where a thread in `recv_blocking` sleeps (with `waker`'s lock).
    blocked: Condvar,
}

impl Park {
    fn new() -> Park {
        Park {
            waiting: AtomicBool::new(false),
            waker: Mutex::new(None),
            blocked: Condvar::new(),
        }
    }

    /// Receiver side: stores `waker` and declares itself waiting. The
    /// caller then fences and checks the queue again.
    fn register(&self, waker: &Waker) {
        let mut slot = self.waker.lock();
        let replaced = match &*slot {
            Some(w) if w.will_wake(waker) => None,
            _ => slot.replace(waker.clone()),
        };
        self.declare_waiting();
        drop(slot);
        drop(replaced); // a foreign waker's drop runs outside the lock
    }

    /// Receiver side: sets `waiting`, with a read-modify-write rather than
    /// a store. With a plain store, the loom model
    /// `loom_channel_recv_blocking_is_woken` found a lost wake-up: a
    /// sender whose swap read an earlier wait's `true` (a wait that found
    /// a value and ended), then a later sender whose check missed the next
    /// wait's `true`. With every change of the flag a read-modify-write,
    /// its changes are totally ordered and each reads the latest, so the
    /// handshake no longer rests on how the fences order a plain store
    /// against a sender's swap. It costs a swap where a store was, on the
    /// receiver's way to sleep only.
    fn declare_waiting(&self) {
        self.waiting.swap(true, Ordering::AcqRel);
    }

    /// Receiver side: it found something after all; later sends need not
    /// wake it.
    fn settle(&self) {
        self.waiting.store(false, Ordering::Relaxed);
    }

    /// Receiver side, on a plain thread: blocks until a sender wakes it,
    /// unless `ready()` holds after it declared itself waiting.
    fn wait(&self, ready: impl Fn() -> bool) {
        let mut slot = self.waker.lock();
        self.declare_waiting();
        fence(Ordering::SeqCst);
        if !ready() {
            self.blocked.wait(&mut slot);
        }
        self.waiting.store(false, Ordering::Relaxed);
    }

    /// Sender side, after its fence: wakes the receiver if it may be
    /// waiting. The waker is woken after the lock is released.
    fn wake(&self) {
        // A plain load first: while the receiver is busy, a send costs no
        // read-modify-write on this shared line.
        if self.waiting.load(Ordering::Relaxed) && self.waiting.swap(false, Ordering::AcqRel) {
            let waker = {
                let slot = self.waker.lock();
                self.blocked.notify_all();
                slot.clone()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// The count and the waiting senders of a bounded channel.
struct Bound {
    capacity: usize,
    /// Values queued, plus places taken by sends about to push them.
    len: AtomicUsize,
    room: Room,
}

impl Bound {
    fn new(capacity: usize) -> Bound {
        Bound {
            capacity,
            len: AtomicUsize::new(0),
            room: Room::new(),
        }
    }

    /// Takes a place for one value, unless the channel is full. A
    /// compare-and-swap rather than an add undone on refusal: the count
    /// never rises above the capacity, even for a moment that a waiting
    /// sender's re-check could see (as `remote::Capacity::reserve`).
    fn reserve(&self) -> bool {
        let mut len = self.len.load(Ordering::SeqCst);
        while len < self.capacity {
            match self
                .len
                .compare_exchange_weak(len, len + 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(now) => len = now,
            }
        }
        false
    }
}

/// Where senders wait for room in a bounded channel.
///
/// Every waiter is woken each time room is made (and at close), and tries
/// again; those that lose the race wait again. Waking all rather than one
/// means a woken `send_async` future that is dropped instead of polled
/// takes no hand-off with it. There is no FIFO order among waiting
/// senders.
struct Room {
    /// Threads blocked in `send_blocking` plus registered `send_async`
    /// futures.
    waiting: AtomicUsize,
    /// The registered futures' wakers (`None`: woken, not yet polled again).
    wakers: Mutex<Slab<Option<Waker>>>,
    /// Where threads in `send_blocking` sleep (with `wakers`' lock).
    blocked: Condvar,
}

impl Room {
    fn new() -> Room {
        Room {
            waiting: AtomicUsize::new(0),
            wakers: Mutex::new(Slab::new()),
            blocked: Condvar::new(),
        }
    }

    /// Receiver side, after room was made or the receiver went: wakes the
    /// waiting senders, if any announced themselves.
    fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            let wakers: Vec<Waker> = {
                let mut slab = self.wakers.lock();
                self.blocked.notify_all();
                slab.iter_mut().filter_map(|(_, w)| w.take()).collect()
            };
            wakers.into_iter().for_each(Waker::wake);
        }
    }

    /// Sender side, on a plain thread: blocks until room may have been
    /// made, unless `ready()` holds after it announced itself.
    fn wait(&self, ready: impl Fn() -> bool) {
        let mut slab = self.wakers.lock();
        self.waiting.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !ready() {
            self.blocked.wait(&mut slab);
        }
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    /// Sender side, in a task: stores (or refreshes) the future's waker
    /// under `key`. The caller then fences and tries again.
    fn register(&self, key: &mut Option<usize>, waker: &Waker) {
        let mut slab = self.wakers.lock();
        let replaced = match *key {
            Some(k) => match &slab[k] {
                Some(w) if w.will_wake(waker) => None,
                _ => slab[k].replace(waker.clone()),
            },
            None => {
                *key = Some(slab.insert(Some(waker.clone())));
                self.waiting.fetch_add(1, Ordering::SeqCst);
                None
            }
        };
        drop(slab);
        drop(replaced);
    }

    /// Removes the future's entry, if it has one.
    fn unregister(&self, key: &mut Option<usize>) {
        if let Some(k) = key.take() {
            let removed = {
                let mut slab = self.wakers.lock();
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                slab.remove(k)
            };
            drop(removed);
        }
    }
}

/// Whether a loop is running on this thread (blocking here could stall
/// the very loop that would make progress).
fn on_loop_thread() -> bool {
    crate::task::context::with_scheduler(|_| ()).is_some()
}

/// The sending side of a [`channel`] or [`bounded`] channel: `Send + Sync +
/// Clone` (for `T: Send`), usable from any thread and any task.
///
/// Three ways to send, for the three places a sender runs:
///
/// | method | blocks? | on a full bounded channel |
/// | --- | --- | --- |
/// | [`send`](Sender::send) | never | `Err(TrySendError::Full(v))` |
/// | [`send_async`](Sender::send_async)`.await` | in a task: waits | waits for room |
/// | [`send_blocking`](Sender::send_blocking) | a plain thread: sleeps | waits for room |
///
/// On an unbounded channel all three queue at once.
///
/// (tokio calls these `try_send`, `send().await` and `blocking_send`, and
/// async-channel `try_send`, `send().await` and `send_blocking`. Here the
/// non-blocking form keeps the plain name, because on an unbounded
/// channel, the common case across threads, it is the only send needed.)
///
/// Dropping the last sender closes the channel: the receiver takes what is
/// queued, then gets `None`.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Queues `value` without blocking.
    ///
    /// `Err(TrySendError::Closed(value))` if the receiver is gone;
    /// `Err(TrySendError::Full(value))` if a bounded channel is at its
    /// capacity (never on an unbounded one). `Ok` means the value is
    /// queued: it will be received, unless the receiver is dropped first
    /// (then it is dropped, with the rest of the queue).
    ///
    /// ```
    /// let (tx, mut rx) = evloop::bounded(1);
    /// tx.send(1).unwrap();
    /// let refused = tx.send(2).unwrap_err();
    /// assert!(refused.is_full());
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// tx.send(refused.into_inner()).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(2));
    /// ```
    pub fn send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan.try_push(value)
    }

    /// Sends `value`, waiting in a task while a bounded channel is full;
    /// `Err(SendError(value))` if the receiver is gone.
    ///
    /// # Cancel safety
    ///
    /// The value is either queued (the future is then complete) or held by
    /// the future: dropping the future before it completes drops a value
    /// that was never queued, and never takes back one that was. A dropped
    /// future leaves no registration behind.
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// let (tx, mut rx) = evloop::bounded(1);
    /// lp.run_until_complete(async move {
    ///     tx.send_async("first").await.unwrap();
    ///     let second = evloop::ensure_future(async move { tx.send_async("second").await });
    ///     evloop::yield_now().await; // `second` is waiting for room
    ///     assert_eq!(rx.recv().await, Some("first"));
    ///     second.await.unwrap().unwrap();
    ///     assert_eq!(rx.recv().await, Some("second"));
    /// })
    /// .unwrap();
    /// ```
    pub fn send_async(&self, value: T) -> SendAsync<'_, T> {
        SendAsync {
            sender: self,
            value: Some(value),
            key: None,
        }
    }

    /// Sends `value` from a plain thread, blocking while a bounded channel
    /// is full; `Err(TrySendError::Closed(value))` if the receiver is gone
    /// (also when it goes while this waits).
    ///
    /// On a thread where an evloop loop is running (inside a callback or a
    /// task) it does not block: a full channel gives
    /// `Err(TrySendError::Full(value))` at once, since the receiver may be
    /// a task of that very loop, which could never run to make room (as
    /// [`LoopHandle::call_soon_threadsafe_blocking`](crate::LoopHandle::call_soon_threadsafe_blocking)).
    /// Use [`send_async`](Sender::send_async) there. A thread that owns a
    /// loop but is not running it at the moment of the call counts as a
    /// plain thread: it blocks, and waits forever if the receiver is a task
    /// of that loop.
    ///
    /// ```
    /// let (tx, mut rx) = evloop::bounded(2);
    /// let producer = std::thread::spawn(move || {
    ///     for i in 0..100 {
    ///         tx.send_blocking(i).unwrap();
    ///     }
    /// });
    /// let received: Vec<i32> = std::iter::from_fn(|| rx.recv_blocking()).collect();
    /// assert_eq!(received, (0..100).collect::<Vec<_>>());
    /// producer.join().unwrap();
    /// ```
    pub fn send_blocking(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut value = value;
        loop {
            match self.chan.try_push(value) {
                Err(TrySendError::Full(back)) => {
                    if on_loop_thread() {
                        return Err(TrySendError::Full(back));
                    }
                    let bound = self.bound();
                    bound.room.wait(|| self.chan.has_room(bound));
                    value = back;
                }
                other => return other,
            }
        }
    }

    /// Whether the receiver is gone (later sends will fail).
    pub fn is_closed(&self) -> bool {
        self.chan.receiver_gone.load(Ordering::Acquire)
    }

    /// The capacity of a bounded channel; `None` if unbounded.
    pub fn capacity(&self) -> Option<usize> {
        self.chan.bound.as_ref().map(|b| b.capacity)
    }

    /// Removes a `send_async` future's entry, if it made one.
    fn unregister(&self, key: &mut Option<usize>) {
        if key.is_some() {
            self.bound().room.unregister(key);
        }
    }

    /// The bound of a channel that said `Full`.
    fn bound(&self) -> &Bound {
        self.chan
            .bound
            .as_ref()
            .expect("only a bounded channel is ever full")
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last one: the receiver must see the disconnection. Pairs
            // with the receiver's fence, as a push does.
            fence(Ordering::SeqCst);
            self.chan.rx.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The future of [`Sender::send_async`]: resolves once the value is queued,
/// or to `Err(SendError(value))` if the receiver is gone.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct SendAsync<'a, T> {
    sender: &'a Sender<T>,
    /// The value, until it is queued or handed back.
    value: Option<T>,
    /// The entry of this future's waker in the channel's `Room`.
    key: Option<usize>,
}

// The value is only ever moved, never pinned: the future is `Unpin`
// whatever `T` is.
impl<T> Unpin for SendAsync<'_, T> {}

impl<T> SendAsync<'_, T> {
    /// Tries to queue the value; `Pending` (the value kept) if full.
    fn attempt(&mut self, value: T) -> Poll<Result<(), SendError<T>>> {
        match self.sender.chan.try_push(value) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(TrySendError::Closed(value)) => Poll::Ready(Err(SendError(value))),
            Err(TrySendError::Full(value)) => {
                self.value = Some(value);
                Poll::Pending
            }
        }
    }
}

impl<T> Future for SendAsync<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // Other threads may keep making room: a task that has sent its
        // budget's worth in this poll yields first.
        if context::poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        let value = this
            .value
            .take()
            .expect("SendAsync polled after it completed");
        if let Poll::Ready(done) = this.attempt(value) {
            context::spend_budget(cx.waker());
            this.sender.unregister(&mut this.key);
            return Poll::Ready(done);
        }
        // Full: announce this future, then try again (the handshake of
        // the module docs), so that room made meanwhile is not missed.
        let room = &this.sender.bound().room;
        room.register(&mut this.key, cx.waker());
        fence(Ordering::SeqCst);
        let value = this.value.take().expect("kept by attempt");
        let outcome = this.attempt(value);
        if outcome.is_ready() {
            room.unregister(&mut this.key);
            context::spend_budget(cx.waker());
        }
        outcome
    }
}

impl<T> Drop for SendAsync<'_, T> {
    fn drop(&mut self) {
        self.sender.unregister(&mut self.key);
    }
}

impl<T> fmt::Debug for SendAsync<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendAsync")
            .field("sent", &self.value.is_none())
            .finish()
    }
}

/// The receiving side of a [`channel`] or [`bounded`] channel: `Send`, not
/// `Clone` (one consumer).
///
/// Await values in a task with [`recv`](Receiver::recv), block for them on
/// a plain thread with [`recv_blocking`](Receiver::recv_blocking), or poll
/// with [`try_recv`](Receiver::try_recv).
///
/// Dropping the receiver closes the channel: later sends fail and give
/// their value back, queued values are dropped, and senders waiting for
/// room are released with an error.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Receiver<T> {
    /// Waits for the next value; `None` once every sender is gone and the
    /// queue is empty.
    ///
    /// Cancel-safe: a value leaves the queue only when the future returns
    /// it, so dropping the future loses nothing. A dropped future's waker
    /// stays in the channel until the next wait replaces it: the next send
    /// may wake that task once for nothing.
    ///
    /// ```
    /// let (tx, mut rx) = evloop::channel();
    /// std::thread::spawn(move || tx.send("hello").unwrap());
    /// let got = evloop::run(async move { rx.recv().await }).unwrap();
    /// assert_eq!(got, Some("hello"));
    /// ```
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv { receiver: self }
    }

    /// [`recv`](Receiver::recv) as a poll function, for hand-written
    /// futures: `Ready(Some(v))`, `Ready(None)` once every sender is gone
    /// and the queue is empty, or `Pending` with `cx`'s waker registered.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // Other threads may keep the channel full: a task that has
        // received its budget's worth in this poll yields first.
        if context::poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        let chan = &*self.chan;
        if let Some(value) = chan.pop() {
            context::spend_budget(cx.waker());
            return Poll::Ready(Some(value));
        }
        if chan.disconnected() {
            return Poll::Ready(chan.pop());
        }
        // Declare the wait, then look again (the module docs' handshake):
        // a value pushed meanwhile is found here, or its sender wakes us.
        chan.rx.register(cx.waker());
        fence(Ordering::SeqCst);
        if let Some(value) = chan.pop() {
            chan.rx.settle();
            context::spend_budget(cx.waker());
            return Poll::Ready(Some(value));
        }
        if chan.disconnected() {
            chan.rx.settle();
            return Poll::Ready(chan.pop());
        }
        Poll::Pending
    }

    /// Takes a value if one is queued, without waiting.
    ///
    /// `Err(TryRecvError::Empty)` if none is and a sender remains;
    /// `Err(TryRecvError::Disconnected)` if none is and every sender is
    /// gone.
    ///
    /// ```
    /// use evloop::TryRecvError;
    /// let (tx, mut rx) = evloop::channel();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(7).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(7));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let chan = &*self.chan;
        if let Some(value) = chan.pop() {
            return Ok(value);
        }
        if chan.disconnected() {
            // Pushes finished before the last sender went: look once more.
            return chan.pop().ok_or(TryRecvError::Disconnected);
        }
        Err(TryRecvError::Empty)
    }

    /// Blocks this (plain) thread until a value comes; `None` once every
    /// sender is gone and the queue is empty.
    ///
    /// # Panics
    ///
    /// If it would block on a thread where an evloop loop is running
    /// (inside a callback or a task): the senders may be tasks of that
    /// very loop, which could never run. Await [`recv`](Receiver::recv)
    /// there (tokio's `blocking_recv` panics likewise).
    ///
    /// ```
    /// let lp = evloop::EventLoop::new();
    /// let (tx, mut rx) = evloop::channel();
    /// let worker = std::thread::spawn(move || rx.recv_blocking());
    /// lp.run_until_complete(async move { tx.send(42).unwrap() }).unwrap();
    /// assert_eq!(worker.join().unwrap(), Some(42));
    /// ```
    pub fn recv_blocking(&mut self) -> Option<T> {
        loop {
            match self.try_recv() {
                Ok(value) => return Some(value),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {}
            }
            assert!(
                !on_loop_thread(),
                "Receiver::recv_blocking called on a thread running an evloop \
                 (it could deadlock the loop): await Receiver::recv instead"
            );
            self.chan.rx.wait(|| self.chan.has_news());
        }
    }

    /// Values queued right now (a snapshot: senders may be adding more).
    pub fn len(&self) -> usize {
        self.chan.queue.len()
    }

    /// Whether no value is queued right now (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.chan.queue.is_empty()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let chan = &*self.chan;
        chan.receiver_gone.store(true, Ordering::Relaxed);
        // Pairs with the fence after a sender's push: either this drain
        // sees its value, or the sender sees the flag and drains.
        fence(Ordering::SeqCst);
        chan.drain();
        if let Some(bound) = &chan.bound {
            // Senders waiting for room give up (`Closed`).
            bound.room.notify();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("disconnected", &self.chan.disconnected())
            .finish()
    }
}

/// The future of [`Receiver::recv`].
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct Recv<'a, T> {
    receiver: &'a mut Receiver<T>,
}

impl<T> Future for Recv<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().receiver.poll_recv(cx)
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Recv")
    }
}
