//! `TaskGroup` and `TryTaskGroup`: structured concurrency.

mod util;

use std::future::pending;
use std::time::Duration;

use evloop::{GroupClosed, TaskGroup, TryTaskGroup};
use util::{virtual_loop, Drops, Log};

const SEC: Duration = Duration::from_secs(1);

#[test]
fn all_tasks_complete_and_outputs_come_in_creation_order() {
    let lp = virtual_loop();
    let log = Log::new();
    let l = log.clone();
    let out = lp.run_until_complete(async move {
        let mut group = TaskGroup::new();
        let mut handles = Vec::new();
        for i in 0..4u32 {
            let log = l.clone();
            handles.push(
                group
                    .create_task(async move {
                        evloop::sleep((4 - i) * SEC).await;
                        log.push(format!("{i}"));
                        i
                    })
                    .unwrap(),
            );
        }
        assert!(handles.iter().all(|h| !h.done()));
        let outputs = group.wait().await;
        assert!(handles.iter().all(|h| h.done()));
        assert_eq!(
            handles.iter().map(|h| h.index()).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        outputs
    });
    assert_eq!(out.unwrap().unwrap(), [0, 1, 2, 3]);
    assert_eq!(
        log.get(),
        ["3", "2", "1", "0"],
        "the tasks ran concurrently"
    );
}

#[test]
fn tasks_run_before_the_group_is_awaited() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let mut group = TaskGroup::new();
        let task = group.create_task(async { 1 }).unwrap();
        evloop::yield_now().await;
        evloop::yield_now().await;
        let done_before_wait = task.done();
        (done_before_wait, group.wait().await.unwrap())
    });
    assert_eq!(out.unwrap(), (true, vec![1]));
}

#[test]
fn a_panic_cancels_the_others_and_is_reported() {
    let lp = virtual_loop();
    let drops = Drops::default();
    let log = Log::new();
    let (d, l) = (drops.clone(), log.clone());
    let out = lp.run_until_complete(async move {
        let mut group = TaskGroup::new();
        for i in 0..3 {
            let token = d.token();
            let log = l.clone();
            group
                .create_task(async move {
                    let _token = token;
                    evloop::sleep(3600 * SEC).await;
                    log.push(format!("{i} ran to the end"));
                })
                .unwrap();
        }
        group
            .create_task(async {
                evloop::sleep(SEC).await;
                panic!("task 3 failed");
            })
            .unwrap();
        let result = group.wait().await;
        (result, d.count())
    });
    let (result, dropped) = out.unwrap();
    let err = result.unwrap_err();
    assert_eq!(err.failures().len(), 1);
    assert!(err.failures()[0].is_panic());
    assert_eq!(err.failures()[0].panic_message(), Some("task 3 failed"));
    assert_eq!(dropped, 3, "the other futures were dropped");
    assert!(log.get().is_empty());
    assert_eq!(lp.next_timeout(), None, "their timers are gone");
}

#[test]
fn failures_in_the_same_iteration_are_all_reported() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let mut group = TaskGroup::new();
        // Both wake on the same timer tick, so both run in the iteration
        // of the first failure, before the cancellation (next iteration).
        for name in ["a", "b"] {
            group
                .create_task(async move {
                    evloop::sleep(SEC).await;
                    panic!("{name} failed");
                })
                .unwrap();
        }
        let cancelled = group
            .create_task(async {
                evloop::sleep(2 * SEC).await;
                panic!("never reached: cancelled first");
            })
            .unwrap();
        let result = group.wait().await;
        assert!(cancelled.done());
        result
    });
    let err = out.unwrap().unwrap_err();
    let messages: Vec<_> = err.failures().iter().map(|f| f.panic_message()).collect();
    assert_eq!(messages, [Some("a failed"), Some("b failed")]);
    assert_eq!(
        err.to_string(),
        "2 task(s) of the group failed; the first: task panicked: a failed"
    );
}

#[test]
fn create_task_is_refused_while_failing_and_after_finishing() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let mut group = TaskGroup::new();
        group.create_task(async { panic!("first") }).unwrap();
        group.create_task(pending::<()>()).unwrap();
        evloop::yield_now().await;
        evloop::yield_now().await;
        let while_failing = group.create_task(async {}).unwrap_err();
        assert!(group.wait().await.is_err());
        let after = group.create_task(async {}).unwrap_err();
        let second_wait = group.wait().await.unwrap();
        (while_failing, after, second_wait)
    });
    let (while_failing, after, second_wait) = out.unwrap();
    assert_eq!(while_failing, GroupClosed::Failing);
    assert!(while_failing.is_failing());
    assert_eq!(after, GroupClosed::Finished);
    assert!(after.is_finished());
    assert!(second_wait.is_empty());
}

#[test]
fn create_task_is_refused_after_a_successful_finish() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let mut group = TaskGroup::new();
        group.create_task(async { 1 }).unwrap();
        assert_eq!(group.wait().await.unwrap(), [1]);
        group.create_task(async { 2 }).map(|_| ())
    });
    assert_eq!(out.unwrap(), Err(GroupClosed::Finished));
}

