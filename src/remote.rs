//! The cross-thread side of the loop: the remote queue, the sleep flag that
//! decides when a sender must wake the loop, the close state, and the
//! optional capacity. Generic over the job type: what a job *is* (a
//! threadsafe call, a task woken from another thread) is the task layer's
//! business (`task::RemoteJob`); the public face is
//! [`LoopHandle`](crate::LoopHandle).
//!
//! Everything here is `Send + Sync`; the loop-thread side lives in `core`.
//!
//! # The sleep flag (why no wake-up is ever lost)
//!
//! `parked` is true while the loop might be blocked in `epoll_wait`, or is
//! not inside `run_once` at all (a host drives it and watches its fd). A
//! sender pushes its job, issues a `SeqCst` fence, then flips `parked` to
//! false and writes the eventfd only if it was true. The loop stores `parked
//! = true`, issues a `SeqCst` fence, then checks the queue before blocking.
//! The two fences order the store-then-load pairs, so at least one side sees
//! the other: either the loop sees the job (and polls with a zero timeout) or
//! the sender sees `parked` (and writes the eventfd). A burst of sends while
//! the loop runs costs one atomic load each and no syscall.
//!
//! # Closing
//!
//! `state` counts senders inside `push` and holds a `CLOSED` bit. `close`
//! sets the bit, then waits for the in-flight pushes (a few instructions
//! each) to leave, so after it returns the queue only shrinks: every job that
//! `push` accepted is either run or dropped by the loop's teardown, on the
//! loop thread, and every later job is refused with [`LoopClosed`] and
//! dropped on the sending thread.
//!
//! # Capacity (opt-in back-pressure)
//!
//! Unbounded by default, as asyncio's `call_soon_threadsafe`. With
//! [`Builder::threadsafe_capacity`](crate::Builder::threadsafe_capacity)
//! the queued threadsafe *calls* are counted (cross-thread task wakes are
//! not: refusing one would lose it): `try_call_soon_threadsafe` refuses a
//! call while the count is at the capacity, `call_soon_threadsafe_blocking`
//! waits for room, and plain `call_soon_threadsafe` still always queues.
//! A blocked producer and the loop use the same store-then-check handshake
//! as the sleep flag: the producer announces itself in `blocked`, then
//! re-checks the count under the lock before it waits; the loop lowers the
//! count, then takes the lock to notify only if someone announced itself.
//! Either the producer sees the room, or the loop sees the producer.

use std::thread::ThreadId;
use std::time::Duration;

use crate::sync::shim::{fence, AtomicBool, AtomicUsize, Condvar, Mutex, Ordering, Queue, Signal};

/// What the queue needs to know of a job: whether it is a threadsafe call
/// (counted against the capacity) or not (a task wake, never refused for
/// room: refusing it would lose the wake).
pub(crate) trait Job {
    fn is_call(&self) -> bool;
}

/// Why a call was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The queue is at its capacity.
    Full,
    /// The loop is closed.
    Closed,
}

const CLOSED: usize = 1;
const SENDER: usize = 2;

/// The count and the parking place of a bounded remote queue.
struct Capacity {
    /// The most threadsafe calls that may wait in the queue.
    limit: usize,
    /// Threadsafe calls in the queue now.
    queued: AtomicUsize,
    /// Producers waiting for room in `call_soon_threadsafe_blocking`.
    blocked: AtomicUsize,
    lock: Mutex<()>,
    room: Condvar,
}

impl Capacity {
    fn new(limit: usize) -> Capacity {
        Capacity {
            limit,
            queued: AtomicUsize::new(0),
            blocked: AtomicUsize::new(0),
            lock: Mutex::new(()),
            room: Condvar::new(),
        }
    }

    /// Takes a place for one call, unless the queue is full.
    ///
    /// A compare-and-swap loop rather than an add undone on refusal: the
    /// count must never rise above the limit even for a moment, or a
    /// blocked producer re-checking in that moment would go back to sleep
    /// after the loop's `notify` already ran, and the refused caller's undo
    /// would wake nobody (a lost wake-up; the loom model
    /// `loom_a_refused_try_does_not_strand_a_blocked_producer`).
    fn reserve(&self) -> bool {
        let mut queued = self.queued.load(Ordering::SeqCst);
        while queued < self.limit {
            match self.queued.compare_exchange_weak(
                queued,
                queued + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(now) => queued = now,
            }
        }
        false
    }

