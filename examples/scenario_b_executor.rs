//! Scenario B of the seed article, by return value: a task hands a blocking
//! call to another thread with `run_in_executor` and awaits its result,
//! while `task_a` keeps the loop busy.
//!
//! ```text
//! cargo run --example scenario_b_executor
//! ```
//!
//! The blocking call takes 3.5 "seconds" (not the article's 4, which would
//! tie with `task_a`'s fourth tick), so the order of the lines is fixed:
//! the result arrives between `task_a: 3` and `task_a: 4`.

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use common::Out;

async fn task_a(out: Out, unit: Duration) {
    for i in 0..6 {
        out(format!("task_a: {i}"));
        evloop::sleep(unit).await;
    }
}

/// The blocking call: think of an external API that takes a while.
fn task_b(out: Out, unit: Duration, s: &str) -> String {
    out("task_b: blocking call started".to_string());
    std::thread::sleep(unit.mul_f64(3.5));
    format!("{s} world")
}

async fn task_c(out: Out, unit: Duration) {
    out("task_c: put a task to executor".to_string());
    let o = out.clone();
    let job = evloop::EventLoop::current().run_in_executor(move || task_b(o, unit, "hello"));
    let result = job.await.expect("task_b does not panic");
    out(format!("task_c: result: {result}"));
}

/// The scenario: both tasks on one loop, until both are done.
pub async fn scenario(out: Out, unit: Duration) {
    // Named, so that traces and `all_tasks` say which is which.
    let a = evloop::ensure_future(task_a(out.clone(), unit)).with_name("task_a");
    let c = evloop::ensure_future(task_c(out, unit)).with_name("task_c");
    c.await.expect("task_c does not panic");
    a.await.expect("task_a does not panic");
}

#[allow(dead_code)] // tests include this file for `scenario` only
fn main() {
    common::header(
        "Scenario B, by return value: a task hands a blocking call to the executor and awaits it.",
        "task_a keeps counting once a second while task_b blocks its own thread for 3.5 s; \
         the result arrives between task_a: 3 and task_a: 4.",
    );
    evloop::run(scenario(common::stdout(), common::unit())).expect("runs to completion");
}
