//! Loopback I/O, evloop side by side with tokio's current-thread runtime.
//!
//! Run with `cargo bench -p evloop-benches --bench io` (one group:
//! `cargo bench -p evloop-benches --bench io -- tcp_bulk`). Each group has
//! an `evloop` and a `tokio` function doing the same, idiomatic work, with
//! client and server in one loop / runtime; results are in
//! `docs/BENCHMARKS.md`.
//!
//! The workloads are `evloop_benches::net`'s (the `compare` tool runs the
//! same code). Each call builds a fresh loop or runtime and sets up its
//! sockets before the clock starts (`iter_custom`): the time is that of the
//! round trips or bytes alone.
//!
//! - `tcp_echo_1`: one connection, sequential 64-byte round trips (one per
//!   iteration).
//! - `tcp_echo_50`: 50 connections at once, each doing its round trips
//!   (an iteration is one round trip on every connection).
//! - `tcp_bulk`: one connection, a stream in 64 KiB writes echoed back (an
//!   iteration is 1 MiB sent and received back; throughput in bytes sent).
//! - `udp_ping_pong`: two connected UDP sockets, 64-byte datagrams there and
//!   back (one per iteration).
//! - `process_spawn_wait` / `process_spawn_wait_100`: `/bin/true` spawned
//!   and waited for, one at a time / 100 at a time (`evloop_benches::process`;
//!   one child per iteration).
//! - `hyper_http1_rps_1`, `hyper_http1_rps_50`: hyper's HTTP/1.1 client and
//!   server, keep-alive GETs of `/` on one connection or 50 at once (an
//!   iteration is one request on every connection); `evloop_benches::http`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use evloop_benches::runtime::TokioForm;
use evloop_benches::{http, net, process};

/// Connections of `tcp_echo_50` and `hyper_http1_rps_50`.
const CONNS: usize = 50;
/// Bytes per iteration of `tcp_bulk`.
const BULK_ITER: usize = 1024 * 1024;

fn tcp_echo(c: &mut Criterion) {
    for conns in [1, CONNS] {
        let mut g = c.benchmark_group(format!("tcp_echo_{conns}"));
        g.throughput(Throughput::Elements(conns as u64));
        g.bench_function("evloop", |b| {
            b.iter_custom(|iters| net::tcp_echo_evloop(conns, iters as usize))
        });
        for form in TokioForm::BOTH {
            g.bench_function(format!("tokio ({})", form.name()), |b| {
                b.iter_custom(|iters| net::tcp_echo_tokio(conns, iters as usize, form))
            });
        }
        g.finish();
    }
}

fn tcp_bulk(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_bulk");
    g.throughput(Throughput::Bytes(BULK_ITER as u64));
    g.bench_function("evloop", |b| {
        b.iter_custom(|iters| net::tcp_bulk_evloop(iters as usize * BULK_ITER))
    });
    for form in TokioForm::BOTH {
        g.bench_function(format!("tokio ({})", form.name()), |b| {
            b.iter_custom(|iters| net::tcp_bulk_tokio(iters as usize * BULK_ITER, form))
        });
    }
    g.finish();
}

fn udp_ping_pong(c: &mut Criterion) {
    let mut g = c.benchmark_group("udp_ping_pong");
    g.throughput(Throughput::Elements(1));
    g.bench_function("evloop", |b| {
        b.iter_custom(|iters| net::udp_ping_pong_evloop(iters as usize))
    });
    for form in TokioForm::BOTH {
        g.bench_function(format!("tokio ({})", form.name()), |b| {
            b.iter_custom(|iters| net::udp_ping_pong_tokio(iters as usize, form))
        });
    }
    g.finish();
}

fn process_spawn_wait(c: &mut Criterion) {
    for (name, batch) in [("process_spawn_wait", 1), ("process_spawn_wait_100", 100)] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        g.bench_function("evloop", |b| {
            b.iter_custom(|iters| process::spawn_wait_evloop(iters as usize, batch))
        });
        for form in TokioForm::BOTH {
            g.bench_function(format!("tokio ({})", form.name()), |b| {
                b.iter_custom(|iters| process::spawn_wait_tokio(iters as usize, batch, form))
            });
        }
        g.finish();
    }
}

fn hyper_http1(c: &mut Criterion) {
    for conns in [1, CONNS] {
        let mut g = c.benchmark_group(format!("hyper_http1_rps_{conns}"));
        g.throughput(Throughput::Elements(conns as u64));
        g.bench_function("evloop", |b| {
            b.iter_custom(|iters| http::http1_rps_evloop(conns, iters as usize))
        });
        for form in TokioForm::BOTH {
            g.bench_function(format!("tokio ({})", form.name()), |b| {
                b.iter_custom(|iters| http::http1_rps_tokio(conns, iters as usize, form))
            });
        }
        g.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
}

criterion_group! {
    name = io;
    config = config();
    targets = tcp_echo, tcp_bulk, udp_ping_pong, process_spawn_wait, hyper_http1
}
criterion_main!(io);