    /// Blocks until the queue may have room, or `closed()` holds.
    fn wait_for_room(&self, closed: impl Fn() -> bool) {
        let mut guard = self.lock.lock();
        self.blocked.fetch_add(1, Ordering::SeqCst);
        // Pairs with the fence in `notify`: store-then-load on both sides
        // (see the module docs).
        fence(Ordering::SeqCst);
        if self.queued.load(Ordering::SeqCst) >= self.limit && !closed() {
            self.room.wait(&mut guard);
        }
        self.blocked.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes the blocked producers, if any (after the count went down, or
    /// at close).
    fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.blocked.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock();
            self.room.notify_all();
        }
    }
}

/// State shared between the loop and every other thread.
pub(crate) struct Shared<J> {
    queue: Queue<J>,
    waker: Signal,
    parked: AtomicBool,
    /// `CLOSED` bit plus `SENDER` times the number of pushes in flight.
    state: AtomicUsize,
    /// The thread the loop lives on (an `EventLoop` is `!Send`).
    pub(crate) loop_thread: ThreadId,
    /// How long to spin before sleeping (`Builder::spin_before_park`).
    pub(crate) spin: Duration,
    /// `Builder::threadsafe_capacity` (`None`: unbounded).
    capacity: Option<Capacity>,
    /// References that tasks of the loop hold to this queue, plus those
    /// the loop keeps in stock to hand out (`task::owner`). Together they
    /// hold one strong count of the `Arc` this lives in.
    task_refs: AtomicUsize,
}

impl<J: Job> Shared<J> {
    pub(crate) fn new(waker: Signal, spin: Duration, capacity: Option<usize>) -> Shared<J> {
        Shared {
            queue: Queue::new(),
            waker,
            // Not inside `run_once` yet: counts as asleep.
            parked: AtomicBool::new(true),
            state: AtomicUsize::new(0),
            loop_thread: std::thread::current().id(),
            spin,
            capacity: capacity.map(Capacity::new),
            task_refs: AtomicUsize::new(0),
        }
    }

    /// Adds `n` task references (the caller holds one already, or is
    /// the loop taking its own first).
    pub(crate) fn add_task_refs(&self, n: usize) {
        self.task_refs.fetch_add(n, Ordering::Relaxed);
    }

    /// Releases `n` task references; whether they were the last. Then no
    /// task of the loop is left anywhere, nor the loop itself.
    pub(crate) fn release_task_refs(&self, n: usize) -> bool {
        let before = self.task_refs.fetch_sub(n, Ordering::Release);
        debug_assert!(before >= n, "more task references released than taken");
        if before != n {
            return false;
        }
        // Pairs with the other releases' `Release`, as `Arc` does: their
        // holders' last uses happen before the caller frees.
        self.task_refs.load(Ordering::Acquire);
        true
    }

    /// Queues a threadsafe call; counted if the queue is bounded, but
    /// never refused for room (plain `call_soon_threadsafe`, and the
    /// loop's own cross-thread calls).
    pub(crate) fn push_call(&self, job: J) -> Result<(), J> {
        if let Some(cap) = &self.capacity {
            cap.queued.fetch_add(1, Ordering::SeqCst);
        }
        self.push(job).inspect_err(|_| self.call_taken())
    }

    /// Takes a place for one threadsafe call, unless the loop is closed or
    /// the queue is at its capacity; [`push_reserved`](Shared::push_reserved)
    /// then queues it. The caller builds its job only after this, so a
    /// refused one is handed back untouched.
    pub(crate) fn reserve_call(&self) -> Result<(), Refused> {
        if self.is_closed() {
            return Err(Refused::Closed);
        }
        match &self.capacity {
            Some(cap) if !cap.reserve() => Err(Refused::Full),
            _ => Ok(()),
        }
    }

    /// Queues a call whose place [`reserve_call`](Shared::reserve_call)
    /// took. Refused only if the loop closed meanwhile (the job comes back).
    pub(crate) fn push_reserved(&self, job: J) -> Result<(), J> {
        self.push(job).inspect_err(|_| self.call_taken())
    }

    /// Blocks until a bounded queue may have room, or the loop closed.
    /// Returns at once on an unbounded queue.
    pub(crate) fn wait_for_room(&self) {
        if let Some(cap) = &self.capacity {
            cap.wait_for_room(|| self.is_closed());
        }
    }

