//! Process-wide signal plumbing: `sigaction` and a self-pipe per loop, as
//! libuv and asyncio do.
//!
//! Not `signalfd`: it needs the signal blocked in every thread of the
//! process, which a library embedded in someone else's program cannot
//! arrange. The handler installed here does nothing but write a wake byte
//! (the signal's number) to the pipe of each loop that watches the signal,
//! then call the handler that was installed before ours, if any; the loop
//! reads the pipe (an ordinary fd source) and runs the user's callback on
//! its own thread.
//!
//! # The table
//!
//! For each signal, a fixed row of slots, one per watching loop: the write
//! end of the loop's pipe and a *pending* flag. The handler reads them
//! without a lock; registrations (outside the handler) are serialised by a
//! mutex. The handler writes a byte only when it turns the flag from clear
//! to set, and the loop clears the flag when it reads the byte, before it
//! schedules the callback: so a pipe holds at most one byte per signal,
//! can never fill up, and a burst of one signal (70,000 queued real-time
//! signals, say) cannot crowd out another. Signals coalesce, as they do in
//! the kernel and in asyncio.
//!
//! # Never a write to a closed (or reused) fd: the half-lock
//!
//! A handler loads a slot's fd, then writes to it. If a loop cleared the
//! slot and closed its pipe between the two, the write would land in
//! whatever file the program opened next with that number. So handlers
//! announce themselves in an in-flight count, and [`unwatch`] — the only
//! way a slot is cleared — waits, after clearing, until no handler that
//! may have loaded the old fd is still running; only then may the caller
//! close the pipe. signal-hook-registry calls this a half-lock.
//!
//! There are two counts and an index saying which one new handlers use.
//! `unwatch` flips the index, then waits for the *old* count to drain.
//! Why that is enough: a handler that read the old index and had not yet
//! incremented when `unwatch` saw zero increments after that zero in the
//! single order of `SeqCst` operations, hence after the slot was cleared,
//! and reads the cleared slot. Why two counts: with one, a steady stream
//! of signals from other threads could keep it above zero forever; new
//! handlers go to the other count, so the old one only ever decreases.
//!
//! # Chaining
//!
//! The disposition in place before the first registration of a signal is
//! saved, and restored when the last registration goes (unless the host
//! replaced evloop's handler meanwhile: then the host's newer one stays).
//! The row's slot and the handler to chain to are stored *before*
//! `sigaction` installs evloop's handler, so a signal delivered as the
//! call returns reaches the loop and the host's handler alike. While evloop's
//! handler is in, it calls the previous *handler* (not `SIG_DFL` or
//! `SIG_IGN`: the default action of `SIGINT` would end the process a loop
//! asked to handle) with the arguments the kernel gave, as an embedded
//! library should; evloop's handler is installed with the previous one's
//! signal mask and, if it had it, `SA_ONSTACK`, so the host's handler
//! runs as it asked to.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

use parking_lot::Mutex;

/// Loops that may watch one signal at the same time.
const MAX_LOOPS: usize = 16;
/// Signals 1..=64 (Linux's `_NSIG` is 65).
const MAX_SIGNAL: usize = 64;

/// One loop's place in a signal's row.
struct Slot {
    /// The write end of the loop's pipe (-1: free).
    fd: AtomicI32,
    /// A wake byte is in the pipe and not yet read.
    pending: AtomicBool,
}

/// What the handler needs of one signal.
struct Row {
    slots: [Slot; MAX_LOOPS],
    /// The handler that was installed before evloop's (its address; 0 or
    /// 1: `SIG_DFL` or `SIG_IGN`, not called).
    previous: AtomicUsize,
    /// Whether `previous` takes `(signum, siginfo, context)`.
    previous_siginfo: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)] // array initializers
const FREE: Slot = Slot {
    fd: AtomicI32::new(-1),
    pending: AtomicBool::new(false),
};
#[allow(clippy::declare_interior_mutable_const)]
const ROW: Row = Row {
    slots: [FREE; MAX_LOOPS],
    previous: AtomicUsize::new(0),
    previous_siginfo: AtomicBool::new(false),
};

static TABLE: [Row; MAX_SIGNAL + 1] = [ROW; MAX_SIGNAL + 1];

/// The dispositions to restore, per signal, while evloop's handler is in.
/// Its lock serialises every change to `TABLE`.
static SAVED: Mutex<Vec<Option<libc::sigaction>>> = Mutex::new(Vec::new());

/// The half-lock (module docs).
static IN_FLIGHT: InFlight = InFlight::new();

/// Handlers in flight, counted in two generations.
struct InFlight {
    /// Which count new handlers use (0 or 1).
    active: AtomicUsize,
    counts: [AtomicUsize; 2],
}

impl InFlight {
    const fn new() -> InFlight {
        InFlight {
            active: AtomicUsize::new(0),
            counts: [AtomicUsize::new(0), AtomicUsize::new(0)],
        }
    }

