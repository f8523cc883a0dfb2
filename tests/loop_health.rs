//! What the loop tells about its own health: busy and blocked time,
//! high-water marks, slow callbacks and polls, loop lag, and (debug mode)
//! tasks destroyed while pending.
//!
//! Slow items are made with `thread::sleep` of three times the threshold,
//! so they are slow on any machine; nothing here asserts how long anything
//! took beyond "more than zero" and "at least the threshold", which a sleep
//! guarantees.

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use evloop::{EventLoop, Exception, ExceptionSource};

const THRESHOLD: Duration = Duration::from_millis(50);
const SLOW: Duration = Duration::from_millis(150);

/// Every report the handler gets: (source, message, line).
type Reports = Rc<RefCell<Vec<(ExceptionSource, String, u32)>>>;

fn reports(lp: &EventLoop) -> Reports {
    let seen: Reports = Rc::default();
    let s = seen.clone();
    lp.set_exception_handler(Some(move |e: &Exception<'_>| {
        let message = e.message().unwrap_or("").to_string();
        s.borrow_mut()
            .push((e.source(), message, e.location().line()));
    }));
    seen
}

fn watched_loop() -> EventLoop {
    EventLoop::builder()
        .slow_callback_duration(Some(THRESHOLD))
        .build()
        .unwrap()
}

fn run_until_idle(lp: &EventLoop) {
    while lp.next_timeout() == Some(Duration::ZERO) {
        lp.run_once(Some(Duration::ZERO)).unwrap();
    }
}

#[test]
fn blocking_in_poll_is_blocked_time_and_running_is_busy_time() {
    let lp = EventLoop::new();
    lp.run_once(Some(Duration::from_millis(30))).unwrap();
    let after_block = lp.stats();
    assert!(after_block.blocked > Duration::ZERO);
    lp.call_soon(|| std::thread::sleep(Duration::from_millis(30)))
        .unwrap();
    lp.run_once(Some(Duration::ZERO)).unwrap();
    let after_run = lp.stats();
    assert!(after_run.busy > after_block.busy);
    assert_eq!(after_run.blocked, after_block.blocked, "nothing blocked");
    assert!(after_run.longest_item > Duration::ZERO);
}

#[test]
fn a_slow_callback_is_reported_with_where_it_was_scheduled() {
    let lp = watched_loop();
    let seen = reports(&lp);
    let line = line!() + 1;
    lp.call_soon(|| std::thread::sleep(SLOW)).unwrap();
    lp.run_once(Some(Duration::ZERO)).unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (source, message, at) = &seen[0];
    assert_eq!((*source, *at), (ExceptionSource::SlowCallback, line));
    assert!(
        message.starts_with("the callback held the loop for"),
        "{message}"
    );
    let stats = lp.stats();
    assert_eq!(stats.slow_items, 1);
    assert!(stats.longest_item >= THRESHOLD);
    assert_eq!(stats.longest_item_at.map(|l| l.line()), Some(line));
}

#[test]
fn a_slow_task_poll_is_reported_with_where_it_was_spawned() {
    let lp = watched_loop();
    let seen = reports(&lp);
    let line = line!() + 1;
    let task = lp.ensure_future(async { std::thread::sleep(SLOW) });
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert!(task.done());
    let sources: Vec<_> = seen.borrow().iter().map(|r| (r.0, r.2)).collect();
    assert_eq!(sources, [(ExceptionSource::SlowTask, line)]);
}

/// Schedules 100 callbacks, the 71st of which is slow; returns the line
/// each was scheduled on.
fn hundred_callbacks_one_slow(lp: &EventLoop) -> Vec<u32> {
    let mut lines = Vec::new();
    for i in 0..100 {
        lines.push(line!() + 1);
        lp.call_soon(move || {
            if i == 70 {
                std::thread::sleep(SLOW);
            }
        })
        .unwrap();
    }
    lines
}

#[test]
fn a_slow_item_among_quick_ones_is_lag_then_named_when_it_recurs() {
    // Items are timed 64 at a time: the slow 71st is in the stretch of
    // items 65–100, reported as lag and named by the 65th. The watch then
    // times each item, and names the slow one the next time.
    let lp = watched_loop();
    let seen = reports(&lp);
    let lines = hundred_callbacks_one_slow(&lp);
    lp.run_once(Some(Duration::ZERO)).unwrap();
    {
        let seen = seen.borrow();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(
            (seen[0].0, seen[0].2),
            (ExceptionSource::LoopLag, lines[64])
        );
        assert!(seen[0].1.starts_with("36 items in a row"), "{}", seen[0].1);
    }
    hundred_callbacks_one_slow(&lp);
    lp.run_once(Some(Duration::ZERO)).unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        (seen[1].0, seen[1].2),
        (ExceptionSource::SlowCallback, lines[70])
    );
    assert_eq!(lp.stats().slow_items, 1);
}

