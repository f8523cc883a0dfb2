//! Pieces shared by the `threads` and `syscalls` bench targets: a loop or a
//! runtime on a thread of its own, and one round trip to it.

use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::sync::{mpsc as std_mpsc, Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use evloop::{EventLoop, LoopHandle};
use tokio::sync::{mpsc, oneshot};

/// Where the threads of a cross-thread workload run.
///
/// On this kind of machine (a 2-vCPU VM) where the two sides of a round
/// trip sit decides its cost more than either runtime does: waking a thread
/// on the other, idle vCPU costs ~30 µs, on the same one ~4 µs. Left to
/// the scheduler, a run lands in either mode for its whole length, so
/// latency workloads are measured with their threads pinned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// No pinning: wherever the scheduler puts the threads.
    Free,
    /// Every thread on CPU 0.
    OneCpu,
    /// The loop / runtime thread on CPU 0; the other side (the thread that
    /// sends, the executor's workers) on CPU 1.
    TwoCpus,
}

impl Placement {
    /// Pins the calling thread where the loop / runtime thread goes.
    pub fn pin_loop(self) {
        match self {
            Placement::Free => {}
            Placement::OneCpu | Placement::TwoCpus => pin_current_thread(0),
        }
    }

    /// Pins the calling thread where the other side goes.
    pub fn pin_other(self) {
        match self {
            Placement::Free => {}
            Placement::OneCpu => pin_current_thread(0),
            Placement::TwoCpus => pin_current_thread(1),
        }
    }

    /// The suffix of the group names (`xthread_rtt_2cpu`).
    #[allow(dead_code)] // used by one of the two targets only
    pub fn suffix(self) -> &'static str {
        match self {
            Placement::Free => "",
            Placement::OneCpu => "_1cpu",
            Placement::TwoCpus => "_2cpu",
        }
    }

    /// Parses `free`, `1cpu` or `2cpu`.
    #[allow(dead_code)] // used by one of the two targets only
    pub fn parse(s: &str) -> Option<Placement> {
        match s {
            "free" => Some(Placement::Free),
            "1cpu" => Some(Placement::OneCpu),
            "2cpu" => Some(Placement::TwoCpus),
            _ => None,
        }
    }
}

/// Restricts the calling thread (and the threads it starts later) to `cpu`.
fn pin_current_thread(cpu: usize) {
    // SAFETY: `cpu_set_t` is plain data (all zeroes is the empty set);
    // `CPU_SET` and `sched_setaffinity` only read and write the set we pass.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    assert_eq!(
        rc,
        0,
        "sched_setaffinity(CPU {cpu}): {}",
        std::io::Error::last_os_error()
    );
}

/// Runs `f` on a new thread and returns its result.
pub fn on_new_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    thread::scope(|s| s.spawn(f).join().unwrap())
}

/// A tokio current-thread runtime: `io` = `enable_all()` (what
/// `#[tokio::main(flavor = "current_thread")]` builds), else
/// `enable_time()` only (no I/O driver, as in the `core` bench). Its
/// blocking-pool threads pin themselves to the other side of `placement`.
pub fn tokio_runtime(io: bool, placement: Placement) -> tokio::runtime::Runtime {
    let mut b = tokio::runtime::Builder::new_current_thread();
    if io {
        b.enable_all();
    } else {
        b.enable_time();
    }
    if placement != Placement::Free {
        b.on_thread_start(move || placement.pin_other());
    }
    b.build().expect("tokio runtime")
}

/// Round trips `round_trip(0..n)` on a new thread pinned to the other side
/// of `placement`; returns the time they took, after one untimed warm-up.
pub fn round_trips<R>(placement: Placement, n: u64, round_trip: R) -> Duration
where
    R: Fn(u64) -> u64 + Sync,
{
    on_new_thread(|| {
        placement.pin_other();
        assert_eq!(round_trip(0), 1);
        let start = std::time::Instant::now();
        for i in 0..n {
            std::hint::black_box(round_trip(std::hint::black_box(i)));
        }
        start.elapsed()
    })
}

