//! Cross-thread workloads: `threadsafe_*` (jobs from producer threads),
//! `xthread_rtt` (thread → loop → thread round trips), `executor_*`
//! (blocking jobs on the runtime's thread pool), `channel_from_threads_*`
//! (values from producer threads into one task through a channel).
//!
//! No thread is pinned: the threads run where the scheduler puts them (the
//! `threads` criterion bench measures pinned placements too).

use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::sync::{mpsc as std_mpsc, Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use evloop::{EventLoop, LoopHandle};
use tokio::sync::{mpsc, oneshot};

use crate::runtime;

// ---- threadsafe_* ----------------------------------------------------------

thread_local! {
    /// Jobs run so far on this (the loop's) thread.
    static COUNT: Cell<usize> = const { Cell::new(0) };
    /// The job count at which the loop stops.
    static TARGET: Cell<usize> = const { Cell::new(0) };
}

/// One job's work on the loop thread: count it; true for the last one.
fn count_job(payload: u64) -> bool {
    black_box(payload);
    COUNT.with(|c| {
        let n = c.get() + 1;
        c.set(n);
        n == TARGET.with(Cell::get)
    })
}

/// Starts `producers` threads that run `send(i)` for their share of `n`
/// jobs once the barrier is passed; times `run` from the barrier until it
/// returns (thread start-up and joining are outside the clock).
fn time_producers<S>(
    producers: usize,
    n: usize,
    make_sender: impl Fn() -> S,
    run: impl FnOnce(),
) -> Duration
where
    S: FnMut(u64) + Send + 'static,
{
    assert!(producers > 0 && n > 0);
    COUNT.with(|c| c.set(0));
    TARGET.with(|t| t.set(n));
    let barrier = Arc::new(Barrier::new(producers + 1));
    let threads: Vec<JoinHandle<()>> = (0..producers)
        .map(|p| {
            let share = (n / producers + usize::from(p < n % producers)) as u64;
            let barrier = barrier.clone();
            let mut send = make_sender();
            thread::spawn(move || {
                barrier.wait();
                for i in 0..share {
                    send(i);
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    run();
    let elapsed = start.elapsed();
    assert_eq!(COUNT.with(Cell::get), n);
    threads.into_iter().for_each(|t| t.join().unwrap());
    elapsed
}

/// `n` jobs from `producers` threads through `call_soon_threadsafe`, each a
/// closure capturing a `u64` that counts itself on the loop thread; the
/// loop runs in `run_forever` until the last job stops it.
pub fn threadsafe_evloop(producers: usize, n: usize) -> Duration {
    fn job(i: u64) {
        if count_job(i) {
            EventLoop::current().stop();
        }
    }
    let lp = runtime::evloop();
    let make_sender = || {
        let handle = lp.handle();
        move |i: u64| handle.call_soon_threadsafe(move || job(i)).unwrap()
    };
    time_producers(producers, n, make_sender, || lp.run_forever().unwrap())
}

/// tokio's equivalent: the producers send the `u64` into an unbounded
/// `mpsc` channel; the future in `block_on` receives and counts.
pub fn threadsafe_tokio(producers: usize, n: usize) -> Duration {
    let rt = runtime::tokio();
    let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
    let make_sender = || {
        let tx = tx.clone();
        move |i| tx.send(i).unwrap()
    };
    let run = || rt.block_on(async { while !count_job(rx.recv().await.unwrap()) {} });
    time_producers(producers, n, make_sender, run)
}

// ---- xthread_rtt -----------------------------------------------------------

/// Times `n` calls of `op` one by one, after `warm_up` untimed ones.
fn one_by_one(warm_up: usize, n: usize, op: impl Fn(u64) -> u64) -> Vec<Duration> {
    for i in 0..warm_up as u64 {
        assert_eq!(op(i), i + 1);
    }
    (0..n as u64)
        .map(|i| {
            let start = Instant::now();
            black_box(op(black_box(i)));
            start.elapsed()
        })
        .collect()
}

/// An evloop in `run_forever` on a thread of its own, until dropped.
struct EvloopThread {
    handle: LoopHandle,
    thread: Option<JoinHandle<()>>,
}

impl EvloopThread {
    /// With `Builder::spin_before_park(spin)` (zero: off).
    fn start_with(spin: Duration) -> EvloopThread {
        let (tx, rx) = std_mpsc::channel();
        let thread = thread::spawn(move || {
            let lp = EventLoop::builder()
                .spin_before_park(spin)
                .build()
                .expect("an event loop");
            tx.send(lp.handle()).unwrap();
            lp.run_forever().unwrap();
        });
        EvloopThread {
            handle: rx.recv().unwrap(),
            thread: Some(thread),
        }
    }

    /// `run_coroutine_threadsafe` of a future computing `x + 1`, and
    /// `result()` (which blocks this thread) for its output.
    fn round_trip(&self, x: u64) -> u64 {
        self.handle
            .run_coroutine_threadsafe(move || async move { x + 1 })
            .result()
            .unwrap()
    }
}

impl Drop for EvloopThread {
    fn drop(&mut self) {
        let _ = self
            .handle
            .call_soon_threadsafe(|| EventLoop::current().stop());
        self.thread.take().unwrap().join().unwrap();
    }
}

/// A tokio current-thread runtime in `block_on` on a thread of its own,
/// until dropped.
struct TokioThread {
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TokioThread {
    fn start() -> TokioThread {
        let rt = runtime::tokio();
        let handle = rt.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::spawn(move || {
            rt.block_on(async {
                let _ = stopped.await;
            })
        });
        TokioThread {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `Handle::spawn` of a task computing `x + 1` and sending it back on a
    /// oneshot; `blocking_recv` on this thread.
    fn round_trip(&self, x: u64) -> u64 {
        let (tx, rx) = oneshot::channel();
        drop(self.handle.spawn(async move {
            let _ = tx.send(x + 1);
        }));
        rx.blocking_recv().unwrap()
    }
}

impl Drop for TokioThread {
    fn drop(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.thread.take().unwrap().join().unwrap();
    }
}

/// `n` round trips from this thread to an evloop on another thread, timed
/// one by one (after `n / 10` untimed ones).
pub fn xthread_rtt_evloop(n: usize) -> Vec<Duration> {
    xthread_rtt_evloop_spin(n, Duration::ZERO)
}

/// [`xthread_rtt_evloop`] with the loop (and `result()`) spinning for up to
/// `spin` before sleeping (`Builder::spin_before_park`).
pub fn xthread_rtt_evloop_spin(n: usize, spin: Duration) -> Vec<Duration> {
    let lp = EvloopThread::start_with(spin);
    one_by_one(n / 10 + 1, n, |x| lp.round_trip(x))
}

/// `n` round trips from this thread to a tokio runtime on another thread.
pub fn xthread_rtt_tokio(n: usize) -> Vec<Duration> {
    let rt = TokioThread::start();
    one_by_one(n / 10 + 1, n, |x| rt.round_trip(x))
}

// ---- executor_seq / executor_concurrent ------------------------------------

/// `n` trivial `run_in_executor` jobs, one at a time, each awaited before
/// the next; after one untimed job (which starts the first worker).
pub fn executor_seq_evloop(n: usize) -> Duration {
    executor_seq_evloop_spin(n, Duration::ZERO)
}

/// [`executor_seq_evloop`] with `spin_before_park(spin)` (zero: off): the
/// workers spin before parking.
pub fn executor_seq_evloop_spin(n: usize, spin: Duration) -> Duration {
    let lp = EventLoop::builder()
        .spin_before_park(spin)
        .build()
        .expect("an event loop");
    let elapsed = lp
        .run_until_complete(async move {
            let lp = EventLoop::current();
            lp.run_in_executor(|| 0u64).await.unwrap();
            let start = Instant::now();
            for i in 0..n as u64 {
                black_box(lp.run_in_executor(move || i + 1).await.unwrap());
            }
            start.elapsed()
        })
        .unwrap();
    lp.shutdown_default_executor();
    elapsed
}

/// `n` trivial `spawn_blocking` jobs, one at a time.
pub fn executor_seq_tokio(n: usize) -> Duration {
    runtime::tokio().block_on(async {
        tokio::task::spawn_blocking(|| 0u64).await.unwrap();
        let start = Instant::now();
        for i in 0..n as u64 {
            black_box(tokio::task::spawn_blocking(move || i + 1).await.unwrap());
        }
        start.elapsed()
    })
    // Dropping the runtime joins its blocking threads.
}

/// `n` trivial `run_in_executor` jobs submitted at once, then all awaited;
/// after an untimed round of the same (which starts the workers). evloop's
/// pool has its default size, [`evloop::ThreadPool::default_size`].
pub fn executor_concurrent_evloop(n: usize) -> Duration {
    async fn round(n: usize) -> Duration {
        let lp = EventLoop::current();
        let start = Instant::now();
        let jobs: Vec<_> = (0..n as u64)
            .map(|i| lp.run_in_executor(move || i + 1))
            .collect();
        for job in jobs {
            black_box(job.await.unwrap());
        }
        start.elapsed()
    }
    let lp = runtime::evloop();
    let elapsed = lp
        .run_until_complete(async move {
            round(n).await;
            round(n).await
        })
        .unwrap();
    lp.shutdown_default_executor();
    elapsed
}

/// [`executor_concurrent_evloop`] with `spawn_blocking`, on a runtime whose
/// blocking pool has at most `max_threads` threads (`None`: tokio's
/// default, 512).
pub fn executor_concurrent_tokio(n: usize, max_threads: Option<usize>) -> Duration {
    async fn round(n: usize) -> Duration {
        let start = Instant::now();
        let jobs: Vec<_> = (0..n as u64)
            .map(|i| tokio::task::spawn_blocking(move || i + 1))
            .collect();
        for job in jobs {
            black_box(job.await.unwrap());
        }
        start.elapsed()
    }
    let mut builder = runtime::tokio_builder();
    if let Some(max) = max_threads {
        builder.max_blocking_threads(max);
    }
    let rt = builder.build().expect("tokio runtime");
    rt.block_on(async move {
        round(n).await;
        round(n).await
    })
}

// ---- channel_from_threads_* ------------------------------------------------

/// Which channel a `channel_from_threads_*` measurement sends through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chan {
    /// The runtime's own: `evloop::channel` on evloop,
    /// `tokio::sync::mpsc::unbounded_channel` on tokio.
    Native,
    /// `async_channel::unbounded`, on either runtime.
    AsyncChannel,
}

/// Where tokio's side receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokioRecv {
    /// In the future given to `Runtime::block_on`.
    BlockOn,
    /// In a `spawn_local` task of a `LocalSet`.
    LocalTask,
}

/// `n` `u64`s from `producers` threads through an unbounded channel into
/// one task on an evloop (`run_until_complete`): from the barrier to the
/// last value received.
pub fn channel_evloop(producers: usize, n: usize, chan: Chan) -> Duration {
    let lp = runtime::evloop();
    match chan {
        Chan::Native => {
            let (tx, mut rx) = evloop::channel::<u64>();
            let make_sender = || {
                let tx = tx.clone();
                move |i| tx.send(i).unwrap()
            };
            let task = async move { while !count_job(rx.recv().await.unwrap()) {} };
            time_producers(producers, n, make_sender, || {
                lp.run_until_complete(task).unwrap()
            })
        }
        Chan::AsyncChannel => {
            let (tx, rx) = async_channel::unbounded::<u64>();
            let make_sender = || {
                let tx = tx.clone();
                move |i| tx.try_send(i).unwrap()
            };
            let task = async move { while !count_job(rx.recv().await.unwrap()) {} };
            time_producers(producers, n, make_sender, || {
                lp.run_until_complete(task).unwrap()
            })
        }
    }
}

/// Runs `task` on `rt` where `recv` says.
fn tokio_receive(
    rt: &tokio::runtime::Runtime,
    recv: TokioRecv,
    task: impl Future<Output = ()> + 'static,
) {
    match recv {
        TokioRecv::BlockOn => rt.block_on(task),
        TokioRecv::LocalTask => {
            let local = tokio::task::LocalSet::new();
            local.block_on(
                rt,
                async move { tokio::task::spawn_local(task).await.unwrap() },
            )
        }
    }
}

/// tokio's side: the same through `mpsc::unbounded_channel` (or
/// async-channel), received as `recv` says on a current-thread runtime.
pub fn channel_tokio(producers: usize, n: usize, chan: Chan, recv: TokioRecv) -> Duration {
    let rt = runtime::tokio();
    match chan {
        Chan::Native => {
            let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
            let make_sender = || {
                let tx = tx.clone();
                move |i| tx.send(i).unwrap()
            };
            let task = async move { while !count_job(rx.recv().await.unwrap()) {} };
            time_producers(producers, n, make_sender, || tokio_receive(&rt, recv, task))
        }
        Chan::AsyncChannel => {
            let (tx, rx) = async_channel::unbounded::<u64>();
            let make_sender = || {
                let tx = tx.clone();
                move |i| tx.try_send(i).unwrap()
            };
            let task = async move { while !count_job(rx.recv().await.unwrap()) {} };
            time_producers(producers, n, make_sender, || tokio_receive(&rt, recv, task))
        }
    }
}
