//! The long soak: millions of task and timer cycles with the resident
//! memory watched, then a long loopback TCP echo with every byte checked
//! and the process's fds counted. `tests/soak_alloc.rs` is the short
//! version that runs in `cargo test` (exact allocation counts).
//!
//! ```text
//! cargo run --release --example soak [-- --cycles N] [--echo-secs S | --echo-mib M] [--connections C]
//! ```
//!
//! Defaults: 10,000,000 cycles of each kind, a 60 s echo over 8
//! connections. One summary line per check; the exit status is 1 if any
//! check failed (the line says why), 2 for bad arguments.
//!
//! - **tasks**: spawn/complete/cancel cycles (a third awaited, a third
//!   cancelled after their first poll, a third detached), in batches;
//! - **timers**: `call_later` timers inserted and cancelled (one in ten
//!   fires), in batches, with a `call_soon` each (half cancelled);
//! - **echo**: each connection's client sends a seeded byte stream in
//!   chunks of random sizes; an echo server on the same loop sends it back;
//!   the client checks every byte it reads against the same stream, and
//!   that it got back exactly what it sent.
//!
//! Resident memory (`/proc/self/statm`) is read after a warm-up (the first
//! tenth of the cycles, when the queues, slabs and the allocator's arenas
//! have grown to their working size) and then every twentieth; a check
//! fails if any later reading exceeds the warm-up one by more than
//! `RSS_SLACK`. Tasks and timers run on virtual time, so the sleeps and
//! timers cost no real time.

use std::cell::Cell;
use std::io;
use std::net::Shutdown;
use std::rc::Rc;
use std::time::{Duration, Instant};

use evloop::net::{TcpListener, TcpStream};
use evloop::EventLoop;

/// Allowed RSS growth past the warm-up reading: allocator noise (a page
/// here and there as free lists shift). A leak of even one byte per cycle
/// over the default 10,000,000 cycles is ten times this.
const RSS_SLACK: u64 = 1 << 20;
/// Cycles per batch: tasks and timers are made a batch at a time.
const BATCH: u64 = 10_000;
/// Largest write (client) and read (both ends).
const CHUNK: usize = 64 * 1024;

struct Args {
    cycles: u64,
    echo: Limit,
    connections: usize,
}

/// When the echo stops: after this long, or after this many bytes per
/// connection.
#[derive(Clone, Copy)]
enum Limit {
    Time(Duration),
    Bytes(u64),
}

fn parse_args() -> Args {
    let (mut cycles, mut connections) = (10_000_000, 8);
    let (mut secs, mut total_mib) = (None, None);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let value: f64 = match arg.as_str() {
            "--cycles" | "--echo-secs" | "--echo-mib" | "--connections" => it
                .next()
                .and_then(|s| s.replace('_', "").parse().ok())
                .filter(|n: &f64| *n > 0.0)
                .unwrap_or_else(|| usage(&format!("{arg} needs a positive number"))),
            other => usage(&format!("unexpected argument {other:?}")),
        };
        match arg.as_str() {
            "--cycles" => cycles = value as u64,
            "--echo-secs" => secs = Some(value),
            "--echo-mib" => total_mib = Some(value),
            _ => connections = value as usize,
        }
    }
    let echo = match (secs, total_mib) {
        (Some(_), Some(_)) => usage("give --echo-secs or --echo-mib, not both"),
        (_, Some(mib)) => Limit::Bytes((mib * 1024.0 * 1024.0) as u64 / connections as u64),
        (secs, None) => Limit::Time(Duration::from_secs_f64(secs.unwrap_or(60.0))),
    };
    Args {
        cycles,
        echo,
        connections,
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("soak: {problem}");
    eprintln!("usage: soak [--cycles N] [--echo-secs S | --echo-mib M] [--connections C]");
    std::process::exit(2);
}

fn main() {
    let args = parse_args();
    let checks = [
        check_tasks(args.cycles),
        check_timers(args.cycles),
        check_echo(args.echo, args.connections),
    ];
    let failed = checks.iter().filter(|ok| !**ok).count();
    if failed > 0 {
        eprintln!("soak: {failed} check(s) FAILED");
        std::process::exit(1);
    }
}

