//! The workloads of `cargo compare`: their names, units and counts, and
//! how each is run on either side.

use std::fmt;
use std::time::{Duration, Instant};

use super::report::{median, Record};
use super::Options;
use crate::runtime::{Setting, TokioForm};
use crate::{floor, http, mem, net, process, random_delays, sync, tasks, timers, xthread};

/// Which way is better for a workload's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Times, latencies, memory: ratio = tokio ÷ evloop.
    Lower,
    /// Throughputs: ratio = evloop ÷ tokio.
    Higher,
}

/// A workload as reported: one row of the table, one JSON record.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The name filters match and the table shows.
    pub name: &'static str,
    /// The unit of its values.
    pub unit: &'static str,
    /// Which way is better.
    pub better: Better,
    /// The ratio the project aims for (`None`: no target), shown beside the
    /// ratio so a run reads as a scorecard.
    pub target: Option<f64>,
}

/// The spin time of the `_spin` workloads (evloop's
/// `Builder::spin_before_park`; tokio has no such mode and runs plain).
const SPIN: std::time::Duration = std::time::Duration::from_micros(100);

const fn lower(name: &'static str, unit: &'static str, target: Option<f64>) -> Spec {
    Spec {
        name,
        unit,
        better: Better::Lower,
        target,
    }
}

const fn higher(name: &'static str, unit: &'static str, target: Option<f64>) -> Spec {
    Spec {
        name,
        unit,
        better: Better::Higher,
        target,
    }
}

/// Every workload, in the order the table lists them, with its target
/// ratio.
pub const SPECS: &[Spec] = &[
    lower("spawn_join", "ns/task", Some(4.0)),
    lower("spawn_join_warm", "ns/task", Some(5.0)),
    lower("call_soon", "ns/callback", Some(20.0)),
    lower("call_soon_warm", "ns/callback", None),
    lower("call_soon_timer_pending", "ns/callback", None),
    lower("ping_pong", "ns/round trip", Some(3.0)),
    lower("ping_pong_timer_pending", "ns/round trip", None),
    lower("queue_ping_pong", "ns/round trip", Some(2.0)),
    lower("semaphore_contended", "ns/acquire", Some(2.0)),
    lower("timers_random", "ms overhead", Some(2.0)),
    lower("timers_random_1m", "ms overhead", Some(1.5)),
    lower("timers_random_cb", "ms overhead", Some(2.0)),
    lower("timer_cancel", "ns/timer", Some(2.0)),
    lower("timeout_ready", "ns/call", Some(1.0)),
    lower("timer_lateness_p99", "µs late", Some(10.0)),
    lower("threadsafe_1p", "ns/job", Some(2.0)),
    lower("threadsafe_2p", "ns/job", Some(2.0)),
    lower("channel_from_threads_1p", "ns/value", Some(1.5)),
    lower("channel_from_threads_4p", "ns/value", Some(1.5)),
    lower("xthread_rtt_p50", "µs", Some(0.9)),
    lower("xthread_rtt_p99", "µs", None),
    lower("xthread_rtt_p50_spin", "µs", Some(5.0)),
    lower("executor_seq", "µs/job", Some(0.9)),
    lower("executor_seq_spin", "µs/job", Some(3.0)),
    lower("executor_concurrent", "ns/job", Some(1.2)),
    lower("executor_concurrent_default", "ns/job", Some(5.0)),
    higher("tcp_echo_1", "round trips/s", Some(1.1)),
    higher("tcp_echo_50", "round trips/s", Some(1.1)),
    higher("tcp_bulk", "MB/s", Some(1.0)),
    higher("udp_ping_pong", "round trips/s", None),
    lower("process_spawn_wait", "µs/child", Some(1.0)),
    lower("process_spawn_wait_100", "µs/child", Some(1.0)),
    higher("hyper_http1_rps_1", "requests/s", Some(1.0)),
    higher("hyper_http1_rps_50", "requests/s", Some(1.0)),
    lower("mem_task_event", "bytes/task", Some(2.0)),
    lower("mem_task_sleep", "bytes/task", None),
];

fn spec(name: &str) -> Spec {
    *SPECS
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no workload {name}"))
}

