//! Waiter lists: a future that stops waiting takes its waker with it
//! (asyncio's `Event.wait`, tokio's `Notified`), so lists never grow with
//! abandoned waits and a wake-up reaches only futures that still wait; and
//! a waker of another executor is cloned and dropped outside the loop's
//! borrows, so it may call back into the loop.

mod util;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use evloop::net::UnixStream;
use evloop::sync::Event;
use evloop::EventLoop;

/// A waker of "another executor" that counts its wakes; its `Arc`'s
/// strong count tells how many clones anyone still holds.
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn counting() -> (Arc<Counting>, Waker) {
    let c = Arc::new(Counting(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

/// Polls `fut` once with `waker`; it must still be waiting.
fn poll_pending<F: Future + Unpin>(fut: &mut F, waker: &Waker) {
    let mut cx = Context::from_waker(waker);
    assert!(Pin::new(fut).poll(&mut cx).is_pending());
}

/// Holds after the waits were dropped: no clone of the waker is left
/// anywhere (strong count back to the test's own two references: the
/// `Arc` and the `Waker`), and nothing woke it.
fn assert_forgotten(counter: &Arc<Counting>) {
    assert_eq!(
        Arc::strong_count(counter),
        2,
        "a dropped waiter's waker is still held"
    );
    assert_eq!(
        counter.0.load(Ordering::Relaxed),
        0,
        "a dropped waiter was woken"
    );
}

#[test]
fn dropped_event_waits_leave_no_waker_behind() {
    let ev = Event::new();
    let (counter, waker) = counting();
    for _ in 0..10_000 {
        let mut wait = ev.wait();
        poll_pending(&mut wait, &waker);
    }
    ev.set();
    assert_forgotten(&counter);
}

#[test]
fn dropped_loop_future_awaiters_leave_no_waker_behind() {
    let lp = EventLoop::new();
    let fut = lp.create_future::<u32>();
    let (counter, waker) = counting();
    for _ in 0..10_000 {
        let mut awaiter = fut.clone();
        poll_pending(&mut awaiter, &waker);
    }
    fut.set_result(1).unwrap();
    assert_forgotten(&counter);
}

/// The shape of the fault: a task that keeps timing out on an event.
/// Each timed-out wait used to leave the task's waker in the list, and the
/// final `set` woke the task although it was waiting for something else.
#[test]
fn timed_out_waits_in_a_loop_do_not_pile_up() {
    let lp = util::virtual_loop();
    let ev = Event::new();
    let other = Event::new();
    let (e, o) = (ev.clone(), other.clone());
    let task = lp.ensure_future(async move {
        let mut timeouts = 0;
        for _ in 0..1_000 {
            if evloop::wait_for(Duration::from_millis(1), e.wait())
                .await
                .is_err()
            {
                timeouts += 1;
            }
        }
        o.wait().await;
        timeouts
    });
    util::watchdog_local(|| {
        while lp.stats().timers_fired < 1_000 {
            // Virtual time jumps to the next timer, at most 1 ms ahead.
            lp.run_once(Some(Duration::from_millis(1))).unwrap();
        }
    });
    util::tick(&lp); // the task now waits on `other`
    let polls = lp.stats().tasks_polled;
    ev.set();
    util::tick(&lp);
    util::tick(&lp);
    assert_eq!(
        lp.stats().tasks_polled,
        polls,
        "a stale waiter woke the task"
    );
    other.set();
    assert_eq!(lp.run_until_complete(task).unwrap().unwrap(), 1_000);
}

#[test]
fn a_dropped_socket_read_leaves_no_waker_behind() {
    let lp = EventLoop::new();
    let (counter, waker) = counting();
    let c = counter.clone();
    let done = util::watchdog_local(|| {
        lp.run_until_complete(async move {
            let (a, b) = UnixStream::pair().unwrap();
            let mut buf = [0u8; 16];
            for _ in 0..1_000 {
                let mut read = Box::pin(a.read(&mut buf));
                poll_pending(&mut read, &waker);
            }
            drop(waker);
            // Data arrives: the event must find no stale reader to wake.
            b.write_all(b"x").await.unwrap();
            evloop::sleep(Duration::from_millis(1)).await;
            assert_eq!(a.read(&mut buf).await.unwrap(), 1);
            (Arc::strong_count(&c), c.0.load(Ordering::Relaxed))
        })
    });
    assert_eq!(done, Ok((2, 0)));
    drop(counter);
}

thread_local! {
    /// What the re-entrant waker below calls back into.
    static CALLBACK: RefCell<Option<Box<dyn Fn()>>> = const { RefCell::new(None) };
}

/// A waker of another executor whose clone and drop call back into the
/// loop (through `CALLBACK`), as a waker that looks at loop state might.
fn reentrant_waker() -> Waker {
    reentrant_waker_with(0)
}

/// [`reentrant_waker`], with its data pointer set to `id` (wakers with
/// different ids are not `will_wake`-equal).
fn reentrant_waker_with(id: usize) -> Waker {
    use std::task::{RawWaker, RawWakerVTable};
    fn call_back() {
        CALLBACK.with(|c| {
            if let Some(f) = &*c.borrow() {
                f();
            }
        });
    }
    unsafe fn clone(data: *const ()) -> RawWaker {
        call_back();
        RawWaker::new(data, &VTABLE)
    }
    unsafe fn noop(_: *const ()) {}
    unsafe fn drop_waker(_: *const ()) {
        call_back();
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, drop_waker);
    // SAFETY: the vtable's functions never dereference the data pointer.
    unsafe { Waker::from_raw(RawWaker::new(id as *const (), &VTABLE)) }
}

fn set_callback(f: impl Fn() + 'static) {
    CALLBACK.with(|c| *c.borrow_mut() = Some(Box::new(f)));
}

fn clear_callback() {
    CALLBACK.with(|c| *c.borrow_mut() = None);
}

#[test]
fn a_foreign_waker_may_look_at_the_event_it_waits_on() {
    let ev = Event::new();
    let e = ev.clone();
    set_callback(move || assert!(!e.is_set() || e.is_set()));
    let waker = reentrant_waker();
    let mut wait = ev.wait();
    poll_pending(&mut wait, &waker);
    poll_pending(&mut wait, &reentrant_waker()); // equal: no clone needed
    drop(wait);
    clear_callback();
}

#[test]
fn a_foreign_waker_may_look_at_the_loop_future_it_awaits() {
    let lp = EventLoop::new();
    let fut = lp.create_future::<u32>();
    let f = fut.clone();
    set_callback(move || assert!(!f.done()));
    let mut awaiter = fut.clone();
    poll_pending(&mut awaiter, &reentrant_waker());
    drop(awaiter);
    clear_callback();
}

#[test]
fn a_foreign_waker_may_use_the_socket_it_waits_on() {
    let lp = EventLoop::new();
    let out = lp.run_until_complete(async {
        let (a, _b) = UnixStream::pair().unwrap();
        let a = Rc::new(a);
        let inner = a.clone();
        // The clone polls a write on the same socket: the loop's I/O
        // registry must not be borrowed at that moment.
        set_callback(move || {
            let mut cx = Context::from_waker(Waker::noop());
            let mut write = Box::pin(inner.write(b""));
            let _ = write.as_mut().poll(&mut cx);
        });
        let mut buf = [0u8; 4];
        let mut read = Box::pin(a.read(&mut buf));
        poll_pending(&mut read, &reentrant_waker());
        drop(read);
        clear_callback();
        Poll::Ready(()).is_ready()
    });
    assert_eq!(out, Ok(true));
}

#[test]
fn a_foreign_waker_may_use_the_loop_while_a_sleep_refreshes_it() {
    let lp = EventLoop::new();
    let out = lp.run_until_complete(async {
        // The clone schedules a timer: the wheel must not be borrowed.
        set_callback(|| {
            let _ = EventLoop::current().call_later(Duration::from_secs(1), || {});
        });
        let mut sleep = Box::pin(evloop::sleep(Duration::from_secs(60)));
        poll_pending(&mut sleep, &reentrant_waker_with(1));
        poll_pending(&mut sleep, &reentrant_waker_with(2)); // a new waker: refreshed
        drop(sleep);
        clear_callback();
        true
    });
    assert_eq!(out, Ok(true));
}
