//! The [`Executor`] trait and the built-in [`ThreadPool`]: a leaf that
//! knows nothing of the loop (it runs boxed jobs on worker threads).
//!
//! Jobs go into a lock-free `SegQueue`; the submit path takes no lock unless
//! a worker is parked or one is to be started. Workers are started one at a
//! time, on submit, when none is idle and fewer than the maximum exist (as
//! Python's `ThreadPoolExecutor` grows), so a loop that never submits spawns
//! nothing. An idle worker watches the queue for 20 µs (`WORKER_SPIN`; longer
//! with `Builder::spin_before_park`), then parks on a `parking_lot` condition
//! variable: the jobs of a burst find it awake, without a futex wake each
//! (`executor_concurrent` went from 1.9 µs to 0.25–0.45 µs per job).
//!
//! The park protocol has the same shape as the loop's sleep flag: a worker
//! registers as idle under the lock, then re-checks the queue before it
//! waits; a submitter pushes, fences, and takes the lock to notify only if
//! it sees an idle worker. One side always sees the other, so no job waits
//! while a worker sleeps.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_queue::SegQueue;
use parking_lot::{Condvar, Mutex};

/// A job for an executor: run it once, on some thread.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// Something that runs blocking jobs: asyncio's `concurrent.futures.Executor`.
///
/// Implement it to use your own pool with
/// [`EventLoop::run_in_executor_on`](crate::EventLoop::run_in_executor_on).
/// An executor that drops a job without running it makes the awaiting
/// future resolve to a cancelled [`TaskError`](crate::TaskError), never hang.
///
/// ```
/// struct NewThreadEach;
/// impl evloop::Executor for NewThreadEach {
///     fn execute(&self, job: evloop::Job) {
///         std::thread::spawn(job);
///     }
/// }
/// let lp = evloop::EventLoop::new();
/// let fut = lp.run_in_executor_on(&NewThreadEach, || 6 * 7);
/// assert_eq!(lp.run_until_complete(fut).unwrap().unwrap(), 42);
/// ```
pub trait Executor {
    /// Runs `job` (now or later, on any thread).
    fn execute(&self, job: Job);
}

/// evloop's built-in pool of worker threads, named `evloop-executor-N`.
///
/// Each loop has one, started on the first `run_in_executor`, with
/// `min(32, cores + 4)` threads at most (asyncio's default), or what
/// [`Builder::executor_threads`](crate::Builder::executor_threads) says.
/// A panicking job is caught: its awaiter sees the panic, and the worker
/// thread lives on.
pub struct ThreadPool {
    shared: Arc<PoolShared>,
    spin: Duration,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// `threads.len()`, readable without the lock (the submit path).
    workers: AtomicUsize,
    max_threads: usize,
}

/// A queued unit of work.
enum Work {
    /// A job from [`Executor::execute`].
    Plain(Job),
    /// A `run_in_executor` job: computes, and returns the delivery of its
    /// result, which the worker runs only after counting the job done — so
    /// the awaiting task never sees the result while the pool still counts
    /// this worker busy, and a sequential caller never makes it grow.
    Deliver(Compute),
}

/// A job that computes, then returns the job that delivers its result.
pub(crate) type Compute = Box<dyn FnOnce() -> Job + Send>;

struct PoolShared {
    jobs: SegQueue<Work>,
    /// Workers parked (or about to park) on `wake`.
    idle: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
    shutdown: AtomicBool,
    /// Jobs submitted and not yet finished (queued or running).
    in_flight: AtomicUsize,
    /// The high-water mark of `in_flight`.
    most_in_flight: AtomicUsize,
    /// For `shutdown`: signalled when `in_flight` drops to zero.
    drained: Condvar,
}

impl ThreadPool {
    /// A pool of up to `max_threads` threads (at least 1), started lazily.
    pub fn new(max_threads: usize) -> ThreadPool {
        ThreadPool::with_spin(max_threads, Duration::ZERO)
    }

    /// A pool whose idle workers spin for up to `spin`, watching for a job,
    /// before they park (see
    /// [`Builder::spin_before_park`](crate::Builder::spin_before_park)).
    pub fn with_spin(max_threads: usize, spin: Duration) -> ThreadPool {
        ThreadPool {
            spin,
            shared: Arc::new(PoolShared {
                jobs: SegQueue::new(),
                idle: AtomicUsize::new(0),
                lock: Mutex::new(()),
                wake: Condvar::new(),
                shutdown: AtomicBool::new(false),
                in_flight: AtomicUsize::new(0),
                most_in_flight: AtomicUsize::new(0),
                drained: Condvar::new(),
            }),
            threads: Mutex::new(Vec::new()),
            workers: AtomicUsize::new(0),
            max_threads: max_threads.max(1),
        }
    }

    /// asyncio's default size: `min(32, cores + 4)`.
    pub fn default_size() -> usize {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        (cores + 4).min(32)
    }

    /// How many worker threads exist now.
    pub fn thread_count(&self) -> usize {
        self.threads.lock().len()
    }

    /// The most jobs this pool had at once, queued or running.
    ///
    /// ```
    /// let pool = evloop::ThreadPool::new(1);
    /// assert_eq!(pool.most_in_flight(), 0);
    /// ```
    pub fn most_in_flight(&self) -> usize {
        self.shared.most_in_flight.load(Ordering::Relaxed)
    }

    /// The most threads this pool starts.
    pub fn max_threads(&self) -> usize {
        self.max_threads
    }

