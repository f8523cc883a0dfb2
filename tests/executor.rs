//! `run_in_executor`: results, panics, user executors, shutdown, virtual time.

mod util;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use evloop::{EventLoop, Executor, Job, ThreadPool};
use util::watchdog_local;

#[test]
fn a_blocking_job_returns_its_value_to_the_awaiter() {
    let lp = EventLoop::new();
    let fut = lp.run_in_executor(|| {
        std::thread::sleep(Duration::from_millis(5));
        String::from("hello") + " world"
    });
    assert_eq!(
        watchdog_local(|| lp.run_until_complete(fut))
            .unwrap()
            .unwrap(),
        "hello world"
    );
}

#[test]
fn a_panicking_job_gives_a_panic_error_and_the_pool_keeps_its_threads() {
    let lp = EventLoop::new();
    let pool = ThreadPool::new(2);
    for _ in 0..4 {
        let fut = lp.run_in_executor_on(&pool, || -> u8 { panic!("job boom") });
        let err = watchdog_local(|| lp.run_until_complete(fut))
            .unwrap()
            .unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.panic_message(), Some("job boom"));
    }
    assert!(pool.thread_count() <= 2);
    let fut = lp.run_in_executor_on(&pool, || 7);
    assert_eq!(
        watchdog_local(|| lp.run_until_complete(fut))
            .unwrap()
            .unwrap(),
        7
    );
    assert!(
        pool.thread_count() <= 2,
        "panics did not cost or add threads"
    );
}

#[test]
fn the_pool_never_exceeds_its_size_and_names_its_threads() {
    let lp = EventLoop::builder().executor_threads(2).build().unwrap();
    let futs: Vec<_> = (0..16)
        .map(|_| {
            lp.run_in_executor(|| {
                std::thread::sleep(Duration::from_millis(2));
                std::thread::current().name().unwrap().to_string()
            })
        })
        .collect();
    let names = watchdog_local(|| lp.run_until_complete(evloop_gather(futs))).unwrap();
    for name in names {
        let name = name.unwrap();
        assert!(
            name == "evloop-executor-0" || name == "evloop-executor-1",
            "{name}"
        );
    }
}

async fn evloop_gather<T>(
    futs: Vec<evloop::RunInExecutor<T>>,
) -> Vec<Result<T, evloop::TaskError>> {
    evloop::gather(futs).await
}

#[test]
fn a_user_executor_that_drops_the_job_gives_cancelled_not_a_hang() {
    struct Discards;
    impl Executor for Discards {
        fn execute(&self, job: Job) {
            drop(job);
        }
    }
    let lp = EventLoop::new();
    let fut = lp.run_in_executor_on(&Discards, || 1);
    let err = watchdog_local(|| lp.run_until_complete(fut))
        .unwrap()
        .unwrap_err();
    assert!(err.is_cancelled());
}

#[test]
fn shutdown_default_executor_waits_for_jobs_in_flight() {
    let lp = EventLoop::new();
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    drop(lp.run_in_executor(move || {
        std::thread::sleep(Duration::from_millis(30));
        f.store(true, Ordering::SeqCst);
    }));
    lp.shutdown_default_executor();
    assert!(finished.load(Ordering::SeqCst));
    // A later job starts a fresh pool.
    let fut = lp.run_in_executor(|| 3);
    assert_eq!(
        watchdog_local(|| lp.run_until_complete(fut))
            .unwrap()
            .unwrap(),
        3
    );
}

#[test]
fn virtual_time_does_not_jump_while_a_job_is_in_flight() {
    let lp = util::virtual_loop();
    let log = util::Log::new();
    let l = log.clone();
    let (l1, l2) = (l.clone(), l.clone());
    let out = watchdog_local(|| {
        lp.run_until_complete(async move {
            let timer = evloop::ensure_future(async move {
                evloop::sleep(Duration::from_secs(10)).await;
                l1.push("virtual 10 s");
            });
            let job = EventLoop::current().run_in_executor(|| {
                std::thread::sleep(Duration::from_millis(20)); // real time
                "job"
            });
            l2.push(job.await.unwrap());
            timer.await.unwrap();
        })
    });
    out.unwrap();
    assert_eq!(log.take(), ["job", "virtual 10 s"]);
}

#[test]
fn dropping_the_awaiting_future_lets_the_job_finish_on_its_thread() {
    let lp = EventLoop::new();
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    drop(lp.run_in_executor(move || {
        std::thread::sleep(Duration::from_millis(10));
        f.store(true, Ordering::SeqCst);
        vec![0u8; 16] // its result is dropped on the worker
    }));
    lp.close().unwrap(); // does not wait for the job
    lp.shutdown_default_executor();
    let start = std::time::Instant::now();
    while !finished.load(Ordering::SeqCst) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the job never finished"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A panic payload, or a job's result, whose own `Drop` panics.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("drop boom");
        }
    }
}

#[test]
fn a_raw_job_whose_panic_payload_panics_on_drop_is_still_counted_done() {
    let pool = Arc::new(ThreadPool::new(1));
    pool.execute(Box::new(|| std::panic::panic_any(PanicsOnDrop)));
    // `shutdown` waits for every job: a worker killed by the payload's drop
    // would never count its job done, and this would hang.
    let p = pool.clone();
    util::watchdog(10, move || p.shutdown());
    let (tx, rx) = std::sync::mpsc::channel();
    pool.execute(Box::new(move || tx.send(7).unwrap()));
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(7));
}

#[test]
fn a_result_that_panics_on_drop_on_the_worker_does_not_kill_it() {
    let lp = EventLoop::builder().executor_threads(1).build().unwrap();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    // Nobody awaits the result any more when it is ready, so it is dropped
    // on the worker, which must survive it: it is the pool's only thread.
    drop(lp.run_in_executor(move || {
        wait.recv().unwrap();
        PanicsOnDrop
    }));
    go.send(()).unwrap();
    let next = lp.run_until_complete(async {
        let fut = EventLoop::current().run_in_executor(|| 7);
        evloop::wait_for(Duration::from_secs(10), fut).await
    });
    assert_eq!(next.unwrap().expect("the only worker died").unwrap(), 7);
}
