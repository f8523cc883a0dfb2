//! The loop's methods as free functions: `get_running_loop`,
//! `create_future`, `run_in_executor`, `time`, inside and outside a loop.

mod util;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use evloop::EventLoop;
use util::virtual_loop;

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast_ref::<&str>().unwrap().to_string(),
    }
}

#[test]
fn get_running_loop_is_the_loop_being_run() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let running = evloop::get_running_loop();
        assert!(running.is_running());
        // The same loop: a timer set through it shows in the owner's stats.
        let fired = std::rc::Rc::new(std::cell::Cell::new(false));
        let f = fired.clone();
        running.call_soon(move || f.set(true)).unwrap();
        evloop::yield_now().await;
        evloop::yield_now().await;
        fired.get()
    });
    assert_eq!(out, Ok(true));
    assert!(
        !lp.is_closed(),
        "dropping the reference does not close the loop"
    );
}

#[test]
fn create_future_is_bound_to_the_running_loop() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let fut = evloop::create_future::<&str>();
        let setter = fut.clone();
        evloop::get_running_loop()
            .call_later(Duration::from_secs(1), move || {
                setter.set_result("set").unwrap()
            })
            .unwrap();
        fut.await
    });
    assert_eq!(out.unwrap(), Ok("set"));
}

#[test]
fn run_in_executor_runs_on_the_pool() {
    let lp = EventLoop::new();
    let caller = std::thread::current().id();
    let out = lp.run_until_complete(async move {
        evloop::run_in_executor(move || std::thread::current().id() != caller).await
    });
    assert!(out.unwrap().unwrap());
}

#[test]
fn time_follows_the_virtual_clock() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let start = evloop::time();
        assert_eq!(start, evloop::get_running_loop().time());
        evloop::sleep(Duration::from_secs(3)).await;
        evloop::time() - start
    });
    assert_eq!(out.unwrap(), Duration::from_secs(3));
}

#[test]
fn outside_a_loop_each_panics_naming_itself() {
    for (name, call) in [
        (
            "evloop::get_running_loop",
            Box::new(|| drop(evloop::get_running_loop())) as Box<dyn FnOnce()>,
        ),
        (
            "evloop::create_future",
            Box::new(|| drop(evloop::create_future::<()>())),
        ),
        (
            "evloop::run_in_executor",
            Box::new(|| drop(evloop::run_in_executor(|| ()))),
        ),
        (
            "evloop::time",
            Box::new(|| {
                let _ = evloop::time();
            }),
        ),
    ] {
        let message = panic_message(call);
        assert!(message.starts_with(name), "{message}");
        assert!(message.contains("outside a running evloop"), "{message}");
    }
}

#[test]
fn an_idle_loop_is_not_running_for_the_free_functions() {
    // A loop that exists but is not running on this thread does not count.
    let _lp = virtual_loop();
    assert!(EventLoop::try_current().is_none());
    let message = panic_message(|| {
        let _ = evloop::time();
    });
    assert!(message.starts_with("evloop::time"), "{message}");
}