/// The counts of every workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// The full counts (`cargo compare`).
    Full,
    /// Small counts (`cargo compare --quick`).
    Quick,
    /// Tiny counts, for the in-process test (`--tiny`, hidden).
    Tiny,
}

/// The counts of one size.
struct Counts {
    spawn: usize,
    call_soon: usize,
    ping_pong: usize,
    /// Round trips of `queue_ping_pong`.
    queue_ping_pong: usize,
    /// Acquisitions of `semaphore_contended` (in all, over its tasks).
    semaphore: usize,
    /// Timers of `timers_random` and `timers_random_cb`.
    timers: usize,
    /// Timers of `timers_random_1m`.
    timers_1m: usize,
    timer_cancel: usize,
    timeout: usize,
    lateness: usize,
    threadsafe: usize,
    /// Values of the `channel_from_threads_*` workloads.
    channel: usize,
    rtt: usize,
    exec_seq: usize,
    exec_concurrent: usize,
    echo_1: usize,
    /// Round trips per connection of `tcp_echo_50`.
    echo_50: usize,
    bulk_bytes: usize,
    udp: usize,
    /// Children of the `process_spawn_wait` workloads.
    children: usize,
    /// Requests of `hyper_http1_rps_1`.
    hyper_1: usize,
    /// Requests per connection of `hyper_http1_rps_50`.
    hyper_50: usize,
    mem_tasks: usize,
}

const MIB: usize = 1024 * 1024;

impl Size {
    fn counts(self) -> Counts {
        match self {
            Size::Full => Counts {
                spawn: 1_000_000,
                call_soon: 1_000_000,
                ping_pong: 1_000_000,
                queue_ping_pong: 1_000_000,
                semaphore: 1_000_000,
                timers: 100_000,
                timers_1m: 1_000_000,
                timer_cancel: 1_000_000,
                timeout: 1_000_000,
                lateness: 10_000,
                threadsafe: 1_000_000,
                channel: 1_000_000,
                rtt: 20_000,
                exec_seq: 20_000,
                exec_concurrent: 100_000,
                echo_1: 100_000,
                echo_50: 2_000,
                bulk_bytes: 1024 * MIB,
                udp: 100_000,
                children: 1_000,
                hyper_1: 100_000,
                hyper_50: 2_000,
                mem_tasks: 100_000,
            },
            Size::Quick => Counts {
                spawn: 100_000,
                call_soon: 200_000,
                ping_pong: 200_000,
                queue_ping_pong: 200_000,
                semaphore: 200_000,
                timers: 100_000,
                timers_1m: 1_000_000,
                timer_cancel: 200_000,
                timeout: 200_000,
                lateness: 10_000,
                threadsafe: 200_000,
                channel: 200_000,
                rtt: 5_000,
                exec_seq: 5_000,
                exec_concurrent: 10_000,
                echo_1: 10_000,
                echo_50: 200,
                bulk_bytes: 64 * MIB,
                udp: 10_000,
                children: 1_000,
                hyper_1: 10_000,
                hyper_50: 200,
                mem_tasks: 100_000,
            },
            Size::Tiny => Counts {
                spawn: 2_000,
                call_soon: 2_000,
                ping_pong: 2_000,
                queue_ping_pong: 2_000,
                semaphore: 2_000,
                timers: 1_000,
                timers_1m: 2_000,
                timer_cancel: 2_000,
                timeout: 2_000,
                lateness: 500,
                threadsafe: 2_000,
                channel: 2_000,
                rtt: 200,
                exec_seq: 200,
                exec_concurrent: 500,
                echo_1: 200,
                echo_50: 10,
                bulk_bytes: MIB,
                udp: 200,
                children: 20,
                hyper_1: 200,
                hyper_50: 10,
                mem_tasks: 10_000,
            },
        }
    }
}

/// Children at a time in `process_spawn_wait_100`.
const CHILD_BATCH: usize = 100;
/// Connections of `tcp_echo_50`.
/// Connections of `tcp_echo_50` and `hyper_http1_rps_50`.
const ECHO_CONNS: usize = 50;
/// Longest random timer of the `timers_*` workloads, in milliseconds.
const TIMERS_MAX_MS: u64 = 100;
/// Sleeps started per batch in `timer_lateness`.
const LATENESS_BATCH: usize = 100;
/// Seed of every random sequence (both sides get the same).
const SEED: u64 = 0x5EED_0F71_13E5;

