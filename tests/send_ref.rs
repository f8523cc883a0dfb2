//! `SendRef`: other threads reach `!Send` loop state through a token; the
//! value is only ever touched, and dropped, on its loop's thread.

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use evloop::{EventLoop, SendRef};

/// Records the thread its `Drop` ran on.
struct DropsOn(Arc<Mutex<Vec<ThreadId>>>);

impl Drop for DropsOn {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(thread::current().id());
    }
}

#[test]
fn the_token_is_send_and_sync_whatever_the_value() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SendRef<RefCell<Rc<u8>>>>();
}

#[test]
fn threads_reach_loop_state_through_the_token_in_their_order() {
    let lp = EventLoop::new();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let token = lp.send_ref(seen.clone());
    let handle = lp.handle();
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let (token, handle) = (token.clone(), handle.clone());
            thread::spawn(move || {
                for n in 0..100 {
                    handle
                        .call_soon_threadsafe_with(
                            &token,
                            move |seen: &RefCell<Vec<(i32, i32)>>| seen.borrow_mut().push((p, n)),
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    drop(token);
    while seen.borrow().len() < 200 {
        lp.run_once(Some(Duration::from_millis(10))).unwrap();
    }
    for p in 0..2 {
        let mine: Vec<i32> = seen
            .borrow()
            .iter()
            .filter(|s| s.0 == p)
            .map(|s| s.1)
            .collect();
        assert_eq!(mine, (0..100).collect::<Vec<_>>(), "producer {p}'s order");
    }
}

#[test]
fn the_value_is_dropped_on_the_loop_thread_when_the_last_token_goes_elsewhere() {
    let drops = Arc::new(Mutex::new(Vec::new()));
    let lp = EventLoop::new();
    let token = lp.send_ref(Rc::new(DropsOn(drops.clone())));
    assert!(token.get_on(&lp).is_some());
    // The last token goes on another thread: the drop is sent home.
    thread::spawn(move || drop(token)).join().unwrap();
    assert!(drops.lock().unwrap().is_empty(), "not dropped elsewhere");
    lp.run_once(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(*drops.lock().unwrap(), [thread::current().id()]);
}

#[test]
fn close_drops_the_value_on_the_loop_thread_while_tokens_live_elsewhere() {
    let drops = Arc::new(Mutex::new(Vec::new()));
    let lp = EventLoop::new();
    let token = lp.send_ref(Rc::new(DropsOn(drops.clone())));
    let keeper = token.clone();
    drop(lp);
    assert_eq!(*drops.lock().unwrap(), [thread::current().id()]);
    // The tokens outlive the loop harmlessly.
    let handle = keeper.handle().clone();
    let refused = handle.call_soon_threadsafe_with(&keeper, |_: &DropsOn| panic!("not run"));
    assert!(refused.is_err());
    thread::spawn(move || drop((token, keeper))).join().unwrap();
    assert_eq!(drops.lock().unwrap().len(), 1);
}

#[test]
fn get_works_only_inside_the_loop_the_value_belongs_to() {
    let lp = EventLoop::new();
    let other = EventLoop::new();
    let token = lp.send_ref(Rc::new(7));
    let inside = lp
        .run_until_complete({
            let token = token.clone();
            async move { *token.get() }
        })
        .unwrap();
    assert_eq!(inside, 7);
    assert!(token.get_on(&other).is_none(), "another loop");
    let in_other =
        other.run_until_complete({
            let token = token.clone();
            async move {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *token.get())).is_err()
            }
        });
    assert!(in_other.unwrap(), "get inside another loop panics");
    let outside = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *token.get()));
    let payload = outside.unwrap_err();
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap();
    assert!(message.contains("not inside the running loop"), "{message}");
}

#[test]
#[should_panic(expected = "belongs to another loop")]
fn a_token_of_another_loop_is_refused_by_a_handle() {
    let lp = EventLoop::new();
    let other = EventLoop::new();
    let token = lp.send_ref(Rc::new(()));
    let _ = other
        .handle()
        .call_soon_threadsafe_with(&token, |_: &()| {});
}

#[test]
fn a_panicking_drop_of_the_value_is_reported_not_propagated() {
    struct Boom;
    impl Drop for Boom {
        fn drop(&mut self) {
            panic!("boom in drop");
        }
    }
    let lp = EventLoop::new();
    let reports = Rc::new(RefCell::new(Vec::new()));
    lp.set_exception_handler(Some({
        let reports = reports.clone();
        move |e: &evloop::Exception<'_>| {
            reports
                .borrow_mut()
                .push(e.message().unwrap_or_default().to_string())
        }
    }));
    let token = lp.send_ref(Rc::new(Boom));
    thread::spawn(move || drop(token)).join().unwrap();
    lp.run_once(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(reports.borrow().len(), 1);
    assert!(
        reports.borrow()[0].contains("boom in drop"),
        "{:?}",
        reports.borrow()
    );
}
