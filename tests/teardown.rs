//! Closing or dropping a loop with work pending drops all of it, on the loop
//! thread, including values whose `Drop` calls back into the loop.

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use evloop::{EventLoop, TimerHandle};
use util::{tick, Drops};

fn pending_forever() -> impl std::future::Future<Output = ()> {
    std::future::poll_fn(|_| Poll::Pending)
}

#[test]
fn close_drops_pending_tasks_callbacks_and_timers() {
    let lp = EventLoop::new();
    let drops = Drops::default();
    for _ in 0..10 {
        let t = drops.token();
        drop(lp.ensure_future(async move {
            let _t = t;
            pending_forever().await
        }));
        let t = drops.token();
        lp.call_soon(move || drop(t)).unwrap();
        let t = drops.token();
        lp.call_later(Duration::from_secs(60), move || drop(t))
            .unwrap();
    }
    tick(&lp); // tasks start; callbacks run (and drop their tokens)
    assert_eq!(drops.count(), 10);
    for _ in 0..5 {
        let t = drops.token();
        lp.call_soon(move || drop(t)).unwrap();
    }
    lp.close().unwrap();
    assert_eq!(
        drops.count(),
        35,
        "10 tasks + 10 timers + 5 queued callbacks dropped"
    );
}

#[test]
fn dropping_the_loop_closes_it() {
    let drops = Drops::default();
    {
        let lp = EventLoop::new();
        let t = drops.token();
        drop(lp.ensure_future(async move {
            let _t = t;
            pending_forever().await
        }));
        tick(&lp);
        let t = drops.token();
        lp.call_later(Duration::from_secs(1), move || drop(t))
            .unwrap();
    }
    assert_eq!(drops.count(), 2);
}

#[test]
fn awaiters_of_closed_tasks_see_cancelled() {
    let lp = EventLoop::new();
    let t = lp.ensure_future(pending_forever());
    tick(&lp);
    lp.close().unwrap();
    assert!(t.done());
    assert!(util::now_or_never(t).unwrap().unwrap_err().is_cancelled());
}

/// A value whose `Drop` does everything it can to the loop.
struct Reentrant {
    log: Rc<RefCell<Vec<String>>>,
    other_task: Option<evloop::Task<()>>,
    timer: Option<TimerHandle>,
}

impl Drop for Reentrant {
    fn drop(&mut self) {
        let lp = EventLoop::try_current();
        assert!(lp.is_none(), "close() runs outside the running loop");
        let log = &self.log;
        if let Some(t) = self.other_task.take() {
            t.cancel();
            drop(t);
        }
        if let Some(h) = self.timer.take() {
            h.cancel();
        }
        log.borrow_mut().push("dropped".into());
    }
}

#[test]
fn drops_that_call_back_into_the_loop_during_close() {
    let lp = EventLoop::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let other = lp.ensure_future(pending_forever());
    let timer = lp.call_later(Duration::from_secs(5), || {}).unwrap();
    let handle = lp.handle();
    // Keep a non-owning reference inside the future, so its Drop can call in.
    let spawned_in_drop: Rc<Cell<Option<bool>>> = Rc::default();
    struct CallsLoop {
        loop_ref: Rc<EventLoop>,
        spawned: Rc<Cell<Option<bool>>>,
        handle: evloop::LoopHandle,
    }
    impl Drop for CallsLoop {
        fn drop(&mut self) {
            let t = self.loop_ref.ensure_future(async {});
            self.spawned.set(Some(t.done()));
            assert!(self.loop_ref.call_soon(|| {}).is_err());
            assert!(self
                .loop_ref
                .call_later(Duration::from_secs(1), || {})
                .is_err());
            assert!(self.handle.call_soon_threadsafe(|| {}).is_err());
        }
    }
    let r = Reentrant {
        log: log.clone(),
        other_task: Some(other),
        timer: Some(timer),
    };
    let owner_ref = Rc::new(EventLoop::new());
    let c = CallsLoop {
        loop_ref: owner_ref.clone(),
        spawned: spawned_in_drop.clone(),
        handle,
    };
    drop(lp.ensure_future(async move {
        let _r = r;
        pending_forever().await
    }));
    drop(owner_ref.ensure_future(async move {
        let _c = c;
        pending_forever().await
    }));
    tick(&lp);
    tick(&owner_ref);
    lp.close().unwrap();
    assert_eq!(log.borrow().as_slice(), ["dropped"]);
    owner_ref.close().unwrap();
    assert_eq!(
        spawned_in_drop.get(),
        Some(true),
        "spawn during close gives a done task"
    );
}

#[test]
fn a_drop_that_panics_during_close_is_contained() {
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("drop boom");
        }
    }
    let lp = EventLoop::new();
    let seen = Rc::new(Cell::new(0));
    let s = seen.clone();
    lp.set_exception_handler(Some(move |e: &evloop::Exception<'_>| {
        // Panics only (a slow-item report may come with a debug backtrace).
        if e.source().is_panic() {
            s.set(s.get() + 1);
        }
    }));
    drop(lp.ensure_future(async {
        let _p = PanicsOnDrop;
        pending_forever().await
    }));
    let p = PanicsOnDrop;
    lp.call_soon(move || drop(p)).unwrap();
    // The callback runs and panics in its drop: reported as a callback panic.
    tick(&lp);
    let p = PanicsOnDrop;
    lp.call_later(Duration::from_secs(1), move || drop(p))
        .unwrap();
    lp.close().unwrap();
    assert_eq!(
        seen.get(),
        3,
        "the callback, the task future and the timer's closure"
    );
}
