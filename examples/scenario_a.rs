//! Scenario A of the seed article: while one task runs on the loop, schedule
//! more work on the same loop (no threads).
//!
//! - `ensure_future` starts a task without waiting for it (fire and forget),
//! - `call_soon` schedules a plain callback,
//! - `.await` waits for a result when the flow needs it.
//!
//! `task_a` counts once a second the whole time: nothing here blocks the loop.
//! Each line carries the loop time at which it was written, in the
//! article's "seconds" (`EVLOOP_TIME_UNIT_MS` makes one shorter).
//!
//! ```text
//! cargo run --example scenario_a
//! EVLOOP_TIME_UNIT_MS=100 cargo run --example scenario_a
//! ```

#[path = "common/mod.rs"]
mod common;

use std::rc::Rc;
use std::time::{Duration, Instant};

use evloop::EventLoop;

/// Where the scenario writes its lines (stdout in `main`, a log in tests).
pub type Out = Rc<dyn Fn(String)>;

/// The loop's clock and the length of the article's "second".
#[derive(Clone, Copy)]
struct Clock {
    start: Instant,
    unit: Duration,
}

impl Clock {
    /// "Seconds" since the start, for the transcript.
    fn stamp(self) -> String {
        let t = EventLoop::current().time() - self.start;
        format!("[{:>4.1}s]", t.as_secs_f64() / self.unit.as_secs_f64())
    }

    /// `seconds` of the article's time.
    fn secs(self, seconds: f64) -> Duration {
        self.unit.mul_f64(seconds)
    }
}

async fn task_a(out: Out, clock: Clock) {
    for i in 0..5 {
        out(format!("{} task_a: {i}", clock.stamp()));
        evloop::sleep(clock.secs(1.0)).await;
    }
}

/// A flow whose result the main flow needs: it is awaited.
async fn compute(out: Out, clock: Clock, x: u64) -> u64 {
    out(format!("{} compute: started", clock.stamp()));
    evloop::sleep(clock.secs(1.5)).await;
    out(format!("{} compute: done", clock.stamp()));
    x * x
}

/// Work nobody waits for: started with `ensure_future` and left to run.
async fn side_task(out: Out, clock: Clock) {
    out(format!("{} side_task: started", clock.stamp()));
    evloop::sleep(clock.secs(2.5)).await;
    out(format!("{} side_task: finished", clock.stamp()));
}

/// The main flow of scenario A, with `unit` as the article's "second".
pub async fn scenario(out: Out, unit: Duration) {
    let lp = EventLoop::current();
    let clock = Clock {
        start: lp.time(),
        unit,
    };
    let counter = evloop::ensure_future(task_a(out.clone(), clock));
    let o = out.clone();
    lp.call_soon(move || o(format!("{} call_soon: callback ran", clock.stamp())))
        .expect("the loop is running");
    drop(evloop::ensure_future(side_task(out.clone(), clock))); // detached
    out(format!("{} main: awaiting compute(7)", clock.stamp()));
    let result = compute(out.clone(), clock, 7).await;
    out(format!("{} main: result {result}", clock.stamp()));
    counter.await.expect("task_a does not panic");
    out(format!("{} main: task_a finished, done", clock.stamp()));
}

#[allow(dead_code)] // tests include this file for `scenario` only
fn main() {
    common::header(
        "Scenario A: while one task runs on the loop, schedule more work on the same loop \
         (ensure_future, call_soon, await).",
        "task_a ticks every second from start to end, also while main awaits compute(7) \
         and while the detached side_task runs: awaiting one flow never stops the others.",
    );
    let out: Out = Rc::new(|line| println!("{line}"));
    evloop::run(scenario(out, common::unit())).expect("a fresh loop runs to completion");
}