/// An evloop running `run_forever` on a thread of its own, until dropped.
pub struct EvloopThread {
    handle: LoopHandle,
    thread: Option<JoinHandle<()>>,
}

impl EvloopThread {
    pub fn start(placement: Placement) -> EvloopThread {
        let (tx, rx) = std_mpsc::channel();
        let thread = thread::spawn(move || {
            placement.pin_loop();
            let lp = EventLoop::new();
            tx.send(lp.handle()).unwrap();
            lp.run_forever().unwrap();
        });
        EvloopThread {
            handle: rx.recv().unwrap(),
            thread: Some(thread),
        }
    }

    /// One round trip: the loop computes `x + 1`, this thread blocks for it.
    pub fn round_trip(&self, x: u64) -> u64 {
        self.handle
            .run_coroutine_threadsafe(move || async move { x + 1 })
            .result()
            .unwrap()
    }
}

impl Drop for EvloopThread {
    fn drop(&mut self) {
        self.handle
            .call_soon_threadsafe(|| EventLoop::current().stop())
            .unwrap();
        self.thread.take().unwrap().join().unwrap();
    }
}

/// A tokio current-thread runtime inside `block_on` on a thread of its own,
/// until dropped.
pub struct TokioThread {
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TokioThread {
    pub fn start(io: bool, placement: Placement) -> TokioThread {
        let rt = tokio_runtime(io, placement);
        let handle = rt.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::spawn(move || {
            placement.pin_loop();
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

    /// One round trip: a task spawned on the runtime computes `x + 1` and
    /// sends it back on a oneshot; this thread blocks for it.
    pub fn round_trip(&self, x: u64) -> u64 {
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

/// Runs `warm_up()` then `work()` on a new evloop, on a new thread. The
/// thread has the other side's affinity during `warm_up`, so the executor
/// workers it starts (they are started by the submitting thread and
/// inherit its affinity) go there; then it pins itself to the loop side.
pub fn on_evloop<W, WF, M, MF>(placement: Placement, warm_up: W, work: M) -> MF::Output
where
    W: FnOnce() -> WF + Send,
    WF: Future + 'static,
    M: FnOnce() -> MF + Send,
    MF: Future + 'static,
    MF::Output: Send,
{
    on_new_thread(move || {
        placement.pin_other();
        let lp = EventLoop::new();
        let out = lp
            .run_until_complete({
                let (warm_up, work) = (warm_up(), work());
                async move {
                    warm_up.await;
                    placement.pin_loop();
                    work.await
                }
            })
            .unwrap();
        // Join the workers, so that no thread outlives the batch.
        lp.shutdown_default_executor();
        out
    })
}

/// `on_evloop` for tokio: `warm_up` then `work` in `block_on` of a new
/// current-thread runtime, on a new thread, with the same affinities (and
/// blocking threads started later pin themselves, see [`tokio_runtime`]).
pub fn on_tokio<W, M, MF>(io: bool, placement: Placement, warm_up: W, work: M) -> MF::Output
where
    W: Future + Send,
    M: FnOnce() -> MF + Send,
    MF: Future,
    MF::Output: Send,
{
    on_new_thread(move || {
        placement.pin_other();
        let rt = tokio_runtime(io, placement);
        rt.block_on(async move {
            warm_up.await;
            placement.pin_loop();
            work().await
        })
        // Dropping `rt` joins its blocking threads.
    })
}

// ---- threadsafe_* ------------------------------------------------------------------

thread_local! {
    /// Jobs run so far on this (the loop's) thread, in `threadsafe_*`.
    static COUNT: Cell<usize> = const { Cell::new(0) };
    /// The job count at which the loop stops.
    static TARGET: Cell<usize> = const { Cell::new(0) };
}

/// The work of one `threadsafe_*` job, on the loop thread: bump the
/// counter; the last job stops the loop (evloop) or ends the receiving
/// loop (tokio).
fn count_job(payload: u64) -> bool {
    black_box(payload);
    COUNT.with(|c| {
        let n = c.get() + 1;
        c.set(n);
        n == TARGET.with(Cell::get)
    })
}

/// What the jobs of `threadsafe_*` carry across.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// One `u64` (the job's index): evloop's closure captures it, so boxing
    /// it allocates; tokio's message is that `u64`. The compared workload.
    Word,
    /// Nothing: evloop's closure is zero-sized, and boxing it does not
    /// allocate. A diagnostic: how much of `Word` is the allocation.
    Nothing,
    /// tokio's channel carries evloop's job, a `Box<dyn FnOnce() + Send>`
    /// capturing a `u64`, which the receiver calls. A diagnostic: tokio
    /// paying for the same allocation.
    Boxed,
}

/// Starts `producers` threads, each running `send(i)` for its share of `n`
/// jobs once the returned barrier is passed.
fn start_producers<S>(
    producers: usize,
    n: usize,
    make_sender: impl Fn() -> S,
) -> (Arc<Barrier>, Vec<JoinHandle<()>>)
where
    S: FnMut(u64) + Send + 'static,
{
    assert_eq!(n % producers, 0);
    let barrier = Arc::new(Barrier::new(producers + 1));
    let per = (n / producers) as u64;
    let threads = (0..producers)
        .map(|_| {
            let barrier = barrier.clone();
            let mut send = make_sender();
            thread::spawn(move || {
                barrier.wait();
                for i in 0..per {
                    send(i);
                }
            })
        })
        .collect();
    (barrier, threads)
}

/// Times `run` from the producers' start until it returns; the producers
/// are started before and joined after the timed region.
fn time_producers<S>(
    producers: usize,
    n: usize,
    make_sender: impl Fn() -> S,
    run: impl FnOnce(),
) -> Duration
where
    S: FnMut(u64) + Send + 'static,
{
    COUNT.with(|c| c.set(0));
    TARGET.with(|t| t.set(n));
    let (barrier, threads) = start_producers(producers, n, make_sender);
    barrier.wait();
    let start = Instant::now();
    if n > 0 {
        run();
    }
    let elapsed = start.elapsed();
    assert_eq!(COUNT.with(Cell::get), n);
    threads.into_iter().for_each(|t| t.join().unwrap());
    elapsed
}

/// `n` jobs from `producers` threads through `call_soon_threadsafe`, each
/// bumping a counter on the loop thread, which runs in `run_forever` until
/// the last job stops it.
pub fn threadsafe_evloop(lp: &EventLoop, producers: usize, n: usize, payload: Payload) -> Duration {
    fn job(i: u64) {
        if count_job(i) {
            EventLoop::current().stop();
        }
    }
    let make_sender = || {
        let handle = lp.handle();
        move |i: u64| match payload {
            Payload::Word => handle.call_soon_threadsafe(move || job(i)).unwrap(),
            Payload::Nothing => handle.call_soon_threadsafe(|| job(0)).unwrap(),
            Payload::Boxed => unreachable!("a tokio diagnostic"),
        }
    };
    time_producers(producers, n, make_sender, || lp.run_forever().unwrap())
}

/// tokio's equivalent of [`threadsafe_evloop`]: the producers send into an
/// unbounded `mpsc` channel, and the task in `block_on` receives and counts.
pub fn threadsafe_tokio(
    rt: &tokio::runtime::Runtime,
    producers: usize,
    n: usize,
    payload: Payload,
) -> Duration {
    match payload {
        Payload::Word => {
            let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
            let make_sender = || {
                let tx = tx.clone();
                move |i| tx.send(i).unwrap()
            };
            let run = || rt.block_on(async { while !count_job(rx.recv().await.unwrap()) {} });
            time_producers(producers, n, make_sender, run)
        }
        Payload::Boxed => {
            type Job = Box<dyn FnOnce() -> bool + Send>;
            let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
            let make_sender = || {
                let tx = tx.clone();
                move |i| tx.send(Box::new(move || count_job(i))).unwrap()
            };
            let run = || rt.block_on(async { while !(rx.recv().await.unwrap())() {} });
            time_producers(producers, n, make_sender, run)
        }
        Payload::Nothing => unreachable!("an evloop diagnostic"),
    }
}
