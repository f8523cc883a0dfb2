//! A measurement binary for `strace -c -f`: N round trips of one workload,
//! on one side only, and nothing else.
//!
//! ```sh
//! cargo bench -p evloop-benches --bench syscalls -- evloop-rtt 10000 2cpu
//! ```
//!
//! Arguments: the case, N (default 10,000), the placement (`2cpu`, the
//! default: loop thread on CPU 0, the other side on CPU 1; `1cpu`: all on
//! CPU 0; `free`: unpinned). Cases: `{evloop,tokio,tokio_noio}-{rtt,exec}`. `rtt` is `xthread_rtt`
//! (this thread asks the loop thread for `x + 1` and blocks for the reply),
//! `exec` is `executor_seq` (the loop awaits `run_in_executor` /
//! `spawn_blocking` of a trivial job). `tokio` is a current-thread runtime
//! with `enable_all()`, `tokio_noio` one with `enable_time()` only.
//!
//! Every run does the same setup and one warm-up round trip, then N round
//! trips, then the same teardown (the threads are joined), so `(calls at N) - (calls at 0)`,
//! divided by N, is the cost of one round trip. `benches/strace-per-op.sh`
//! does that arithmetic.

use std::hint::black_box;
use std::time::Instant;

use evloop::EventLoop;

mod common;
use common::{
    on_evloop, on_tokio, round_trips, threadsafe_evloop, threadsafe_tokio, tokio_runtime,
    EvloopThread, Payload, Placement, TokioThread,
};

fn rtt_evloop(p: Placement, n: u64) {
    let lp = EvloopThread::start(p);
    round_trips(p, n, |x| lp.round_trip(x));
}

fn rtt_tokio(io: bool, p: Placement, n: u64) {
    let rt = TokioThread::start(io, p);
    round_trips(p, n, |x| rt.round_trip(x));
}

fn exec_evloop(p: Placement, n: u64) {
    let job = |i: u64| async move {
        let lp = EventLoop::current();
        black_box(lp.run_in_executor(move || i + 1).await.unwrap());
    };
    on_evloop(
        p,
        move || job(0),
        move || async move {
            for i in 0..n {
                job(i).await;
            }
        },
    );
}

fn exec_tokio(io: bool, p: Placement, n: u64) {
    let job = |i: u64| async move {
        black_box(tokio::task::spawn_blocking(move || i + 1).await.unwrap());
    };
    on_tokio(io, p, job(0), move || async move {
        for i in 0..n {
            job(i).await;
        }
    });
}

fn threadsafe(side: &str, producers: usize, n: u64) {
    let n = n as usize;
    let payload = match side {
        "evloop_nocapture" => Payload::Nothing,
        "tokio_boxed" => Payload::Boxed,
        _ => Payload::Word,
    };
    match side {
        "evloop" | "evloop_nocapture" => {
            threadsafe_evloop(&EventLoop::new(), producers, n, payload);
        }
        "tokio" | "tokio_noio" | "tokio_boxed" => {
            let rt = tokio_runtime(side != "tokio_noio", Placement::Free);
            threadsafe_tokio(&rt, producers, n, payload);
        }
        _ => unknown(side),
    }
}

fn unknown(case: &str) -> ! {
    eprintln!("unknown case {case}");
    std::process::exit(2);
}

fn main() {
    // `cargo bench` adds `--bench`: keep the positional arguments only.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (Some(case), n) = (args.first(), args.get(1)) else {
        eprintln!(
            "usage: syscalls {{evloop,tokio,tokio_noio}}-{{rtt,exec,ts1,ts2}} [N=10000] [2cpu|1cpu|free]\n\
             (ts1 / ts2 also: evloop_nocapture, tokio_boxed; always unpinned)"
        );
        std::process::exit(2);
    };
    let n: u64 = n.map_or(10_000, |n| n.parse().expect("N"));
    let p = args.get(2).map_or(Placement::TwoCpus, |p| {
        Placement::parse(p).expect("placement: free, 1cpu or 2cpu")
    });
    let (side, workload) = case.rsplit_once('-').unwrap_or_else(|| unknown(case));
    let start = Instant::now();
    let placement = match workload {
        "ts1" | "ts2" => {
            threadsafe(side, if workload == "ts1" { 1 } else { 2 }, n);
            Placement::Free
        }
        "rtt" | "exec" => {
            match (side, workload) {
                ("evloop", "rtt") => rtt_evloop(p, n),
                ("evloop", "exec") => exec_evloop(p, n),
                ("tokio" | "tokio_noio", "rtt") => rtt_tokio(side == "tokio", p, n),
                ("tokio" | "tokio_noio", "exec") => exec_tokio(side == "tokio", p, n),
                _ => unknown(case),
            }
            p
        }
        _ => unknown(case),
    };
    let elapsed = start.elapsed();
    eprintln!(
        "{case} ({placement:?}): {n} ops in {elapsed:?} ({:?} each, startup included)",
        elapsed / n.max(1) as u32
    );
}
