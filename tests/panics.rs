//! Panics: callbacks and detached tasks go to the exception handler and the
//! loop keeps running; awaited tasks hand the panic to their awaiter.

mod util;

use std::cell::RefCell;
use std::rc::Rc;

use evloop::{EventLoop, ExceptionSource};
use util::{tick, Log};

fn capture(lp: &EventLoop) -> Rc<RefCell<Vec<(ExceptionSource, String, u32)>>> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    lp.set_exception_handler(Some(move |e: &evloop::Exception<'_>| {
        // Only panics: a debug build's first backtrace can take long
        // enough to be reported as a slow item too.
        if !e.source().is_panic() {
            return;
        }
        s.borrow_mut().push((
            e.source(),
            e.message().unwrap_or("").to_string(),
            e.location().line(),
        ))
    }));
    seen
}

#[test]
fn a_panicking_callback_goes_to_the_handler_and_the_loop_goes_on() {
    let lp = EventLoop::new();
    let seen = capture(&lp);
    let log = Log::new();
    let line = line!() + 1;
    lp.call_soon(|| panic!("boom")).unwrap();
    lp.call_soon(log.cb("after")).unwrap();
    tick(&lp);
    assert_eq!(log.take(), ["after"]);
    assert_eq!(
        seen.borrow().as_slice(),
        [(ExceptionSource::Callback, "boom".to_string(), line)]
    );
}

#[test]
fn a_panic_in_a_detached_task_goes_to_the_handler() {
    let lp = EventLoop::new();
    let seen = capture(&lp);
    drop(lp.ensure_future(async { panic!("task boom") }));
    tick(&lp);
    assert_eq!(seen.borrow().len(), 1);
    assert_eq!(seen.borrow()[0].0, ExceptionSource::Task);
    assert_eq!(seen.borrow()[0].1, "task boom");
}

#[test]
fn a_panic_in_an_awaited_task_reaches_the_awaiter() {
    let lp = EventLoop::new();
    let seen = capture(&lp);
    let err = lp
        .run_until_complete(async {
            evloop::ensure_future(async {
                if true {
                    panic!("inner");
                }
            })
            .await
        })
        .unwrap()
        .unwrap_err();
    assert!(err.is_panic() && !err.is_cancelled());
    assert_eq!(err.panic_message(), Some("inner"));
    assert!(
        seen.borrow().is_empty(),
        "the awaiter got it; nothing to report"
    );
}

#[test]
fn a_task_handle_dropped_unread_reports_its_panic() {
    let lp = EventLoop::new();
    let seen = capture(&lp);
    let t = lp.ensure_future(async { panic!("never read") });
    tick(&lp);
    assert!(seen.borrow().is_empty());
    lp.call_soon(move || drop(t)).unwrap();
    tick(&lp);
    assert_eq!(seen.borrow().len(), 1);
    assert_eq!(seen.borrow()[0].1, "never read");
}

#[test]
fn a_panicking_handler_does_not_stop_the_loop() {
    let lp = EventLoop::new();
    lp.set_exception_handler(Some(|_: &evloop::Exception<'_>| panic!("handler boom")));
    let log = Log::new();
    lp.call_soon(|| panic!("boom")).unwrap();
    lp.call_soon(log.cb("after")).unwrap();
    let ((), printed) = util::capture_stderr(|| tick(&lp));
    assert!(
        printed.contains("the exception handler panicked while handling"),
        "{printed:?}"
    );
    assert_eq!(log.take(), ["after"]);
    lp.clear_exception_handler();
    lp.call_soon(|| panic!("default handler prints this"))
        .unwrap();
    let ((), printed) = util::capture_stderr(|| tick(&lp));
    assert!(
        printed.contains("exception in callback scheduled at tests/panics.rs")
            && printed.contains("default handler prints this"),
        "the default handler is back: {printed:?}"
    );
}

#[test]
fn run_until_complete_resumes_the_main_future_panic() {
    let lp = EventLoop::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lp.run_until_complete(async { panic!("main boom") })
    }));
    let payload = r.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"main boom"));
    assert!(!lp.is_running());
    // The loop is still usable.
    assert_eq!(lp.run_until_complete(async { 1 }), Ok(1));
}

/// Panics in its `Drop` with a payload that panics in its own `Drop`
/// (unless already unwinding, which would abort the test binary).
#[derive(Debug)]
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            std::panic::panic_any(PanicsOnDrop);
        }
    }
}

/// Finishes with a value whose `Drop` panics, then panics in its own `Drop`.
struct ReadyThenPanicsOnDrop;

impl std::future::Future for ReadyThenPanicsOnDrop {
    type Output = PanicsOnDrop;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<PanicsOnDrop> {
        std::task::Poll::Ready(PanicsOnDrop)
    }
}

impl Drop for ReadyThenPanicsOnDrop {
    fn drop(&mut self) {
        panic!("future drop boom");
    }
}

#[test]
fn second_panics_while_a_task_finishes_are_contained() {
    let lp = EventLoop::new();
    let seen = capture(&lp);
    // The future's `Drop` panics after it returned a value whose `Drop`
    // panics too: the first panic wins, the value goes quietly.
    let t = lp.ensure_future(ReadyThenPanicsOnDrop);
    // The future panics, then its `Drop` panics with a payload that panics
    // when dropped: the first panic wins, the second payload goes quietly.
    let u = lp.ensure_future(async {
        let _guard = PanicsOnDrop;
        if true {
            panic!("poll boom");
        }
    });
    let turn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tick(&lp)));
    assert!(turn.is_ok(), "a panic escaped the loop");
    let t = lp.run_until_complete(t).unwrap().unwrap_err();
    assert_eq!(t.panic_message(), Some("future drop boom"));
    let u = lp.run_until_complete(u).unwrap().unwrap_err();
    assert_eq!(u.panic_message(), Some("poll boom"));
    assert!(seen.borrow().is_empty(), "the awaiters got them");
}