    /// A queued call left the queue (run, or dropped by teardown).
    fn call_taken(&self) {
        if let Some(cap) = &self.capacity {
            cap.queued.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Loop side, after taking jobs: producers blocked for room may go on.
    pub(crate) fn room_made(&self) {
        if let Some(cap) = &self.capacity {
            cap.notify();
        }
    }

    /// Queues `job` and wakes the loop if it may be asleep. Gives the job
    /// back if the loop is closed.
    pub(crate) fn push(&self, job: J) -> Result<(), J> {
        if self.state.fetch_add(SENDER, Ordering::Acquire) & CLOSED != 0 {
            self.state.fetch_sub(SENDER, Ordering::Release);
            return Err(job);
        }
        self.queue.push(job);
        self.state.fetch_sub(SENDER, Ordering::Release);
        fence(Ordering::SeqCst);
        // A plain load first: while the loop is awake (the common case under
        // load) a send then costs no read-modify-write on this shared line.
        // The exchange decides who writes the eventfd when it may be asleep.
        if self.parked.load(Ordering::Relaxed) && self.take_parked() {
            // An eventfd write can only fail if the counter is saturated,
            // and then the loop is already readable: nothing is lost.
            let _ = self.waker.wake();
        }
        Ok(())
    }

    /// Loop side, before blocking: declare the loop parked, then report
    /// whether work arrived meanwhile (then it must not block).
    pub(crate) fn park(&self) -> bool {
        self.parked.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        self.queue.is_empty()
    }

    /// Clears `parked` if it is set; whether it was (then the caller
    /// writes the eventfd). A compare-exchange rather than a swap: the
    /// same outcome on hardware, and the form loom models correctly (its
    /// swap can let another thread's store fall between its read and its
    /// write, tokio-rs/loom#254, which would fail the models falsely).
    #[inline]
    fn take_parked(&self) -> bool {
        self.parked
            .compare_exchange(true, false, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Loop side, after polling or on entering `run_once`.
    pub(crate) fn unpark(&self) {
        self.parked.store(false, Ordering::Relaxed);
    }

    /// Loop side, on leaving `run_once`: the loop counts as asleep again. If
    /// work is already queued, make the poll fd readable so that a host
    /// watching it comes back.
    pub(crate) fn leave(&self) {
        if !self.park() && self.take_parked() {
            let _ = self.waker.wake();
        }
    }

    /// Loop side: the next job, if any.
    pub(crate) fn pop(&self) -> Option<J> {
        let job = self.queue.pop();
        if job.as_ref().is_some_and(J::is_call) {
            self.call_taken();
        }
        job
    }

    /// Whether any job is queued (a snapshot).
    pub(crate) fn has_jobs(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Jobs queued right now (a snapshot; senders may be adding more).
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Refuses new jobs and waits for pushes in flight to finish.
    pub(crate) fn close(&self) {
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        while self.state.load(Ordering::Acquire) != CLOSED {
            crate::sync::shim::spin();
        }
        // Producers blocked for room give up now (`Refused::Closed`).
        if let Some(cap) = &self.capacity {
            let _guard = cap.lock.lock();
            cap.room.notify_all();
        }
    }
}

/// Model checks of the sleep-flag and close protocols, on the production
/// code above: `RUSTFLAGS="--cfg evloop_loom" cargo test --lib --release loom_`.
#[cfg(all(test, evloop_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// A threadsafe call, as far as the queue can tell.
    struct Call;

    impl Job for Call {
        fn is_call(&self) -> bool {
            true
        }
    }

    fn job() -> Call {
        Call
    }

    fn shared() -> Shared<Call> {
        let s = Shared::new(Signal::default(), std::time::Duration::ZERO, None);
        s.unpark(); // inside run_once
        s
    }

    /// `n` threads, each pushing one job.
    fn spawn_senders(s: &Arc<Shared<Call>>, n: usize) -> Vec<thread::JoinHandle<()>> {
        (0..n)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || assert!(s.push(job()).is_ok()))
            })
            .collect()
    }

    /// The loop decides to block only if a sender will wake it: no lost
    /// wake-up, whatever the interleaving.
    #[test]
    fn loom_no_lost_wakeup() {
        loom::model(|| {
            let s = Arc::new(shared());
            let sender = {
                let s = s.clone();
                thread::spawn(move || assert!(s.push(job()).is_ok()))
            };
            let would_block = s.park();
            sender.join().unwrap();
            if would_block {
                assert_eq!(s.waker.count(), 1, "the loop blocked and nobody woke it");
            }
            assert_eq!(s.len(), 1);
        });
    }

    /// Two senders while the loop parks: at least one wake if it blocked,
    /// never more than one per park (the flag coalesces).
    #[test]
    fn loom_wakes_coalesce() {
        loom::model(|| {
            let s = Arc::new(shared());
            let senders = spawn_senders(&s, 2);
            let would_block = s.park();
            senders.into_iter().for_each(|t| t.join().unwrap());
            let wakes = s.waker.count();
            if would_block {
                assert!(wakes >= 1, "blocked with jobs queued and no wake");
            }
            assert!(wakes <= 1, "one park, one eventfd write at most");
        });
    }

    /// The loop sleeps twice (park, wake up, run what came, park again)
    /// while two senders push: if it decides to block the second time with
    /// a job queued, that job's sender woke it after the second park. The
    /// plain stores of `park` and `unpark` must not hide a job pushed
    /// between the drain and the second park (an `unpark` overwriting a
    /// sender's decision, or a sender reading the first park's flag).
    #[test]
    fn loom_a_second_park_after_a_drain_is_woken_too() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = builder.preemption_bound.or(Some(3));
        builder.check(|| {
            let s = Arc::new(shared());
            let senders = spawn_senders(&s, 2);
            let _ = s.park(); // first sleep, however it ends
            s.unpark();
            while s.pop().is_some() {}
            let wakes_before = s.waker.count();
            let would_block = s.park();
            senders.into_iter().for_each(|t| t.join().unwrap());
            if would_block && s.len() > 0 {
                assert!(
                    s.waker.count() > wakes_before,
                    "blocked the second time with a job queued and no wake since"
                );
            }
        });
    }

