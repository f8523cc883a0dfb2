//! Child processes: spawn `/bin/true` and wait for it, on evloop
//! (`evloop::process`) and on tokio (`tokio::process`, which needs the
//! I/O driver: [`runtime::tokio_io`](crate::runtime::tokio_io)).
//!
//! Most of the time is the kernel's (fork or `posix_spawn`, exec, exit):
//! the workloads show what each runtime adds around it: registering the
//! child, learning of its exit, reaping it.

use std::time::{Duration, Instant};

use crate::runtime::{self, TokioForm};

/// The program every child runs.
const PROGRAM: &str = "/bin/true";

/// `n` children, `batch` at a time: each batch's children are spawned by
/// tasks of their own and all awaited before the next batch starts
/// (`batch` 1: one after another, from the main task). Returns the time
/// for all `n`.
pub fn spawn_wait_evloop(n: usize, batch: usize) -> Duration {
    let lp = runtime::evloop();
    lp.run_until_complete(async move {
        let start = Instant::now();
        let mut left = n;
        while left > 0 {
            let now = batch.min(left);
            if now == 1 {
                assert!(one_evloop().await);
            } else {
                let tasks: Vec<_> = (0..now)
                    .map(|_| evloop::ensure_future(one_evloop()))
                    .collect();
                for task in tasks {
                    assert!(task.await.unwrap());
                }
            }
            left -= now;
        }
        start.elapsed()
    })
    .unwrap()
}

async fn one_evloop() -> bool {
    let mut child = evloop::process::Command::new(PROGRAM).spawn().unwrap();
    child.wait().await.unwrap().success()
}

/// [`spawn_wait_evloop`] on tokio (a current-thread runtime with every
/// driver); batches of one run in `block_on` itself, larger ones as tasks
/// in `form`.
pub fn spawn_wait_tokio(n: usize, batch: usize, form: TokioForm) -> Duration {
    let rt = runtime::tokio_io();
    form.block_on(&rt, async move {
        let start = Instant::now();
        let mut left = n;
        while left > 0 {
            let now = batch.min(left);
            if now == 1 {
                assert!(one_tokio().await);
            } else {
                let tasks: Vec<_> = (0..now).map(|_| form.spawn(one_tokio())).collect();
                for task in tasks {
                    assert!(task.await.unwrap());
                }
            }
            left -= now;
        }
        start.elapsed()
    })
}

async fn one_tokio() -> bool {
    let mut child = tokio::process::Command::new(PROGRAM).spawn().unwrap();
    child.wait().await.unwrap().success()
}
