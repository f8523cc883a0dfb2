//! Process-wide signal plumbing: `sigaction` and a self-pipe per loop, as
//! libuv and asyncio do.
//!
//! Not `signalfd`: it needs the signal blocked in every thread of the
//! process, which a library embedded in someone else's program cannot
//! arrange. The handler installed here does nothing but write the signal's
//! number, one byte, to the pipe of each loop that watches the signal; the
//! loop reads the pipe (it is an ordinary fd source) and runs the user's
//! callback on its own thread.
//!
//! The table of pipes is a fixed array of atomics per signal, so the
//! handler reads it without a lock; registrations (outside the handler)
//! are serialised by a mutex. The disposition that was in place before the
//! first registration of a signal is saved, and restored when the last
//! registration is removed.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use parking_lot::Mutex;

/// Loops that may watch one signal at the same time.
const MAX_LOOPS: usize = 16;
/// Signals 1..=64 (Linux's `_NSIG` is 65).
const MAX_SIGNAL: usize = 64;

#[allow(clippy::declare_interior_mutable_const)] // an array initializer
const EMPTY: AtomicI32 = AtomicI32::new(-1);
#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_ROW: [AtomicI32; MAX_LOOPS] = [EMPTY; MAX_LOOPS];

/// For each signal, the write ends of the pipes of the loops watching it.
static PIPES: [[AtomicI32; MAX_LOOPS]; MAX_SIGNAL + 1] = [EMPTY_ROW; MAX_SIGNAL + 1];

/// The dispositions to restore, per signal, while evloop's handler is in.
static SAVED: Mutex<Vec<Option<libc::sigaction>>> = Mutex::new(Vec::new());

/// The handler: write the signal number to every watching loop's pipe.
/// Only async-signal-safe calls (`write`), and `errno` is preserved.
extern "C" fn on_signal(signum: libc::c_int) {
    // SAFETY: `__errno_location` is async-signal-safe and returns this
    // thread's errno, which we restore before returning.
    let errno = unsafe { *libc::__errno_location() };
    if let Some(row) = PIPES.get(signum as usize) {
        let byte = signum as u8;
        for slot in row {
            let fd = slot.load(Ordering::Acquire);
            if fd >= 0 {
                // SAFETY: `fd` is a pipe write end that stays open while it
                // is in the table; a full pipe just drops this byte (the
                // loop already has one pending for the signal).
                unsafe { libc::write(fd, &byte as *const u8 as *const libc::c_void, 1) };
            }
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

fn check_signal(signum: libc::c_int) -> io::Result<usize> {
    match usize::try_from(signum) {
        Ok(n) if (1..=MAX_SIGNAL).contains(&n) => Ok(n),
        _ => Err(io::Error::from_raw_os_error(libc::EINVAL)),
    }
}

/// Adds `write_fd` to the loops watching `signum`, installing the handler
/// (and saving the previous disposition) if it is the first.
pub(crate) fn watch(signum: libc::c_int, write_fd: RawFd) -> io::Result<()> {
    let n = check_signal(signum)?;
    let mut saved = SAVED.lock();
    if saved.len() <= MAX_SIGNAL {
        saved.resize(MAX_SIGNAL + 1, None);
    }
    let row = &PIPES[n];
    if row.iter().any(|s| s.load(Ordering::Acquire) == write_fd) {
        return Ok(());
    }
    let slot = row
        .iter()
        .find(|s| s.load(Ordering::Acquire) < 0)
        .ok_or_else(|| io::Error::other("too many loops watch this signal"))?;
    if saved[n].is_none() {
        saved[n] = Some(install(signum)?);
    }
    slot.store(write_fd, Ordering::Release);
    Ok(())
}

/// Removes `write_fd` from the loops watching `signum`; restores the saved
/// disposition if no loop watches it any more.
pub(crate) fn unwatch(signum: libc::c_int, write_fd: RawFd) -> io::Result<()> {
    let n = check_signal(signum)?;
    let mut saved = SAVED.lock();
    for slot in &PIPES[n] {
        if slot.load(Ordering::Acquire) == write_fd {
            slot.store(-1, Ordering::Release);
        }
    }
    let unused = PIPES[n].iter().all(|s| s.load(Ordering::Acquire) < 0);
    if unused {
        if let Some(previous) = saved.get_mut(n).and_then(Option::take) {
            restore(signum, &previous)?;
        }
    }
    Ok(())
}

/// Installs `on_signal` for `signum`; returns the previous disposition.
fn install(signum: libc::c_int) -> io::Result<libc::sigaction> {
    // SAFETY: all-zero is a valid `sigaction` (empty mask, no flags).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
    // SA_RESTART: interrupted syscalls elsewhere in the program resume.
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: as above.
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live `sigaction`s; the handler only
    // does async-signal-safe work.
    if unsafe { libc::sigaction(signum, &action, &mut previous) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(previous)
}

fn restore(signum: libc::c_int, previous: &libc::sigaction) -> io::Result<()> {
    // SAFETY: `previous` is the disposition the kernel gave us.
    if unsafe { libc::sigaction(signum, previous, std::ptr::null_mut()) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A non-blocking, close-on-exec pipe: (read end, write end).
pub(crate) fn pipe() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these two fds, owned by nobody else.
    Ok(unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    })
}
