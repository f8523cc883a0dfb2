//! Review findings on the stopwatch (`src/watch.rs` and its use in
//! `src/core.rs`). Each test demonstrates a bug; they fail on `main` at
//! f09a2e4.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use evloop::{EventLoop, Exception, ExceptionSource};

const THRESHOLD: Duration = Duration::from_millis(50);
const SLOW: Duration = Duration::from_millis(150);

/// Runs a loop whose exception handler reacts to a slow callback with
/// `react` (which must end the run), and returns how many times the loop
/// blocked in `epoll_wait` meanwhile. A watchdog stops the loop after 30 s
/// if the handler's work was ignored, so a failure ends instead of hanging.
fn parks_before_the_handler_ends_the_run(react: fn(&EventLoop)) -> u64 {
    let lp = EventLoop::builder()
        .slow_callback_duration(Some(THRESHOLD))
        .build()
        .unwrap();
    lp.set_exception_handler(Some(move |e: &Exception<'_>| {
        if e.source() == ExceptionSource::SlowCallback {
            react(&EventLoop::current());
        }
    }));
    lp.call_soon(|| std::thread::sleep(SLOW)).unwrap();
    let handle = lp.handle();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        let _ = handle.stop();
    });
    lp.run_forever().unwrap();
    lp.stats().parks
}

/// The exception handler ran in `poll_io` after the timeout was computed
/// and the loop declared itself parked: work the handler schedules (here:
/// `stop()`) did not shorten the `epoll_wait` that followed, so the loop
/// slept with work to do (until the watchdog).
#[test]
fn a_handler_that_stops_the_loop_at_a_poll_report_is_not_ignored() {
    let parks = parks_before_the_handler_ends_the_run(|lp| lp.stop());
    assert_eq!(
        parks, 0,
        "the loop blocked in epoll_wait with a stop pending"
    );
}

/// Same, with `call_soon` from the handler: the callback waited for the
/// next I/O event or timer instead of running in the next iteration.
#[test]
fn a_callback_scheduled_by_the_handler_at_a_poll_report_runs_without_waiting() {
    let parks = parks_before_the_handler_ends_the_run(|lp| {
        lp.call_soon(|| EventLoop::current().stop()).unwrap();
    });
    assert_eq!(parks, 0, "the handler's callback waited in epoll_wait");
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

/// `Watch::resume` resets `last` and `last_poll` but not the per-poll
/// state (`reported`, `items_since_poll`, `first_since_poll`,
/// `own_since_poll`): a run that ended without polling leaks it into the
/// next run. Here the first run's last callback is quick and ran without a
/// poll; the second run's lag is then named after that callback (from
/// another run), and counts its item.
#[test]
fn a_lag_report_names_an_item_of_this_run() {
    let lp = EventLoop::builder()
        .slow_callback_duration(Some(THRESHOLD))
        .build()
        .unwrap();
    let seen: Rc<RefCell<Vec<(ExceptionSource, u32, String)>>> = Rc::default();
    let s = seen.clone();
    lp.set_exception_handler(Some(move |e: &Exception<'_>| {
        let m = e.message().unwrap_or("").to_string();
        s.borrow_mut().push((e.source(), e.location().line(), m));
    }));
    lp.call_soon(|| {}).unwrap(); // ready: the iteration does not poll
    lp.run_once(Some(Duration::ZERO)).unwrap();
    // A pending timer makes phase 5 stamp every iteration: each poll of
    // the task is its own (quick) stretch, and only the poll-to-poll lag
    // can see that the loop went 8 × 30 ms without polling.
    let _t = lp.call_later(Duration::from_secs(60), || {}).unwrap();
    let line = line!() + 1;
    lp.run_until_complete(async {
        for _ in 0..8 {
            std::thread::sleep(THRESHOLD * 3 / 5);
            evloop::yield_now().await;
        }
        evloop::sleep(Duration::from_millis(1)).await; // a poll, to judge the lag
    })
    .unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].0, seen[0].1),
        (ExceptionSource::LoopLag, line),
        "{seen:?}"
    );
}

/// Same state, other symptom: a report made as the previous run ended
/// (`Running::drop`) leaves `reported` set, and the next run's lag goes
/// unreported.
#[test]
fn a_report_at_the_end_of_a_run_does_not_silence_the_next_runs_lag() {
    let lp = EventLoop::builder()
        .slow_callback_duration(Some(THRESHOLD))
        .build()
        .unwrap();
    let seen: Rc<RefCell<Vec<ExceptionSource>>> = Rc::default();
    let s = seen.clone();
    lp.set_exception_handler(Some(move |e: &Exception<'_>| {
        s.borrow_mut().push(e.source())
    }));
    lp.call_soon(|| std::thread::sleep(SLOW)).unwrap();
    lp.run_once(Some(Duration::ZERO)).unwrap(); // SlowCallback, at the exit
    let _t = lp.call_later(Duration::from_secs(60), || {}).unwrap();
    lp.run_until_complete(async {
        for _ in 0..8 {
            std::thread::sleep(THRESHOLD * 3 / 5);
            evloop::yield_now().await;
        }
        evloop::sleep(Duration::from_millis(1)).await;
    })
    .unwrap();
    assert_eq!(
        *seen.borrow(),
        [ExceptionSource::SlowCallback, ExceptionSource::LoopLag]
    );
}

/// The last stretch of a run is judged in `Running::drop`, after
/// `run_forever` / `run_once` cleared the stop request: a `stop()` from the
/// handler there (the loop still says it is running) is left pending and
/// stops the *next* run after one iteration.
#[test]
fn a_stop_from_the_handler_at_the_end_of_a_run_does_not_stop_the_next_run() {
    let lp = EventLoop::builder()
        .slow_callback_duration(Some(THRESHOLD))
        .build()
        .unwrap();
    lp.set_exception_handler(Some(|e: &Exception<'_>| {
        if e.source() == ExceptionSource::SlowTask {
            let lp = EventLoop::current();
            assert!(lp.is_running());
            lp.stop();
        }
    }));
    lp.run_until_complete(async { std::thread::sleep(SLOW) })
        .unwrap();
    let next = lp.run_until_complete(async {
        evloop::yield_now().await;
        5
    });
    assert_eq!(next.ok(), Some(5));
}

/// `Stats::executor_high_water` is read from the live pool: after
/// `shutdown_default_executor` (or `close`) the mark falls back to 0.
#[test]
fn the_executor_high_water_mark_survives_shutdown() {
    let lp = EventLoop::builder().executor_threads(1).build().unwrap();
    let job = lp.run_in_executor(|| ());
    lp.run_until_complete(job).unwrap().unwrap();
    assert_eq!(lp.stats().executor_high_water, 1);
    lp.shutdown_default_executor();
    assert_eq!(
        lp.stats().executor_high_water,
        1,
        "a high-water mark went down"
    );
}
