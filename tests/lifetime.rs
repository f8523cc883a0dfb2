//! Lifetime edge cases: handles, setters and futures that outlive their
//! loop; tasks woken or detached in the middle of their own poll; user code
//! that re-enters the loop from a `Drop` during `close()`, or tries to close
//! it while it runs; exception handlers that misbehave. Each must end in a
//! no-op or a clear error: never a panic out of the loop, a hang, or UB.
//!
//! Cases covered elsewhere, not repeated here:
//! - a `Waker` used after its loop was dropped, on the loop's thread and on
//!   another: `tasks.rs::wakers_outlive_the_loop_harmlessly`;
//! - a task that wakes itself during its poll:
//!   `task_invariants.rs::a_wake_during_poll_requeues_for_the_next_iteration`;
//! - `Drop`s that spawn, `call_soon`, `call_later`, `call_soon_threadsafe`,
//!   or cancel tasks and timers during `close()`:
//!   `teardown.rs::drops_that_call_back_into_the_loop_during_close`; `Drop`s
//!   that panic then: `teardown.rs::a_drop_that_panics_during_close_is_contained`;
//! - `close()` from a callback is `Err(AlreadyRunning)`:
//!   `callbacks.rs::run_until_complete_inside_a_callback_is_already_running`;
//! - the owning `EventLoop` dropped while the loop runs:
//!   `task_invariants.rs::dropping_the_owner_while_running_still_closes_on_the_loop_thread`;
//! - an exception handler that panics:
//!   `panics.rs::a_panicking_handler_does_not_stop_the_loop`;
//! - a setter or a `ConcurrentFuture` after `close()` (the loop itself still
//!   alive): `threadsafe.rs::setting_after_close_is_loop_closed`,
//!   `threadsafe.rs::pending_concurrent_futures_resolve_when_the_loop_closes`.

mod util;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use evloop::{EventLoop, ExceptionSource, LoopHandle, RunError, Task};
use util::{tick, virtual_loop, watchdog, Drops, Log};

/// Records the exception handler's calls, by source.
fn exceptions(lp: &EventLoop) -> Rc<RefCell<Vec<ExceptionSource>>> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    lp.set_exception_handler(Some(move |e: &evloop::Exception<'_>| {
        // Panics only: a slow-callback report can come on a loaded machine.
        if e.source().is_panic() {
            s.borrow_mut().push(e.source())
        }
    }));
    seen
}

/// A `Send` drop counter.
struct SendToken(Arc<AtomicUsize>);

impl Drop for SendToken {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Panics in its `Drop` (unless already unwinding, which would abort the
/// test binary instead of failing one test).
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("drop boom");
        }
    }
}

/// Wraps `future` to count its polls.
fn count_polls<F: Future + 'static>(
    polls: Rc<Cell<u32>>,
    future: F,
) -> impl Future<Output = F::Output> {
    let mut future = Box::pin(future);
    std::future::poll_fn(move |cx| {
        polls.set(polls.get() + 1);
        future.as_mut().poll(cx)
    })
}

// ---- outliving the loop ------------------------------------------------------

/// Every `LoopHandle` call on a dead loop: refused, its argument dropped on
/// the calling thread, nothing blocks.
fn assert_refused(handle: &LoopHandle) {
    assert!(handle.is_closed());
    let drops = Arc::new(AtomicUsize::new(0));
    let token = SendToken(drops.clone());
    let job = handle.call_soon_threadsafe(move || drop(token));
    assert!(job.unwrap_err().is_closed());
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the refused job is dropped here"
    );
    assert!(handle.stop().unwrap_err().is_closed());
    let fut = handle.run_coroutine_threadsafe(|| async { 1 });
    assert!(fut.done(), "resolved at once, not left pending");
    assert!(fut.result().unwrap_err().is_closed());
}

#[test]
fn a_loop_handle_outliving_its_loop_refuses_on_any_thread() {
    let lp = EventLoop::new();
    let handle = lp.handle();
    drop(lp);
    assert_refused(&handle);
    watchdog(10, move || assert_refused(&handle));
}