/// A runtime a measurement runs on: evloop, or tokio in one of its forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Evloop,
    Tokio(TokioForm),
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Side::Evloop => f.write_str("evloop"),
            Side::Tokio(form) => write!(f, "tokio ({})", form.name()),
        }
    }
}

/// What tokio's side of a family is.
#[derive(Debug, Clone, Copy)]
enum TokioSide {
    /// The workload spawns tasks: both [`TokioForm`]s run, the faster is
    /// reported under its name.
    Forms,
    /// The two places a receiver runs in the channel workloads: the
    /// future of `Runtime::block_on` ([`TokioForm::Spawn`]'s run) or a
    /// `spawn_local` task ([`TokioForm::Local`]'s); the faster is reported.
    Receivers,
    /// One form (no task of its own, or a primitive that decides the form),
    /// described for the table; the family is called with
    /// [`TokioForm::Spawn`], which it ignores.
    Fixed(&'static str),
}

impl TokioSide {
    fn forms(self) -> &'static [TokioForm] {
        match self {
            TokioSide::Forms | TokioSide::Receivers => &TokioForm::BOTH,
            TokioSide::Fixed(_) => &[TokioForm::Spawn],
        }
    }

    fn describe(self, form: TokioForm) -> &'static str {
        match self {
            TokioSide::Forms => form.name(),
            TokioSide::Receivers => match form {
                TokioForm::Spawn => "mpsc::unbounded_channel into block_on",
                TokioForm::Local => "mpsc::unbounded_channel into a spawn_local task",
            },
            TokioSide::Fixed(text) => text,
        }
    }
}

/// What the spin workloads say of their tokio side.
const SPIN_LABEL: &str = "evloop spinning vs tokio parking (tokio has no spin mode)";

/// One measurement of a family: a value per workload it reports (in the
/// order of its names), and extra figures for the table's notes.
struct Measured {
    values: Vec<f64>,
    extra: Vec<(&'static str, f64)>,
}

impl Measured {
    fn one(value: f64) -> Measured {
        Measured {
            values: vec![value],
            extra: Vec::new(),
        }
    }
}

/// Workloads measured together (`xthread_rtt_p50` and `_p99` come from the
/// same samples).
struct Family {
    names: &'static [&'static str],
    tokio: TokioSide,
    run: fn(Side, &Counts, &Options) -> Result<Measured, String>,
    /// The hand-written floor of the same work ([`crate::floor`]), in the
    /// workload's unit, if it has one.
    floor: Option<fn(&Counts) -> f64>,
}

fn ns_per(d: Duration, n: usize) -> f64 {
    d.as_nanos() as f64 / n as f64
}

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn us(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1000.0
}

/// The value at quantile `q` of sorted samples (nearest rank).
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Milliseconds that `total` exceeds the longest of `delays`: what the
/// timers cost beyond waiting for the last deadline.
fn overhead_ms(total: Duration, delays: &[Duration]) -> f64 {
    let longest = delays.iter().max().copied().unwrap_or_default();
    (total.as_secs_f64() - longest.as_secs_f64()) * 1000.0
}

fn pick<T>(side: Side, evloop: impl FnOnce() -> T, tokio: impl FnOnce(TokioForm) -> T) -> T {
    match side {
        Side::Evloop => evloop(),
        Side::Tokio(form) => tokio(form),
    }
}

/// A task or callback workload: its evloop and tokio sides.
type TaskFns = (
    fn(usize, Setting) -> Duration,
    fn(usize, Setting, TokioForm) -> Duration,
);

const SPAWN_JOIN: TaskFns = (tasks::spawn_join_evloop, tasks::spawn_join_tokio);
const CALL_SOON: TaskFns = (tasks::call_soon_evloop, tasks::call_soon_tokio);
const PING_PONG: TaskFns = (tasks::ping_pong_evloop, tasks::ping_pong_tokio);
const QUEUE_PING_PONG: TaskFns = (sync::queue_ping_pong_evloop, sync::queue_ping_pong_tokio);
const SEMAPHORE: TaskFns = (
    sync::semaphore_contended_evloop,
    sync::semaphore_contended_tokio,
);

