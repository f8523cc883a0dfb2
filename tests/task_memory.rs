//! Finished tasks' memory is kept on the loop's thread for the next tasks,
//! and given back when the loop has nothing to do (all but 256 KiB) and
//! when the thread's last loop is dropped (everything).

use std::time::Duration;

use evloop::EventLoop;

const TASKS: usize = 10_000;

fn burst(lp: &EventLoop) {
    lp.run_until_complete(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| evloop::ensure_future(async move { i }))
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    })
    .unwrap();
}

#[test]
fn kept_while_busy_given_back_when_idle_and_when_the_last_loop_goes() {
    let lp = EventLoop::new();
    burst(&lp);
    let busy = lp.stats().task_memory_kept;
    assert!(busy >= (TASKS * 64) as u64, "kept after a burst: {busy}");
    // The next burst reuses it: nothing more is kept than before.
    burst(&lp);
    assert_eq!(lp.stats().task_memory_kept, busy);
    // A sleep makes the loop park: it keeps at most 256 KiB, and then the
    // blocks of what ended after the park (run_until_complete's task).
    let nap = async { evloop::sleep(Duration::from_millis(1)).await };
    lp.run_until_complete(nap).unwrap();
    let idle = lp.stats().task_memory_kept;
    assert!(idle <= 256 * 1024 + 1024, "kept while idle: {idle}");
    // A second loop on the thread sees the same memory; dropping the last
    // of them gives everything back.
    let other = EventLoop::new();
    burst(&other);
    drop(lp);
    assert!(
        other.stats().task_memory_kept > 0,
        "still a loop on the thread"
    );
    drop(other);
    assert_eq!(EventLoop::new().stats().task_memory_kept, 0);
}
