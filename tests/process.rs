//! Child processes: spawning, waiting, signals, pipes as streams, orphans.
//!
//! The tests of this file run one at a time (`serial`): several of them
//! count the process's fds or look for its zombies, which children of a
//! test running alongside would disturb.

mod util;

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use evloop::net::{StreamReader, StreamWriter};
use evloop::process::{Command, Stdio};
use evloop::EventLoop;

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The state letter and parent pid of process `pid`, if it exists.
fn state_of(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid ...": comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Our children that are zombies (exited, not reaped).
fn our_zombies() -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| state_of(pid) == Some(('Z', me)))
        .collect()
}

/// Whether `pid` is a child of ours that has not been reaped (running or
/// a zombie).
fn is_our_child(pid: u32) -> bool {
    matches!(state_of(pid), Some((_, ppid)) if ppid == std::process::id())
}

/// Lets the loop run until `done` holds, checking after each short sleep;
/// fails after 20,000 rounds (a hang, not a slow machine).
async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..20_000 {
        if done() {
            return;
        }
        evloop::sleep(Duration::from_millis(1)).await;
    }
    panic!("the condition never held");
}

/// Deterministic bytes that do not repeat with a short period (xorshift).
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

const TEN_MIB: usize = 10 * 1024 * 1024;

#[test]
fn five_hundred_concurrent_children_exit_statuses_no_zombies_no_fd_leak() {
    let _serial = serial();
    let before = open_fds();
    // 500 synchronous spawns in one iteration hold the loop well past the
    // slow-callback threshold, by design: no report for that.
    let lp = EventLoop::builder()
        .slow_callback_duration(None)
        .build()
        .unwrap();
    let codes = util::watchdog_local(|| {
        lp.run_until_complete(async {
            let tasks: Vec<_> = (0..500)
                .map(|i| {
                    evloop::ensure_future(async move {
                        let mut child =
                            Command::shell(format!("exit {}", i % 256)).spawn().unwrap();
                        child.wait().await.unwrap().code()
                    })
                })
                .collect();
            let mut codes = Vec::new();
            for task in tasks {
                codes.push(task.await.unwrap());
            }
            codes
        })
        .unwrap()
    });
    let expected: Vec<_> = (0..500).map(|i| Some(i % 256)).collect();
    assert_eq!(codes, expected);
    assert_eq!(our_zombies(), Vec::<u32>::new(), "every child was reaped");
    lp.close().unwrap();
    drop(lp);
    assert_eq!(open_fds(), before, "every pidfd and pipe closed");
}

#[test]
fn ten_mib_through_cat_with_communicate() {
    let _serial = serial();
    let data = pattern(TEN_MIB);
    let input = data.clone();
    let out = util::watchdog_local(|| {
        evloop::run(async move {
            let mut child = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child.communicate(input).await.unwrap()
        })
        .unwrap()
    });
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), TEN_MIB);
    assert!(out.stdout == data, "byte-exact");
    assert!(out.stderr.is_empty());
}

#[test]
fn ten_mib_through_cat_streaming_with_a_writer_and_a_reader_task() {
    use futures_util::io::{AsyncReadExt, AsyncWriteExt};
    let _serial = serial();
    let data = pattern(TEN_MIB);
    let expected = data.clone();
    let (received, status) = util::watchdog_local(|| {
        evloop::run(async move {
            let mut child = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let writer = evloop::ensure_future(async move {
                // Through the futures-io traits (the inherent methods of
                // the same names would be picked by method syntax).
                // Uneven chunks, so writes and reads do not line up.
                for chunk in data.chunks(100_003) {
                    AsyncWriteExt::write_all(&mut stdin, chunk).await.unwrap();
                }
                AsyncWriteExt::close(&mut stdin).await.unwrap(); // end of file for cat
            });
            let reader = evloop::ensure_future(async move {
                let mut received = Vec::new();
                AsyncReadExt::read_to_end(&mut stdout, &mut received)
                    .await
                    .unwrap();
                received
            });
            writer.await.unwrap();
            let received = reader.await.unwrap();
            (received, child.wait().await.unwrap())
        })
        .unwrap()
    });
    assert!(status.success());
    assert_eq!(received.len(), TEN_MIB);
    assert!(received == expected, "byte-exact");
}

