//! `interval`: the schedule, `reset`, and the three `MissedTickBehavior`s.
//!
//! Missed ticks are made two ways: on virtual time, by a task that sleeps
//! through 3.5 periods between two ticks (exact counts and instants); on
//! real time, by blocking the loop thread with `std::thread::sleep`
//! (instants compared with the schedule and with clock readings taken
//! around each call, never with a margin of wall time).

mod util;

use std::time::{Duration, Instant};

use evloop::MissedTickBehavior::{self, Burst, Delay, Skip};
use util::virtual_loop;

const P: Duration = Duration::from_millis(100);

#[test]
fn the_first_tick_is_at_once_and_the_rest_follow_the_schedule() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let start = evloop::time();
        let mut ticks = evloop::interval(P);
        assert_eq!(ticks.period(), P);
        assert_eq!(ticks.missed_tick_behavior(), Burst);
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(ticks.tick().await - start);
        }
        seen
    });
    assert_eq!(out.unwrap(), [Duration::ZERO, P, 2 * P, 3 * P]);
}

#[test]
fn interval_at_starts_at_the_given_instant() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let start = evloop::time();
        let mut ticks = evloop::interval_at(start + 5 * P, P);
        let first = ticks.tick().await;
        (first - start, evloop::time() - start)
    });
    assert_eq!(out.unwrap(), (5 * P, 5 * P));
}

/// On virtual time: ticks at 0 and 100 ms, then 350 ms of work, then
/// `n` more ticks. Each: (scheduled instant, loop time when it returned),
/// relative to the start.
fn after_a_gap(behavior: MissedTickBehavior, n: usize) -> Vec<(Duration, Duration)> {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async move {
        let start = evloop::time();
        let mut ticks = evloop::interval(P);
        ticks.set_missed_tick_behavior(behavior);
        ticks.tick().await;
        ticks.tick().await;
        evloop::sleep(P * 35 / 10).await; // now at 450 ms: 200, 300, 400 missed
        let mut seen = Vec::new();
        for _ in 0..n {
            let at = ticks.tick().await;
            seen.push((at - start, evloop::time() - start));
        }
        seen
    });
    out.unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn burst_returns_the_missed_ticks_at_once_then_keeps_the_schedule() {
    let seen = after_a_gap(Burst, 5);
    assert_eq!(
        seen,
        [
            (ms(200), ms(450)),
            (ms(300), ms(450)),
            (ms(400), ms(450)),
            (ms(500), ms(500)),
            (ms(600), ms(600)),
        ]
    );
}

#[test]
fn delay_returns_one_missed_tick_then_counts_from_the_late_call() {
    let seen = after_a_gap(Delay, 3);
    assert_eq!(
        seen,
        [(ms(200), ms(450)), (ms(550), ms(550)), (ms(650), ms(650))]
    );
}

#[test]
fn skip_returns_one_missed_tick_then_rejoins_the_schedule() {
    let seen = after_a_gap(Skip, 3);
    assert_eq!(
        seen,
        [(ms(200), ms(450)), (ms(500), ms(500)), (ms(600), ms(600))]
    );
}

#[test]
fn a_tick_within_five_ms_of_its_time_is_not_missed() {
    // 4 ms late: still on time, so Delay keeps the schedule.
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let start = evloop::time();
        let mut ticks = evloop::interval(P);
        ticks.set_missed_tick_behavior(Delay);
        ticks.tick().await;
        evloop::sleep(P + ms(4)).await;
        ticks.tick().await;
        ticks.tick().await - start
    });
    assert_eq!(out.unwrap(), 2 * P);
}

#[test]
fn reset_starts_the_schedule_again_from_now() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let start = evloop::time();
        let mut ticks = evloop::interval(P);
        ticks.tick().await;
        evloop::sleep(ms(30)).await;
        ticks.reset();
        let next = ticks.tick().await - start;
        let after = ticks.tick().await - start;
        (next, after)
    });
    assert_eq!(out.unwrap(), (ms(130), ms(230)));
}

#[test]
fn a_dropped_tick_loses_no_tick_and_a_dropped_interval_leaves_no_timer() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let start = evloop::time();
        let mut ticks = evloop::interval(P);
        ticks.tick().await;
        // A tick abandoned half-way (its timer armed) is not lost.
        let abandoned = evloop::timeout(ms(50), ticks.tick()).await;
        assert!(abandoned.is_err());
        let next = ticks.tick().await - start;
        evloop::timeout(ms(50), ticks.tick()).await.unwrap_err();
        drop(ticks);
        next
    });
    assert_eq!(out.unwrap(), P);
    assert_eq!(lp.next_timeout(), None);
}

#[test]
#[should_panic(expected = "period must be non-zero")]
fn a_zero_period_panics() {
    let lp = virtual_loop();
    let _ = lp.run_until_complete(async {
        let _ticks = evloop::interval(Duration::ZERO);
    });
}

// ---- real time: the loop thread blocked ------------------------------------

/// Real time, period `RP`: a tick at `t0`, then the loop thread blocked
/// for 3.5 periods, then `n` ticks. Each: (the loop time just before the
/// call, the instant returned, the loop time just after), and `t0`.
fn blocked(behavior: MissedTickBehavior, n: usize) -> (Instant, Vec<(Instant, Instant, Instant)>) {
    // The block is on purpose: no slow-task report for it.
    let lp = evloop::EventLoop::builder()
        .slow_callback_duration(None)
        .build()
        .unwrap();
    let out = lp.run_until_complete(async move {
        let mut ticks = evloop::interval(RP);
        ticks.set_missed_tick_behavior(behavior);
        let t0 = ticks.tick().await;
        std::thread::sleep(RP * 35 / 10); // never less than asked
        let mut seen = Vec::new();
        for _ in 0..n {
            let before = evloop::time();
            let at = ticks.tick().await;
            seen.push((before, at, evloop::time()));
        }
        (t0, seen)
    });
    out.unwrap()
}

const RP: Duration = Duration::from_millis(20);

#[test]
fn burst_after_blocking_the_loop() {
    let (t0, seen) = blocked(Burst, 5);
    for (k, (before, at, _)) in seen.iter().enumerate() {
        assert_eq!(*at, t0 + RP * (k as u32 + 1), "Burst keeps the schedule");
        if k < 3 {
            // 3.5 periods blocked: the first three were already due.
            assert!(before >= at, "tick {k} was missed, so returned at once");
        }
    }
}

#[test]
fn delay_after_blocking_the_loop() {
    let (t0, seen) = blocked(Delay, 3);
    let (before, first, after) = seen[0];
    assert_eq!(first, t0 + RP, "the missed tick comes first");
    assert!(before >= first);
    // The next is one period after the late call (read inside it).
    assert!(seen[1].1 >= before + RP && seen[1].1 <= after + RP);
    assert_eq!(seen[2].1, seen[1].1 + RP, "then every period from there");
}

#[test]
fn skip_after_blocking_the_loop() {
    let (t0, seen) = blocked(Skip, 3);
    let (before, first, after) = seen[0];
    assert_eq!(first, t0 + RP, "the missed tick comes first");
    assert!(before >= first);
    // The next is the first scheduled tick after the late call.
    let next = seen[1].1;
    let periods = (next - t0).as_nanos() / RP.as_nanos();
    assert_eq!(next, t0 + RP * periods as u32, "on the original schedule");
    assert!(next > before && next <= after + RP);
    assert!(periods >= 4, "200, 400 and 600 ms were skipped");
    assert_eq!(seen[2].1, next + RP);
}