#[test]
fn handles_outliving_their_loop_cancel_nothing() {
    let lp = EventLoop::new();
    let drops = Drops::default();
    let t = drops.token();
    let soon = lp.call_soon(move || drop(t)).unwrap();
    let t = drops.token();
    let timer = lp
        .call_later(Duration::from_secs(1), move || drop(t))
        .unwrap();
    drop(lp);
    assert_eq!(drops.count(), 2, "both closures went with the loop");
    assert!(!soon.is_pending());
    assert!(!soon.cancel());
    assert!(!timer.cancel());
}

#[test]
fn a_threadsafe_setter_outliving_its_loop_is_refused_on_any_thread() {
    let lp = EventLoop::new();
    let fut = lp.create_future::<SendToken>();
    let used = fut.threadsafe_setter();
    let unused = fut.threadsafe_setter();
    drop(lp);
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    watchdog(10, move || {
        let refused = used.set_result(SendToken(d));
        assert!(refused.unwrap_err().is_closed());
        drop(unused); // would cancel the future: the loop is gone, a no-op
    });
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the value was dropped, not lost"
    );
    assert!(!fut.done(), "nothing reached the future");
}

#[test]
fn a_loop_future_outliving_its_loop_keeps_its_value_and_drops_its_callbacks() {
    let lp = EventLoop::new();
    let fut = lp.create_future::<u32>();
    let drops = Drops::default();
    let t = drops.token();
    fut.add_done_callback(move |_| drop(t));
    drop(lp);
    // Done callbacks would be scheduled with `call_soon`: a dead loop drops
    // them, as `close()` drops every pending callback.
    assert_eq!(fut.set_result(7), Ok(()));
    assert_eq!(drops.count(), 1);
    assert_eq!(fut.result(), Ok(7));
    assert_eq!(util::now_or_never(fut.clone()), Some(Ok(7)));
    let t = drops.token();
    fut.add_done_callback(move |_| drop(t));
    assert_eq!(drops.count(), 2);
    // Documented: a setter needs a live loop to send to.
    let setter = std::panic::AssertUnwindSafe(|| drop(fut.threadsafe_setter()));
    let err = std::panic::catch_unwind(setter).unwrap_err();
    let msg = match err.downcast_ref::<String>() {
        Some(s) => s.as_str(),
        None => err.downcast_ref::<&str>().copied().unwrap_or_default(),
    };
    assert!(msg.contains("the future's loop was dropped"), "{msg}");
}

#[test]
fn a_concurrent_future_outliving_its_loop_resolves_to_loop_closed() {
    let lp = EventLoop::new();
    let handle = lp.handle();
    let (sent, submitted) = std::sync::mpsc::channel();
    // The other thread submits, then blocks in `result()` (or gets there
    // after the drop): either way it must see `LoopClosed`, not hang.
    let waiter = std::thread::spawn(move || {
        let started = handle.run_coroutine_threadsafe(std::future::pending::<()>);
        let finished = handle.run_future_threadsafe(async { 5 });
        sent.send(()).unwrap();
        (started.result(), finished.result())
    });
    submitted.recv().unwrap();
    tick(&lp); // both jobs spawn their tasks
    tick(&lp); // the first waits forever, the second finishes
    drop(lp);
    let (started, finished) = watchdog(10, move || waiter.join().unwrap());
    assert!(started.unwrap_err().is_closed());
    assert_eq!(finished.unwrap(), 5, "finished work keeps its value");
}

/// The error evloop's sockets give once their loop is closed.
fn is_loop_closed(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|e| e.is::<evloop::LoopClosed>())
}