#[test]
fn pipes_work_with_stream_reader_and_stream_writer() {
    let _serial = serial();
    let lines = evloop::run(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut writer = StreamWriter::new(child.stdin.take().unwrap());
        let mut reader = StreamReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        for word in ["alpha", "beta", "gamma"] {
            writer
                .write_all(format!("{word}\n").as_bytes())
                .await
                .unwrap();
            lines.push(reader.read_line().await.unwrap());
        }
        writer.close().unwrap(); // closes the pipe: cat sees end of file
        lines.push(reader.read_line().await.unwrap());
        assert!(reader.at_eof());
        assert!(child.wait().await.unwrap().success());
        lines
    })
    .unwrap();
    assert_eq!(
        lines,
        [&b"alpha\n"[..], b"beta\n", b"gamma\n", b""].map(<[u8]>::to_vec)
    );
}

#[test]
fn a_child_killed_by_a_signal_reports_the_signal() {
    let _serial = serial();
    evloop::run(async {
        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        assert_eq!(child.try_wait().unwrap(), None, "still running");
        child.kill().unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert_eq!(status.code(), None);

        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        child.terminate().unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGTERM));

        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        child.send_signal(libc::SIGUSR1).unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGUSR1));
    })
    .unwrap();
}

#[test]
fn signals_after_the_child_was_reaped_send_nothing() {
    let _serial = serial();
    evloop::run(async {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id().unwrap();
        assert!(child.wait().await.unwrap().success());
        assert_eq!(child.id(), None, "no pid once reaped");
        assert!(!is_our_child(pid));
        child.kill().unwrap();
        child.terminate().unwrap();
        child.send_signal(libc::SIGUSR1).unwrap();
        // The status is kept, whatever was asked since.
        assert!(child.wait().await.unwrap().success());
        assert!(child.try_wait().unwrap().unwrap().success());
    })
    .unwrap();
}

#[test]
fn an_invalid_signal_is_an_error() {
    let _serial = serial();
    evloop::run(async {
        let mut child = Command::new("sleep")
            .arg("60")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let err = child.send_signal(9999).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    })
    .unwrap();
}

#[test]
fn wait_cancelled_by_a_timeout_then_awaited_again_gets_the_status() {
    let _serial = serial();
    evloop::run(async {
        // `read` blocks until stdin closes: the child cannot exit before.
        let mut child = Command::shell("read line; exit 7")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let first = evloop::wait_for(Duration::from_millis(20), child.wait()).await;
        assert!(first.is_err(), "timed out: the child is still reading");
        drop(child.stdin.take());
        let status = evloop::wait_for(Duration::from_secs(30), child.wait())
            .await
            .expect("the child exits once its stdin is closed")
            .unwrap();
        assert_eq!(status.code(), Some(7));
    })
    .unwrap();
}

#[test]
fn a_child_outliving_its_dropped_handle_is_reaped_by_the_loop() {
    let _serial = serial();
    let before = open_fds();
    let lp = EventLoop::new();
    util::watchdog_local(|| {
        lp.run_until_complete(async {
            let mut child = Command::shell("read line")
                .stdin(Stdio::piped())
                .spawn()
                .unwrap();
            let pid = child.id().unwrap();
            let stdin = child.stdin.take().unwrap();
            drop(child);
            // Not killed: it still waits for its input.
            evloop::sleep(Duration::from_millis(10)).await;
            assert!(matches!(state_of(pid), Some((s, _)) if s != 'Z'));
            drop(stdin); // now it exits
            until(|| !is_our_child(pid)).await;
        })
        .unwrap();
    });
    assert_eq!(our_zombies(), Vec::<u32>::new());
    lp.close().unwrap();
    drop(lp);
    assert_eq!(open_fds(), before, "the orphan's pidfd was closed");
}

#[test]
fn kill_on_drop_kills_and_the_loop_reaps() {
    let _serial = serial();
    util::watchdog_local(|| {
        evloop::run(async {
            let child = Command::new("sleep")
                .arg("60")
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let pid = child.id().unwrap();
            drop(child);
            until(|| !is_our_child(pid)).await;
        })
        .unwrap();
    });
}

