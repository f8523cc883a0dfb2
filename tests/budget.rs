//! The budget of a task poll: one poll completes at most 128 operations
//! (socket reads and writes, channel receives and sends); past that the
//! task yields, so a socket that never stops being ready, or a channel
//! other threads keep full or keep draining, cannot hold the loop away
//! from other tasks, timers and I/O.

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

/// An unbounded channel with the values `0..n` queued.
fn filled_channel(n: u32) -> (evloop::Sender<u32>, evloop::Receiver<u32>) {
    let (tx, rx) = evloop::channel::<u32>();
    for value in 0..n {
        tx.send(value).unwrap();
    }
    (tx, rx)
}

/// Runs to completion the task `work` makes, given a counter it bumps per
/// operation, with a callback queued before the task's first poll (so it
/// runs when that poll yields); returns the final count and the count the
/// callback saw.
fn run_counting<F>(
    lp: &EventLoop,
    work: impl FnOnce(Rc<Cell<usize>>) -> F,
) -> (usize, Option<usize>)
where
    F: std::future::Future<Output = ()> + 'static,
{
    let count = Rc::new(Cell::new(0usize));
    let task = lp.ensure_future(work(count.clone()));
    let seen = Rc::new(Cell::new(None));
    let (counted, out) = (count.clone(), seen.clone());
    lp.call_soon(move || out.set(Some(counted.get()))).unwrap();
    lp.run_until_complete(task).unwrap().unwrap();
    (count.get(), seen.get())
}

/// A channel with more values queued than one budget (other threads may
/// keep it so): a task receiving in a loop yields after one budget, and a
/// callback queued before its first poll runs then, not after the whole
/// backlog.
#[test]
fn a_receiver_of_a_full_channel_yields_after_one_budget() {
    let lp = EventLoop::new();
    let (tx, mut rx) = filled_channel(1_000);
    drop(tx);
    let (received, seen) = run_counting(&lp, |received| async move {
        while rx.recv().await.is_some() {
            received.set(received.get() + 1);
        }
    });
    assert_eq!(received, 1_000);
    assert_eq!(seen, Some(BUDGET), "ran after one budget");
    assert_eq!(lp.stats().budget_yields, (1_000 / BUDGET) as u64, "counted");
}

/// A task sending into a bounded channel that another thread keeps
/// draining yields after one budget of sends as well.
#[test]
fn a_sender_into_a_drained_channel_yields_after_one_budget() {
    let lp = EventLoop::new();
    let (tx, mut rx) = evloop::bounded::<u32>(10_000);
    let (sent, seen) = run_counting(&lp, |sent| async move {
        for n in 0..1_000 {
            tx.send_async(n).await.unwrap();
            sent.set(sent.get() + 1);
        }
    });
    assert_eq!(sent, 1_000);
    assert_eq!(seen, Some(BUDGET), "ran after one budget");
    let mut got = 0;
    while rx.try_recv().is_ok() {
        got += 1;
    }
    assert_eq!(got, 1_000);
}

/// A runner nested inside a task (polling with a waker of its own, as
/// `futures::executor::block_on` does) is not limited by the task's
/// budget, which is refilled only when the task's poll ends: it would
/// otherwise spin forever on a channel or a socket that has data. Here
/// 200 receives and 200 reads, each polled once with a no-op waker, all
/// complete inside one poll of the task.
#[test]
fn a_runner_nested_in_a_task_is_not_held_by_the_tasks_budget() {
    let lp = EventLoop::new();
    let (_tx, mut rx) = filled_channel(200);
    let done = util::watchdog_local(|| {
        lp.run_until_complete(async move {
            let (a, b) = UnixStream::pair().unwrap();
            assert!(fill(&b).await > 200);
            let received = (0..200)
                .filter(|_| util::now_or_never(Box::pin(rx.recv())).is_some())
                .count();
            let mut byte = [0u8; 1];
            let read = (0..200)
                .filter(|_| util::now_or_never(Box::pin(a.read(&mut byte))).is_some())
                .count();
            (received, read)
        })
    });
    assert_eq!(done.unwrap(), (200, 200));
}
