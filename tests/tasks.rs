//! Tasks: spawning, awaiting, cancelling, detaching, wakes.

mod util;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use evloop::sync::Event;
use evloop::{EventLoop, RunError};
use util::{tick, virtual_loop, Log};

#[test]
fn a_task_runs_and_its_output_is_awaited() {
    let lp = EventLoop::new();
    let out = lp.run_until_complete(async {
        let t = evloop::ensure_future(async { 21 * 2 });
        t.await.unwrap()
    });
    assert_eq!(out, Ok(42));
}

#[test]
fn non_send_futures_are_fine() {
    let lp = EventLoop::new();
    let shared = Rc::new(Cell::new(0));
    let s = shared.clone();
    let t = lp.ensure_future(async move {
        s.set(s.get() + 1);
        evloop::yield_now().await;
        s.set(s.get() + 1);
        s
    });
    let out = lp.run_until_complete(t).unwrap().unwrap();
    assert_eq!(out.get(), 2);
}

#[test]
fn tasks_start_in_spawn_order_and_interleave_at_awaits() {
    let lp = EventLoop::new();
    let log = Log::new();
    for name in ["a", "b", "c"] {
        let log = log.clone();
        let _detached = lp.ensure_future(async move {
            log.push(format!("{name}1"));
            evloop::yield_now().await;
            log.push(format!("{name}2"));
        });
    }
    tick(&lp);
    tick(&lp);
    assert_eq!(log.take(), ["a1", "b1", "c1", "a2", "b2", "c2"]);
}

#[test]
fn cancel_drops_the_future_at_its_next_turn() {
    let lp = virtual_loop();
    let drops = util::Drops::default();
    let token = drops.token();
    let t = lp.ensure_future(async move {
        let _token = token;
        evloop::sleep(Duration::from_secs(10)).await;
        "finished"
    });
    tick(&lp); // the task starts and sleeps
    assert!(t.cancel());
    assert!(t.cancel(), "cancelling twice is harmless");
    assert_eq!(
        drops.count(),
        0,
        "dropped at the next turn, not inside cancel()"
    );
    tick(&lp);
    assert_eq!(drops.count(), 1);
    assert!(t.done());
    let err = lp.run_until_complete(t).unwrap().unwrap_err();
    assert!(err.is_cancelled() && !err.is_panic());
}

#[test]
fn cancel_before_first_poll_never_polls() {
    let lp = EventLoop::new();
    let polled = Rc::new(Cell::new(false));
    let p = polled.clone();
    let t = lp.ensure_future(async move { p.set(true) });
    assert!(t.cancel());
    tick(&lp);
    assert!(!polled.get());
    assert!(t.done());
    assert!(!t.cancel(), "a done task cannot be cancelled");
}

#[test]
fn cancel_a_done_task_returns_false_and_keeps_the_output() {
    let lp = EventLoop::new();
    let t = lp.ensure_future(async { 5 });
    tick(&lp);
    assert!(!t.cancel());
    assert_eq!(lp.run_until_complete(t).unwrap().unwrap(), 5);
}

#[test]
fn dropping_the_handle_detaches_the_task() {
    let lp = virtual_loop();
    let log = Log::new();
    let l = log.clone();
    drop(lp.ensure_future(async move {
        evloop::sleep(Duration::from_secs(1)).await;
        l.push("still ran");
    }));
    lp.run_until_complete(evloop_sleep(2)).unwrap();
    assert_eq!(log.take(), ["still ran"]);
}

async fn evloop_sleep(secs: u64) {
    evloop::sleep(Duration::from_secs(secs)).await
}

/// Counts polls; wakes itself `wakes` times in its first poll.
struct MultiWake {
    polls: Rc<Cell<u32>>,
    wakes: u32,
}