    /// Waits until every job submitted so far has finished, then stops the
    /// workers and joins them. Jobs submitted afterwards start new workers.
    pub fn shutdown(&self) {
        let s = &self.shared;
        let mut guard = s.lock.lock();
        while s.in_flight.load(Ordering::Acquire) != 0 {
            s.drained.wait(&mut guard);
        }
        s.shutdown.store(true, Ordering::Release);
        s.wake.notify_all();
        drop(guard);
        let threads = {
            let mut threads = self.threads.lock();
            self.workers.store(0, Ordering::Relaxed);
            std::mem::take(&mut *threads)
        };
        for t in threads {
            let _ = t.join();
        }
        s.shutdown.store(false, Ordering::Release);
    }

    /// Starts a worker if there are more unfinished jobs than workers.
    fn spawn_worker_if_needed(&self) {
        // Without the lock first: in a burst of jobs with every worker busy
        // and the pool full, the common case, no lock is taken.
        let workers = self.workers.load(Ordering::Relaxed);
        if workers >= self.max_threads || self.shared.in_flight.load(Ordering::Acquire) <= workers {
            return;
        }
        let mut threads = self.threads.lock();
        if threads.len() >= self.max_threads
            || self.shared.in_flight.load(Ordering::Acquire) <= threads.len()
        {
            return;
        }
        let shared = self.shared.clone();
        let spin = self.spin;
        let name = format!("evloop-executor-{}", threads.len());
        match std::thread::Builder::new()
            .name(name)
            .spawn(move || worker(&shared, spin))
        {
            Ok(handle) => {
                threads.push(handle);
                self.workers.store(threads.len(), Ordering::Relaxed);
            }
            // Out of threads: the workers that exist will get to the job.
            // With none at all, run it here rather than lose it.
            Err(_) if threads.is_empty() => {
                drop(threads);
                while let Some(work) = self.shared.jobs.pop() {
                    run_work(&self.shared, work);
                }
            }
            Err(_) => {}
        }
    }
}

impl ThreadPool {
    /// Queues `work`: a lock-free push; a lock only to wake a parked worker.
    fn submit(&self, work: Work) {
        let s = &self.shared;
        let n = s.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        // A plain load first: the read-modify-write only when the mark moves.
        if n > s.most_in_flight.load(Ordering::Relaxed) {
            s.most_in_flight.fetch_max(n, Ordering::Relaxed);
        }
        s.jobs.push(work);
        fence(Ordering::SeqCst);
        if s.idle.load(Ordering::SeqCst) != 0 {
            let _guard = s.lock.lock();
            s.wake.notify_one();
        } else {
            self.spawn_worker_if_needed();
        }
    }

    /// Runs `compute` on a worker, counts the job done, then runs the job
    /// `compute` returned (the delivery of a `run_in_executor` result).
    pub(crate) fn submit_then_deliver(&self, compute: Compute) {
        self.submit(Work::Deliver(compute));
    }
}

impl Executor for ThreadPool {
    fn execute(&self, job: Job) {
        self.submit(Work::Plain(job));
    }
}

impl Drop for ThreadPool {
    /// Does not wait (asyncio's `shutdown(wait=False)`): queued and running
    /// jobs finish on their threads, then the workers exit.
    fn drop(&mut self) {
        let s = &self.shared;
        let _guard = s.lock.lock();
        s.shutdown.store(true, Ordering::Release);
        s.wake.notify_all();
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("threads", &self.thread_count())
            .field("max_threads", &self.max_threads)
            .finish()
    }
}

fn worker(s: &PoolShared, spin: Duration) {
    loop {
        if let Some(work) = s.jobs.pop() {
            run_work(s, work);
            continue;
        }
        if spin_for_work(s, spin) {
            continue;
        }
        let mut guard = s.lock.lock();
        s.idle.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        while s.jobs.is_empty() && !s.shutdown.load(Ordering::Acquire) {
            s.wake.wait(&mut guard);
        }
        s.idle.fetch_sub(1, Ordering::SeqCst);
        if s.jobs.is_empty() && s.shutdown.load(Ordering::Acquire) {
            return;
        }
    }
}

/// How long an idle worker watches the queue before it parks, even
/// without `spin_before_park`: a burst of jobs from the loop then finds
/// the workers awake instead of paying a futex wake per job.
const WORKER_SPIN: Duration = Duration::from_micros(20);

/// Watches the queue for up to `spin` before the worker parks; `true` if
/// a job came (taken without a futex wake).
fn spin_for_work(s: &PoolShared, spin: Duration) -> bool {
    crate::sync::spin::spin_until(spin.max(WORKER_SPIN), || !s.jobs.is_empty())
}

fn run_work(s: &PoolShared, work: Work) {
    match work {
        Work::Plain(job) => {
            // A raw job may panic: the worker survives it (and a payload
            // that panics on drop), so the job is always counted done.
            if let Err(payload) = catch_unwind(AssertUnwindSafe(job)) {
                crate::exception::drop_payload(payload);
            }
            job_done(s);
        }
        Work::Deliver(compute) => {
            let deliver = compute(); // catches the job's panic itself
            job_done(s);
            // Delivering runs user code: the awaiter's waker, or the
            // result's `Drop` if nobody awaits it any more. Neither may kill
            // the worker (a pool at its size limit would start no other).
            if let Err(payload) = catch_unwind(AssertUnwindSafe(deliver)) {
                crate::exception::drop_payload(payload);
            }
        }
    }
}

fn job_done(s: &PoolShared) {
    if s.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
        let _guard = s.lock.lock();
        s.drained.notify_all();
    }
}
