//! `call_soon`: FIFO order, the snapshot rule, cancellation, re-entrancy.

mod util;

use std::cell::Cell;
use std::rc::Rc;

use evloop::{EventLoop, RunError};
use util::{tick, Log};

#[test]
fn callbacks_run_in_fifo_order() {
    let lp = EventLoop::new();
    let log = Log::new();
    for i in 0..100 {
        lp.call_soon(log.cb(&i.to_string())).unwrap();
    }
    tick(&lp);
    let expected: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    assert_eq!(log.take(), expected);
}

#[test]
fn what_a_callback_schedules_runs_next_iteration() {
    let lp = EventLoop::new();
    let log = Log::new();
    let l = log.clone();
    lp.call_soon(move || {
        l.push("a");
        let l2 = l.clone();
        EventLoop::current()
            .call_soon(move || l2.push("c"))
            .unwrap();
    })
    .unwrap();
    lp.call_soon(log.cb("b")).unwrap();
    tick(&lp);
    assert_eq!(
        log.take(),
        ["a", "b"],
        "the snapshot excludes new callbacks"
    );
    tick(&lp);
    assert_eq!(log.take(), ["c"]);
}

#[test]
fn cancelled_callback_never_runs_and_is_dropped_at_once() {
    let lp = EventLoop::new();
    let drops = util::Drops::default();
    let token = drops.token();
    let h = lp.call_soon(move || drop(token)).unwrap();
    assert!(h.is_pending());
    assert!(h.cancel());
    assert_eq!(drops.count(), 1, "the closure is dropped by cancel()");
    assert!(!h.cancel());
    assert!(!h.is_pending());
    tick(&lp);
}

#[test]
fn cancel_after_run_is_a_noop_and_cancels_nothing_else() {
    let lp = EventLoop::new();
    let log = Log::new();
    let h = lp.call_soon(log.cb("first")).unwrap();
    tick(&lp);
    lp.call_soon(log.cb("second")).unwrap();
    assert!(!h.cancel(), "the callback already ran");
    tick(&lp);
    assert_eq!(log.take(), ["first", "second"]);
}

#[test]
fn a_callback_can_cancel_a_later_one_in_the_same_batch() {
    let lp = EventLoop::new();
    let log = Log::new();
    let slot: Rc<Cell<Option<evloop::Handle>>> = Rc::default();
    let s = slot.clone();
    lp.call_soon(move || {
        assert!(s.take().unwrap().cancel());
    })
    .unwrap();
    slot.set(Some(lp.call_soon(log.cb("victim")).unwrap()));
    lp.call_soon(log.cb("survivor")).unwrap();
    tick(&lp);
    assert_eq!(log.take(), ["survivor"]);
}

#[test]
fn run_until_complete_inside_a_callback_is_already_running() {
    let lp = EventLoop::new();
    let got = Rc::new(Cell::new(None));
    let g = got.clone();
    lp.call_soon(move || {
        let inner = EventLoop::current();
        g.set(Some(inner.run_until_complete(async { 1 }).unwrap_err()));
        let other = EventLoop::new();
        assert_eq!(
            other.run_until_complete(async {}),
            Err(RunError::AlreadyRunning)
        );
        assert_eq!(other.run_forever(), Err(RunError::AlreadyRunning));
        assert_eq!(inner.run_once(None), Err(RunError::AlreadyRunning));
        assert_eq!(inner.close(), Err(RunError::AlreadyRunning));
        assert!(inner.is_running());
    })
    .unwrap();
    tick(&lp);
    assert_eq!(got.get(), Some(RunError::AlreadyRunning));
    assert!(!lp.is_running());
}

#[test]
fn calls_on_a_closed_loop_are_refused() {
    let lp = EventLoop::new();
    lp.close().unwrap();
    assert!(lp.is_closed());
    assert!(lp.call_soon(|| {}).unwrap_err().is_closed());
    assert!(lp
        .call_later(std::time::Duration::from_secs(1), || {})
        .is_err());
    assert!(lp.call_at(lp.time(), || {}).is_err());
    assert_eq!(lp.run_forever(), Err(RunError::Closed));
    assert_eq!(lp.run_once(None), Err(RunError::Closed));
    assert_eq!(lp.run_until_complete(async {}), Err(RunError::Closed));
    assert!(lp.handle().call_soon_threadsafe(|| {}).is_err());
    lp.close().unwrap(); // idempotent
}

#[test]
fn stop_ends_run_forever_after_the_current_batch() {
    let lp = EventLoop::new();
    let log = Log::new();
    let l = log.clone();
    lp.call_soon(move || {
        l.push("stopper");
        EventLoop::current().stop();
        let l2 = l.clone();
        EventLoop::current()
            .call_soon(move || l2.push("next run"))
            .unwrap();
    })
    .unwrap();
    lp.call_soon(log.cb("same batch")).unwrap();
    lp.run_forever().unwrap();
    assert_eq!(log.take(), ["stopper", "same batch"]);
    // stop() before run_forever: one iteration, then return.
    lp.stop();
    lp.run_forever().unwrap();
    assert_eq!(log.take(), ["next run"]);
}