/// `n` operations of a task workload on `side`: nanoseconds per operation.
fn per_op(
    n: usize,
    (evloop, tokio): TaskFns,
    setting: Setting,
    side: Side,
) -> Result<Measured, String> {
    let d = pick(side, || evloop(n, setting), |form| tokio(n, setting, form));
    Ok(Measured::one(ns_per(d, n)))
}

fn timers_random(n: usize, side: Side) -> Result<Measured, String> {
    let delays = random_delays(n, TIMERS_MAX_MS, SEED);
    let d = pick(
        side,
        || timers::timers_sleep_evloop(&delays),
        |form| timers::timers_sleep_tokio(&delays, form),
    );
    Ok(Measured::one(overhead_ms(d, &delays)))
}

/// `channel_from_threads_*`: `n` values from `producers` threads into one
/// task through the runtime's own unbounded channel (the value), and
/// through async-channel on the same runtime (an extra figure).
fn channel_from_threads(producers: usize, n: usize, side: Side) -> Result<Measured, String> {
    use xthread::{Chan, TokioRecv};
    let run = |chan| match side {
        Side::Evloop => xthread::channel_evloop(producers, n, chan),
        Side::Tokio(form) => {
            let recv = match form {
                TokioForm::Spawn => TokioRecv::BlockOn,
                TokioForm::Local => TokioRecv::LocalTask,
            };
            xthread::channel_tokio(producers, n, chan, recv)
        }
    };
    let native = run(Chan::Native);
    let async_channel = run(Chan::AsyncChannel);
    Ok(Measured {
        values: vec![ns_per(native, n)],
        extra: vec![("async-channel ns/value", ns_per(async_channel, n))],
    })
}

fn spawn_join_floor(c: &Counts) -> f64 {
    ns_per(floor::spawn_join(c.spawn), c.spawn)
}

fn call_soon_floor(c: &Counts) -> f64 {
    ns_per(floor::call_soon(c.call_soon), c.call_soon)
}

fn ping_pong_floor(c: &Counts) -> f64 {
    ns_per(floor::ping_pong(c.ping_pong), c.ping_pong)
}