/// Prints a check's summary line; returns whether it passed.
fn report(name: &str, summary: String, problem: Option<String>) -> bool {
    match problem {
        None => {
            println!("{name}: ok: {summary}");
            true
        }
        Some(p) => {
            println!("{name}: FAILED: {p}; {summary}");
            false
        }
    }
}

// ---- memory --------------------------------------------------------------------

/// Resident set size in bytes (`/proc/self/statm`, second field).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf only reads a system setting.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(1) as u64
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn kib(bytes: u64) -> String {
    format!("{} KiB", bytes / 1024)
}

/// Readings of RSS as cycles go by: one after the warm-up (a tenth of the
/// cycles), then one every twentieth.
struct RssWatch {
    total: u64,
    warm: Option<u64>,
    max_after: u64,
    next_at: u64,
    readings: usize,
}

impl RssWatch {
    fn new(total: u64) -> RssWatch {
        RssWatch {
            total,
            warm: None,
            max_after: 0,
            next_at: (total / 10).max(1),
            readings: 0,
        }
    }

    /// Called after `done` cycles.
    fn at(&mut self, done: u64) {
        if done < self.next_at {
            return;
        }
        let now = rss();
        self.readings += 1;
        match self.warm {
            None => self.warm = Some(now),
            Some(_) => self.max_after = self.max_after.max(now),
        }
        self.next_at = done + (self.total / 20).max(1);
    }

    /// The summary and, if RSS grew past the warm-up, the problem.
    fn verdict(&self) -> (String, Option<String>) {
        let warm = self.warm.unwrap_or(0);
        let summary = format!(
            "RSS after warm-up {}, max after {} ({} readings)",
            kib(warm),
            kib(self.max_after),
            self.readings
        );
        let problem = (self.max_after > warm + RSS_SLACK).then(|| {
            format!(
                "RSS grew by {} past the warm-up (slack {})",
                kib(self.max_after - warm),
                kib(RSS_SLACK)
            )
        });
        (summary, problem)
    }
}

fn virtual_loop() -> EventLoop {
    EventLoop::builder()
        .virtual_time()
        .build()
        .unwrap_or_else(|e| fail_setup(&e))
}

fn fail_setup(e: &dyn std::fmt::Display) -> ! {
    eprintln!("soak: cannot set up: {e}");
    std::process::exit(1);
}

// ---- tasks -----------------------------------------------------------------------

/// One batch of spawn/complete/cancel cycles; returns how many tasks
/// finished (rather than being cancelled).
async fn task_batch(n: u64) -> u64 {
    let mut kept = Vec::with_capacity(n as usize);
    for i in 0..n {
        let task = evloop::ensure_future(async move {
            match i % 4 {
                0 => {}
                1 => evloop::yield_now().await,
                2 => evloop::sleep(Duration::from_millis(1)).await,
                _ => evloop::sleep(Duration::from_secs(3600)).await,
            }
        });
        if i % 3 == 2 && i % 4 != 3 {
            drop(task); // detached; done within the batch
        } else {
            kept.push((i, task));
        }
    }
    evloop::yield_now().await; // every task was polled once
    for (i, task) in &kept {
        if i % 3 != 0 {
            task.cancel();
        }
    }
    let mut finished = 0;
    for (i, task) in kept {
        if i % 3 == 2 {
            drop(task);
        } else {
            finished += u64::from(task.await.is_ok());
        }
    }
    evloop::sleep(Duration::from_millis(2)).await; // the detached ones end
    finished
}

fn check_tasks(cycles: u64) -> bool {
    let start = Instant::now();
    let lp = virtual_loop();
    let out = lp.run_until_complete(async move {
        let mut watch = RssWatch::new(cycles);
        let (mut done, mut finished) = (0, 0);
        while done < cycles {
            let n = BATCH.min(cycles - done);
            finished += task_batch(n).await;
            done += n;
            watch.at(done);
        }
        (watch, finished)
    });
    let (watch, finished) = match out {
        Ok(out) => out,
        Err(e) => return report("tasks", String::new(), Some(e.to_string())),
    };
    let stats = lp.stats();
    drop(lp);
    let (rss, mut problem) = watch.verdict();
    // Awaited, plus the cancelled ones that had finished in their first poll.
    let expected = (0..cycles)
        .filter(|i| (i % BATCH) % 3 == 0 || ((i % BATCH) % 3 == 1 && (i % BATCH) % 4 == 0))
        .count() as u64;
    if finished != expected {
        problem.get_or_insert(format!("{finished} tasks finished, expected {expected}"));
    }
    let summary = format!(
        "{cycles} spawn/complete/cancel cycles in {:.1} s ({} polls); {rss}",
        start.elapsed().as_secs_f64(),
        stats.tasks_polled,
    );
    report("tasks", summary, problem)
}

