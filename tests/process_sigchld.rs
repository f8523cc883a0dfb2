//! Child processes without pidfds: the `SIGCHLD` path that kernels before
//! 5.3 take, forced here with `EVLOOP_PROCESS_NO_PIDFD`. A test binary of
//! its own with one test, so the variable is set before any child is
//! spawned in this process and no other test sees it.

mod util;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use evloop::process::{Command, Stdio};
use evloop::EventLoop;

/// The fds of this process that are pidfds.
fn pidfds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("pidfd"))
        .count()
}

/// Whether `pid` is a child of ours not yet reaped.
fn is_our_child(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id())
}

#[test]
fn without_pidfds_sigchld_wakes_the_waits_and_reaps_the_orphans() {
    std::env::set_var("EVLOOP_PROCESS_NO_PIDFD", "1");
    let lp = EventLoop::new();
    util::watchdog_local(|| {
        lp.run_until_complete(async {
            // Many children exiting together: SIGCHLDs coalesce, and every
            // wait still gets its own child's status.
            let tasks: Vec<_> = (0..100)
                .map(|i| {
                    evloop::ensure_future(async move {
                        let mut child = Command::shell(format!("exit {i}")).spawn().unwrap();
                        child.wait().await.unwrap().code()
                    })
                })
                .collect();
            for (i, task) in tasks.into_iter().enumerate() {
                assert_eq!(task.await.unwrap(), Some(i as i32));
            }

            // No pidfd is used; signals go by pid while the child is ours.
            let mut child = Command::new("sleep").arg("60").spawn().unwrap();
            assert_eq!(pidfds(), 0);
            let timed_out = evloop::wait_for(Duration::from_millis(20), child.wait()).await;
            assert!(timed_out.is_err());
            child.kill().unwrap();
            assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGKILL));
            child.kill().unwrap(); // reaped: nothing sent

            // An orphan is reaped at a later SIGCHLD.
            let mut child = Command::shell("read line")
                .stdin(Stdio::piped())
                .spawn()
                .unwrap();
            let pid = child.id().unwrap();
            let stdin = child.stdin.take().unwrap();
            drop(child);
            assert!(is_our_child(pid));
            drop(stdin);
            for _ in 0..20_000 {
                if !is_our_child(pid) {
                    break;
                }
                evloop::sleep(Duration::from_millis(1)).await;
            }
            assert!(!is_our_child(pid), "the orphan was reaped");

            let out = Command::shell("echo hi | tr a-z A-Z")
                .output()
                .await
                .unwrap();
            assert_eq!(out.stdout, b"HI\n");
        })
        .unwrap();
    });
    lp.close().unwrap();
}