const FAMILIES: &[Family] = &[
    Family {
        names: &["spawn_join"],
        tokio: TokioSide::Forms,
        run: |side, c, _| per_op(c.spawn, SPAWN_JOIN, Setting::Fresh, side),
        floor: Some(spawn_join_floor),
    },
    Family {
        names: &["spawn_join_warm"],
        tokio: TokioSide::Forms,
        run: |side, c, _| per_op(c.spawn, SPAWN_JOIN, Setting::Warm, side),
        floor: Some(spawn_join_floor),
    },
    Family {
        names: &["call_soon"],
        tokio: TokioSide::Forms,
        run: |side, c, _| per_op(c.call_soon, CALL_SOON, Setting::Fresh, side),
        floor: Some(call_soon_floor),
    },
    Family {
        names: &["call_soon_warm"],
        tokio: TokioSide::Forms,
        run: |side, c, _| per_op(c.call_soon, CALL_SOON, Setting::Warm, side),
        floor: Some(call_soon_floor),
    },
    Family {
        names: &["call_soon_timer_pending"],
        tokio: TokioSide::Forms,
        run: |side, c, _| per_op(c.call_soon, CALL_SOON, Setting::TimerPending, side),
        floor: Some(call_soon_floor),
    },
    Family {
        names: &["ping_pong"],
        tokio: TokioSide::Forms,
        run: |side, c, _| per_op(c.ping_pong, PING_PONG, Setting::Fresh, side),
        floor: Some(ping_pong_floor),
    },
    Family {
        names: &["ping_pong_timer_pending"],
        tokio: TokioSide::Forms,
        run: |side, c, _| per_op(c.ping_pong, PING_PONG, Setting::TimerPending, side),
        floor: Some(ping_pong_floor),
    },
    Family {
        names: &["queue_ping_pong"],
        tokio: TokioSide::Forms,
        run: |side, c, _| per_op(c.queue_ping_pong, QUEUE_PING_PONG, Setting::Fresh, side),
        floor: None,
    },
    Family {
        names: &["semaphore_contended"],
        tokio: TokioSide::Forms,
        run: |side, c, _| per_op(c.semaphore, SEMAPHORE, Setting::Fresh, side),
        floor: None,
    },
    Family {
        names: &["timers_random"],
        tokio: TokioSide::Forms,
        run: |side, c, _| timers_random(c.timers, side),
        floor: None,
    },
    Family {
        names: &["timers_random_1m"],
        tokio: TokioSide::Forms,
        run: |side, c, _| timers_random(c.timers_1m, side),
        floor: None,
    },
    Family {
        names: &["timers_random_cb"],
        tokio: TokioSide::Forms,
        run: |side, c, _| {
            let delays = random_delays(c.timers, TIMERS_MAX_MS, SEED);
            let d = pick(
                side,
                || timers::timers_cb_evloop(&delays),
                |form| timers::timers_sleep_tokio(&delays, form),
            );
            Ok(Measured::one(overhead_ms(d, &delays)))
        },
        floor: None,
    },
    Family {
        names: &["timer_cancel"],
        tokio: TokioSide::Fixed("a Sleep polled once in block_on"),
        run: |side, c, _| {
            let delays = random_delays(c.timer_cancel, TIMERS_MAX_MS, SEED);
            let d = pick(
                side,
                || timers::timer_cancel_evloop(&delays),
                |_| timers::timer_cancel_tokio(&delays),
            );
            Ok(Measured::one(ns_per(d, delays.len())))
        },
        floor: None,
    },
    Family {
        names: &["timeout_ready"],
        tokio: TokioSide::Fixed("time::timeout in block_on"),
        run: |side, c, _| {
            let n = c.timeout;
            let d = pick(
                side,
                || timers::timeout_ready_evloop(n),
                |_| timers::timeout_ready_tokio(n),
            );
            Ok(Measured::one(ns_per(d, n)))
        },
        floor: None,
    },
    Family {
        names: &["timer_lateness_p99"],
        tokio: TokioSide::Forms,
        run: |side, c, _| {
            let delays = crate::random_delays_between(
                c.lateness,
                Duration::from_micros(100),
                Duration::from_millis(5),
                SEED,
            );
            let mut late = pick(
                side,
                || timers::timer_lateness_evloop(&delays, LATENESS_BATCH),
                |form| timers::timer_lateness_tokio(&delays, LATENESS_BATCH, form),
            );
            late.sort_unstable();
            Ok(Measured {
                values: vec![us(quantile(&late, 0.99))],
                extra: vec![
                    ("p50 µs", us(quantile(&late, 0.5))),
                    ("max µs", us(*late.last().unwrap())),
                ],
            })
        },
        floor: None,
    },
    Family {
        names: &["threadsafe_1p"],
        tokio: TokioSide::Fixed("mpsc::unbounded_channel into block_on"),
        run: |side, c, _| {
            let n = c.threadsafe;
            let d = pick(
                side,
                || xthread::threadsafe_evloop(1, n),
                |_| xthread::threadsafe_tokio(1, n),
            );
            Ok(Measured::one(ns_per(d, n)))
        },
        floor: None,
    },
    Family {
        names: &["threadsafe_2p"],
        tokio: TokioSide::Fixed("mpsc::unbounded_channel into block_on"),
        run: |side, c, _| {
            let n = c.threadsafe;
            let d = pick(
                side,
                || xthread::threadsafe_evloop(2, n),
                |_| xthread::threadsafe_tokio(2, n),
            );
            Ok(Measured::one(ns_per(d, n)))
        },
        floor: None,
    },
    Family {
        names: &["channel_from_threads_1p"],
        tokio: TokioSide::Receivers,
        run: |side, c, _| channel_from_threads(1, c.channel, side),
        floor: None,
    },
    Family {
        names: &["channel_from_threads_4p"],
        tokio: TokioSide::Receivers,
        run: |side, c, _| channel_from_threads(4, c.channel, side),
        floor: None,
    },
    Family {
        names: &["xthread_rtt_p50", "xthread_rtt_p99"],
        tokio: TokioSide::Fixed("Handle::spawn + oneshot"),
        run: |side, c, _| {
            let n = c.rtt;
            let mut rtt = pick(
                side,
                || xthread::xthread_rtt_evloop(n),
                |_| xthread::xthread_rtt_tokio(n),
            );
            rtt.sort_unstable();
            Ok(Measured {
                values: vec![us(quantile(&rtt, 0.5)), us(quantile(&rtt, 0.99))],
                extra: vec![("max µs", us(*rtt.last().unwrap()))],
            })
        },
        floor: None,
    },
    Family {
        names: &["xthread_rtt_p50_spin"],
        tokio: TokioSide::Fixed(SPIN_LABEL),
        run: |side, c, _| {
            let n = c.rtt;
            let mut rtt = pick(
                side,
                || xthread::xthread_rtt_evloop_spin(n, SPIN),
                |_| xthread::xthread_rtt_tokio(n),
            );
            rtt.sort_unstable();
            Ok(Measured::one(us(quantile(&rtt, 0.5))))
        },
        floor: None,
    },
    Family {
        names: &["executor_seq"],
        tokio: TokioSide::Fixed("spawn_blocking"),
        run: |side, c, _| {
            let n = c.exec_seq;
            let d = pick(
                side,
                || xthread::executor_seq_evloop(n),
                |_| xthread::executor_seq_tokio(n),
            );
            Ok(Measured::one(us(d) / n as f64))
        },
        floor: None,
    },
    Family {
        names: &["executor_seq_spin"],
        tokio: TokioSide::Fixed(SPIN_LABEL),
        run: |side, c, _| {
            let n = c.exec_seq;
            let d = pick(
                side,
                || xthread::executor_seq_evloop_spin(n, SPIN),
                |_| xthread::executor_seq_tokio(n),
            );
            Ok(Measured::one(us(d) / n as f64))
        },
        floor: None,
    },
    Family {
        names: &["executor_concurrent"],
        tokio: TokioSide::Fixed("spawn_blocking, pool capped at evloop's size"),
        run: |side, c, _| {
            let n = c.exec_concurrent;
            let threads = evloop::ThreadPool::default_size();
            let d = pick(
                side,
                || xthread::executor_concurrent_evloop(n),
                |_| xthread::executor_concurrent_tokio(n, Some(threads)),
            );
            Ok(Measured::one(ns_per(d, n)))
        },
        floor: None,
    },
    Family {
        names: &["executor_concurrent_default"],
        tokio: TokioSide::Fixed("spawn_blocking, default pool"),
        run: |side, c, _| {
            let n = c.exec_concurrent;
            let d = pick(
                side,
                || xthread::executor_concurrent_evloop(n),
                |_| xthread::executor_concurrent_tokio(n, None),
            );
            Ok(Measured::one(ns_per(d, n)))
        },
        floor: None,
    },
    Family {
        names: &["tcp_echo_1"],
        tokio: TokioSide::Forms,
        run: |side, c, _| {
            let n = c.echo_1;
            let d = pick(
                side,
                || net::tcp_echo_evloop(1, n),
                |form| net::tcp_echo_tokio(1, n, form),
            );
            Ok(Measured::one(per_second(n, d)))
        },
        floor: None,
    },
    Family {
        names: &["tcp_echo_50"],
        tokio: TokioSide::Forms,
        run: |side, c, _| {
            let n = c.echo_50;
            let d = pick(
                side,
                || net::tcp_echo_evloop(ECHO_CONNS, n),
                |form| net::tcp_echo_tokio(ECHO_CONNS, n, form),
            );
            Ok(Measured::one(per_second(ECHO_CONNS * n, d)))
        },
        floor: None,
    },
    Family {
        names: &["tcp_bulk"],
        tokio: TokioSide::Forms,
        run: |side, c, _| {
            let n = c.bulk_bytes;
            let d = pick(
                side,
                || net::tcp_bulk_evloop(n),
                |form| net::tcp_bulk_tokio(n, form),
            );
            Ok(Measured::one(per_second(n, d) / 1e6))
        },
        floor: None,
    },
    Family {
        names: &["udp_ping_pong"],
        tokio: TokioSide::Forms,
        run: |side, c, _| {
            let n = c.udp;
            let d = pick(
                side,
                || net::udp_ping_pong_evloop(n),
                |form| net::udp_ping_pong_tokio(n, form),
            );
            Ok(Measured::one(per_second(n, d)))
        },
        floor: None,
    },
    Family {
        names: &["process_spawn_wait"],
        tokio: TokioSide::Fixed("tokio::process in block_on, all drivers"),
        run: |side, c, _| {
            let n = c.children;
            let d = pick(
                side,
                || process::spawn_wait_evloop(n, 1),
                |_| process::spawn_wait_tokio(n, 1, TokioForm::Spawn),
            );
            Ok(Measured::one(us(d) / n as f64))
        },
        floor: None,
    },
    Family {
        names: &["process_spawn_wait_100"],
        tokio: TokioSide::Forms,
        run: |side, c, _| {
            let n = c.children;
            let d = pick(
                side,
                || process::spawn_wait_evloop(n, CHILD_BATCH),
                |form| process::spawn_wait_tokio(n, CHILD_BATCH, form),
            );
            Ok(Measured::one(us(d) / n as f64))
        },
        floor: None,
    },
    Family {
        names: &["hyper_http1_rps_1"],
        tokio: TokioSide::Forms,
        run: |side, c, _| {
            let n = c.hyper_1;
            let d = pick(
                side,
                || http::http1_rps_evloop(1, n),
                |form| http::http1_rps_tokio(1, n, form),
            );
            Ok(Measured::one(per_second(n, d)))
        },
        floor: None,
    },
    Family {
        names: &["hyper_http1_rps_50"],
        tokio: TokioSide::Forms,
        run: |side, c, _| {
            let n = c.hyper_50;
            let d = pick(
                side,
                || http::http1_rps_evloop(ECHO_CONNS, n),
                |form| http::http1_rps_tokio(ECHO_CONNS, n, form),
            );
            Ok(Measured::one(per_second(ECHO_CONNS * n, d)))
        },
        floor: None,
    },
    Family {
        names: &["mem_task_event"],
        tokio: TokioSide::Forms,
        run: |side, c, opts| mem_parent("mem_task_event", side, c, opts),
        floor: None,
    },
    Family {
        names: &["mem_task_sleep"],
        tokio: TokioSide::Forms,
        run: |side, c, opts| mem_parent("mem_task_sleep", side, c, opts),
        floor: None,
    },
];