// ---- timers ----------------------------------------------------------------------

/// One batch: `n` timers (one in ten kept, to fire) and `n` `call_soon`s
/// (half cancelled); returns how many callbacks ran.
async fn timer_batch(n: u64) -> u64 {
    let lp = EventLoop::current();
    let ran = Rc::new(Cell::new(0u64));
    let mut timers = Vec::with_capacity(n as usize);
    let mut handles = Vec::with_capacity(n as usize);
    for i in 0..n {
        let r = ran.clone();
        let delay = Duration::from_millis(1 + i % 50);
        timers.push(
            lp.call_later(delay, move || r.set(r.get() + 1))
                .expect("open"),
        );
        let r = ran.clone();
        handles.push(lp.call_soon(move || r.set(r.get() + 1)).expect("open"));
    }
    for (i, (t, h)) in timers.into_iter().zip(handles).enumerate() {
        if i % 10 != 0 {
            t.cancel();
        }
        if i % 2 == 0 {
            h.cancel();
        }
    }
    evloop::sleep(Duration::from_millis(100)).await;
    ran.get()
}

fn check_timers(cycles: u64) -> bool {
    let start = Instant::now();
    let lp = virtual_loop();
    let out = lp.run_until_complete(async move {
        let mut watch = RssWatch::new(cycles);
        let (mut done, mut ran, mut expected, mut kept) = (0, 0, 0, 0);
        while done < cycles {
            let n = BATCH.min(cycles - done);
            ran += timer_batch(n).await;
            kept += n.div_ceil(10);
            expected += n.div_ceil(10) + n / 2;
            done += n;
            watch.at(done);
        }
        (watch, ran, expected, kept)
    });
    let (watch, ran, expected, kept) = match out {
        Ok(out) => out,
        Err(e) => return report("timers", String::new(), Some(e.to_string())),
    };
    drop(lp);
    let (rss, mut problem) = watch.verdict();
    if ran != expected {
        problem.get_or_insert(format!("{ran} callbacks ran, expected {expected}"));
    }
    let summary = format!(
        "{cycles} timers inserted ({kept} fired, the rest cancelled) and {cycles} call_soon \
         (half cancelled) in {:.1} s; {rss}",
        start.elapsed().as_secs_f64(),
    );
    report("timers", summary, problem)
}

// ---- echo ------------------------------------------------------------------------

/// The byte stream of connection `seed`: xorshift64, eight bytes a step.
struct Pattern {
    state: u64,
    bytes: [u8; 8],
    used: usize,
}

impl Pattern {
    fn new(seed: u64) -> Pattern {
        Pattern {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            bytes: [0; 8],
            used: 8,
        }
    }

    fn next_byte(&mut self) -> u8 {
        if self.used == 8 {
            let mut x = self.state;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.state = x;
            self.bytes = x.to_le_bytes();
            self.used = 0;
        }
        self.used += 1;
        self.bytes[self.used - 1]
    }

    fn fill(&mut self, buf: &mut [u8]) {
        buf.iter_mut().for_each(|b| *b = self.next_byte());
    }

    /// Compares `buf` with the next bytes; returns the index of the first
    /// difference.
    fn check(&mut self, buf: &[u8]) -> Option<usize> {
        buf.iter().position(|&b| b != self.next_byte())
    }
}

/// A small generator for chunk sizes.
fn chunk_size(x: &mut u64) -> usize {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    1 + (*x % CHUNK as u64) as usize
}

