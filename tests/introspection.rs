//! Introspection: `all_tasks`, task ids and names, `current_task`.

mod util;

use std::cell::RefCell;
use std::rc::Rc;

use evloop::{EventLoop, Task, TaskState};
use util::virtual_loop;

#[test]
fn all_tasks_lists_each_unfinished_task_with_its_state() {
    let lp = virtual_loop();
    let waiting =
        lp.ensure_future(async { evloop::sleep(std::time::Duration::from_secs(60)).await });
    let cancelling = lp.ensure_future(std::future::pending::<()>());
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let line = line!() + 1;
    let runner = lp.ensure_future(async move {
        *s.borrow_mut() = EventLoop::current().all_tasks();
    });
    lp.run_once(Some(std::time::Duration::ZERO)).unwrap();
    cancelling.cancel();
    let states: Vec<_> = lp.all_tasks().iter().map(|t| (t.id, t.state)).collect();
    assert_eq!(
        states,
        [
            (waiting.id(), TaskState::Waiting),
            (cancelling.id(), TaskState::Cancelling)
        ],
        "the finished task is gone"
    );
    let inside: Vec<_> = seen.borrow().iter().map(|t| (t.id, t.state)).collect();
    assert_eq!(
        inside,
        [
            (waiting.id(), TaskState::Waiting),
            (cancelling.id(), TaskState::Waiting),
            (runner.id(), TaskState::Running),
        ],
        "polled in spawn order: the first two already waited"
    );
    assert_eq!(seen.borrow()[2].location.line(), line);
}

#[test]
fn a_new_task_is_scheduled_and_ids_are_never_reused() {
    let lp = EventLoop::new();
    let a = lp.ensure_future(async {});
    lp.run_until_complete(async {}).unwrap();
    assert!(a.done());
    let b = lp.ensure_future(async {});
    assert_eq!(lp.all_tasks()[0].state, TaskState::Scheduled);
    assert!(b.id() > a.id(), "{} then {}", a.id(), b.id());
}

#[test]
fn names_are_shown_and_dropped_when_the_task_finishes() {
    let lp = EventLoop::new();
    let task = lp.ensure_future(async {}).with_name("reader");
    assert_eq!(task.name().as_deref(), Some("reader"));
    assert_eq!(lp.all_tasks()[0].name.as_deref(), Some("reader"));
    assert_eq!(
        lp.all_tasks()[0].to_string(),
        format!(
            "task {} \"reader\" (Scheduled) spawned at {}",
            task.id(),
            lp.all_tasks()[0].location
        )
    );
    let task = {
        lp.run_until_complete(async {}).unwrap();
        task
    };
    assert!(task.done());
    assert_eq!(task.name(), None, "a finished task keeps no name");
    task.set_name("late");
    assert_eq!(task.name(), None, "naming a finished task does nothing");
}

#[test]
fn current_task_is_the_polled_task_and_none_in_callbacks() {
    let lp = EventLoop::new();
    let in_callback = Rc::new(RefCell::new(Some(None)));
    let c = in_callback.clone();
    lp.call_soon(move || *c.borrow_mut() = Some(evloop::current_task()))
        .unwrap();
    let id = lp
        .run_until_complete(async { Task::current().map(|t| t.id) })
        .unwrap();
    assert!(id.is_some());
    assert_eq!(*in_callback.borrow(), Some(None));
    assert!(evloop::current_task().is_none(), "outside the loop");
}

#[test]
fn a_nested_poll_restores_the_outer_current_task() {
    // A task that polls another future which spawns and yields: after the
    // inner task ran (in its own turn), the outer one is current again.
    let ids = evloop::run(async {
        let outer = evloop::current_task().unwrap().id;
        let inner = evloop::ensure_future(async { evloop::current_task().unwrap().id })
            .await
            .unwrap();
        (outer, inner, evloop::current_task().unwrap().id)
    })
    .unwrap();
    assert_ne!(ids.0, ids.1);
    assert_eq!(ids.0, ids.2);
}