/// A memory workload: measured in a child process of its own.
fn mem_parent(name: &str, side: Side, c: &Counts, opts: &Options) -> Result<Measured, String> {
    let io = if opts.tokio_io { ":io" } else { "" };
    let side = match side {
        Side::Evloop => "evloop".to_owned(),
        Side::Tokio(form) => format!("tokio-{}", form.key()),
    };
    let spec = format!("{name}:{side}:{}{io}", c.mem_tasks);
    super::run_child(&opts.launcher, &spec).map(Measured::one)
}

/// The child's side of a memory workload: `spec` is
/// `<workload>:<evloop|tokio-FORM>:<tasks>[:io]` (`FORM`: a
/// [`TokioForm::key`]; `io`: `--tokio-io`); returns bytes per task.
pub(super) fn mem_child(spec: &str) -> Result<f64, String> {
    let bad = || format!("bad memory child spec {spec:?}");
    let mut parts = spec.split(':');
    let (name, side, n) = (parts.next(), parts.next(), parts.next());
    match parts.next() {
        None => {}
        Some("io") => crate::runtime::set_tokio_io_everywhere(true),
        Some(_) => return Err(bad()),
    }
    let n: usize = n
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .ok_or_else(bad)?;
    let side = match side {
        Some("evloop") => Side::Evloop,
        Some(s) => s
            .strip_prefix("tokio-")
            .and_then(TokioForm::from_key)
            .map(Side::Tokio)
            .ok_or_else(bad)?,
        None => return Err(bad()),
    };
    match (name, side) {
        (Some("mem_task_event"), Side::Evloop) => Ok(mem::task_event_evloop(n)),
        (Some("mem_task_event"), Side::Tokio(form)) => Ok(mem::task_event_tokio(n, form)),
        (Some("mem_task_sleep"), Side::Evloop) => Ok(mem::task_sleep_evloop(n)),
        (Some("mem_task_sleep"), Side::Tokio(form)) => Ok(mem::task_sleep_tokio(n, form)),
        _ => Err(bad()),
    }
}