impl Future for MultiWake {
    type Output = ();
    // Clone-then-wake on purpose: it exercises `wake` (by value) beside `wake_by_ref`.
    #[allow(clippy::waker_clone_wake)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.set(self.polls.get() + 1);
        if self.polls.get() == 1 {
            for _ in 0..self.wakes {
                cx.waker().wake_by_ref();
                cx.waker().clone().wake();
            }
            return Poll::Pending;
        }
        Poll::Ready(())
    }
}

#[test]
fn a_task_woken_many_times_is_polled_once() {
    let lp = EventLoop::new();
    let polls = Rc::new(Cell::new(0));
    let t = lp.ensure_future(MultiWake {
        polls: polls.clone(),
        wakes: 100,
    });
    lp.run_until_complete(t).unwrap().unwrap();
    assert_eq!(polls.get(), 2);
}

#[test]
fn a_waker_from_another_thread_wakes_the_task() {
    let lp = EventLoop::new();
    let slot: Rc<Cell<Option<Waker>>> = Rc::default();
    let done = Rc::new(Cell::new(false));
    let (s, d) = (slot.clone(), done.clone());
    let t = lp.ensure_future(std::future::poll_fn(move |cx| {
        if d.get() {
            return Poll::Ready(());
        }
        s.set(Some(cx.waker().clone()));
        d.set(true);
        Poll::Pending
    }));
    tick(&lp);
    let waker = slot.take().unwrap();
    std::thread::spawn(move || waker.wake()).join().unwrap();
    // The loop is asleep (not inside run_once): the wake comes through the
    // remote queue and makes the next blocking iteration return.
    assert!(!t.done());
    let out = util::watchdog_local(|| lp.run_until_complete(t));
    assert!(out.unwrap().is_ok());
}

#[test]
fn wakers_outlive_the_loop_harmlessly() {
    let lp = EventLoop::new();
    let slot: Rc<Cell<Option<Waker>>> = Rc::default();
    let s = slot.clone();
    let _t = lp.ensure_future(std::future::poll_fn(move |cx| {
        s.set(Some(cx.waker().clone()));
        Poll::<()>::Pending
    }));
    tick(&lp);
    drop(_t);
    drop(lp);
    let waker = slot.take().unwrap();
    waker.wake_by_ref();
    std::thread::spawn(move || {
        waker.wake_by_ref();
        waker.wake();
    })
    .join()
    .unwrap();
}

#[test]
fn ping_pong_through_events() {
    let lp = EventLoop::new();
    let (ping, pong) = (Event::new(), Event::new());
    let count = Rc::new(Cell::new(0));
    let (p1, q1, c1) = (ping.clone(), pong.clone(), count.clone());
    let a = lp.ensure_future(async move {
        for _ in 0..1000 {
            p1.wait().await;
            p1.clear();
            c1.set(c1.get() + 1);
            q1.set();
        }
    });
    let b = lp.ensure_future(async move {
        for _ in 0..1000 {
            ping.set();
            pong.wait().await;
            pong.clear();
        }
    });
    lp.run_until_complete(async move {
        a.await.unwrap();
        b.await.unwrap();
    })
    .unwrap();
    assert_eq!(count.get(), 1000);
}

#[test]
fn gather_collects_outputs_in_order() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let tasks = (0..5u64).map(|i| {
            evloop::ensure_future(async move {
                evloop::sleep(Duration::from_secs(5 - i)).await;
                i
            })
        });
        evloop::gather(tasks).await
    });
    let outputs: Vec<u64> = out.unwrap().into_iter().map(Result::unwrap).collect();
    assert_eq!(outputs, [0, 1, 2, 3, 4]);
}

#[test]
fn stopped_run_until_complete_leaves_the_task_scheduled() {
    let lp = virtual_loop();
    let log = Log::new();
    let l = log.clone();
    lp.call_later(Duration::from_secs(1), || EventLoop::current().stop())
        .unwrap();
    let r = lp.run_until_complete(async move {
        evloop::sleep(Duration::from_secs(2)).await;
        l.push("main finished");
    });
    assert_eq!(r, Err(RunError::Stopped));
    assert!(log.get().is_empty());
    // The task stays scheduled and finishes in a later run; it must not
    // stop that later run.
    let r = lp.run_until_complete(evloop_sleep(5));
    assert_eq!(r, Ok(()));
    assert_eq!(log.take(), ["main finished"]);
}

