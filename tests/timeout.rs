//! `timeout` / `timeout_at`: a deadline that can be moved while the future
//! runs.

mod util;

use std::future::{pending, Future};
use std::time::Duration;

use evloop::TimedOut;
use util::{virtual_loop, Drops, Log};

const SEC: Duration = Duration::from_secs(1);

#[test]
fn completes_before_the_deadline() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let t = evloop::timeout(10 * SEC, async {
            evloop::sleep(SEC).await;
            "done"
        });
        let handle = t.handle();
        (t.await, handle.expired())
    });
    assert_eq!(out.unwrap(), (Ok("done"), false));
    assert_eq!(lp.next_timeout(), None, "the deadline's timer was removed");
}

#[test]
fn a_ready_future_arms_no_timer() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let t = evloop::timeout(SEC, async { 5 });
        t.await
    });
    assert_eq!(out.unwrap(), Ok(5));
    assert_eq!(lp.stats().timers_fired, 0);
}

#[test]
fn times_out_and_drops_the_inner_future() {
    let lp = virtual_loop();
    let drops = Drops::default();
    let token = drops.token();
    let counted = drops.clone();
    let out = lp.run_until_complete(async move {
        let t = evloop::timeout(SEC, async move {
            let _token = token;
            pending::<()>().await
        });
        let handle = t.handle();
        let result = t.await;
        (result, handle.expired(), counted.count())
    });
    assert_eq!(out.unwrap(), (Err(TimedOut), true, 1));
}

#[test]
fn rescheduled_later_lets_the_inner_future_finish() {
    let lp = virtual_loop();
    let log = Log::new();
    let l = log.clone();
    let out = lp.run_until_complete(async move {
        let t = evloop::timeout(SEC, async {
            evloop::sleep(3 * SEC).await;
            "finished"
        });
        let handle = t.handle();
        let l2 = l.clone();
        let _mover = evloop::ensure_future(async move {
            evloop::sleep(SEC / 2).await;
            assert!(handle.reschedule(evloop::time() + 10 * SEC));
            l2.push("rescheduled");
        });
        let result = t.await;
        l.push("timeout returned");
        result
    });
    assert_eq!(out.unwrap(), Ok("finished"));
    assert_eq!(log.get(), ["rescheduled", "timeout returned"]);
}

#[test]
fn rescheduled_earlier_fires_before_a_later_timer() {
    let lp = virtual_loop();
    let log = Log::new();
    let l = log.clone();
    lp.run_until_complete(async move {
        let t = evloop::timeout(100 * SEC, pending::<()>());
        let handle = t.handle();
        let witness = l.clone();
        // Fires at 5 s: after the rescheduled deadline (2 s), long before
        // the original one (100 s).
        let _witness = evloop::ensure_future(async move {
            evloop::sleep(5 * SEC).await;
            witness.push("5 s timer");
        });
        let mover = handle.clone();
        let _mover = evloop::ensure_future(async move {
            evloop::sleep(SEC).await;
            assert!(mover.reschedule(evloop::time() + SEC));
        });
        let result = t.await;
        l.push(format!("timeout: {result:?}"));
        assert!(handle.expired());
        assert!(
            !handle.reschedule(evloop::time() + SEC),
            "expired: no effect"
        );
        evloop::sleep(10 * SEC).await;
    })
    .unwrap();
    assert_eq!(log.get(), ["timeout: Err(TimedOut)", "5 s timer"]);
}

#[test]
fn rescheduled_before_awaiting_and_into_the_past() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let t = evloop::timeout(100 * SEC, pending::<()>());
        let past = evloop::time();
        assert!(t.reschedule(past));
        assert_eq!(t.deadline(), past);
        t.await
    });
    assert_eq!(out.unwrap(), Err(TimedOut));
}

#[test]
fn timeout_at_uses_the_loop_time_and_reports_its_deadline() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let deadline = evloop::time() + 2 * SEC;
        let t = evloop::timeout_at(deadline, evloop::sleep(SEC));
        assert_eq!(t.deadline(), deadline);
        assert_eq!(t.handle().deadline(), deadline);
        t.await
    });
    assert_eq!(out.unwrap(), Ok(()));
}

#[test]
fn dropping_the_timeout_leaves_no_timer_pending() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let mut t = Box::pin(evloop::timeout(100 * SEC, pending::<()>()));
        // One poll arms the timer.
        let polled = std::future::poll_fn(|cx| {
            assert!(t.as_mut().poll(cx).is_pending());
            std::task::Poll::Ready(())
        });
        polled.await;
        let armed = evloop::get_running_loop().next_timeout().is_some();
        drop(t);
        armed
    });
    assert!(out.unwrap(), "the first poll armed a timer");
    assert_eq!(lp.next_timeout(), None, "the dropped timeout removed it");
}

#[test]
fn a_handle_outliving_its_timeout_is_harmless() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let t = evloop::timeout(SEC, async { 1 });
        let handle = t.handle();
        assert_eq!(t.await, Ok(1));
        // Completed: rescheduling does nothing.
        (handle.reschedule(evloop::time()), handle.expired())
    });
    assert_eq!(out.unwrap(), (false, false));
}
