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
//! For a figure without the set-up (building the runtime, starting the
//! pool's threads, connecting sockets), run two sizes and divide the
//! difference of the counts by the difference of the operations.
//!
//! Each workload is called as `cargo compare` calls it
//! (`benches/src/compare/workloads.rs`). What one operation is:
//!
//! | workload | one operation |
//! | --- | --- |
//! | `spawn_join`, `call_soon`, `ping_pong` | a task, a callback, a round trip |
//! | `timers_random`, `timers_random_cb`, `timer_cancel` | a timer (delays uniform 0–100 ms; the time includes the wait for the longest) |
//! | `threadsafe_1p`, `threadsafe_2p` | a job |
//! | `executor_seq`, `executor_concurrent`, `executor_concurrent_default` | a job; `executor_concurrent` caps tokio's blocking pool at evloop's default pool size, `_default` leaves tokio's default (512); the concurrent ones run two rounds of OPS jobs (the first untimed, as in compare) |
//! | `tcp_echo_1` | a 64-byte round trip on one connection |
//! | `tcp_echo_50` | a 64-byte round trip, over 50 connections (OPS / 50 each; OPS is rounded down to a multiple of 50) |
//! | `tcp_bulk` | a byte (sent in 64 KiB writes and echoed back) |

use std::time::Duration;

use evloop_benches::{net, random_delays, tasks, timers, xthread};

/// Connections of `tcp_echo_50` (as in compare).
const ECHO_CONNS: usize = 50;

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
        // tokio has no timer callbacks: compare runs its sleep tasks here.
        ("timers_random_cb", false) => |n| timers::timers_sleep_tokio(&random_delays(n, 100, 7)),
        ("threadsafe_1p", true) => |n| xthread::threadsafe_evloop(1, n),
        ("threadsafe_1p", false) => |n| xthread::threadsafe_tokio(1, n),
        ("threadsafe_2p", true) => |n| xthread::threadsafe_evloop(2, n),
        ("threadsafe_2p", false) => |n| xthread::threadsafe_tokio(2, n),
        ("executor_seq", true) => xthread::executor_seq_evloop,
        ("executor_seq", false) => xthread::executor_seq_tokio,
        ("executor_concurrent" | "executor_concurrent_default", true) => {
            xthread::executor_concurrent_evloop
        }
        ("executor_concurrent", false) => |n| {
            let threads = evloop::ThreadPool::default_size();
            xthread::executor_concurrent_tokio(n, Some(threads))
        },
        ("executor_concurrent_default", false) => |n| xthread::executor_concurrent_tokio(n, None),
        ("tcp_echo_1", true) => |n| net::tcp_echo_evloop(1, n),
        ("tcp_echo_1", false) => |n| net::tcp_echo_tokio(1, n),
        ("tcp_echo_50", true) => |n| net::tcp_echo_evloop(ECHO_CONNS, n / ECHO_CONNS),
        ("tcp_echo_50", false) => |n| net::tcp_echo_tokio(ECHO_CONNS, n / ECHO_CONNS),
        ("tcp_bulk", true) => net::tcp_bulk_evloop,
        ("tcp_bulk", false) => net::tcp_bulk_tokio,
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