#[test]
fn free_functions_panic_outside_a_loop_with_a_clear_message() {
    for (name, f) in [
        (
            "evloop::sleep",
            Box::new(|| drop(evloop::sleep(Duration::ZERO))) as Box<dyn Fn()>,
        ),
        (
            "evloop::ensure_future",
            Box::new(|| drop(evloop::ensure_future(async {}))),
        ),
        (
            "evloop::wait_for",
            Box::new(|| drop(evloop::wait_for(Duration::ZERO, async {}))),
        ),
        (
            "EventLoop::current",
            Box::new(|| drop(EventLoop::current())),
        ),
    ] {
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(msg.contains(name), "{msg}");
        assert!(msg.contains("no evloop is running on this thread"), "{msg}");
    }
    assert!(EventLoop::try_current().is_none());
}

#[test]
fn evloop_run_runs_to_completion_and_refuses_nesting() {
    assert_eq!(evloop::run(async { "done" }), Ok("done"));
    let nested = evloop::run(async { evloop::run(async {}) });
    assert_eq!(nested, Ok(Err(RunError::AlreadyRunning)));
}

#[test]
fn spawning_on_a_closed_loop_gives_a_cancelled_task() {
    let lp = EventLoop::new();
    lp.close().unwrap();
    let drops = util::Drops::default();
    let token = drops.token();
    let t = lp.ensure_future(async move { drop(token) });
    assert!(t.done());
    assert_eq!(drops.count(), 1, "the future was dropped, never run");
    let err = util::now_or_never(t).unwrap().unwrap_err();
    assert!(err.is_cancelled());
}

#[test]
fn many_waiters_on_one_event_and_one_loop_future_all_wake() {
    let lp = EventLoop::new();
    let ev = Event::new();
    let fut = lp.create_future::<u32>();
    let woken = Rc::new(Cell::new(0u32));
    let n = if cfg!(miri) { 100 } else { 10_000 };
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (ev, fut, woken) = (ev.clone(), fut.clone(), woken.clone());
            lp.ensure_future(async move {
                if i % 2 == 0 {
                    ev.wait().await;
                } else {
                    fut.await.unwrap();
                }
                woken.set(woken.get() + 1);
            })
        })
        .collect();
    tick(&lp);
    tick(&lp); // polled twice while pending: no duplicate registrations
    ev.set();
    fut.set_result(1).unwrap();
    lp.run_until_complete(async move {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .unwrap();
    assert_eq!(woken.get(), n);
}

/// A task that awaits its own `Task` handle: the handle compares the
/// task's own waker with the registered awaiter, which must not read the
/// task's loop-only state while it is already borrowed (undefined
/// behaviour that Miri reports). The wait itself can never end; the task
/// polls its handle once and returns.
#[test]
fn a_task_that_polls_its_own_handle_is_sound() {
    use std::cell::RefCell;
    let lp = EventLoop::new();
    let slot: Rc<RefCell<Option<evloop::Task<()>>>> = Rc::default();
    let polls = Rc::new(Cell::new(0));
    let (s, p) = (slot.clone(), polls.clone());
    let me = lp.ensure_future(async move {
        let mut own = s.borrow_mut().take().expect("the handle is in the slot");
        // Twice: the first poll registers this task as its own awaiter, the
        // second compares the same waker with it.
        for _ in 0..2 {
            std::future::poll_fn(|cx| {
                assert!(Pin::new(&mut own).poll(cx).is_pending());
                p.set(p.get() + 1);
                Poll::Ready(())
            })
            .await;
        }
    });
    *slot.borrow_mut() = Some(me);
    util::watchdog_local(|| {
        while polls.get() < 2 {
            tick(&lp);
        }
    });
    assert_eq!(polls.get(), 2);
}