#[test]
fn debug_mode_names_the_slow_item_itself() {
    let lp = EventLoop::builder()
        .slow_callback_duration(Some(THRESHOLD))
        .debug(true)
        .build()
        .unwrap();
    let seen = reports(&lp);
    let lines = hundred_callbacks_one_slow(&lp);
    lp.run_once(Some(Duration::ZERO)).unwrap();
    let lines_seen: Vec<_> = seen.borrow().iter().map(|r| (r.0, r.2)).collect();
    assert_eq!(lines_seen, [(ExceptionSource::SlowCallback, lines[70])]);
}

#[test]
fn many_quick_items_without_a_poll_are_loop_lag() {
    // Each poll of the task takes half the threshold: no single item is
    // slow, but the loop polls for I/O only when it goes idle at the end.
    let lp = watched_loop();
    let seen = reports(&lp);
    lp.run_until_complete(async {
        for _ in 0..8 {
            std::thread::sleep(THRESHOLD / 2);
            evloop::yield_now().await;
        }
        evloop::sleep(Duration::from_millis(1)).await;
    })
    .unwrap();
    let sources: Vec<_> = seen.borrow().iter().map(|r| r.0).collect();
    assert_eq!(sources, [ExceptionSource::LoopLag]);
    assert!(lp.stats().max_lag >= THRESHOLD);
    assert_eq!(lp.stats().slow_items, 0);
}

#[test]
fn no_reports_when_slow_callback_detection_is_off() {
    let lp = EventLoop::builder()
        .slow_callback_duration(None)
        .build()
        .unwrap();
    let seen = reports(&lp);
    lp.call_soon(|| std::thread::sleep(SLOW)).unwrap();
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert!(seen.borrow().is_empty());
    assert_eq!(lp.stats().slow_items, 0);
    assert!(lp.stats().longest_item > Duration::ZERO, "still timed");
}

#[test]
fn high_water_marks_of_the_ready_and_remote_queues() {
    let lp = EventLoop::new();
    for _ in 0..100 {
        lp.call_soon(|| {}).unwrap();
    }
    let handle = lp.handle();
    std::thread::spawn(move || {
        for _ in 0..7 {
            handle.call_soon_threadsafe(|| {}).unwrap();
        }
    })
    .join()
    .unwrap();
    run_until_idle(&lp);
    let stats = lp.stats();
    assert_eq!(stats.remote_high_water, 7);
    assert_eq!(
        stats.ready_high_water, 107,
        "100 callbacks + 7 drained jobs"
    );
}

#[test]
fn high_water_mark_of_the_executor() {
    let lp = EventLoop::builder().executor_threads(1).build().unwrap();
    assert_eq!(lp.stats().executor_high_water, 0);
    let gate = Arc::new(AtomicBool::new(false));
    let jobs: Vec<_> = (0..3)
        .map(|_| {
            let gate = gate.clone();
            lp.run_in_executor(move || {
                while !gate.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
            })
        })
        .collect();
    gate.store(true, Ordering::Release);
    lp.run_until_complete(async {
        for job in jobs {
            job.await.unwrap();
        }
    })
    .unwrap();
    assert_eq!(lp.stats().executor_high_water, 3);
}

#[test]
fn debug_mode_reports_each_task_destroyed_while_pending() {
    let lp = EventLoop::builder().debug(true).build().unwrap();
    let seen = reports(&lp);
    let line = line!() + 1;
    let _a = lp.ensure_future(std::future::pending::<()>());
    let done = lp.ensure_future(async {});
    lp.run_until_complete(done).unwrap().unwrap();
    lp.close().unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1, "only the pending task: {seen:?}");
    assert_eq!(
        (seen[0].0, seen[0].2),
        (ExceptionSource::PendingTaskDestroyed, line)
    );
}

#[test]
fn without_debug_mode_pending_tasks_go_quietly() {
    let lp = EventLoop::new();
    let seen = reports(&lp);
    let _a = lp.ensure_future(std::future::pending::<()>());
    lp.close().unwrap();
    assert!(seen.borrow().is_empty());
}

#[test]
fn a_slow_fd_callback_is_named_where_add_reader_was_called() {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let lp = watched_loop();
    let seen = reports(&lp);
    let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let fd = b.as_raw_fd();
    let line = line!() + 1;
    lp.add_reader(fd, move || {
        std::thread::sleep(SLOW);
        EventLoop::current().remove_reader(fd).unwrap();
    })
    .unwrap();
    a.write_all(b"x").unwrap();
    lp.run_once(Some(Duration::from_secs(5))).unwrap(); // the poll queues it
    lp.run_once(Some(Duration::ZERO)).unwrap(); //         it runs (if not yet)
    let sources: Vec<_> = seen.borrow().iter().map(|r| (r.0, r.2)).collect();
    assert_eq!(sources, [(ExceptionSource::SlowCallback, line)]);
    drop(b);
}
