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
//! Arguments: runtime (`evloop`; `tokio` or `tokio-local` for tokio's
//! `LocalSet` + `spawn_local` form, `tokio-spawn` for `tokio::spawn`;
//! `floor` for the hand-written floor of `call_soon`, `spawn_join` and
//! `ping_pong`), workload, operations per repetition, repetitions. Prints the median time per operation; divide
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
//! | `spawn_join`, `call_soon`, `ping_pong` | a task, a callback, a round trip; `_warm` (the runtime ran the same round once before) and `_timer_pending` (a timer an hour away is pending) variants of each |
//! | `queue_ping_pong`, `semaphore_contended` | a round trip through two `Queue`s (tokio: two unbounded `mpsc`); an acquisition (100 tasks, 10 permits) |
//! | `timers_random`, `timers_random_1m`, `timers_random_cb`, `timer_cancel` | a timer (delays uniform 0–100 ms; the time includes the wait for the longest) |
//! | `threadsafe_1p`, `threadsafe_2p` | a job |
//! | `executor_seq`, `executor_concurrent`, `executor_concurrent_default` | a job; `executor_concurrent` caps tokio's blocking pool at evloop's default pool size, `_default` leaves tokio's default (512); the concurrent ones run two rounds of OPS jobs (the first untimed, as in compare) |
//! | `tcp_echo_1` | a 64-byte round trip on one connection |
//! | `tcp_echo_50` | a 64-byte round trip, over 50 connections (OPS / 50 each; OPS is rounded down to a multiple of 50) |
//! | `tcp_bulk` | a byte (sent in 64 KiB writes and echoed back) |
//! | `hyper_http1_rps_1` | a keep-alive GET of `/` through hyper on one connection |
//! | `hyper_http1_rps_50` | a keep-alive GET, over 50 connections (OPS / 50 each, as `tcp_echo_50`) |

use std::time::Duration;

use evloop_benches::runtime::{Setting, TokioForm};
use evloop_benches::{floor, http, net, random_delays, sync, tasks, timers, xthread};

/// Connections of `tcp_echo_50` and `hyper_http1_rps_50` (as in compare).
const ECHO_CONNS: usize = 50;

/// A workload: operations → elapsed time.
type Workload = Box<dyn Fn(usize) -> Duration>;

/// The side a run measures: evloop, tokio in one of its forms, or the
/// hand-written floor.
#[derive(Clone, Copy)]
enum Side {
    Evloop,
    Tokio(TokioForm),
    Floor,
}

fn side(name: &str) -> Option<Side> {
    Some(match name {
        "evloop" => Side::Evloop,
        "tokio" | "tokio-local" => Side::Tokio(TokioForm::Local),
        "tokio-spawn" => Side::Tokio(TokioForm::Spawn),
        "floor" => Side::Floor,
        _ => return None,
    })
}

/// The setting a task workload's name asks for (`_warm`,
/// `_timer_pending`), and the name without it.
fn setting(name: &str) -> (&str, Setting) {
    if let Some(base) = name.strip_suffix("_warm") {
        (base, Setting::Warm)
    } else if let Some(base) = name.strip_suffix("_timer_pending") {
        (base, Setting::TimerPending)
    } else {
        (name, Setting::Fresh)
    }
}

