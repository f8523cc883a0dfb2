//! `Builder::virtual_time`: the clock moves only when the loop would sleep,
//! and then jumps to the next timer.

mod util;

use std::time::Duration;

use evloop::EventLoop;
use util::{virtual_loop, Log};

#[test]
fn long_sleeps_run_instantly_and_exactly() {
    let lp = virtual_loop();
    let start = lp.time();
    let real_start = std::time::Instant::now();
    let elapsed = lp
        .run_until_complete(async move {
            for _ in 0..100 {
                evloop::sleep(Duration::from_secs(3600)).await;
            }
            EventLoop::current().time() - start
        })
        .unwrap();
    assert_eq!(
        elapsed,
        Duration::from_secs(360_000),
        "exactly 100 hours of loop time"
    );
    // Not a timing assertion on the loop: a sanity bound that real time
    // did not pass (100 real hours would never finish).
    assert!(real_start.elapsed() < Duration::from_secs(3600));
}

#[test]
fn time_stands_still_while_work_is_ready() {
    let lp = virtual_loop();
    let t0 = lp.time();
    let t = lp.ensure_future(async {
        for _ in 0..100 {
            evloop::yield_now().await;
        }
    });
    lp.run_until_complete(t).unwrap().unwrap();
    assert_eq!(lp.time(), t0);
}

#[test]
fn the_clock_jumps_to_each_deadline_in_turn() {
    let lp = virtual_loop();
    let log = Log::new();
    let start = lp.time();
    for ms in [250u64, 1000, 1750] {
        let l = log.clone();
        lp.call_later(Duration::from_millis(ms), move || {
            let now = EventLoop::current().time() - start;
            l.push(format!("{ms}@{}", now.as_millis()));
        })
        .unwrap();
    }
    lp.call_later(Duration::from_secs(2), || EventLoop::current().stop())
        .unwrap();
    lp.run_forever().unwrap();
    assert_eq!(log.take(), ["250@250", "1000@1000", "1750@1750"]);
}

#[test]
fn wait_for_times_out_in_virtual_time() {
    let lp = virtual_loop();
    let drops = util::Drops::default();
    let token = drops.token();
    let out = lp
        .run_until_complete(async move {
            let slow = async move {
                let _token = token;
                evloop::sleep(Duration::from_secs(10)).await;
                "slow"
            };
            let r = evloop::wait_for(Duration::from_secs(2), slow).await;
            (r, EventLoop::current().time())
        })
        .unwrap();
    assert!(out.0.is_err());
    assert_eq!(
        drops.count(),
        1,
        "the inner future is dropped at the timeout"
    );
    let fast = lp
        .run_until_complete(async { evloop::wait_for(Duration::from_secs(2), async { 5 }).await });
    assert_eq!(fast, Ok(Ok(5)));
}

#[test]
fn run_once_with_zero_timeout_does_not_move_virtual_time() {
    let lp = virtual_loop();
    let t0 = lp.time();
    lp.call_later(Duration::from_secs(1), || {}).unwrap();
    util::tick(&lp);
    assert_eq!(lp.time(), t0);
    lp.run_once(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(lp.time() - t0, Duration::from_secs(1));
}
