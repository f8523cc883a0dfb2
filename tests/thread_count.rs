//! No thread starts until `run_in_executor` is first used. A binary of its
//! own, with a single test: it counts the threads of the whole process.

use std::time::Duration;

use evloop::EventLoop;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn threads_start_only_with_the_executor() {
    let before = threads();
    let lp = EventLoop::new();
    lp.run_until_complete(async {
        let t = evloop::ensure_future(async { 1 });
        evloop::sleep(Duration::from_millis(1)).await;
        t.await.unwrap()
    })
    .unwrap();
    lp.call_soon(|| {}).unwrap();
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(
        threads(),
        before,
        "a loop without executor work starts no thread"
    );

    let fut = lp.run_in_executor(|| 1);
    lp.run_until_complete(fut).unwrap().unwrap();
    assert_eq!(threads(), before + 1, "one job, one worker");

    // A panicking job does not kill its worker, nor start another.
    let fut = lp.run_in_executor(|| -> u8 { panic!("boom") });
    assert!(lp.run_until_complete(fut).unwrap().unwrap_err().is_panic());
    assert_eq!(threads(), before + 1);

    lp.shutdown_default_executor();
    assert_eq!(threads(), before, "shutdown joins the workers");
}
