//! The loop side of signal handling: the self-pipe is an fd source like any
//! other, and each signal number read from it schedules its callback with
//! `call_soon` (as asyncio's `_handle_signal` does). The loop's state is
//! `core::Signals`; the process-wide side is `sys::signal`.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::panic::Location;
use std::rc::Rc;

use crate::callback::InlineFn;
use crate::core::{Core, Watched};
use crate::io::sources::{Direction, FdCallback};
use crate::sys::signal;

/// `add_signal_handler`: watch `signum`, replacing an earlier callback.
pub(crate) fn add(core: &Core, signum: libc::c_int, callback: Rc<dyn Fn()>) -> io::Result<()> {
    let write_fd = ensure_pipe(core)?;
    let slot = signal::watch(signum, write_fd)?;
    let old = core
        .signals()
        .borrow_mut()
        .handlers
        .insert(signum, Watched { callback, slot });
    drop(old);
    Ok(())
}

/// `remove_signal_handler`; returns whether a callback was set.
pub(crate) fn remove(core: &Core, signum: libc::c_int) -> io::Result<bool> {
    let (old, write_fd) = {
        let mut s = core.signals().borrow_mut();
        let old = s.handlers.remove(&signum);
        (old, s.pipe.as_ref().map(|(_, w)| w.as_raw_fd()))
    };
    if let (Some(_), Some(fd)) = (&old, write_fd) {
        signal::unwatch(signum, fd)?;
    }
    Ok(old.is_some())
}

/// The pipe's write end, creating the pipe and its reader on first use.
fn ensure_pipe(core: &Core) -> io::Result<i32> {
    if let Some((_, w)) = &core.signals().borrow().pipe {
        return Ok(w.as_raw_fd());
    }
    let (read, write) = signal::pipe()?;
    let read_fd = read.as_raw_fd();
    let drain_pipe = FdCallback {
        f: Rc::new(RefCell::new(move || drain(read_fd))),
        at: Location::caller(),
    };
    core.add_fd_callback(read_fd, Direction::Read, drain_pipe)?;
    let write_fd = write.as_raw_fd();
    core.signals().borrow_mut().pipe = Some((File::from(read), write));
    Ok(write_fd)
}

/// The pipe is readable: read every wake byte, acknowledge it (the next
/// signal writes a new one), and schedule that signal's callback.
fn drain(read_fd: i32) {
    let Some(core) = crate::core::current() else {
        return;
    };
    let mut buf = [0u8; 64];
    loop {
        let n = match read_pipe(&core, read_fd, &mut buf) {
            Ok(0) | Err(_) => return, // drained (WouldBlock) or closed
            Ok(n) => n,
        };
        for &signum in &buf[..n] {
            let signum = libc::c_int::from(signum);
            let watched = core
                .signals()
                .borrow()
                .handlers
                .get(&signum)
                .map(|w| (w.callback.clone(), w.slot));
            if let Some((callback, slot)) = watched {
                signal::acknowledge(signum, slot);
                let _ = core.call_soon(InlineFn::new(move || callback()), Location::caller());
            }
        }
    }
}

/// Reads from the loop's signal pipe (non-blocking).
fn read_pipe(core: &Core, read_fd: i32, buf: &mut [u8]) -> io::Result<usize> {
    let signals = core.signals().borrow();
    match &signals.pipe {
        Some((read, _)) if read.as_raw_fd() == read_fd => (&*read).read(buf),
        _ => Ok(0),
    }
}
