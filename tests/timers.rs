//! `call_later` / `call_at`: ordering, never early, cancellation, far deadlines.

mod util;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use evloop::EventLoop;
use util::{tick, virtual_loop, Log};

const MS: Duration = Duration::from_millis(1);

#[test]
fn timers_fire_in_deadline_order() {
    let lp = virtual_loop();
    let log = Log::new();
    for (name, ms) in [("c", 30), ("a", 10), ("d", 1000), ("b", 20)] {
        lp.call_later(MS * ms, log.cb(name)).unwrap();
    }
    lp.call_later(MS * 2000, || EventLoop::current().stop())
        .unwrap();
    lp.run_forever().unwrap();
    assert_eq!(log.take(), ["a", "b", "c", "d"]);
}

#[test]
fn equal_deadlines_fire_in_scheduling_order_across_levels() {
    let lp = virtual_loop();
    let log = Log::new();
    let at = lp.time() + Duration::from_secs(3600); // far enough to cascade
    for i in 0..50 {
        lp.call_at(at, log.cb(&i.to_string())).unwrap();
    }
    lp.call_at(at + MS, || EventLoop::current().stop()).unwrap();
    lp.run_forever().unwrap();
    let expected: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    assert_eq!(log.take(), expected);
}

#[test]
fn a_timer_never_fires_before_its_deadline_real_clock() {
    let lp = EventLoop::new();
    let fired = Rc::new(Cell::new(0));
    for us in [0u64, 1, 50, 999, 1000, 1001, 2500] {
        let deadline = lp.time() + Duration::from_micros(us);
        let f = fired.clone();
        lp.call_at(deadline, move || {
            assert!(EventLoop::current().time() >= deadline, "fired early");
            f.set(f.get() + 1);
        })
        .unwrap();
    }
    while fired.get() < 7 {
        lp.run_once(None).unwrap();
    }
}

#[test]
fn call_later_zero_runs_after_already_queued_callbacks() {
    let lp = EventLoop::new();
    let log = Log::new();
    lp.call_soon(log.cb("soon-1")).unwrap();
    lp.call_later(Duration::ZERO, log.cb("later-0")).unwrap();
    lp.call_soon(log.cb("soon-2")).unwrap();
    while log.get().len() < 3 {
        lp.run_once(None).unwrap();
    }
    assert_eq!(log.take(), ["soon-1", "soon-2", "later-0"]);
}

#[test]
fn cancel_frees_the_callback_at_once() {
    let lp = virtual_loop();
    let drops = util::Drops::default();
    let token = drops.token();
    let h = lp.call_later(MS * 5, move || drop(token)).unwrap();
    assert!(h.cancel());
    assert_eq!(drops.count(), 1);
    assert!(!h.cancel());
    tick(&lp);
}

#[test]
fn a_timer_can_be_cancelled_after_it_expired_but_before_it_ran() {
    let lp = virtual_loop();
    let log = Log::new();
    let victim: Rc<Cell<Option<evloop::TimerHandle>>> = Rc::default();
    let v = victim.clone();
    // Both expire in the same timers phase; the first cancels the second.
    lp.call_later(MS, move || assert!(v.take().unwrap().cancel()))
        .unwrap();
    victim.set(Some(lp.call_later(MS, log.cb("victim")).unwrap()));
    lp.call_later(MS * 2, || EventLoop::current().stop())
        .unwrap();
    lp.run_forever().unwrap();
    assert!(log.take().is_empty());
}

#[test]
fn deadlines_years_away_work() {
    let lp = virtual_loop();
    let log = Log::new();
    let year = Duration::from_secs(365 * 24 * 3600);
    lp.call_later(year * 3, log.cb("three years")).unwrap();
    lp.call_later(year * 100, log.cb("a century")).unwrap();
    lp.call_later(Duration::from_secs(1), log.cb("a second"))
        .unwrap();
    let start = lp.time();
    lp.call_later(year * 101, || EventLoop::current().stop())
        .unwrap();
    lp.run_forever().unwrap();
    assert_eq!(log.take(), ["a second", "three years", "a century"]);
    assert!(lp.time() - start >= year * 101);
}