#[test]
fn sockets_outliving_their_loop_fail_with_loop_closed_instead_of_waiting() {
    use evloop::net::{TcpListener, TcpStream};
    let lp = EventLoop::new();
    let (listener, client, server) = lp
        .run_until_complete(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let client = TcpStream::connect(&addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            (listener, client, server)
        })
        .unwrap();
    drop(lp); // closes it; the sockets still hold their (closed) loop
              // Polled from another loop: no data, no connection to accept, so each
              // would wait for an event the closed loop can never deliver (and used
              // to spin on `WouldBlock` instead).
    let other = EventLoop::new();
    let errors = util::watchdog_local(|| {
        other.run_until_complete(async move {
            let mut buf = [0u8; 8];
            let read = client.read(&mut buf).await.unwrap_err();
            let accept = listener.accept().await.unwrap_err();
            let write = server.write_all(b"late").await.unwrap_err();
            drop((client, server, listener)); // deregistering is fine too
            [read, accept, write]
        })
    });
    for e in errors.unwrap() {
        assert!(is_loop_closed(&e), "{e:?}");
    }
}

// ---- tasks and their wakers and handles --------------------------------------

#[test]
fn a_task_woken_during_its_poll_by_itself_and_another_thread_runs_once_more() {
    // Local then remote, remote then local, and remote in the poll that
    // completes the task: one more poll at most, never two.
    for (remote_first, finish_now) in [(false, false), (true, false), (true, true)] {
        let lp = EventLoop::new();
        let polls = Rc::new(Cell::new(0));
        let p = polls.clone();
        let task = lp.ensure_future(std::future::poll_fn(move |cx| {
            p.set(p.get() + 1);
            if p.get() > 1 {
                return Poll::Ready(());
            }
            let remote = || {
                let w = cx.waker().clone();
                std::thread::spawn(move || w.wake()).join().unwrap();
            };
            if remote_first {
                remote();
                cx.waker().wake_by_ref();
            } else {
                cx.waker().wake_by_ref();
                remote();
            }
            if finish_now {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        for _ in 0..4 {
            tick(&lp);
        }
        assert!(task.done());
        let expected = if finish_now { 1 } else { 2 };
        assert_eq!(polls.get(), expected, "remote first {remote_first}");
    }
}

#[test]
fn a_task_that_drops_its_own_handle_runs_on_detached() {
    let lp = virtual_loop();
    let seen = exceptions(&lp);
    let log = Log::new();
    let drops = Drops::default();
    let own: Rc<RefCell<Option<Task<util::DropToken>>>> = Rc::default();
    let (o, l, token) = (own.clone(), log.clone(), drops.token());
    *own.borrow_mut() = Some(lp.ensure_future(async move {
        drop(o.borrow_mut().take()); // the only handle, mid-poll
        evloop::sleep(Duration::from_secs(1)).await;
        l.push("ran on");
        token
    }));
    // This one drops its handle and then panics: nobody can read the panic,
    // so it goes to the handler.
    let own2: Rc<RefCell<Option<Task<()>>>> = Rc::default();
    let o2 = own2.clone();
    *own2.borrow_mut() = Some(lp.ensure_future(async move {
        drop(o2.borrow_mut().take());
        panic!("detached boom");
    }));
    lp.run_until_complete(async { evloop::sleep(Duration::from_secs(2)).await })
        .unwrap();
    assert_eq!(log.take(), ["ran on"]);
    assert_eq!(drops.count(), 1, "the output was dropped when it finished");
    assert_eq!(seen.borrow().as_slice(), [ExceptionSource::Task]);
}

#[test]
fn a_task_handle_dropped_by_another_task_detaches_the_task() {
    let lp = virtual_loop();
    let log = Log::new();
    let victims: Rc<RefCell<Vec<Task<()>>>> = Rc::default();
    let v = victims.clone();
    let dropper = lp.ensure_future(async move {
        // Runs first: the first victim is queued, not yet polled.
        drop(v.borrow_mut().remove(0));
        evloop::sleep(Duration::from_millis(500)).await;
        // The second one is asleep by now.
        drop(v.borrow_mut().remove(0));
    });
    let l = log.clone();
    let queued = lp.ensure_future(async move { l.push("queued one ran") });
    let l = log.clone();
    let sleeping = lp.ensure_future(async move {
        evloop::sleep(Duration::from_secs(1)).await;
        l.push("sleeping one ran");
    });
    victims.borrow_mut().extend([queued, sleeping]);
    lp.run_until_complete(async move {
        dropper.await.unwrap();
        evloop::sleep(Duration::from_secs(2)).await;
    })
    .unwrap();
    assert_eq!(log.take(), ["queued one ran", "sleeping one ran"]);
}

#[test]
fn an_awaiter_that_drops_the_handle_is_not_woken_when_the_task_ends() {
    let lp = virtual_loop();
    let child = lp.ensure_future(async { evloop::sleep(Duration::from_secs(2)).await });
    let polls = Rc::new(Cell::new(0));
    let parent = count_polls(polls.clone(), async move {
        let mut child = Some(child);
        let mut timeout = Box::pin(evloop::sleep(Duration::from_secs(1)));
        // Await the child for a second (its waiter is registered), then
        // give up on it: dropping the handle must unregister the waiter.
        std::future::poll_fn(|cx| {
            if let Some(c) = child.as_mut() {
                assert!(Pin::new(c).poll(cx).is_pending());
            }
            timeout.as_mut().poll(cx)
        })
        .await;
        drop(child.take());
        evloop::sleep(Duration::from_secs(10)).await;
    });
    lp.run_until_complete(parent).unwrap();
    // The first poll, the 1 s timeout, the 11 s sleep: nothing at 2 s.
    assert_eq!(polls.get(), 3);
}

// ---- re-entering the loop from a Drop during close() -------------------------

#[test]
fn a_drop_during_close_that_re_enters_run_or_close_is_refused() {
    struct ReEnters {
        lp: Rc<EventLoop>,
        results: Rc<RefCell<Vec<String>>>,
    }
    impl Drop for ReEnters {
        fn drop(&mut self) {
            let lp = &self.lp;
            let mut r = self.results.borrow_mut();
            r.push(format!("closed {}", lp.is_closed()));
            r.push(format!("run_once {:?}", lp.run_once(Some(Duration::ZERO))));
            r.push(format!(
                "run_until_complete {:?}",
                lp.run_until_complete(async {})
            ));
            r.push(format!("run_forever {:?}", lp.run_forever()));
            // Idempotent, and no recursion into the teardown in progress.
            r.push(format!("close {:?}", lp.close()));
            // A future and a setter made now are dropped by the same close.
            let fut = lp.create_future::<u32>();
            r.push(format!("set_result {:?}", fut.set_result(1)));
            drop(lp.create_future::<u32>().threadsafe_setter());
        }
    }
    let lp = Rc::new(EventLoop::new());
    let results = Rc::default();
    let r = ReEnters {
        lp: lp.clone(),
        results: Rc::clone(&results),
    };
    drop(lp.ensure_future(async move {
        let _r = r;
        std::future::pending::<()>().await
    }));
    tick(&lp);
    lp.close().unwrap();
    assert_eq!(
        results.borrow().as_slice(),
        [
            "closed true",
            "run_once Err(Closed)",
            "run_until_complete Err(Closed)",
            "run_forever Err(Closed)",
            "close Ok(())",
            "set_result Ok(())",
        ]
    );
    assert_eq!(Rc::strong_count(&lp), 1, "the task's reference went");
}

#[test]
fn a_panicking_drop_of_a_threadsafe_job_during_close_is_reported() {
    let lp = EventLoop::new();
    let seen = exceptions(&lp);
    let handle = lp.handle();
    watchdog(10, move || {
        let p = PanicsOnDrop;
        handle.call_soon_threadsafe(move || drop(p)).unwrap();
    });
    lp.close().unwrap();
    assert_eq!(seen.borrow().as_slice(), [ExceptionSource::Drop]);
}

// ---- closing while running ---------------------------------------------------

#[test]
fn close_from_inside_a_task_is_refused_and_the_loop_runs_on() {
    let lp = EventLoop::new();
    let log = Log::new();
    let l = log.clone();
    let out = lp.run_until_complete(async move {
        let current = EventLoop::current();
        assert_eq!(current.close(), Err(RunError::AlreadyRunning));
        drop(current); // a reference: dropping it closes nothing
        l.push(format!("closed {}", EventLoop::current().is_closed()));
        evloop::yield_now().await;
        l.push("still running");
        7
    });
    assert_eq!(out, Ok(7));
    assert_eq!(log.take(), ["closed false", "still running"]);
    assert_eq!(lp.close(), Ok(()), "closing works once it stopped");
}

#[test]
fn a_callback_may_close_another_loop_whose_drops_use_the_running_one() {
    struct UsesCurrent(Log);
    impl Drop for UsesCurrent {
        fn drop(&mut self) {
            // Runs inside `a`'s callback: the running loop is `a`.
            let log = self.0.clone();
            let current = EventLoop::current();
            current
                .call_soon(move || log.push("scheduled by b's drop"))
                .unwrap();
        }
    }
    let a = EventLoop::new();
    let b = Rc::new(EventLoop::new());
    let log = Log::new();
    let guard = UsesCurrent(log.clone());
    drop(b.ensure_future(async move {
        let _guard = guard;
        std::future::pending::<()>().await
    }));
    b.run_once(Some(Duration::ZERO)).unwrap();
    let (b2, l) = (b.clone(), log.clone());
    a.call_soon(move || {
        l.push(format!("close b {:?}", b2.close()));
    })
    .unwrap();
    tick(&a);
    tick(&a);
    assert!(b.is_closed());
    assert_eq!(log.take(), ["close b Ok(())", "scheduled by b's drop"]);
}

// ---- exception handlers ------------------------------------------------------

#[test]
fn a_panic_payload_that_panics_on_drop_is_contained() {
    let lp = EventLoop::new();
    let log = Log::new();
    // A callback's payload: dropped by the loop after the handler ran.
    lp.call_soon(|| std::panic::panic_any(PanicsOnDrop))
        .unwrap();
    lp.call_soon(log.cb("after the callback's")).unwrap();
    let ((), printed) = util::capture_stderr(|| tick(&lp));
    assert!(
        printed.contains("Box<dyn Any>"),
        "the default handler: {printed:?}"
    );
    // The handler's own payload.
    lp.set_exception_handler(Some(|_: &evloop::Exception<'_>| {
        std::panic::panic_any(PanicsOnDrop)
    }));
    lp.call_soon(|| panic!("boom")).unwrap();
    lp.call_soon(log.cb("after the handler's")).unwrap();
    let (turn, printed) = util::capture_stderr(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tick(&lp)))
    });
    assert!(turn.is_ok(), "a panic escaped the loop");
    assert!(
        printed.contains("the exception handler panicked while handling"),
        "{printed:?}"
    );
    assert_eq!(log.take(), ["after the callback's", "after the handler's"]);
}

#[test]
fn a_handler_that_replaces_itself_and_schedules_work_keeps_the_loop_running() {
    let lp = EventLoop::new();
    let log = Log::new();
    let l = log.clone();
    lp.set_exception_handler(Some(move |_: &evloop::Exception<'_>| {
        let lp = EventLoop::current();
        // Drops the handler that is running: it must live to the end.
        lp.clear_exception_handler();
        l.push("handled");
        let l = l.clone();
        lp.call_soon(move || l.push("scheduled by the handler"))
            .unwrap();
    }));
    lp.call_soon(|| panic!("first")).unwrap();
    tick(&lp);
    tick(&lp);
    assert_eq!(log.take(), ["handled", "scheduled by the handler"]);
    // The default handler now (one line on stderr).
    lp.call_soon(|| panic!("second")).unwrap();
    lp.call_soon(log.cb("after")).unwrap();
    let ((), printed) = util::capture_stderr(|| tick(&lp));
    assert!(
        printed.contains("second"),
        "the default handler: {printed:?}"
    );
    assert_eq!(log.take(), ["after"]);
}
