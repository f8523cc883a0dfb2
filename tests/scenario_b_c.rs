//! Scenarios B and C of the seed, run in real time scaled down (one
//! "second" = `UNIT`). Every thread event is offset by at least half a unit
//! from every loop timer, so the transcripts below are what the code
//! guarantees; where two threads race by design, the test says so.

// Each example includes `examples/common` for itself; this test includes
// the examples, so it sees that file several times, as intended.
#![allow(clippy::duplicate_mod)]

#[path = "../examples/scenario_b_callback.rs"]
mod scenario_b_callback;
#[path = "../examples/scenario_b_executor.rs"]
mod scenario_b_executor;
#[path = "../examples/scenario_c.rs"]
mod scenario_c;

#[path = "../examples/common/mod.rs"]
mod common;

use std::time::Duration;

const UNIT: Duration = Duration::from_millis(200);

#[test]
fn scenario_b_executor_transcript() {
    let (out, lines) = common::collect();
    evloop::run(scenario_b_executor::scenario(out, UNIT)).unwrap();
    assert_eq!(
        *lines.lock().unwrap(),
        [
            "task_a: 0",
            "task_c: put a task to executor",
            "task_b: blocking call started",
            "task_a: 1",
            "task_a: 2",
            "task_a: 3",
            "task_c: result: hello world",
            "task_a: 4",
            "task_a: 5",
        ]
    );
}

#[test]
fn scenario_b_callback_transcript() {
    let (out, lines) = common::collect();
    scenario_b_callback::scenario(out, UNIT);
    assert_eq!(
        *lines.lock().unwrap(),
        [
            "my_thread: started",
            "task_a: 0",
            "task_b",
            "my_thread: got job, with value 5",
            "task_a: 1",
            "task_a: 2",
            "task_a: 3",
            "callback got result: 25",
            "task_b got result: 25",
            "task_a: 4",
            "task_a: 5",
        ]
    );
}

/// "request sent" is printed by the thread right after it submits, while
/// the loop may already be running `my_task_b`: the two race by design. The
/// test checks the line's place within its window, then the rest exactly.
fn without_request_sent(lines: &[String]) -> Vec<String> {
    let asked = lines.iter().position(|l| l.contains("ask to run")).unwrap();
    let sent = lines
        .iter()
        .position(|l| l == "my_thread: request sent")
        .unwrap();
    assert!(sent > asked, "request sent after asking");
    assert!(
        lines[asked + 1..sent]
            .iter()
            .all(|l| l.starts_with("my_task_b")),
        "only my_task_b's first lines can come between: {lines:?}"
    );
    lines
        .iter()
        .filter(|l| *l != "my_thread: request sent")
        .cloned()
        .collect()
}

#[test]
fn scenario_c_transcript() {
    let (out, lines) = common::collect();
    scenario_c::scenario(out, UNIT, false);
    let lines = without_request_sent(&lines.lock().unwrap());
    assert_eq!(
        lines,
        [
            "my_thread: started",
            "my_task_a: 0",
            "my_task_a: 1",
            "my_task_a: 2",
            "my_thread: ask to run my_task_b() on the loop",
            "my_task_b got job",
            "my_task_b is processing job",
            "my_task_a: 3",
            "my_task_b is processing job",
            "my_task_a: 4",
            "my_task_b is processing job",
            "my_task_a: 5",
            "my_task_b is processing job",
            "my_task_a: 6",
            "my_task_b is processing job",
            "my_task_a: 7",
            "my_thread result: 25",
            "my_task_a: 8",
            "my_task_a: 9",
        ]
    );
}

#[test]
fn scenario_c_timeout_cancels_the_task() {
    let (out, lines) = common::collect();
    scenario_c::scenario(out, UNIT, true);
    let lines = without_request_sent(&lines.lock().unwrap());
    assert_eq!(
        lines,
        [
            "my_thread: started",
            "my_task_a: 0",
            "my_task_a: 1",
            "my_task_a: 2",
            "my_thread: ask to run my_task_b() on the loop",
            "my_task_b got job",
            "my_task_b is processing job",
            "my_task_a: 3",
            "my_task_b is processing job",
            "my_task_a: 4",
            "my_task_b is processing job",
            "my_thread: the task took too long, cancelling it",
            "my_task_b: cancelled, dropped on the loop thread",
            "my_task_a: 5",
            "my_task_a: 6",
            "my_task_a: 7",
            "my_task_a: 8",
            "my_task_a: 9",
        ]
    );
}
