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
fn pending_timers_cost_one_clock_read_per_iteration_at_most() {
    let lp = EventLoop::new();
    lp.call_later(Duration::from_secs(3600), || {}).unwrap();
    let t = lp.ensure_future(async {
        for _ in 0..1000 {
            evloop::yield_now().await;
        }
    });
    lp.run_until_complete(t).unwrap().unwrap();
    let s = lp.stats();
    assert!(s.clock_reads <= s.iterations, "{s:?}");
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
