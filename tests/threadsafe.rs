//! `LoopHandle`: call_soon_threadsafe from other threads, run_coroutine_threadsafe,
//! and the threadsafe setter of a `LoopFuture`.

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use evloop::{ConcurrentFuture, EventLoop, LoopHandle};
use util::watchdog_local;

#[test]
fn handles_and_concurrent_futures_are_send_sync_and_cheap() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<LoopHandle>();
    send_sync::<ConcurrentFuture<String>>();
    fn send<T: Send>() {}
    send::<evloop::ThreadsafeSetter<String>>();
    // A LoopHandle is one pointer; cloning it is one atomic increment.
    assert_eq!(
        std::mem::size_of::<LoopHandle>(),
        std::mem::size_of::<usize>()
    );
}

#[test]
fn a_job_from_another_thread_runs_on_the_loop_thread() {
    let lp = EventLoop::new();
    let handle = lp.handle();
    let loop_thread = std::thread::current().id();
    let ran_on = Arc::new(std::sync::Mutex::new(None));
    let r = ran_on.clone();
    std::thread::spawn(move || {
        handle
            .call_soon_threadsafe(move || {
                *r.lock().unwrap() = Some(std::thread::current().id());
                EventLoop::current().stop();
            })
            .unwrap();
    });
    watchdog_local(|| lp.run_forever()).unwrap();
    assert_eq!(*ran_on.lock().unwrap(), Some(loop_thread));
}

/// Jobs sent in `jobs_from_one_thread_run_in_sending_order`: fewer under
/// Miri, which runs them about a thousand times slower (10,000 would trip
/// the 30 s watchdog).
const JOBS: usize = if cfg!(miri) { 200 } else { 10_000 };

#[test]
fn jobs_from_one_thread_run_in_sending_order() {
    let lp = EventLoop::new();
    let handle = lp.handle();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let sender = std::thread::spawn(move || {
        for i in 0..JOBS {
            let s = s.clone();
            handle
                .call_soon_threadsafe(move || s.lock().unwrap().push(i))
                .unwrap();
        }
        handle
            .call_soon_threadsafe(|| EventLoop::current().stop())
            .unwrap();
    });
    watchdog_local(|| lp.run_forever()).unwrap();
    sender.join().unwrap();
    assert_eq!(*seen.lock().unwrap(), (0..JOBS).collect::<Vec<_>>());
}

#[test]
fn run_coroutine_threadsafe_builds_the_future_on_the_loop() {
    let lp = EventLoop::new();
    let handle = lp.handle();
    let worker = std::thread::spawn(move || {
        let fut = handle.run_coroutine_threadsafe(|| {
            // !Send state, fine: built on the loop thread.
            let rc = std::rc::Rc::new(5u64);
            async move {
                evloop::sleep(Duration::from_millis(1)).await;
                *rc * *rc
            }
        });
        let v = fut.result().unwrap();
        assert!(fut.done());
        assert!(fut.result().unwrap_err().to_string().contains("taken"));
        handle
            .call_soon_threadsafe(|| EventLoop::current().stop())
            .unwrap();
        v
    });
    watchdog_local(|| lp.run_forever()).unwrap();
    assert_eq!(worker.join().unwrap(), 25);
}

#[test]
fn result_on_the_loop_thread_is_an_error_not_a_deadlock() {
    let lp = EventLoop::new();
    let handle = lp.handle();
    let fut = handle.run_future_threadsafe(async { 1 });
    let err = fut.result().unwrap_err();
    assert!(
        matches!(err, evloop::ConcurrentError::OnLoopThread),
        "{err}"
    );
    // Awaiting it on the loop is the way.
    assert_eq!(lp.run_until_complete(fut).unwrap().unwrap(), 1);
}