/// Every repetition of one family: evloop's, each tokio form's, and the
/// floor's.
struct Runs {
    evloop: Vec<Measured>,
    tokio: Vec<(TokioForm, Vec<Measured>)>,
    floor: Vec<f64>,
}

/// Runs `family` `opts.reps` times on each side (evloop, each tokio form,
/// the floor), reversing the order every other repetition.
fn run_family(family: &Family, counts: &Counts, opts: &Options) -> Result<Runs, String> {
    let forms = family.tokio.forms();
    let mut runs = Runs {
        evloop: Vec::new(),
        tokio: forms.iter().map(|&f| (f, Vec::new())).collect(),
        floor: Vec::new(),
    };
    let mut sides: Vec<Option<Side>> = vec![Some(Side::Evloop)];
    sides.extend(forms.iter().map(|&f| Some(Side::Tokio(f))));
    if family.floor.is_some() {
        sides.push(None);
    }
    for rep in 0..opts.reps {
        if rep > 0 {
            sides.reverse();
        }
        for side in &sides {
            let Some(side) = *side else {
                runs.floor.push((family.floor.expect("a floor"))(counts));
                continue;
            };
            let m = (family.run)(side, counts, opts)
                .map_err(|e| format!("{} on {side}: {e}", family.names.join("/")))?;
            assert_eq!(m.values.len(), family.names.len());
            match side {
                Side::Evloop => runs.evloop.push(m),
                Side::Tokio(form) => {
                    let at = forms.iter().position(|&f| f == form).expect("a form");
                    runs.tokio[at].1.push(m);
                }
            }
        }
    }
    Ok(runs)
}

