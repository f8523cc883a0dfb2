//! `wait` with each `ReturnWhen` and a timeout; `as_completed` order.

mod util;

use std::future::pending;
use std::time::Duration;

use evloop::{ReturnWhen, Task};
use util::virtual_loop;

const SEC: Duration = Duration::from_secs(1);

/// A task that sleeps `secs` seconds and returns them.
fn sleeper(secs: u32) -> Task<u32> {
    evloop::ensure_future(async move {
        evloop::sleep(secs * SEC).await;
        secs
    })
}

fn values(done: Vec<Result<u32, evloop::TaskError>>) -> Vec<u32> {
    done.into_iter().map(Result::unwrap).collect()
}

#[test]
fn first_completed_returns_one_and_the_rest_keep_running() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let tasks = vec![sleeper(3), sleeper(1), sleeper(2)];
        let (done, pending) = evloop::wait(tasks, ReturnWhen::FirstCompleted, None).await;
        assert_eq!(values(done), [1]);
        assert_eq!(pending.len(), 2);
        // The pending tasks were not cancelled: they finish, in input order.
        let rest: Vec<u32> = evloop::gather(pending)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        rest
    });
    assert_eq!(out.unwrap(), [3, 2]);
}

#[test]
fn all_completed_waits_for_every_task() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let tasks = vec![sleeper(3), sleeper(1), sleeper(2)];
        evloop::wait(tasks, ReturnWhen::AllCompleted, None).await
    });
    let (done, pending) = out.unwrap();
    assert_eq!(values(done), [3, 1, 2], "outputs in input order");
    assert!(pending.is_empty());
}

#[test]
fn first_exception_returns_at_the_first_panic() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let panicker = evloop::ensure_future(async {
            evloop::sleep(2 * SEC).await;
            panic!("task failed");
        });
        let tasks = vec![sleeper(1), panicker, sleeper(3)];
        evloop::wait(tasks, ReturnWhen::FirstException, None).await
    });
    let (done, pending) = out.unwrap();
    assert_eq!(done.len(), 2, "the 1 s task, then the panic at 2 s");
    assert_eq!(*done[0].as_ref().unwrap(), 1);
    let err = done[1].as_ref().unwrap_err();
    assert_eq!(err.panic_message(), Some("task failed"));
    assert_eq!(pending.len(), 1);
}

#[test]
fn first_exception_without_one_waits_for_all_and_cancellation_is_no_exception() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let cancelled = sleeper(100);
        cancelled.cancel();
        let tasks = vec![sleeper(2), cancelled, sleeper(1)];
        evloop::wait(tasks, ReturnWhen::FirstException, None).await
    });
    let (done, pending) = out.unwrap();
    assert_eq!(done.len(), 3);
    assert!(done[1].as_ref().unwrap_err().is_cancelled());
    assert_eq!(*done[2].as_ref().unwrap(), 1);
    assert!(pending.is_empty());
}

#[test]
fn a_timeout_returns_what_is_done_by_then() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let never = evloop::ensure_future(pending::<u32>());
        let tasks = vec![sleeper(1), never, sleeper(5)];
        let (done, pending) = evloop::wait(tasks, ReturnWhen::AllCompleted, Some(2 * SEC)).await;
        let ids_pending = pending.len();
        for task in &pending {
            task.cancel();
        }
        (values(done), ids_pending)
    });
    assert_eq!(out.unwrap(), (vec![1], 2));
}

#[test]
fn a_timeout_not_reached_leaves_no_timer() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let tasks = vec![sleeper(1)];
        evloop::wait(tasks, ReturnWhen::AllCompleted, Some(100 * SEC)).await
    });
    assert_eq!(values(out.unwrap().0), [1]);
    assert_eq!(lp.next_timeout(), None);
}

#[test]
fn wait_on_nothing_returns_at_once() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        evloop::wait(Vec::<Task<()>>::new(), ReturnWhen::FirstCompleted, None).await
    });
    let (done, pending) = out.unwrap();
    assert!(done.is_empty() && pending.is_empty());
}

#[test]
fn as_completed_gives_outputs_in_completion_order() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let tasks = [4, 1, 3, 2].map(sleeper);
        let mut completed = evloop::as_completed(tasks);
        assert_eq!(completed.len(), 4);
        let mut order = Vec::new();
        while let Some(out) = completed.next().await {
            order.push(out.unwrap());
        }
        assert!(completed.is_empty());
        assert!(completed.next().await.is_none());
        order
    });
    assert_eq!(out.unwrap(), [1, 2, 3, 4]);
}

#[test]
fn as_completed_follows_completion_not_input_order_within_one_wakeup() {
    // Both tasks finish before the consumer runs again; the one that
    // finished first (the second given) comes first.
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let gate = evloop::sync::Event::new();
        let g = gate.clone();
        let late = evloop::ensure_future(async move {
            g.wait().await;
            evloop::yield_now().await;
            "second to finish"
        });
        let g = gate.clone();
        let early = evloop::ensure_future(async move {
            g.wait().await;
            "first to finish"
        });
        let mut completed = evloop::as_completed([late, early]);
        let consumer = async {
            let mut order = Vec::new();
            while let Some(out) = completed.next().await {
                order.push(out.unwrap());
            }
            order
        };
        gate.set();
        consumer.await
    });
    assert_eq!(out.unwrap(), ["first to finish", "second to finish"]);
}

#[test]
fn as_completed_reports_panics_and_tasks_done_before_watching() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let finished = evloop::ensure_future(async { 0 });
        evloop::yield_now().await;
        evloop::yield_now().await;
        assert!(finished.done());
        let panicker = evloop::ensure_future(async {
            evloop::sleep(SEC).await;
            panic!("boom");
        });
        let mut completed = evloop::as_completed([sleeper(2), panicker, finished]);
        let mut seen = Vec::new();
        while let Some(out) = completed.next().await {
            seen.push(out.map_err(|e| e.panic_message().unwrap().to_string()));
        }
        seen
    });
    assert_eq!(out.unwrap(), [Ok(0), Err("boom".to_string()), Ok(2)]);
}