#[test]
fn result_timeout_then_cancel_drops_the_task_future() {
    let lp = EventLoop::new();
    let handle = lp.handle();
    let drops = Arc::new(AtomicUsize::new(0));
    struct Guard(Arc<AtomicUsize>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let d = drops.clone();
    let worker = std::thread::spawn(move || {
        let (started_tx, started) = std::sync::mpsc::channel();
        let fut = handle.run_coroutine_threadsafe(move || async move {
            let _g = Guard(d);
            started_tx.send(()).unwrap();
            evloop::sleep(Duration::from_secs(3600)).await;
        });
        // Time out only once the task runs: a job cancelled before it
        // starts never builds its future (and Miri may take longer than the
        // timeout to start it).
        started.recv().unwrap();
        let err = fut.result_timeout(Duration::from_millis(20)).unwrap_err();
        assert!(err.is_timed_out());
        assert!(!fut.done());
        assert!(fut.cancel());
        assert!(!fut.cancel());
        assert!(fut.result().unwrap_err().is_cancelled());
        handle
            .call_soon_threadsafe(|| EventLoop::current().stop())
            .unwrap();
    });
    watchdog_local(|| lp.run_forever()).unwrap();
    worker.join().unwrap();
    // The cancel reached the task: its future was dropped on the loop.
    while drops.load(Ordering::SeqCst) == 0 {
        lp.run_once(Some(Duration::from_millis(10))).unwrap();
    }
}

#[test]
fn a_panic_in_the_submitted_future_reaches_the_submitter() {
    let lp = EventLoop::new();
    let handle = lp.handle();
    let worker = std::thread::spawn(move || {
        let fut = handle.run_future_threadsafe(async {
            if true {
                panic!("remote boom");
            }
        });
        let err = fut.result().unwrap_err();
        handle
            .call_soon_threadsafe(|| EventLoop::current().stop())
            .unwrap();
        err.is_panic()
    });
    watchdog_local(|| lp.run_forever()).unwrap();
    assert!(worker.join().unwrap());
}

#[test]
fn pending_concurrent_futures_resolve_when_the_loop_closes() {
    let lp = EventLoop::new();
    let handle = lp.handle();
    let started = handle.run_future_threadsafe(std::future::pending::<()>());
    lp.run_once(Some(Duration::ZERO)).unwrap(); // the task starts
    let queued = handle.run_future_threadsafe(async {});
    lp.close().unwrap();
    assert!(started.result().unwrap_err().is_closed());
    assert!(queued.result().unwrap_err().is_closed());
    let refused = handle.run_future_threadsafe(async {});
    assert!(refused.done());
    assert!(refused.result().unwrap_err().is_closed());
    assert!(handle.call_soon_threadsafe(|| {}).is_err());
}

#[test]
fn another_loop_can_await_a_concurrent_future() {
    let lp = EventLoop::new();
    let handle = lp.handle();
    let other = std::thread::spawn(move || {
        evloop::run(async move {
            let fut = handle.run_future_threadsafe(async { "from the first loop" });
            let v = fut.await.unwrap();
            handle
                .call_soon_threadsafe(|| EventLoop::current().stop())
                .unwrap();
            v
        })
        .unwrap()
    });
    watchdog_local(|| lp.run_forever()).unwrap();
    assert_eq!(other.join().unwrap(), "from the first loop");
}

#[test]
fn the_threadsafe_setter_completes_the_future_from_another_thread() {
    let lp = EventLoop::new();
    let fut = lp.create_future::<String>();
    let setter = fut.threadsafe_setter();
    std::thread::spawn(move || setter.set_result("done".into()).unwrap());
    let out = watchdog_local(|| lp.run_until_complete(fut.clone()));
    assert_eq!(out.unwrap().unwrap(), "done");
}

#[test]
fn a_dropped_setter_cancels_the_future() {
    let lp = EventLoop::new();
    let fut = lp.create_future::<u32>();
    let setter = fut.threadsafe_setter();
    std::thread::spawn(move || drop(setter)).join().unwrap();
    let out = watchdog_local(|| lp.run_until_complete(fut.clone()));
    assert!(
        out.unwrap().is_err(),
        "a worker that dies does not leave a waiter hanging"
    );
    assert!(fut.cancelled());
}

#[test]
fn setting_after_close_is_loop_closed() {
    let lp = EventLoop::new();
    let fut = lp.create_future::<u32>();
    let setter = fut.threadsafe_setter();
    lp.close().unwrap();
    assert!(setter.set_result(1).unwrap_err().is_closed());
}

#[test]
fn a_setter_for_an_already_done_future_is_harmless() {
    let lp = EventLoop::new();
    let fut = lp.create_future::<u32>();
    let setter = fut.threadsafe_setter();
    fut.set_result(1).unwrap();
    setter.set_result(2).unwrap();
    util::tick(&lp);
    assert_eq!(fut.result(), Ok(1));
}
