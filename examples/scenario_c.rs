//! Scenario C of the seed article: another thread hands work to the loop
//! with `run_coroutine_threadsafe` and blocks on the result, while
//! `my_task_a` shares the loop.
//!
//! ```text
//! cargo run --example scenario_c              # waits for the result
//! cargo run --example scenario_c -- --timeout # gives up, cancels the task
//! ```
//!
//! The thread asks after 2.5 "seconds" (not 2) and the timeout is 2.25, so
//! no thread event ties with a loop timer.

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use common::Out;
use evloop::LoopHandle;

/// Prints when dropped before it finished: shows the cancel reached the loop.
struct CancelNotice(Out, bool);

impl Drop for CancelNotice {
    fn drop(&mut self) {
        if !self.1 {
            (self.0)("my_task_b: cancelled, dropped on the loop thread".to_string());
        }
    }
}

async fn my_task_a(out: Out, unit: Duration) {
    for i in 0..10 {
        out(format!("my_task_a: {i}"));
        evloop::sleep(unit).await;
    }
}

async fn my_task_b(out: Out, unit: Duration, value: u64) -> u64 {
    let mut notice = CancelNotice(out.clone(), false);
    out("my_task_b got job".to_string());
    for _ in 0..value {
        out("my_task_b is processing job".to_string());
        evloop::sleep(unit).await;
    }
    notice.1 = true;
    value * value
}

fn my_thread(out: Out, unit: Duration, handle: LoopHandle, timeout: bool) {
    std::thread::sleep(unit.mul_f64(2.5));
    out("my_thread: ask to run my_task_b() on the loop".to_string());
    let o = out.clone();
    let future = handle.run_coroutine_threadsafe(move || my_task_b(o, unit, 5));
    out("my_thread: request sent".to_string());
    if timeout {
        match future.result_timeout(unit.mul_f64(2.25)) {
            Ok(result) => out(format!("my_thread result: {result}")),
            Err(e) if e.is_timed_out() => {
                out("my_thread: the task took too long, cancelling it".to_string());
                future.cancel();
            }
            Err(e) => out(format!("my_thread: failed: {e}")),
        }
    } else {
        let result = future.result().expect("my_task_b does not fail");
        out(format!("my_thread result: {result}"));
    }
}

/// The scenario: the thread and `my_task_a`, until `my_task_a` is done.
pub fn scenario(out: Out, unit: Duration, timeout: bool) {
    let lp = evloop::EventLoop::new();
    let handle = lp.handle();
    let (started_tx, started) = std::sync::mpsc::channel();
    let o = out.clone();
    let thread = std::thread::spawn(move || {
        o("my_thread: started".to_string());
        started_tx.send(()).expect("main waits for this");
        my_thread(o, unit, handle, timeout);
    });
    started.recv().expect("the thread starts");
    lp.run_until_complete(my_task_a(out, unit))
        .expect("runs to completion");
    thread.join().expect("my_thread does not panic");
}

#[allow(dead_code)] // tests include this file for `scenario` only
fn main() {
    let timeout = std::env::args().any(|a| a == "--timeout");
    common::header(
        "Scenario C: another thread hands work to the loop (run_coroutine_threadsafe) and blocks on the result.",
        if timeout {
            "the thread gives up after 2.25 s and cancels: the task is dropped on the loop thread, \
             while my_task_a keeps running."
        } else {
            "my_task_a keeps running on the loop while the thread waits; the thread gets the \
             task's result."
        },
    );
    scenario(common::stdout(), common::unit(), timeout);
}