    /// A handler starts: it counts in the active generation until the
    /// guard drops.
    fn enter(&self) -> HandlerGuard<'_> {
        let generation = self.active.load(Ordering::SeqCst) & 1;
        self.counts[generation].fetch_add(1, Ordering::SeqCst);
        HandlerGuard {
            count: &self.counts[generation],
        }
    }

    /// Waits until every handler that started before this call has
    /// finished (see the module docs). Callers hold `SAVED`'s lock, so
    /// flips never interleave.
    fn wait_for_handlers(&self) {
        let old = self.active.fetch_add(1, Ordering::SeqCst) & 1;
        while self.counts[old].load(Ordering::SeqCst) != 0 {
            std::hint::spin_loop();
            std::thread::yield_now();
        }
    }
}

/// A handler in flight; leaves the count on drop.
struct HandlerGuard<'a> {
    count: &'a AtomicUsize,
}

impl Drop for HandlerGuard<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The handler: a wake byte to every watching loop whose byte is not
/// pending yet, then the previous handler. Only async-signal-safe calls
/// (`write`), and `errno` is preserved.
extern "C" fn on_signal(
    signum: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: `__errno_location` is async-signal-safe and returns this
    // thread's errno, which we restore before returning.
    let errno = unsafe { *libc::__errno_location() };
    if let Some(row) = usize::try_from(signum).ok().and_then(|n| TABLE.get(n)) {
        let _in_flight = IN_FLIGHT.enter();
        let byte = signum as u8;
        for slot in &row.slots {
            let fd = slot.fd.load(Ordering::SeqCst);
            if fd >= 0 && !slot.pending.swap(true, Ordering::AcqRel) {
                // The pipe never holds more than one byte per signal, so
                // the write does not block (and it is non-blocking anyway).
                // SAFETY: `fd` is a pipe write end that stays open while
                // this handler is in flight (the half-lock).
                unsafe { libc::write(fd, &byte as *const u8 as *const libc::c_void, 1) };
            }
        }
        call_previous(row, signum, info, context);
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Calls the handler that was installed before evloop's, if it is one.
fn call_previous(
    row: &Row,
    signum: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    let previous = row.previous.load(Ordering::SeqCst);
    if previous == libc::SIG_DFL || previous == libc::SIG_IGN || previous == our_handler() {
        return;
    }
    if row.previous_siginfo.load(Ordering::SeqCst) {
        // The arguments passed below are the kernel's own.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            // SAFETY: the address came from the kernel as the `sa_sigaction`
            // of a disposition with `SA_SIGINFO`, so it has this signature.
            unsafe { std::mem::transmute(previous) };
        f(signum, info, context);
    } else {
        // SAFETY: as above, for a disposition without `SA_SIGINFO`.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(previous) };
        f(signum);
    }
}

/// `on_signal`'s address, as `sa_sigaction` holds it (never chained to:
/// that would recurse).
fn our_handler() -> usize {
    on_signal as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as usize
}

fn check_signal(signum: libc::c_int) -> io::Result<usize> {
    match usize::try_from(signum) {
        Ok(n) if (1..=MAX_SIGNAL).contains(&n) => Ok(n),
        _ => Err(io::Error::from_raw_os_error(libc::EINVAL)),
    }
}

/// Adds `write_fd` to the loops watching `signum`, installing the handler
/// (and saving the previous disposition) if it is the first. Returns the
/// loop's slot in the signal's row, for [`acknowledge`].
pub(crate) fn watch(signum: libc::c_int, write_fd: RawFd) -> io::Result<usize> {
    let n = check_signal(signum)?;
    let mut saved = SAVED.lock();
    if saved.len() <= MAX_SIGNAL {
        saved.resize(MAX_SIGNAL + 1, None);
    }
    let row = &TABLE[n];
    if let Some(i) = row
        .slots
        .iter()
        .position(|s| s.fd.load(Ordering::SeqCst) == write_fd)
    {
        return Ok(i);
    }
    let i = row
        .slots
        .iter()
        .position(|s| s.fd.load(Ordering::SeqCst) < 0)
        .ok_or_else(|| io::Error::other("too many loops watch this signal"))?;
    // The slot and the chain are in place *before* the handler goes in: a
    // signal delivered as `sigaction` returns finds both (otherwise it
    // would reach neither this loop nor the host's handler).
    let slot = &row.slots[i];
    slot.pending.store(false, Ordering::SeqCst);
    slot.fd.store(write_fd, Ordering::SeqCst);
    if saved[n].is_none() {
        let installed = current_disposition(signum)
            .and_then(|current| {
                set_previous(row, &current);
                install(signum, &current)
            })
            .inspect(|previous| set_previous(row, previous));
        match installed {
            Ok(previous) => saved[n] = Some(previous),
            Err(e) => {
                // Our handler never went in, so none can be in flight.
                slot.fd.store(-1, Ordering::SeqCst);
                row.previous.store(libc::SIG_DFL, Ordering::SeqCst);
                return Err(e);
            }
        }
    }
    Ok(i)
}

/// Records `previous` as the handler to chain to.
fn set_previous(row: &Row, previous: &libc::sigaction) {
    row.previous_siginfo
        .store(previous.sa_flags & libc::SA_SIGINFO != 0, Ordering::SeqCst);
    row.previous.store(previous.sa_sigaction, Ordering::SeqCst);
}

/// Removes `write_fd` from the loops watching `signum`, restoring the saved
/// disposition if no loop watches it any more. Returns once no signal
/// handler can still write to `write_fd`: the caller may close it then.
pub(crate) fn unwatch(signum: libc::c_int, write_fd: RawFd) -> io::Result<()> {
    let n = check_signal(signum)?;
    let mut saved = SAVED.lock();
    let row = &TABLE[n];
    for slot in &row.slots {
        if slot.fd.load(Ordering::SeqCst) == write_fd {
            slot.fd.store(-1, Ordering::SeqCst);
        }
    }
    let unused = row.slots.iter().all(|s| s.fd.load(Ordering::SeqCst) < 0);
    let previous = if unused {
        saved.get_mut(n).and_then(Option::take)
    } else {
        None
    };
    let restored = match previous {
        Some(previous) => restore(signum, &previous),
        None => Ok(()),
    };
    IN_FLIGHT.wait_for_handlers();
    if unused {
        // No handler of ours runs for this signal any more, and none in
        // flight reads the chain.
        row.previous.store(libc::SIG_DFL, Ordering::SeqCst);
    }
    restored
}

/// The loop read `signum`'s wake byte from its pipe, in `slot`: the next
/// signal writes a new one. Called before the callback is scheduled, so a
/// signal that comes meanwhile is either seen by that callback's run or
/// writes a new byte.
pub(crate) fn acknowledge(signum: libc::c_int, slot: usize) {
    let row = usize::try_from(signum).ok().and_then(|n| TABLE.get(n));
    if let Some(slot) = row.and_then(|r| r.slots.get(slot)) {
        slot.pending.store(false, Ordering::SeqCst);
    }
}

/// The disposition in place for `signum`, unchanged.
fn current_disposition(signum: libc::c_int) -> io::Result<libc::sigaction> {
    // SAFETY: all-zero is a valid `sigaction`.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the disposition into `current`.
    if unsafe { libc::sigaction(signum, std::ptr::null(), &mut current) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(current)
}

/// Installs `on_signal` for `signum` in place of `host` (the disposition
/// read just before); returns the previous disposition.
fn install(signum: libc::c_int, host: &libc::sigaction) -> io::Result<libc::sigaction> {
    // SAFETY: all-zero is a valid `sigaction` (empty mask, no flags).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = our_handler();
    // SA_RESTART: interrupted syscalls elsewhere in the program resume.
    // SA_SIGINFO: the kernel's arguments, for a chained handler that wants them.
    // From the host's handler, which ours calls: the signals it asked to
    // have blocked while it runs, and its alternate stack (`SA_ONSTACK`,
    // for a handler that must not run on the interrupted thread's stack).
    action.sa_flags = libc::SA_RESTART | libc::SA_SIGINFO | (host.sa_flags & libc::SA_ONSTACK);
    action.sa_mask = host.sa_mask;
    // SAFETY: as above.
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live `sigaction`s; the handler only
    // does async-signal-safe work.
    if unsafe { libc::sigaction(signum, &action, &mut previous) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(previous)
}

/// Puts `previous` back, unless someone replaced evloop's handler since it
/// went in: that newer disposition is theirs, and stays.
fn restore(signum: libc::c_int, previous: &libc::sigaction) -> io::Result<()> {
    if current_disposition(signum)?.sa_sigaction != our_handler() {
        return Ok(());
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// `wait_for_handlers` does not return while a handler that started
    /// before it is in flight (the order is checked, not a duration: the
    /// flag is read only after the waiter had time to return wrongly).
    #[test]
    fn the_wait_outlasts_a_handler_in_flight() {
        let in_flight = Arc::new(InFlight::new());
        let returned = Arc::new(AtomicBool::new(false));
        let guard = in_flight.enter();
        let waiter = {
            let (in_flight, returned) = (in_flight.clone(), returned.clone());
            std::thread::spawn(move || {
                in_flight.wait_for_handlers();
                returned.store(true, Ordering::SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !returned.load(Ordering::SeqCst),
            "returned with a handler in flight"
        );
        drop(guard);
        waiter.join().unwrap();
        assert!(returned.load(Ordering::SeqCst));
    }
}
