//! The I/O budget: one task poll completes at most 128 socket operations;
//! past that the task yields, so a socket that never stops being ready
//! cannot hold the loop away from other tasks, timers and I/O.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use evloop::net::UnixStream;
use evloop::EventLoop;

/// The budget of one poll (`docs/internals.md`, "The I/O budget").
const BUDGET: usize = 128;

/// Fills `w`'s send buffer (and `r`'s receive buffer) until a write would
/// block; returns how many bytes went in.
async fn fill(w: &UnixStream) -> usize {
    let chunk = [7u8; 4096];
    let mut total = 0;
    loop {
        let write = Box::pin(w.write(&chunk));
        match util::now_or_never(write) {
            Some(Ok(n)) => total += n,
            Some(Err(e)) => panic!("{e}"),
            None => return total,
        }
    }
}

/// A reader of a stream that is always ready (200 KiB already buffered,
/// read one byte at a time: tens of thousands of ready reads) lets a
/// second task and a due timer run after at most one budget of reads.
#[test]
fn an_always_ready_reader_lets_a_task_and_a_timer_run_within_one_budget() {
    let lp = EventLoop::new();
    let reads = Rc::new(Cell::new(0usize));
    let seen_by_timer = Rc::new(Cell::new(None));
    let seen_by_task = Rc::new(Cell::new(None));
    let (r, t, k) = (reads.clone(), seen_by_timer.clone(), seen_by_task.clone());
    let total = util::watchdog_local(|| {
        lp.run_until_complete(async move {
            let (a, b) = UnixStream::pair().unwrap();
            let buffered = fill(&b).await;
            assert!(buffered > 64 * 1024, "only {buffered} bytes buffered");
            // A timer that is due before the reader starts, and a task
            // queued behind the reader.
            let (r2, t2) = (r.clone(), t.clone());
            let lp = EventLoop::current();
            lp.call_later(Duration::ZERO, move || t2.set(Some(r2.get())))
                .unwrap();
            std::thread::sleep(Duration::from_millis(2)); // the timer is due
            let reader = evloop::ensure_future({
                let r = r.clone();
                async move {
                    let mut byte = [0u8; 1];
                    for _ in 0..buffered {
                        assert_eq!(a.read(&mut byte).await.unwrap(), 1);
                        r.set(r.get() + 1);
                    }
                }
            });
            let (r3, k3) = (r.clone(), k.clone());
            let other = evloop::ensure_future(async move { k3.set(Some(r3.get())) });
            other.await.unwrap();
            reader.await.unwrap();
            buffered
        })
    })
    .unwrap();
    assert_eq!(reads.get(), total);
    let by_task = seen_by_task.get().expect("the second task ran");
    let by_timer = seen_by_timer.get().expect("the timer fired");
    assert!(by_task <= BUDGET, "the task ran after {by_task} reads");
    assert!(by_timer <= BUDGET, "the timer fired after {by_timer} reads");
    assert!(lp.stats().budget_yields >= (total / BUDGET) as u64 - 1);
}

/// The budget is per poll: a task that yields on its own (here after every
/// 100 reads, below the budget) never hits it, and reads everything.
#[test]
fn the_budget_resets_at_every_poll() {
    let lp = EventLoop::new();
    let out = util::watchdog_local(|| {
        lp.run_until_complete(async {
            let (a, b) = UnixStream::pair().unwrap();
            let buffered = fill(&b).await;
            evloop::yield_now().await; // a fresh budget for the reads
            let mut byte = [0u8; 1];
            for i in 0..buffered {
                assert_eq!(a.read(&mut byte).await.unwrap(), 1);
                if i % 100 == 99 {
                    evloop::yield_now().await;
                }
            }
            buffered
        })
    });
    assert!(out.unwrap() > 0);
    assert_eq!(lp.stats().budget_yields, 0);
}