fn workload(side: Side, name: &str) -> Option<Workload> {
    use Side::{Evloop, Floor, Tokio};
    let delays = |n| random_delays(n, 100, 7);
    let (base, set) = setting(name);
    Some(match (base, side) {
        ("call_soon", Evloop) => Box::new(move |n| tasks::call_soon_evloop(n, set)),
        ("call_soon", Tokio(f)) => Box::new(move |n| tasks::call_soon_tokio(n, set, f)),
        ("call_soon", Floor) => Box::new(floor::call_soon),
        ("spawn_join", Evloop) => Box::new(move |n| tasks::spawn_join_evloop(n, set)),
        ("spawn_join", Tokio(f)) => Box::new(move |n| tasks::spawn_join_tokio(n, set, f)),
        ("spawn_join", Floor) => Box::new(floor::spawn_join),
        ("ping_pong", Evloop) => Box::new(move |n| tasks::ping_pong_evloop(n, set)),
        ("ping_pong", Tokio(f)) => Box::new(move |n| tasks::ping_pong_tokio(n, set, f)),
        ("ping_pong", Floor) => Box::new(floor::ping_pong),
        ("queue_ping_pong", Evloop) => Box::new(move |n| sync::queue_ping_pong_evloop(n, set)),
        ("queue_ping_pong", Tokio(f)) => Box::new(move |n| sync::queue_ping_pong_tokio(n, set, f)),
        ("semaphore_contended", Evloop) => {
            Box::new(move |n| sync::semaphore_contended_evloop(n, set))
        }
        ("semaphore_contended", Tokio(f)) => {
            Box::new(move |n| sync::semaphore_contended_tokio(n, set, f))
        }
        _ if set != Setting::Fresh => return None,
        ("timer_cancel", Evloop) => Box::new(move |n| timers::timer_cancel_evloop(&delays(n))),
        ("timer_cancel", Tokio(_)) => Box::new(move |n| timers::timer_cancel_tokio(&delays(n))),
        ("timers_random" | "timers_random_1m", Evloop) => {
            Box::new(move |n| timers::timers_sleep_evloop(&delays(n)))
        }
        // tokio has no timer callbacks: compare runs its sleep tasks for
        // `timers_random_cb` too.
        ("timers_random" | "timers_random_1m" | "timers_random_cb", Tokio(f)) => {
            Box::new(move |n| timers::timers_sleep_tokio(&delays(n), f))
        }
        ("timers_random_cb", Evloop) => Box::new(move |n| timers::timers_cb_evloop(&delays(n))),
        ("threadsafe_1p", Evloop) => Box::new(|n| xthread::threadsafe_evloop(1, n)),
        ("threadsafe_1p", Tokio(_)) => Box::new(|n| xthread::threadsafe_tokio(1, n)),
        ("threadsafe_2p", Evloop) => Box::new(|n| xthread::threadsafe_evloop(2, n)),
        ("threadsafe_2p", Tokio(_)) => Box::new(|n| xthread::threadsafe_tokio(2, n)),
        ("executor_seq", Evloop) => Box::new(xthread::executor_seq_evloop),
        ("executor_seq", Tokio(_)) => Box::new(xthread::executor_seq_tokio),
        ("executor_concurrent" | "executor_concurrent_default", Evloop) => {
            Box::new(xthread::executor_concurrent_evloop)
        }
        ("executor_concurrent", Tokio(_)) => Box::new(|n| {
            let threads = evloop::ThreadPool::default_size();
            xthread::executor_concurrent_tokio(n, Some(threads))
        }),
        ("executor_concurrent_default", Tokio(_)) => {
            Box::new(|n| xthread::executor_concurrent_tokio(n, None))
        }
        ("tcp_echo_1", Evloop) => Box::new(|n| net::tcp_echo_evloop(1, n)),
        ("tcp_echo_1", Tokio(f)) => Box::new(move |n| net::tcp_echo_tokio(1, n, f)),
        ("tcp_echo_50", Evloop) => Box::new(|n| net::tcp_echo_evloop(ECHO_CONNS, n / ECHO_CONNS)),
        ("tcp_echo_50", Tokio(f)) => {
            Box::new(move |n| net::tcp_echo_tokio(ECHO_CONNS, n / ECHO_CONNS, f))
        }
        ("tcp_bulk", Evloop) => Box::new(net::tcp_bulk_evloop),
        ("tcp_bulk", Tokio(f)) => Box::new(move |n| net::tcp_bulk_tokio(n, f)),
        ("hyper_http1_rps_1", Evloop) => Box::new(|n| http::http1_rps_evloop(1, n)),
        ("hyper_http1_rps_1", Tokio(f)) => Box::new(move |n| http::http1_rps_tokio(1, n, f)),
        ("hyper_http1_rps_50", Evloop) => {
            Box::new(|n| http::http1_rps_evloop(ECHO_CONNS, n / ECHO_CONNS))
        }
        ("hyper_http1_rps_50", Tokio(f)) => {
            Box::new(move |n| http::http1_rps_tokio(ECHO_CONNS, n / ECHO_CONNS, f))
        }
        _ => return None,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: one_side evloop|tokio|tokio-spawn|floor WORKLOAD [OPS [REPS]]";
    let (Some(runtime), Some(name)) = (args.first(), args.get(1)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let Some(run) = side(runtime).and_then(|side| workload(side, name)) else {
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
