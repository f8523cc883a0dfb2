//! Scenario B of the seed article, by callback: a worker thread with a job
//! queue answers through a callback; the task awaits a `create_future`
//! that the callback completes.
//!
//! ```text
//! cargo run --example scenario_b_callback
//! ```
//!
//! The Python original calls `fut.set_result` from the worker thread: a
//! data race, since asyncio futures are not thread-safe. In evloop a
//! `LoopFuture` is `!Send`, so that cannot compile; the callback uses the
//! future's `threadsafe_setter()`, which hops onto the loop thread. The
//! worker takes 3.5 "seconds" (not 4), so nothing ties with `task_a`.

#[path = "common/mod.rs"]
mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::Out;

/// A request to the worker: a value, and where to send the answer.
struct Job {
    value: u64,
    callback: Box<dyn FnOnce(u64) + Send>,
}

/// The "external module": squares numbers, slowly, on its own thread.
fn my_thread(out: Out, unit: Duration, jobs: mpsc::Receiver<Job>) {
    for job in jobs {
        out(format!("my_thread: got job, with value {}", job.value));
        std::thread::sleep(unit.mul_f64(3.5));
        (job.callback)(job.value * job.value);
    }
}

async fn task_a(out: Out, unit: Duration) {
    for i in 0..6 {
        out(format!("task_a: {i}"));
        evloop::sleep(unit).await;
    }
}

async fn task_b(out: Out, jobs: mpsc::Sender<Job>, i: u64) -> u64 {
    out("task_b".to_string());
    let fut = evloop::EventLoop::current().create_future::<u64>();
    let setter = fut.threadsafe_setter();
    let o = out.clone();
    let callback = move |result: u64| {
        o(format!("callback got result: {result}"));
        setter.set_result(result).expect("the loop is running");
    };
    jobs.send(Job {
        value: i,
        callback: Box::new(callback),
    })
    .expect("the worker is alive");
    let result = fut.await.expect("the worker answers");
    out(format!("task_b got result: {result}"));
    result
}

/// The scenario: start the worker, then run both tasks until done.
pub fn scenario(out: Out, unit: Duration) {
    let (jobs, queue) = mpsc::channel();
    let (started_tx, started) = mpsc::channel();
    let o = out.clone();
    let worker = std::thread::spawn(move || {
        o("my_thread: started".to_string());
        started_tx.send(()).expect("main waits for this");
        my_thread(o, unit, queue);
    });
    started.recv().expect("the worker starts");
    evloop::run(async move {
        let a = evloop::ensure_future(task_a(out.clone(), unit));
        let b = evloop::ensure_future(task_b(out, jobs, 5));
        b.await.expect("task_b does not panic");
        a.await.expect("task_a does not panic");
    })
    .expect("runs to completion");
    // The job sender was dropped with task_b: the worker's queue ends.
    worker.join().expect("the worker does not panic");
}

#[allow(dead_code)] // tests include this file for `scenario` only
fn main() {
    common::header(
        "Scenario B, by callback: a worker thread completes a loop future through its threadsafe setter.",
        "the loop's task goes on ticking while the worker runs; the awaiting task \
         wakes when the worker's callback sets the result.",
    );
    scenario(common::stdout(), common::unit());
}
