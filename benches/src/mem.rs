//! Resident memory per pending task: `mem_task_event` (tasks waiting on an
//! event) and `mem_task_sleep` (tasks in a one-hour sleep).
//!
//! Each function is meant to run once in a process of its own (the
//! `compare` tool re-executes itself for it): it reads the resident set
//! size from `/proc/self/statm` once the runtime is built, spawns `n`
//! tasks, lets each run up to its first `Pending`, reads it again, and
//! returns the difference divided by `n`. Nothing is torn down: the
//! process exits.

use std::sync::Arc;
use std::time::Duration;

use evloop::sync::Event;
use tokio::sync::Notify;

use crate::runtime::{self, TokioForm};

/// How long the main task sleeps after spawning, so that every task has
/// been polled once (both runtimes run all ready tasks first).
const SETTLE: Duration = Duration::from_millis(10);
/// The sleep of `mem_task_sleep`.
const LONG: Duration = Duration::from_secs(3600);

/// This process's resident set size in bytes (`/proc/self/statm`, second
/// field, in pages).
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("statm: resident field");
    pages * page_size()
}

fn page_size() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
}

fn per_task(before: u64, after: u64, n: usize) -> f64 {
    (after as f64 - before as f64) / n as f64
}

/// evloop: `n` tasks in `event.wait().await` on one `sync::Event`.
pub fn task_event_evloop(n: usize) -> f64 {
    runtime::evloop()
        .run_until_complete(async move {
            let event = Event::new();
            let before = resident_bytes();
            for _ in 0..n {
                let event = event.clone();
                drop(evloop::ensure_future(async move { event.wait().await }));
            }
            evloop::sleep(SETTLE).await;
            per_task(before, resident_bytes(), n)
        })
        .unwrap()
}

/// tokio: `n` tasks (spawned in `form`) in `notify.notified().await` on
/// one `Arc<Notify>`.
pub fn task_event_tokio(n: usize, form: TokioForm) -> f64 {
    form.block_on(&runtime::tokio(), async move {
        let notify = Arc::new(Notify::new());
        let before = resident_bytes();
        for _ in 0..n {
            let notify = notify.clone();
            drop(form.spawn(async move { notify.notified().await }));
        }
        tokio::time::sleep(SETTLE).await;
        per_task(before, resident_bytes(), n)
    })
}

/// evloop: `n` tasks in `evloop::sleep(1 h)`.
pub fn task_sleep_evloop(n: usize) -> f64 {
    runtime::evloop()
        .run_until_complete(async move {
            let before = resident_bytes();
            for _ in 0..n {
                drop(evloop::ensure_future(evloop::sleep(LONG)));
            }
            evloop::sleep(SETTLE).await;
            per_task(before, resident_bytes(), n)
        })
        .unwrap()
}

/// tokio: `n` tasks (spawned in `form`) in `tokio::time::sleep(1 h)`.
pub fn task_sleep_tokio(n: usize, form: TokioForm) -> f64 {
    form.block_on(&runtime::tokio(), async move {
        let before = resident_bytes();
        for _ in 0..n {
            drop(form.spawn(tokio::time::sleep(LONG)));
        }
        tokio::time::sleep(SETTLE).await;
        per_task(before, resident_bytes(), n)
    })
}
