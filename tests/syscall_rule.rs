//! DESIGN.md's syscall rule, checked with the loop's counters: while only
//! ready work is waiting, the loop neither calls `epoll_wait` on every
//! iteration nor reads the clock.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use evloop::EventLoop;

#[test]
fn busy_iterations_skip_epoll_and_the_clock() {
    let lp = EventLoop::new();
    let hops = Rc::new(Cell::new(0u32));
    let h = hops.clone();
    let t = lp.ensure_future(async move {
        for _ in 0..6100 {
            h.set(h.get() + 1);
            evloop::yield_now().await;
        }
    });
    let before = lp.stats();
    lp.run_until_complete(t).unwrap().unwrap();
    let s = lp.stats();
    let iterations = s.iterations - before.iterations;
    assert!(iterations >= 6100);
    let polls = s.io_polls - before.io_polls;
    assert!(
        polls <= iterations / 61 + 2,
        "{polls} epoll_wait calls for {iterations} busy iterations"
    );
    assert_eq!(s.clock_reads, 0, "no timer pending: no clock read");
    assert_eq!(s.parks, 0, "never went to sleep");
}

#[test]
fn a_far_timer_costs_busy_iterations_no_precise_clock_read() {
    // A timer an hour away, as real programs always have one: busy
    // iterations ask only the coarse clock whether it may be due; the
    // precise clock is read when the loop polls (once in 61 iterations
    // here) and when the timer is armed.
    let lp = EventLoop::new();
    lp.call_later(Duration::from_secs(3600), || {}).unwrap();
    let t = lp.ensure_future(async {
        for _ in 0..6100 {
            evloop::yield_now().await;
        }
    });
    let before = lp.stats();
    lp.run_until_complete(t).unwrap().unwrap();
    let s = lp.stats();
    let iterations = s.iterations - before.iterations;
    let polls = s.io_polls - before.io_polls;
    let reads = s.clock_reads - before.clock_reads;
    assert!(iterations >= 6100);
    assert!(
        reads <= polls + 2,
        "{reads} precise clock reads for {iterations} busy iterations ({polls} polls)"
    );
    assert_eq!(s.timers_fired, 0);
}

#[test]
fn a_timer_armed_on_a_busy_loop_still_fires_when_due() {
    // The cached earliest deadline is lowered by every insert: a short
    // timer armed while a far one is pending and the loop is busy fires,
    // in a later iteration, before the busy task ends.
    let lp = EventLoop::builder().virtual_time().build().unwrap();
    lp.call_later(Duration::from_secs(3600), || {}).unwrap();
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    let t = lp.ensure_future(async move {
        let lp = EventLoop::current();
        let mut i = 0u32;
        let f2 = f.clone();
        lp.call_later(Duration::ZERO, move || f2.set(true)).unwrap();
        while !f.get() && i < 1000 {
            i += 1;
            evloop::yield_now().await;
        }
        i
    });
    let spun = lp.run_until_complete(t).unwrap().unwrap();
    assert!(fired.get(), "the due timer never fired");
    assert!(spun < 10, "it took {spun} iterations");
}

#[test]
fn an_idle_loop_parks_in_epoll_until_a_timer() {
    let lp = EventLoop::new();
    lp.run_until_complete(evloop_sleep_ms(5)).unwrap();
    let s = lp.stats();
    assert!(s.parks >= 1, "{s:?}");
    assert!(s.timers_fired >= 1);
}

async fn evloop_sleep_ms(ms: u64) {
    evloop::sleep(Duration::from_millis(ms)).await
}
