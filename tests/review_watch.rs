//! Review findings on the stopwatch (`src/watch.rs` and its use in
//! `src/core.rs`). Each test demonstrates a bug; they fail on `main` at
//! f09a2e4.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use evloop::{EventLoop, Exception, ExceptionSource};

const THRESHOLD: Duration = Duration::from_millis(50);
const SLOW: Duration = Duration::from_millis(150);

/// The exception handler runs in `poll_io` after the timeout was computed
/// and the loop declared itself parked: work the handler schedules (here:
/// `stop()`; `call_soon` is the same) does not shorten the `epoll_wait`
/// that follows, so the loop sleeps with work to do (until the watchdog).
#[test]
fn a_handler_that_stops_the_loop_at_a_poll_report_is_not_ignored() {
    let lp = EventLoop::builder()
        .slow_callback_duration(Some(THRESHOLD))
        .build()
        .unwrap();
    lp.set_exception_handler(Some(|e: &Exception<'_>| {
        if e.source() == ExceptionSource::SlowCallback {
            EventLoop::current().stop();
        }
    }));
    lp.call_soon(|| std::thread::sleep(SLOW)).unwrap();
    // Watchdog: stops the loop after 3 s in any case.
    let handle = lp.handle();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        let _ = handle.stop();
    });
    let start = Instant::now();
    lp.run_forever().unwrap();
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "run_forever ignored the handler's stop() for {took:?}"
    );
}

/// Same, with `call_soon` from the handler: the callback waits for the
/// next I/O event or timer instead of running in the next iteration.
#[test]
fn a_callback_scheduled_by_the_handler_at_a_poll_report_runs_without_waiting() {
    let lp = EventLoop::builder()
        .slow_callback_duration(Some(THRESHOLD))
        .build()
        .unwrap();
    lp.set_exception_handler(Some(|e: &Exception<'_>| {
        if e.source() == ExceptionSource::SlowCallback {
            let lp = EventLoop::current();
            lp.call_soon(|| EventLoop::current().stop()).unwrap();
        }
    }));
    lp.call_soon(|| std::thread::sleep(SLOW)).unwrap();
    let handle = lp.handle();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        let _ = handle.stop();
    });
    let start = Instant::now();
    lp.run_forever().unwrap();
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "the handler's callback waited {took:?} in epoll_wait"
    );
}

/// The handler's own time is charged to the item after the reported one:
/// `judge` reports after `stamp()` has set `last`, so the next stamp
/// measures the handler plus the next item. In debug mode with a handler
/// slower than the threshold, every item after a slow one is reported
/// (each report causes the next), named as the quick items.
#[test]
fn the_handlers_time_is_not_charged_to_the_next_item() {
    let lp = EventLoop::builder()
        .slow_callback_duration(Some(THRESHOLD))
        .debug(true)
        .build()
        .unwrap();
    let seen: Rc<RefCell<Vec<u32>>> = Rc::default();
    let s = seen.clone();
    lp.set_exception_handler(Some(move |e: &Exception<'_>| {
        s.borrow_mut().push(e.location().line());
        std::thread::sleep(THRESHOLD + THRESHOLD / 5); // a slow logger
    }));
    let slow_line = line!() + 1;
    lp.call_soon(|| std::thread::sleep(SLOW)).unwrap();
    for _ in 0..5 {
        lp.call_soon(|| {}).unwrap();
    }
    lp.run_once(Some(Duration::ZERO)).unwrap();
    let seen = seen.borrow();
    assert_eq!(
        *seen,
        [slow_line],
        "quick callbacks were reported slow (handler time charged to them)"
    );
    assert_eq!(lp.stats().slow_items, 1);
}
