//! The loop's state for child processes (`crate::process`): the children
//! whose `Child` handle was dropped before they were waited for (orphans),
//! and, where the kernel has no pidfds, the waits that `SIGCHLD` wakes.
//! Spawning, waiting and adopting orphans is `process`'s; what `close()`
//! does with the orphans still running is here.

use std::process;
use std::task::Waker;

use super::Core;
use crate::sys::process::PidFd;

/// A child nobody holds a handle to any more, to be waited for (reaped)
/// so that it does not stay a zombie.
pub(crate) struct Orphan {
    pub(crate) child: process::Child,
    /// Watched with a level-triggered fd callback while the loop lives;
    /// `None` without pidfds (then `SIGCHLD` prompts the checks).
    pub(crate) pidfd: Option<PidFd>,
}

/// The loop's child-process state.
#[derive(Default)]
pub(crate) struct Children {
    pub(crate) orphans: Vec<Orphan>,
    /// Without pidfds: the waits to wake at the next `SIGCHLD`.
    pub(crate) sigchld_waiters: Vec<Waker>,
    /// Without pidfds: whether this loop watches `SIGCHLD` yet.
    pub(crate) sigchld_watched: bool,
}

impl Core {
    /// Teardown: a last non-blocking wait for each orphan; the ones still
    /// running are handed to a reaper thread ([`reap_in_background`]).
    pub(super) fn close_children(&self) {
        let state = std::mem::take(&mut *self.children.borrow_mut());
        let running: Vec<process::Child> = state
            .orphans
            .into_iter()
            .filter_map(|mut o| matches!(o.child.try_wait(), Ok(None)).then_some(o.child))
            .collect();
        reap_in_background(running);
        drop(state.sigchld_waiters);
    }
}

/// Waits for `children` on a thread of their own ("evloop-reaper"), in
/// turn, so that none stays a zombie once no loop is left to watch it. A
/// thread is started only if some child is still running: most closes
/// start none. If the thread cannot be started, the children stay zombies
/// once they exit, until this process exits.
pub(crate) fn reap_in_background(children: Vec<process::Child>) {
    if children.is_empty() {
        return;
    }
    // Waiting needs almost no stack; a small one keeps the thread cheap.
    let _ = std::thread::Builder::new()
        .name("evloop-reaper".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            for mut child in children {
                let _ = child.wait();
            }
        });
}
