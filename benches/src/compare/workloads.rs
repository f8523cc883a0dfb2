//! The workloads of `cargo compare`: their names, units and counts, and
//! how each is run on either side.

use std::fmt;
use std::time::{Duration, Instant};

use super::report::Record;
use super::Options;
use crate::{mem, net, random_delays, tasks, timers, xthread};

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
    lower("call_soon", "ns/callback", Some(20.0)),
    lower("ping_pong", "ns/round trip", Some(4.0)),
    lower("timers_random", "ms overhead", Some(2.0)),
    lower("timers_random_cb", "ms overhead", Some(2.0)),
    lower("timer_cancel", "ns/timer", Some(3.0)),
    lower("timeout_ready", "ns/call", Some(1.0)),
    lower("timer_lateness_p99", "µs late", Some(10.0)),
    lower("threadsafe_1p", "ns/job", Some(2.0)),
    lower("threadsafe_2p", "ns/job", Some(2.0)),
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
    timers: usize,
    timer_cancel: usize,
    timeout: usize,
    lateness: usize,
    threadsafe: usize,
    rtt: usize,
    exec_seq: usize,
    exec_concurrent: usize,
    echo_1: usize,
    /// Round trips per connection of `tcp_echo_50`.
    echo_50: usize,
    bulk_bytes: usize,
    udp: usize,
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
                timers: 1_000_000,
                timer_cancel: 1_000_000,
                timeout: 1_000_000,
                lateness: 10_000,
                threadsafe: 1_000_000,
                rtt: 20_000,
                exec_seq: 20_000,
                exec_concurrent: 100_000,
                echo_1: 100_000,
                echo_50: 2_000,
                bulk_bytes: 1024 * MIB,
                udp: 100_000,
                mem_tasks: 100_000,
            },
            Size::Quick => Counts {
                spawn: 100_000,
                call_soon: 200_000,
                ping_pong: 200_000,
                timers: 100_000,
                timer_cancel: 200_000,
                timeout: 200_000,
                lateness: 10_000,
                threadsafe: 200_000,
                rtt: 5_000,
                exec_seq: 5_000,
                exec_concurrent: 10_000,
                echo_1: 10_000,
                echo_50: 200,
                bulk_bytes: 64 * MIB,
                udp: 10_000,
                mem_tasks: 100_000,
            },
            Size::Tiny => Counts {
                spawn: 2_000,
                call_soon: 2_000,
                ping_pong: 2_000,
                timers: 1_000,
                timer_cancel: 2_000,
                timeout: 2_000,
                lateness: 500,
                threadsafe: 2_000,
                rtt: 200,
                exec_seq: 200,
                exec_concurrent: 500,
                echo_1: 200,
                echo_50: 10,
                bulk_bytes: MIB,
                udp: 200,
                mem_tasks: 10_000,
            },
        }
    }
}

/// Connections of `tcp_echo_50`.
const ECHO_CONNS: usize = 50;
/// Longest random timer of the `timers_*` workloads, in milliseconds.
const TIMERS_MAX_MS: u64 = 100;
/// Sleeps started per batch in `timer_lateness`.
const LATENESS_BATCH: usize = 100;
/// Seed of every random sequence (both sides get the same).
const SEED: u64 = 0x5EED_0F71_13E5;

/// The two runtimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Evloop,
    Tokio,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Evloop => "evloop",
            Side::Tokio => "tokio",
        })
    }
}

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
    run: fn(Side, &Counts, &Options) -> Result<Measured, String>,
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

fn pick<T>(side: Side, evloop: impl FnOnce() -> T, tokio: impl FnOnce() -> T) -> T {
    match side {
        Side::Evloop => evloop(),
        Side::Tokio => tokio(),
    }
}

