//! How the loop learns that a child exited, and who waits for (reaps) a
//! child whose [`Child`](super::Child) was dropped first.
//!
//! With pidfds (Linux 5.3+), each child's pidfd is a source of the loop,
//! readable once the child exited; the wait that follows is `waitpid` for
//! that child's pid alone (std's `Child::try_wait`). Without them, the loop
//! watches `SIGCHLD` through its signal self-pipe, and every `SIGCHLD`
//! wakes each waiting `wait`, which tries `waitpid(pid, WNOHANG)` for its
//! own child. Never `waitpid(-1)`: that would take the exit statuses of
//! children that other code in the process is waiting for.

use std::cell::RefCell;
use std::io;
use std::os::fd::AsRawFd;
use std::panic::Location;
use std::process;
use std::rc::Rc;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use crate::core::{reap_in_background, Core, Orphan};
use crate::io::sources::{Direction, FdCallback};
use crate::io::IoHandle;
use crate::sys::process::PidFd;

/// How a child's exit is noticed.
pub(super) enum ExitWatch {
    /// Its pidfd, registered with the loop.
    PidFd(IoHandle<PidFd>),
    /// The loop's `SIGCHLD` watch (no pidfds on this kernel).
    Sigchld,
    /// Nothing to notice any more: the child was reaped.
    Reaped,
}

/// Whether pidfds are refused by configuration: `EVLOOP_PROCESS_NO_PIDFD`
/// set to anything makes every child use the `SIGCHLD` path, as on a
/// kernel before 5.3 (read once, at the first spawn; for testing that
/// path on a kernel that has pidfds).
fn pidfd_disabled() -> bool {
    static DISABLED: OnceLock<bool> = OnceLock::new();
    *DISABLED.get_or_init(|| std::env::var_os("EVLOOP_PROCESS_NO_PIDFD").is_some())
}

/// Starts watching the child `pid` (just spawned, not yet waited for).
#[track_caller]
pub(super) fn watch(core: &Core, pid: u32) -> io::Result<ExitWatch> {
    let pidfd = if pidfd_disabled() {
        None
    } else {
        PidFd::open(pid)?
    };
    match pidfd {
        Some(pidfd) => Ok(ExitWatch::PidFd(IoHandle::new(
            pidfd,
            "evloop::process::Command::spawn",
        )?)),
        None => {
            watch_sigchld(core)?;
            Ok(ExitWatch::Sigchld)
        }
    }
}

/// `std.try_wait()` as a readiness operation: `WouldBlock` while the child
/// runs.
pub(super) fn try_reap(std: &mut process::Child) -> io::Result<process::ExitStatus> {
    std.try_wait()?
        .ok_or_else(|| io::ErrorKind::WouldBlock.into())
}

/// The `SIGCHLD` path of `Child::wait`: try, and if the child still runs,
/// wait for the next `SIGCHLD` this loop sees. The waker is stored after
/// the try with no iteration in between, so a `SIGCHLD` handled after the
/// try wakes it, and one handled before it changed nothing the try missed.
pub(super) fn poll_sigchld(
    core: &Core,
    std: &mut process::Child,
    cx: &mut Context<'_>,
) -> Poll<io::Result<process::ExitStatus>> {
    if core.is_closed() {
        return Poll::Ready(Err(io::Error::other(crate::LoopClosed)));
    }
    match try_reap(std) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            let mut children = core.children().borrow_mut();
            let waiters = &mut children.sigchld_waiters;
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            Poll::Pending
        }
        result => Poll::Ready(result),
    }
}

/// Installs this loop's `SIGCHLD` callback, once.
fn watch_sigchld(core: &Core) -> io::Result<()> {
    if core.children().borrow().sigchld_watched {
        return Ok(());
    }
    crate::io::signal::add(core, libc::SIGCHLD, Rc::new(on_sigchld))?;
    core.children().borrow_mut().sigchld_watched = true;
    Ok(())
}

/// Some child of this process exited (maybe not one of ours; signals
/// coalesce, so maybe several): wake every wait, and check the orphans.
fn on_sigchld() {
    let Some(core) = crate::core::current() else {
        return;
    };
    let waiters = std::mem::take(&mut core.children().borrow_mut().sigchld_waiters);
    waiters.into_iter().for_each(Waker::wake);
    reap_orphans(&core, |o| o.pidfd.is_none());
}

/// A child whose `Child` was dropped before it was reaped: reaped now if
/// it has exited, else kept on the loop's orphan list until its pidfd
/// fires (or a `SIGCHLD` comes), or handed to a reaper thread if the loop
/// is closed (see `core::children`).
pub(super) fn adopt(core: &Core, mut child: process::Child, pidfd: Option<PidFd>) {
    // An error is ECHILD: somebody else reaped it; nothing is left to do.
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    if core.is_closed() {
        reap_in_background(vec![child]);
        return;
    }
    let watched = match &pidfd {
        Some(pidfd) => {
            let fd = pidfd.as_raw_fd();
            let callback = FdCallback {
                f: Rc::new(RefCell::new(move || {
                    if let Some(core) = crate::core::current() {
                        reap_orphans(&core, |o| {
                            o.pidfd.as_ref().is_some_and(|p| p.as_raw_fd() == fd)
                        });
                    }
                })),
                at: Location::caller(),
            };
            core.add_fd_callback(fd, Direction::Read, callback)
        }
        None => watch_sigchld(core),
    };
    match watched {
        Ok(()) => core
            .children()
            .borrow_mut()
            .orphans
            .push(Orphan { child, pidfd }),
        Err(_) => reap_in_background(vec![child]),
    }
}

/// Reaps the orphans that `which` picks and that have exited, and stops
/// watching their pidfds (before closing them, so the fd number is free
/// of callbacks when it is reused).
fn reap_orphans(core: &Core, which: impl Fn(&Orphan) -> bool) {
    let done = {
        let mut children = core.children().borrow_mut();
        let orphans = &mut children.orphans;
        let mut done = Vec::new();
        let mut i = 0;
        while i < orphans.len() {
            let o = &mut orphans[i];
            if which(o) && !matches!(o.child.try_wait(), Ok(None)) {
                done.push(orphans.swap_remove(i));
            } else {
                i += 1;
            }
        }
        done
    };
    for orphan in done {
        if let Some(pidfd) = &orphan.pidfd {
            let _ = core.remove_fd_callback(pidfd.as_raw_fd(), Direction::Read);
        }
    }
}
