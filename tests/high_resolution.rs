//! `Builder::timer_resolution`: sub-millisecond timers wait on a timerfd,
//! re-armed only when the earliest deadline changes. (Lateness itself is a
//! benchmark, not a test: see `cargo compare timer_lateness`.)

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use evloop::EventLoop;

fn hires() -> EventLoop {
    EventLoop::builder()
        .timer_resolution(Duration::from_micros(10))
        .build()
        .unwrap()
}

#[test]
fn sub_millisecond_timers_fire_in_order_and_never_early() {
    let lp = hires();
    let fired = Rc::new(RefCell::new(Vec::new()));
    // One base for all deadlines: their order must not depend on how long
    // the insertions take (under a sanitizer, more than 50 µs).
    let start = lp.time();
    for us in [900u64, 100, 500, 300, 700, 50, 2500] {
        let deadline = start + Duration::from_micros(us);
        let f = fired.clone();
        lp.call_at(deadline, move || {
            assert!(EventLoop::current().time() >= deadline, "fired early");
            f.borrow_mut().push(us);
        })
        .unwrap();
    }
    util::watchdog_local(|| {
        while fired.borrow().len() < 7 {
            lp.run_once(None).unwrap();
        }
    });
    assert_eq!(*fired.borrow(), [50, 100, 300, 500, 700, 900, 2500]);
    let s = lp.stats();
    assert!(s.timer_arms >= 1, "the loop waited on the timerfd");
    assert!(
        s.timer_arms <= s.parks,
        "armed only when it was about to wait: {s:?}"
    );
}

#[test]
fn an_unchanged_earliest_deadline_does_not_re_arm() {
    let lp = hires();
    lp.call_later(Duration::from_millis(30), || EventLoop::current().stop())
        .unwrap();
    // Wake the loop many times before the timer is due: each wake ends a
    // wait, and the next wait finds the same earliest deadline.
    let handle = lp.handle();
    let waker = std::thread::spawn(move || {
        for _ in 0..20 {
            if handle.call_soon_threadsafe(|| {}).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    util::watchdog_local(|| lp.run_forever()).unwrap();
    waker.join().unwrap();
    let s = lp.stats();
    assert!(s.parks > s.timer_arms, "several waits, fewer arms: {s:?}");
    assert_eq!(s.timer_arms, 1, "one deadline, one arm: {s:?}");
}

#[test]
fn long_timers_still_work_in_high_resolution_mode() {
    let lp = hires();
    let out = lp.run_until_complete(async {
        evloop::sleep(Duration::from_millis(3)).await;
        evloop::wait_for(
            Duration::from_micros(300),
            evloop::sleep(Duration::from_secs(10)),
        )
        .await
    });
    assert!(out.unwrap().is_err(), "the 300 µs timeout fired first");
}