const FAMILIES: &[Family] = &[
    Family {
        names: &["spawn_join"],
        run: |side, c, _| {
            let n = c.spawn;
            let d = pick(
                side,
                || tasks::spawn_join_evloop(n),
                || tasks::spawn_join_tokio(n),
            );
            Ok(Measured::one(ns_per(d, n)))
        },
    },
    Family {
        names: &["call_soon"],
        run: |side, c, _| {
            let n = c.call_soon;
            let d = pick(
                side,
                || tasks::call_soon_evloop(n),
                || tasks::call_soon_tokio(n),
            );
            Ok(Measured::one(ns_per(d, n)))
        },
    },
    Family {
        names: &["ping_pong"],
        run: |side, c, _| {
            let n = c.ping_pong;
            let d = pick(
                side,
                || tasks::ping_pong_evloop(n),
                || tasks::ping_pong_tokio(n),
            );
            Ok(Measured::one(ns_per(d, n)))
        },
    },
    Family {
        names: &["timers_random"],
        run: |side, c, _| {
            let delays = random_delays(c.timers, TIMERS_MAX_MS, SEED);
            let d = pick(
                side,
                || timers::timers_sleep_evloop(&delays),
                || timers::timers_sleep_tokio(&delays),
            );
            Ok(Measured::one(overhead_ms(d, &delays)))
        },
    },
    Family {
        names: &["timers_random_cb"],
        run: |side, c, _| {
            let delays = random_delays(c.timers, TIMERS_MAX_MS, SEED);
            let d = pick(
                side,
                || timers::timers_cb_evloop(&delays),
                || timers::timers_sleep_tokio(&delays),
            );
            Ok(Measured::one(overhead_ms(d, &delays)))
        },
    },
    Family {
        names: &["timer_cancel"],
        run: |side, c, _| {
            let delays = random_delays(c.timer_cancel, TIMERS_MAX_MS, SEED);
            let d = pick(
                side,
                || timers::timer_cancel_evloop(&delays),
                || timers::timer_cancel_tokio(&delays),
            );
            Ok(Measured::one(ns_per(d, delays.len())))
        },
    },
    Family {
        names: &["timeout_ready"],
        run: |side, c, _| {
            let n = c.timeout;
            let d = pick(
                side,
                || timers::timeout_ready_evloop(n),
                || timers::timeout_ready_tokio(n),
            );
            Ok(Measured::one(ns_per(d, n)))
        },
    },
    Family {
        names: &["timer_lateness_p99"],
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
                || timers::timer_lateness_tokio(&delays, LATENESS_BATCH),
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
    },
    Family {
        names: &["threadsafe_1p"],
        run: |side, c, _| {
            let n = c.threadsafe;
            let d = pick(
                side,
                || xthread::threadsafe_evloop(1, n),
                || xthread::threadsafe_tokio(1, n),
            );
            Ok(Measured::one(ns_per(d, n)))
        },
    },
    Family {
        names: &["threadsafe_2p"],
        run: |side, c, _| {
            let n = c.threadsafe;
            let d = pick(
                side,
                || xthread::threadsafe_evloop(2, n),
                || xthread::threadsafe_tokio(2, n),
            );
            Ok(Measured::one(ns_per(d, n)))
        },
    },
    Family {
        names: &["xthread_rtt_p50", "xthread_rtt_p99"],
        run: |side, c, _| {
            let n = c.rtt;
            let mut rtt = pick(
                side,
                || xthread::xthread_rtt_evloop(n),
                || xthread::xthread_rtt_tokio(n),
            );
            rtt.sort_unstable();
            Ok(Measured {
                values: vec![us(quantile(&rtt, 0.5)), us(quantile(&rtt, 0.99))],
                extra: vec![("max µs", us(*rtt.last().unwrap()))],
            })
        },
    },
    Family {
        names: &["xthread_rtt_p50_spin"],
        run: |side, c, _| {
            let n = c.rtt;
            let mut rtt = pick(
                side,
                || xthread::xthread_rtt_evloop_spin(n, SPIN),
                || xthread::xthread_rtt_tokio(n),
            );
            rtt.sort_unstable();
            Ok(Measured::one(us(quantile(&rtt, 0.5))))
        },
    },
    Family {
        names: &["executor_seq"],
        run: |side, c, _| {
            let n = c.exec_seq;
            let d = pick(
                side,
                || xthread::executor_seq_evloop(n),
                || xthread::executor_seq_tokio(n),
            );
            Ok(Measured::one(us(d) / n as f64))
        },
    },
    Family {
        names: &["executor_seq_spin"],
        run: |side, c, _| {
            let n = c.exec_seq;
            let d = pick(
                side,
                || xthread::executor_seq_evloop_spin(n, SPIN),
                || xthread::executor_seq_tokio(n),
            );
            Ok(Measured::one(us(d) / n as f64))
        },
    },
    Family {
        names: &["executor_concurrent"],
        run: |side, c, _| {
            let n = c.exec_concurrent;
            let threads = evloop::ThreadPool::default_size();
            let d = pick(
                side,
                || xthread::executor_concurrent_evloop(n),
                || xthread::executor_concurrent_tokio(n, Some(threads)),
            );
            Ok(Measured::one(ns_per(d, n)))
        },
    },
    Family {
        names: &["executor_concurrent_default"],
        run: |side, c, _| {
            let n = c.exec_concurrent;
            let d = pick(
                side,
                || xthread::executor_concurrent_evloop(n),
                || xthread::executor_concurrent_tokio(n, None),
            );
            Ok(Measured::one(ns_per(d, n)))
        },
    },
    Family {
        names: &["tcp_echo_1"],
        run: |side, c, _| {
            let n = c.echo_1;
            let d = pick(
                side,
                || net::tcp_echo_evloop(1, n),
                || net::tcp_echo_tokio(1, n),
            );
            Ok(Measured::one(per_second(n, d)))
        },
    },
    Family {
        names: &["tcp_echo_50"],
        run: |side, c, _| {
            let n = c.echo_50;
            let d = pick(
                side,
                || net::tcp_echo_evloop(ECHO_CONNS, n),
                || net::tcp_echo_tokio(ECHO_CONNS, n),
            );
            Ok(Measured::one(per_second(ECHO_CONNS * n, d)))
        },
    },
    Family {
        names: &["tcp_bulk"],
        run: |side, c, _| {
            let n = c.bulk_bytes;
            let d = pick(side, || net::tcp_bulk_evloop(n), || net::tcp_bulk_tokio(n));
            Ok(Measured::one(per_second(n, d) / 1e6))
        },
    },
    Family {
        names: &["udp_ping_pong"],
        run: |side, c, _| {
            let n = c.udp;
            let d = pick(
                side,
                || net::udp_ping_pong_evloop(n),
                || net::udp_ping_pong_tokio(n),
            );
            Ok(Measured::one(per_second(n, d)))
        },
    },
    Family {
        names: &["mem_task_event"],
        run: |side, c, opts| mem_parent("mem_task_event", side, c, opts),
    },
    Family {
        names: &["mem_task_sleep"],
        run: |side, c, opts| mem_parent("mem_task_sleep", side, c, opts),
    },
];