    /// A producer blocked for room is always released: the loop takes a
    /// job and notifies while the producer announces itself and re-checks
    /// (a lost notification would leave it waiting forever, which loom
    /// reports as a deadlock).
    #[test]
    fn loom_a_blocked_producer_is_never_left_waiting() {
        loom::model(|| {
            let s = Arc::new(Shared::<Call>::new(
                Signal::default(),
                std::time::Duration::ZERO,
                Some(1),
            ));
            s.unpark();
            assert!(s.push_call(job()).is_ok()); // full now
            let producer = {
                let s = s.clone();
                thread::spawn(move || loop {
                    match s.reserve_call() {
                        Ok(()) => return assert!(s.push_reserved(job()).is_ok()),
                        Err(Refused::Full) => s.wait_for_room(),
                        Err(Refused::Closed) => panic!("not closed"),
                    }
                })
            };
            assert!(s.pop().is_some());
            s.room_made();
            producer.join().unwrap();
            assert_eq!(s.len(), 1);
        });
    }

    /// A `try_call_soon_threadsafe` refused for want of room must not
    /// strand a producer blocked for room: the count never rises above the
    /// limit, so the blocked producer's re-check cannot see a full queue
    /// that only the refused caller's own attempt made full.
    ///
    /// Bounded to 3 preemptions per execution (unbounded it runs for ten
    /// minutes); the stranding it found needs two.
    #[test]
    fn loom_a_refused_try_does_not_strand_a_blocked_producer() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = builder.preemption_bound.or(Some(3));
        builder.check(|| {
            let s = Arc::new(Shared::<Call>::new(
                Signal::default(),
                std::time::Duration::ZERO,
                Some(1),
            ));
            s.unpark();
            assert!(s.push_call(job()).is_ok()); // the queue is full
            let producer = {
                let s = s.clone();
                // call_soon_threadsafe_blocking: retries until it gets in.
                thread::spawn(move || loop {
                    match s.reserve_call() {
                        Ok(()) => return assert!(s.push_reserved(job()).is_ok()),
                        Err(Refused::Full) => s.wait_for_room(),
                        Err(Refused::Closed) => panic!("the queue is not closed"),
                    }
                })
            };
            let trier = {
                let s = s.clone();
                // try_call_soon_threadsafe: one attempt.
                thread::spawn(move || {
                    if s.reserve_call().is_ok() {
                        assert!(s.push_reserved(job()).is_ok());
                    }
                })
            };
            assert!(s.pop().is_some());
            s.room_made();
            trier.join().unwrap();
            while s.pop().is_some() {
                s.room_made();
            }
            producer.join().unwrap();
        });
    }

    /// A push racing with close is either refused, or its job is in the
    /// queue when close returns (so teardown drops it): never lost.
    #[test]
    fn loom_push_racing_close() {
        loom::model(|| {
            let s = Arc::new(shared());
            let sender = {
                let s = s.clone();
                thread::spawn(move || s.push(job()).is_ok())
            };
            s.close();
            let queued_at_close = s.len();
            let accepted = sender.join().unwrap();
            assert_eq!(queued_at_close, usize::from(accepted));
            assert!(s.push(job()).is_err(), "refused after close");
        });
    }
}