#[test]
fn children_running_at_close_are_reaped_after_they_exit() {
    let _serial = serial();
    let lp = EventLoop::new();
    let (pid, stdin) = lp
        .run_until_complete(async {
            let mut child = Command::shell("read line")
                .stdin(Stdio::piped())
                .spawn()
                .unwrap();
            (child.id().unwrap(), child.stdin.take().unwrap())
            // `child` is dropped here: an orphan on the loop
        })
        .unwrap();
    lp.close().unwrap();
    assert!(is_our_child(pid), "not killed at close");
    drop(stdin); // the child exits: the reaper thread waits for it
    util::watchdog(30, move || {
        while is_our_child(pid) {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

#[test]
fn a_child_handle_dropped_after_close_is_reaped_too() {
    let _serial = serial();
    let lp = EventLoop::new();
    let mut child = lp
        .run_until_complete(async {
            Command::shell("read line")
                .stdin(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .unwrap();
    lp.close().unwrap();
    let pid = child.id().unwrap();
    let wait = util::now_or_never(Box::pin(child.wait())).expect("no waiting once closed");
    let err = wait.unwrap_err();
    assert!(
        err.get_ref().is_some_and(|e| e.is::<evloop::LoopClosed>()),
        "{err:?}"
    );
    assert_eq!(child.try_wait().unwrap(), None, "still running");
    drop(child.stdin.take());
    drop(child);
    util::watchdog(30, move || {
        while is_our_child(pid) {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

#[test]
fn spawn_failures_are_errors_at_spawn() {
    let _serial = serial();
    let path = std::env::temp_dir().join(format!("evloop-not-executable-{}", std::process::id()));
    std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap(); // mode 0644
    let not_executable_path = path.clone();
    evloop::run(async move {
        let missing = Command::new("/nonexistent/evloop-test-program").spawn();
        assert_eq!(missing.unwrap_err().kind(), ErrorKind::NotFound);
        let missing_in_path = Command::new("evloop-no-such-program-in-path").spawn();
        assert_eq!(missing_in_path.unwrap_err().kind(), ErrorKind::NotFound);
        let not_executable = Command::new(&not_executable_path).spawn();
        assert_eq!(
            not_executable.unwrap_err().kind(),
            ErrorKind::PermissionDenied
        );
        let status = Command::new("/nonexistent/evloop-test-program")
            .status()
            .await;
        assert_eq!(status.unwrap_err().kind(), ErrorKind::NotFound);
    })
    .unwrap();
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn shell_commands_with_a_pipe() {
    let _serial = serial();
    let out = evloop::run(async {
        Command::shell("echo hi | tr a-z A-Z; echo err >&2; exit 4")
            .output()
            .await
            .unwrap()
    })
    .unwrap();
    assert_eq!(out.stdout, b"HI\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn builder_settings_reach_the_child() {
    let _serial = serial();
    let dir = std::env::temp_dir().canonicalize().unwrap();
    let out = evloop::run({
        let dir = dir.clone();
        async move {
            Command::new("sh")
                .args(["-c", "echo \"$A $B $HOME\"; pwd"])
                .env_clear()
                .env("A", "1")
                .envs([("B", "2"), ("HOME", "h")])
                .env_remove("HOME")
                .current_dir(&dir)
                .output()
                .await
                .unwrap()
        }
    })
    .unwrap();
    let expected = format!("1 2 \n{}\n", dir.display());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
}

#[test]
fn output_defaults_do_not_stick_to_the_command() {
    let _serial = serial();
    evloop::run(async {
        let mut cmd = Command::new("true");
        assert!(cmd.output().await.unwrap().status.success());
        let child = cmd.spawn().unwrap();
        assert!(child.stdout.is_none() && child.stderr.is_none() && child.stdin.is_none());
    })
    .unwrap();
}

#[test]
fn communicate_with_a_child_that_does_not_read_its_input() {
    let _serial = serial();
    let out = evloop::run(async {
        let mut child = Command::shell("echo done")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // More than a pipe holds, to a child that exits without reading.
        child.communicate(pattern(1024 * 1024)).await.unwrap()
    })
    .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"done\n");
}

#[test]
#[should_panic(expected = "evloop::process::Command::spawn called outside a running evloop")]
fn spawn_outside_a_loop_panics_naming_the_function() {
    let _ = Command::new("true").spawn();
}

/// The fds of this process that are pidfds.
fn pidfds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("pidfd"))
        .count()
}

#[test]
fn each_child_is_watched_through_a_pidfd_closed_once_reaped() {
    let _serial = serial();
    evloop::run(async {
        let before = pidfds();
        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        assert_eq!(pidfds(), before + 1);
        child.kill().unwrap();
        child.wait().await.unwrap();
        assert_eq!(pidfds(), before, "closed at once, not when the Child drops");
    })
    .unwrap();
}
