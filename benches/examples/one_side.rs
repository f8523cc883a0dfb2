//! One workload on one runtime, nothing else: the process to put under
//! `perf stat -e instructions` or `perf record`, so that a profile holds
//! only the side being studied (the compare tool alternates both).
//!
//! ```text
//! cargo build --release -p evloop-benches --example one_side
//! perf stat -e instructions,cache-misses \
//!     target/release/examples/one_side evloop call_soon 1000000 10
//! ```
//!
//! Arguments: runtime (`evloop` or `tokio`), workload, operations per
//! repetition, repetitions. Prints the median time per operation; divide
//! perf's counts by operations × repetitions for a per-operation figure
//! (the runtime's construction is included, and is small beside 1M ops).

use std::time::Duration;

use evloop_benches::{random_delays, tasks, timers, xthread};

/// A workload: operations → elapsed time.
type Workload = fn(usize) -> Duration;

fn workload(runtime: &str, name: &str) -> Option<Workload> {
    let evloop = runtime == "evloop";
    Some(match (name, evloop) {
        ("call_soon", true) => tasks::call_soon_evloop,
        ("call_soon", false) => tasks::call_soon_tokio,
        ("spawn_join", true) => tasks::spawn_join_evloop,
        ("spawn_join", false) => tasks::spawn_join_tokio,
        ("ping_pong", true) => tasks::ping_pong_evloop,
        ("ping_pong", false) => tasks::ping_pong_tokio,
        ("timer_cancel", true) => |n| timers::timer_cancel_evloop(&random_delays(n, 100, 7)),
        ("timer_cancel", false) => |n| timers::timer_cancel_tokio(&random_delays(n, 100, 7)),
        ("timers_random", true) => |n| timers::timers_sleep_evloop(&random_delays(n, 100, 7)),
        ("timers_random", false) => |n| timers::timers_sleep_tokio(&random_delays(n, 100, 7)),
        ("timers_random_cb", true) => |n| timers::timers_cb_evloop(&random_delays(n, 100, 7)),
        ("threadsafe_1p", true) => |n| xthread::threadsafe_evloop(1, n),
        ("threadsafe_1p", false) => |n| xthread::threadsafe_tokio(1, n),
        ("threadsafe_2p", true) => |n| xthread::threadsafe_evloop(2, n),
        ("threadsafe_2p", false) => |n| xthread::threadsafe_tokio(2, n),
        _ => return None,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: one_side evloop|tokio WORKLOAD [OPS [REPS]]";
    let (Some(runtime), Some(name)) = (args.first(), args.get(1)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let Some(run) = workload(runtime, name) else {
        eprintln!("one_side: no workload {name:?} on {runtime:?}\n{usage}");
        std::process::exit(2);
    };
    let number = |i: usize, default: usize| args.get(i).map_or(Some(default), |s| s.parse().ok());
    let (Some(ops), Some(reps)) = (number(2, 1_000_000), number(3, 10)) else {
        eprintln!("one_side: OPS and REPS are positive numbers\n{usage}");
        std::process::exit(2);
    };
    let mut times: Vec<Duration> = (0..reps.max(1)).map(|_| run(ops)).collect();
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "{runtime} {name}: median {:.2} ns/op over {} reps of {ops}",
        median.as_nanos() as f64 / ops as f64,
        times.len()
    );
}