/// Echoes until the peer shuts its write side, then shuts ours.
async fn serve(stream: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return stream.shutdown(Shutdown::Write);
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// One connection's result.
#[derive(Debug, Default)]
struct Transfer {
    sent: u64,
    received: u64,
    /// Offset of the first wrong byte read back.
    corrupt_at: Option<u64>,
}

async fn client(addr: std::net::SocketAddr, seed: u64, limit: Limit) -> io::Result<Transfer> {
    let stream = TcpStream::connect(&addr).await?;
    let (reader, writer) = stream.into_split();
    let deadline = match limit {
        Limit::Time(d) => Some(Instant::now() + d),
        Limit::Bytes(_) => None,
    };
    let max_bytes = match limit {
        Limit::Bytes(b) => b,
        Limit::Time(_) => u64::MAX,
    };
    let write = evloop::ensure_future(async move {
        let (mut pattern, mut sizes) = (Pattern::new(seed), seed | 1);
        let mut buf = vec![0u8; CHUNK];
        let mut sent = 0u64;
        while sent < max_bytes && deadline.is_none_or(|d| Instant::now() < d) {
            let n = chunk_size(&mut sizes).min((max_bytes - sent) as usize);
            pattern.fill(&mut buf[..n]);
            writer.write_all(&buf[..n]).await?;
            sent += n as u64;
        }
        writer.shutdown()?;
        Ok::<u64, io::Error>(sent)
    });
    let mut t = Transfer::default();
    let (mut pattern, mut sizes) = (Pattern::new(seed), !seed | 1);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let want = chunk_size(&mut sizes);
        let n = reader.read(&mut buf[..want]).await?;
        if n == 0 {
            break;
        }
        if let (None, Some(i)) = (t.corrupt_at, pattern.check(&buf[..n])) {
            t.corrupt_at = Some(t.received + i as u64);
        }
        t.received += n as u64;
    }
    t.sent = write.await.map_err(|e| io::Error::other(e.to_string()))??;
    Ok(t)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn check_echo(limit: Limit, connections: usize) -> bool {
    let fds_before = open_fds();
    let rss_before = rss();
    let start = Instant::now();
    // This checks bytes, not latency: each task moves up to a socket
    // buffer's worth per poll, and on a shared machine preemption alone
    // can push a poll past the 100 ms slow-callback report.
    let lp = EventLoop::builder()
        .slow_callback_duration(None)
        .build()
        .unwrap_or_else(|e| fail_setup(&e));
    let out = lp.run_until_complete(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let clients: Vec<_> = (0..connections as u64)
            .map(|c| evloop::ensure_future(client(addr, c + 1, limit)))
            .collect();
        let mut servers = Vec::new();
        for _ in 0..connections {
            let (stream, _) = listener.accept().await?;
            servers.push(evloop::ensure_future(serve(stream)));
        }
        let mut transfers = Vec::new();
        for c in clients {
            transfers.push(c.await.map_err(|e| io::Error::other(e.to_string()))??);
        }
        for s in servers {
            s.await.map_err(|e| io::Error::other(e.to_string()))??;
        }
        Ok::<_, io::Error>(transfers)
    });
    lp.close().ok();
    drop(lp);
    let secs = start.elapsed().as_secs_f64();
    let (fds_after, rss_after) = (open_fds(), rss());
    let transfers = match out {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return report("echo", String::new(), Some(format!("I/O error: {e}"))),
        Err(e) => return report("echo", String::new(), Some(format!("{e}"))),
    };
    let sent: u64 = transfers.iter().map(|t| t.sent).sum();
    let mut problem = None;
    for (c, t) in transfers.iter().enumerate() {
        if let Some(at) = t.corrupt_at {
            problem.get_or_insert(format!("connection {c}: wrong byte at offset {at}"));
        } else if t.received != t.sent {
            problem.get_or_insert(format!(
                "connection {c}: sent {} bytes, got {} back",
                t.sent, t.received
            ));
        }
    }
    if fds_after != fds_before {
        problem.get_or_insert(format!("open fds {fds_before} before, {fds_after} after"));
    }
    let summary = format!(
        "{connections} connections, {} each way in {secs:.1} s ({:.0} MiB/s), every byte checked; \
         fds {fds_before} -> {fds_after}; RSS {} -> {}",
        mib(sent),
        sent as f64 / (1024.0 * 1024.0) / secs,
        kib(rss_before),
        kib(rss_after),
    );
    report("echo", summary, problem)
}
