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

#[test]
fn a_loop_that_stays_busy_gives_back_half_every_so_many_polls() {
    let lp = EventLoop::new();
    burst(&lp);
    let kept = lp.stats().task_memory_kept;
    assert!(kept >= (TASKS * 64) as u64, "kept after a burst: {kept}");
    // Busy without ever parking: a task that yields, for twice the decay
    // period (1,024 polls, one every 61 busy iterations).
    let polls_before = lp.stats().io_polls;
    lp.run_until_complete(async {
        for _ in 0..2 * 1024 * 61 {
            evloop::yield_now().await;
        }
    })
    .unwrap();
    let s = lp.stats();
    assert_eq!(s.parks, 0, "the loop never slept");
    assert!(s.io_polls - polls_before >= 2048);
    assert!(
        s.task_memory_kept <= kept / 2 + 1024,
        "kept {} of {kept} after staying busy",
        s.task_memory_kept
    );
}
