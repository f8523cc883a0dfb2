//! `create_future` / `LoopFuture`: results, cancellation, callbacks, awaiters.

mod util;

use std::time::Duration;

use evloop::{Cancelled, EventLoop, FutureError};
use util::{tick, Log};

#[test]
fn set_result_wakes_every_awaiter_with_a_clone() {
    let lp = EventLoop::new();
    let fut = lp.create_future::<String>();
    let waiters: Vec<_> = (0..3).map(|_| lp.ensure_future(fut.clone())).collect();
    tick(&lp);
    assert!(!fut.done());
    fut.set_result("hi".into()).unwrap();
    for w in waiters {
        assert_eq!(
            lp.run_until_complete(w).unwrap().unwrap(),
            Ok("hi".to_string())
        );
    }
}

#[test]
fn a_second_set_result_is_invalid_state() {
    let lp = EventLoop::new();
    let fut = lp.create_future::<u8>();
    assert_eq!(fut.result(), Err(FutureError::InvalidState));
    fut.set_result(1).unwrap();
    assert_eq!(fut.set_result(2), Err(FutureError::InvalidState));
    assert!(!fut.cancel());
    assert_eq!(fut.result(), Ok(1));
}

#[test]
fn cancel_resolves_awaiters_to_cancelled() {
    let lp = EventLoop::new();
    let fut = lp.create_future::<u8>();
    let w = lp.ensure_future(fut.clone());
    tick(&lp);
    assert!(fut.cancel());
    assert!(fut.cancelled() && fut.done());
    assert_eq!(lp.run_until_complete(w).unwrap().unwrap(), Err(Cancelled));
    assert_eq!(fut.result(), Err(FutureError::Cancelled));
    assert_eq!(fut.set_result(1), Err(FutureError::InvalidState));
}

#[test]
fn take_moves_a_non_clone_value_out_once() {
    struct NotClone(u32);
    let lp = EventLoop::new();
    let fut = lp.create_future::<NotClone>();
    assert_eq!(fut.take().err(), Some(FutureError::InvalidState));
    fut.set_result(NotClone(3)).unwrap();
    assert_eq!(fut.take().unwrap().0, 3);
    assert_eq!(fut.take().err(), Some(FutureError::InvalidState));
}

#[test]
fn taken_awaits_then_takes() {
    struct NotClone(u32);
    let lp = EventLoop::new();
    let fut = lp.create_future::<NotClone>();
    let setter = fut.clone();
    lp.call_later(Duration::from_millis(1), move || {
        setter.set_result(NotClone(9)).unwrap()
    })
    .unwrap();
    let v = lp.run_until_complete(fut.taken()).unwrap().unwrap();
    assert_eq!(v.0, 9);
}

#[test]
fn done_callbacks_are_scheduled_with_call_soon() {
    let lp = EventLoop::new();
    let log = Log::new();
    let fut = lp.create_future::<u8>();
    let l = log.clone();
    fut.add_done_callback(move |f| l.push(format!("cb1 {:?}", f.result())));
    let l = log.clone();
    fut.add_done_callback(move |f| l.push(format!("cb2 {:?}", f.result())));
    fut.set_result(4).unwrap();
    assert!(
        log.get().is_empty(),
        "callbacks are not called inside set_result"
    );
    tick(&lp);
    assert_eq!(log.take(), ["cb1 Ok(4)", "cb2 Ok(4)"]);
    let l = log.clone();
    fut.add_done_callback(move |_| l.push("late"));
    assert!(log.get().is_empty());
    tick(&lp);
    assert_eq!(log.take(), ["late"]);
}

#[test]
#[should_panic(expected = "after its value was taken")]
fn awaiting_after_take_is_reported_not_hung() {
    let lp = EventLoop::new();
    let fut = lp.create_future::<u8>();
    fut.set_result(1).unwrap();
    fut.take().unwrap();
    let _ = lp.run_until_complete(fut);
}