#[test]
fn timer_handle_reports_its_deadline() {
    let lp = virtual_loop();
    let at = lp.time() + Duration::from_secs(5);
    let h = lp.call_at(at, || {}).unwrap();
    assert_eq!(h.when(), at);
    let h2 = lp.call_later(Duration::from_secs(5), || {}).unwrap();
    assert_eq!(h2.when(), at, "virtual time has not moved");
}

#[test]
fn a_deadline_in_the_past_fires_at_the_next_timers_phase() {
    let lp = virtual_loop();
    let log = Log::new();
    lp.call_later(MS * 10, log.cb("ten")).unwrap();
    lp.call_later(MS * 20, || EventLoop::current().stop())
        .unwrap();
    lp.run_forever().unwrap();
    let past = lp.time() - MS * 5;
    lp.call_at(past, log.cb("past")).unwrap();
    tick(&lp);
    assert_eq!(log.take(), ["ten", "past"]);
}

#[test]
fn a_huge_batch_of_due_timers_expires_1024_an_iteration_in_order() {
    // 3,000 timers due at once: the timer phase hands them to the ready
    // queue 1,024 an iteration, in (deadline, scheduling) order, and what
    // the first ones schedule runs before the later ones: a sweep of a
    // million due timers does not make one iteration of a million items.
    const N: usize = 3000;
    let lp = virtual_loop();
    let ran: Rc<RefCell<Vec<(usize, u64)>>> = Rc::default();
    let soon_ran_after = Rc::new(Cell::new(None));
    for i in 0..N {
        let (ran, soon_ran_after) = (ran.clone(), soon_ran_after.clone());
        // Two deadlines, the later one scheduled first: the order is by
        // deadline, then by scheduling.
        let delay = Duration::from_millis(if i < N / 2 { 6 } else { 5 });
        lp.call_later(delay, move || {
            let lp = EventLoop::current();
            if ran.borrow().is_empty() {
                let ran = ran.clone();
                let cb = move || soon_ran_after.set(Some(ran.borrow().len()));
                lp.call_soon(cb).unwrap();
            }
            ran.borrow_mut().push((i, lp.stats().iterations));
        })
        .unwrap();
    }
    let wait = async { evloop::sleep(Duration::from_millis(10)).await };
    lp.run_until_complete(wait).unwrap();
    let ran = ran.borrow();
    let order: Vec<usize> = ran.iter().map(|&(i, _)| i).collect();
    let expected: Vec<usize> = (N / 2..N).chain(0..N / 2).collect();
    assert_eq!(order, expected, "deadline order, then scheduling order");
    let mut per_iteration = BTreeMap::<u64, usize>::new();
    for &(_, iteration) in ran.iter() {
        *per_iteration.entry(iteration).or_default() += 1;
    }
    let counts: Vec<usize> = per_iteration.values().copied().collect();
    // 1,500 due at 5 ms, then (the virtual clock moves on) 1,500 at 6 ms.
    assert_eq!(counts, [1024, 476, 1024, 476], "timers run per iteration");
    assert_eq!(
        soon_ran_after.get(),
        Some(1024),
        "a callback the first timer scheduled runs before the second batch"
    );
}

#[test]
fn a_due_timer_waiting_for_a_later_batch_can_still_be_cancelled() {
    // Timer 1,500 is due with the first ones but waits for the second
    // batch; the first timer cancels it meanwhile: it never runs.
    let lp = virtual_loop();
    let ran = Rc::new(Cell::new(0usize));
    let handles: Rc<RefCell<Vec<evloop::TimerHandle>>> = Rc::default();
    let cancelled = Rc::new(Cell::new(None));
    for i in 0..2000 {
        let (ran, all, cancelled) = (ran.clone(), handles.clone(), cancelled.clone());
        let h = lp
            .call_later(Duration::from_millis(5), move || {
                assert_ne!(i, 1500, "a cancelled timer ran");
                if i == 0 {
                    cancelled.set(Some(all.borrow()[1500].cancel()));
                }
                ran.set(ran.get() + 1);
            })
            .unwrap();
        handles.borrow_mut().push(h);
    }
    let wait = async { evloop::sleep(Duration::from_millis(10)).await };
    lp.run_until_complete(wait).unwrap();
    assert_eq!(cancelled.get(), Some(true));
    assert_eq!(ran.get(), 1999);
    assert_eq!(lp.stats().timers_fired, 1999 + 1, "the sleep's timer too");
}