/// A memory workload: measured in a child process of its own.
fn mem_parent(name: &str, side: Side, c: &Counts, opts: &Options) -> Result<Measured, String> {
    let io = if opts.tokio_io { ":io" } else { "" };
    let spec = format!("{name}:{side}:{}{io}", c.mem_tasks);
    super::run_child(&opts.launcher, &spec).map(Measured::one)
}

/// The child's side of a memory workload: `spec` is
/// `<workload>:<evloop|tokio>:<tasks>[:io]` (`io`: `--tokio-io`); returns
/// bytes per task.
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
    match (name, side) {
        (Some("mem_task_event"), Some("evloop")) => Ok(mem::task_event_evloop(n)),
        (Some("mem_task_event"), Some("tokio")) => Ok(mem::task_event_tokio(n)),
        (Some("mem_task_sleep"), Some("evloop")) => Ok(mem::task_sleep_evloop(n)),
        (Some("mem_task_sleep"), Some("tokio")) => Ok(mem::task_sleep_tokio(n)),
        _ => Err(bad()),
    }
}

/// Runs every selected family `opts.reps` times per side, alternating which
/// side goes first, and returns a record per selected workload.
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
        let mut runs: [Vec<Measured>; 2] = [Vec::new(), Vec::new()];
        let started = Instant::now();
        for rep in 0..opts.reps {
            let order = if rep % 2 == 0 {
                [Side::Evloop, Side::Tokio]
            } else {
                [Side::Tokio, Side::Evloop]
            };
            for side in order {
                let m = (family.run)(side, &counts, opts)
                    .map_err(|e| format!("{} on {side}: {e}", family.names.join("/")))?;
                assert_eq!(m.values.len(), family.names.len());
                runs[side as usize].push(m);
            }
        }
        for &i in &selected {
            let spec = spec(family.names[i]);
            let values = |side: Side| runs[side as usize].iter().map(|m| m.values[i]).collect();
            let mut record = Record::new(spec, values(Side::Evloop), values(Side::Tokio));
            for (k, (label, _)) in runs[0][0].extra.iter().enumerate() {
                let extra = |side: Side| -> Vec<f64> {
                    runs[side as usize].iter().map(|m| m.extra[k].1).collect()
                };
                record
                    .extra
                    .push((label.to_string(), extra(Side::Evloop), extra(Side::Tokio)));
            }
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