#[test]
fn dropping_the_group_cancels_what_is_left() {
    let lp = virtual_loop();
    let drops = Drops::default();
    let log = Log::new();
    let (d, l) = (drops.clone(), log.clone());
    let out = lp.run_until_complete(async move {
        let group = TaskGroup::new();
        let quick = l.clone();
        group
            .create_task(async move {
                quick.push("quick finished");
            })
            .unwrap();
        for _ in 0..2 {
            let token = d.token();
            let log = l.clone();
            group
                .create_task(async move {
                    let _token = token;
                    evloop::sleep(SEC).await;
                    log.push("slow finished");
                })
                .unwrap();
        }
        evloop::yield_now().await;
        drop(group);
        // The cancellations take effect at the tasks' next turn.
        evloop::sleep(10 * SEC).await;
        d.count()
    });
    assert_eq!(out.unwrap(), 2);
    assert_eq!(log.get(), ["quick finished"]);
}

#[test]
fn an_err_cancels_a_try_group() {
    let lp = virtual_loop();
    let drops = Drops::default();
    let d = drops.clone();
    let out = lp.run_until_complete(async move {
        let mut group = TryTaskGroup::new();
        let token = d.token();
        group
            .create_task(async move {
                let _token = token;
                evloop::sleep(3600 * SEC).await;
                Ok(1)
            })
            .unwrap();
        group.create_task(async { Ok(2) }).unwrap();
        group
            .create_task(async {
                evloop::sleep(SEC).await;
                Err("refused")
            })
            .unwrap();
        let result = group.wait().await;
        (result, d.count())
    });
    let (result, dropped) = out.unwrap();
    let failures = result.unwrap_err().into_failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].error(), Some(&"refused"));
    assert!(!failures[0].is_panic());
    assert_eq!(dropped, 1);
}

#[test]
fn a_try_group_of_oks_gives_the_values() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let mut group = TryTaskGroup::<u32, String>::new();
        for i in 0..3 {
            group
                .create_task(async move {
                    evloop::sleep((3 - i) * SEC).await;
                    Ok(i)
                })
                .unwrap();
        }
        group.wait().await
    });
    assert_eq!(out.unwrap().unwrap(), [0, 1, 2]);
}

#[test]
fn a_try_group_reports_panics_and_errors_together() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let mut group = TryTaskGroup::<(), &str>::new();
        group
            .create_task(async {
                evloop::sleep(SEC).await;
                Err("err")
            })
            .unwrap();
        group
            .create_task(async {
                evloop::sleep(SEC).await;
                panic!("panic")
            })
            .unwrap();
        group.wait().await
    });
    let err = out.unwrap().unwrap_err();
    let f = err.failures();
    assert_eq!(
        (f[0].error(), f[1].panic_message()),
        (Some(&"err"), Some("panic"))
    );
}

#[test]
fn an_empty_group_finishes_at_once() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async { TaskGroup::<()>::new().wait().await });
    assert!(out.unwrap().unwrap().is_empty());
}

#[test]
fn a_task_can_outlast_a_dropped_wait() {
    let lp = virtual_loop();
    let out = lp.run_until_complete(async {
        let mut group = TaskGroup::new();
        group
            .create_task(async {
                evloop::sleep(5 * SEC).await;
                "late"
            })
            .unwrap();
        let early = evloop::timeout(SEC, group.wait()).await;
        assert!(early.is_err());
        group.wait().await
    });
    assert_eq!(out.unwrap().unwrap(), ["late"]);
}

#[test]
fn a_group_dropped_after_its_loop_closed_is_quiet() {
    let lp = virtual_loop();
    let group = lp
        .run_until_complete(async {
            let group = TaskGroup::new();
            group.create_task(pending::<()>()).unwrap();
            group
        })
        .unwrap();
    lp.close().unwrap();
    drop(group);
}

#[test]
fn a_loop_closing_under_a_group_is_reported_as_cancelled() {
    let lp = virtual_loop();
    let mut group = lp
        .run_until_complete(async {
            let group = TaskGroup::new();
            group.create_task(pending::<()>()).unwrap();
            group
        })
        .unwrap();
    lp.close().unwrap();
    let err = util::now_or_never(Box::pin(group.wait()))
        .unwrap()
        .unwrap_err();
    assert!(err.failures()[0].is_cancelled());
}

#[test]
fn create_task_outside_a_loop_panics_and_leaves_the_group_as_it_was() {
    let group = TaskGroup::<u8>::new();
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = group.create_task(async { 1 });
    }))
    .unwrap_err();
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(
        message.starts_with("evloop::TaskGroup::create_task called outside"),
        "{message}"
    );
    let mut group = group;
    let lp = virtual_loop();
    let out = lp.run_until_complete(async move { group.wait().await });
    assert!(out.unwrap().unwrap().is_empty(), "no task was counted");
}
