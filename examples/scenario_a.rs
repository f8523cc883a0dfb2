//! Scenario A of the seed article: while one task runs on the loop, schedule
//! more work on the same loop (no threads).
//!
//! - `ensure_future` starts a task without waiting for it (fire and forget),
//! - `call_soon` schedules a plain callback,
//! - `.await` waits for a result when the flow needs it.
//!
//! `task_a` counts once a second the whole time: nothing here blocks the loop.
//!
//! ```text
//! cargo run --example scenario_a
//! ```

use std::rc::Rc;
use std::time::{Duration, Instant};

use evloop::EventLoop;

/// Where the scenario writes its lines (stdout in `main`, a log in tests).
pub type Out = Rc<dyn Fn(String)>;

/// Seconds since `start`, for the transcript.
fn stamp(start: Instant) -> String {
    let t = EventLoop::current().time() - start;
    format!("[{:>4.1}s]", t.as_secs_f64())
}

async fn task_a(out: Out, start: Instant) {
    for i in 0..5 {
        out(format!("{} task_a: {i}", stamp(start)));
        evloop::sleep(Duration::from_secs(1)).await;
    }
}

/// A flow whose result the main flow needs: it is awaited.
async fn compute(out: Out, start: Instant, x: u64) -> u64 {
    out(format!("{} compute: started", stamp(start)));
    evloop::sleep(Duration::from_millis(1500)).await;
    out(format!("{} compute: done", stamp(start)));
    x * x
}

/// Work nobody waits for: started with `ensure_future` and left to run.
async fn side_task(out: Out, start: Instant) {
    out(format!("{} side_task: started", stamp(start)));
    evloop::sleep(Duration::from_millis(2500)).await;
    out(format!("{} side_task: finished", stamp(start)));
}

/// The main flow of scenario A.
pub async fn scenario(out: Out) {
    let lp = EventLoop::current();
    let start = lp.time();
    let counter = evloop::ensure_future(task_a(out.clone(), start));
    let o = out.clone();
    lp.call_soon(move || o(format!("{} call_soon: callback ran", stamp(start))))
        .expect("the loop is running");
    drop(evloop::ensure_future(side_task(out.clone(), start))); // detached
    out(format!("{} main: awaiting compute(7)", stamp(start)));
    let result = compute(out.clone(), start, 7).await;
    out(format!("{} main: result {result}", stamp(start)));
    counter.await.expect("task_a does not panic");
    out(format!("{} main: task_a finished, done", stamp(start)));
}

#[allow(dead_code)] // tests include this file for `scenario` only
fn main() {
    let out: Out = Rc::new(|line| println!("{line}"));
    evloop::run(scenario(out)).expect("a fresh loop runs to completion");
}
