//! `Builder::spin_before_park`: work that arrives while the loop spins is
//! taken without the loop going to sleep. (How much faster that is, is a
//! benchmark: `cargo bench -p evloop-benches --bench threads`.)

mod util;

use std::sync::mpsc;
use std::time::Duration;

use evloop::EventLoop;

#[test]
fn jobs_arriving_during_the_spin_need_no_park() {
    // A long spin, so that every round trip below lands inside it.
    let lp = EventLoop::builder()
        .spin_before_park(Duration::from_secs(5))
        .build()
        .unwrap();
    let handle = lp.handle();
    let (tx, rx) = mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        for _ in 0..1000 {
            let tx = tx.clone();
            let fut = handle.run_future_threadsafe(async move { tx.send(()).unwrap() });
            fut.result().unwrap();
        }
        handle.stop().unwrap();
    });
    util::watchdog_local(|| lp.run_forever()).unwrap();
    client.join().unwrap();
    assert_eq!(rx.try_iter().count(), 1000);
    let s = lp.stats();
    assert_eq!(s.parks, 0, "the loop never slept: {s:?}");
    assert_eq!(s.remote_wakeups, 0);
}

#[test]
fn executor_jobs_work_with_spinning_workers() {
    let lp = EventLoop::builder()
        .spin_before_park(Duration::from_micros(200))
        .executor_threads(2)
        .build()
        .unwrap();
    let out = util::watchdog_local(|| {
        lp.run_until_complete(async {
            let mut sum = 0;
            for i in 0..200u64 {
                sum += evloop::EventLoop::current()
                    .run_in_executor(move || i)
                    .await
                    .unwrap();
            }
            sum
        })
    });
    assert_eq!(out.unwrap(), (0..200).sum::<u64>());
}