/// The record of workload `i` of a family: tokio's values are those of
/// its best form for this workload (by median), the others' medians kept
/// for the notes.
fn record(family: &Family, runs: &Runs, i: usize) -> Record {
    let spec = spec(family.names[i]);
    let values = |ms: &[Measured]| -> Vec<f64> { ms.iter().map(|m| m.values[i]).collect() };
    let better = |a: f64, b: f64| match spec.better {
        Better::Lower => a < b,
        Better::Higher => a > b,
    };
    let mut best = 0;
    for (k, (_, ms)) in runs.tokio.iter().enumerate() {
        if better(median(&values(ms)), median(&values(&runs.tokio[best].1))) {
            best = k;
        }
    }
    let (form, tokio_runs) = &runs.tokio[best];
    let mut record = Record::new(spec, values(&runs.evloop), values(tokio_runs));
    record.tokio_form = family.tokio.describe(*form).to_owned();
    record.tokio_others = runs
        .tokio
        .iter()
        .enumerate()
        .filter(|&(k, _)| k != best)
        .map(|(_, (f, ms))| (family.tokio.describe(*f).to_owned(), median(&values(ms))))
        .collect();
    record.floor = runs.floor.clone();
    for (k, (label, _)) in runs.evloop[0].extra.iter().enumerate() {
        let extra = |ms: &[Measured]| -> Vec<f64> { ms.iter().map(|m| m.extra[k].1).collect() };
        record
            .extra
            .push((label.to_string(), extra(&runs.evloop), extra(tokio_runs)));
    }
    record
}

/// Runs every selected family `opts.reps` times per side, alternating the
/// order of the sides, and returns a record per selected workload.
pub(super) fn run_all(opts: &Options) -> Result<Vec<Record>, String> {
    let counts = opts.size.counts();
    let mut records = Vec::new();
    for family in FAMILIES {
        let selected: Vec<usize> = (0..family.names.len())
            .filter(|&i| opts.selects(family.names[i]))
            .collect();
        if selected.is_empty() {
            continue;
        }
        let started = Instant::now();
        let runs = run_family(family, &counts, opts)?;
        for &i in &selected {
            let record = record(family, &runs, i);
            if opts.progress {
                eprintln!(
                    "{:<28} evloop {:>10} {:<14} tokio {:>10}  ratio {}   ({:.1} s)",
                    record.spec.name,
                    super::report::fmt_num(record.evloop_median()),
                    record.spec.unit,
                    super::report::fmt_num(record.tokio_median()),
                    super::report::fmt_ratio(record.ratio()),
                    started.elapsed().as_secs_f64(),
                );
            }
            records.push(record);
        }
    }
    Ok(records)
}
