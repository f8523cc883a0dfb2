//! Signals delivered to the process reach the loop's handler. A binary of
//! its own: signal dispositions are process-wide. (The test harness runs
//! the tests below in parallel; each uses its own signal.)

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use evloop::EventLoop;

extern "C" {
    fn raise(sig: i32) -> i32;
    fn sigaction(sig: i32, act: *const u8, old: *mut u8) -> i32;
}

const SIGUSR1: i32 = 10;
const SIGUSR2: i32 = 12;
const SIGWINCH: i32 = 28;
const SIGKILL: i32 = 9;

fn send(sig: i32) {
    // SAFETY: raise only delivers a signal to this process.
    assert_eq!(unsafe { raise(sig) }, 0);
}

/// The handler address currently installed for `sig` (0 = SIG_DFL, 1 = SIG_IGN).
fn disposition(sig: i32) -> usize {
    // Larger than struct sigaction.
    let mut old = [0u8; 256];
    // SAFETY: a null `act` only queries; `old` has room for the struct,
    // whose first field is the handler.
    let r = unsafe { sigaction(sig, std::ptr::null(), old.as_mut_ptr()) };
    assert_eq!(r, 0);
    usize::from_ne_bytes(old[..8].try_into().unwrap())
}

#[test]
fn a_signal_reaches_its_handler_on_the_loop_thread() {
    let lp = EventLoop::new();
    let hits = Rc::new(Cell::new(0));
    let h = hits.clone();
    let thread = std::thread::current().id();
    lp.add_signal_handler(SIGUSR1, move || {
        assert_eq!(std::thread::current().id(), thread);
        h.set(h.get() + 1);
    })
    .unwrap();
    send(SIGUSR1);
    util::watchdog_local(|| {
        while hits.get() == 0 {
            lp.run_once(Some(Duration::from_millis(100))).unwrap();
        }
    });
    assert!(lp.remove_signal_handler(SIGUSR1).unwrap());
    assert!(!lp.remove_signal_handler(SIGUSR1).unwrap());
}

#[test]
fn the_previous_disposition_is_restored_on_removal() {
    let before = disposition(SIGWINCH);
    let lp = EventLoop::new();
    lp.add_signal_handler(SIGWINCH, || {}).unwrap();
    assert_ne!(disposition(SIGWINCH), before, "evloop's handler is in");
    lp.remove_signal_handler(SIGWINCH).unwrap();
    assert_eq!(disposition(SIGWINCH), before);
}

#[test]
fn two_loops_both_receive_and_closing_one_keeps_the_other() {
    let a = EventLoop::new();
    let b = EventLoop::new();
    let (ha, hb) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let (xa, xb) = (ha.clone(), hb.clone());
    a.add_signal_handler(SIGUSR2, move || xa.set(xa.get() + 1))
        .unwrap();
    b.add_signal_handler(SIGUSR2, move || xb.set(xb.get() + 1))
        .unwrap();
    send(SIGUSR2);
    util::watchdog_local(|| {
        while ha.get() == 0 || hb.get() == 0 {
            a.run_once(Some(Duration::from_millis(10))).unwrap();
            b.run_once(Some(Duration::from_millis(10))).unwrap();
        }
    });
    a.close().unwrap();
    send(SIGUSR2);
    util::watchdog_local(|| {
        while hb.get() < 2 {
            b.run_once(Some(Duration::from_millis(10))).unwrap();
        }
    });
    b.remove_signal_handler(SIGUSR2).unwrap();
}

#[test]
fn uncatchable_or_bad_signals_are_errors() {
    let lp = EventLoop::new();
    assert!(lp.add_signal_handler(SIGKILL, || {}).is_err());
    assert!(lp.add_signal_handler(0, || {}).is_err());
    assert!(lp.add_signal_handler(1000, || {}).is_err());
}

fn rt(n: i32) -> i32 {
    libc::SIGRTMIN() + n
}

/// Runs non-blocking iterations until `done` or 1,000 iterations.
fn run_until(lp: &EventLoop, done: impl Fn() -> bool) {
    for _ in 0..1_000 {
        if done() {
            return;
        }
        lp.run_once(Some(Duration::from_millis(1))).unwrap();
    }
}

/// A burst of one signal while the loop is not running cannot crowd out
/// another: each signal has a pending flag, and its wake byte is written
/// only when the flag turns set, so the pipe never fills up.
#[test]
fn a_burst_of_one_signal_does_not_lose_another() {
    let (burst, other) = (rt(1), rt(2));
    let lp = EventLoop::new();
    let (bursts, others) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let (b, o) = (bursts.clone(), others.clone());
    lp.add_signal_handler(burst, move || b.set(b.get() + 1))
        .unwrap();
    lp.add_signal_handler(other, move || o.set(o.get() + 1))
        .unwrap();
    for _ in 0..70_000 {
        send(burst); // more bytes than a pipe holds, one at a time
    }
    send(other);
    run_until(&lp, || others.get() > 0 && bursts.get() > 0);
    assert_eq!(
        others.get(),
        1,
        "the single signal after the burst was lost"
    );
    assert!(bursts.get() >= 1);
    // Coalesced: a burst that arrives while the loop is not running is
    // one callback, not 70,000.
    assert_eq!(bursts.get(), 1);
    send(burst);
    run_until(&lp, || bursts.get() > 1);
    assert_eq!(bursts.get(), 2, "a later signal is delivered again");
}

/// Installs `handler` for `sig` as a host program would, before any
/// loop; returns its address (as `disposition` reports it).
fn install_host_handler(sig: i32, handler: extern "C" fn(libc::c_int)) -> usize {
    let address = handler as usize;
    // SAFETY: all-zero is a valid sigaction; the handlers given here only
    // touch atomics (and sleep).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = address;
        assert_eq!(libc::sigaction(sig, &action, std::ptr::null_mut()), 0);
    }
    address
}

static HOST_HITS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

extern "C" fn host_handler(_: libc::c_int) {
    HOST_HITS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// An embedded loop chains to the handler the host had installed, and
/// gives it back when it stops watching.
#[test]
fn the_hosts_previous_handler_is_chained_and_restored() {
    use std::sync::atomic::Ordering;
    let sig = rt(3);
    let host = install_host_handler(sig, host_handler);
    let lp = EventLoop::new();
    let hits = Rc::new(Cell::new(0));
    let h = hits.clone();
    lp.add_signal_handler(sig, move || h.set(h.get() + 1))
        .unwrap();
    send(sig);
    run_until(&lp, || hits.get() > 0);
    assert_eq!(hits.get(), 1, "the loop's callback ran");
    assert_eq!(
        HOST_HITS.load(Ordering::SeqCst),
        1,
        "the host's handler ran too"
    );
    assert!(lp.remove_signal_handler(sig).unwrap());
    assert_eq!(disposition(sig), host, "the host's handler is back");
    send(sig);
    assert_eq!(HOST_HITS.load(Ordering::SeqCst), 2);
}

extern "C" fn later_host_handler(_: libc::c_int) {}

/// A handler the host installs *after* the loop's stays in place when the
/// loop stops watching: restoring the one from before would silently
/// undo the host's later choice.
#[test]
fn a_handler_the_host_installed_later_survives_the_loop_stopping_to_watch() {
    let sig = rt(7);
    install_host_handler(sig, host_handler_ignored);
    let lp = EventLoop::new();
    lp.add_signal_handler(sig, || {}).unwrap();
    let later = install_host_handler(sig, later_host_handler);
    assert!(lp.remove_signal_handler(sig).unwrap());
    assert_eq!(disposition(sig), later, "the host's later handler stays");
}

extern "C" fn host_handler_ignored(_: libc::c_int) {}

static IN_HANDLER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static CLOSING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static CLOSED_WHILE_IN_HANDLER: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// A host handler that holds the signal handler in flight: it waits until
/// the loop starts closing, gives a wrongly returning `close()` 50 ms to
/// return, and records whether it did.
extern "C" fn slow_host_handler(_: libc::c_int) {
    use std::sync::atomic::Ordering;
    IN_HANDLER.store(true, Ordering::SeqCst);
    while !CLOSING.load(Ordering::SeqCst) {
        std::hint::spin_loop();
    }
    std::thread::sleep(Duration::from_millis(50)); // nanosleep: async-signal-safe
    CLOSED_WHILE_IN_HANDLER.store(CLOSED.load(Ordering::SeqCst), Ordering::SeqCst);
}

/// `close()` (which stops watching, and then closes the pipe) does not
/// return while a signal handler that may have read the loop's pipe from
/// the table is still running: otherwise the handler's write could land in
/// a descriptor the program opened meanwhile with the same number. The
/// handler is held in flight by the host's handler it chains to, on
/// another thread; the order is checked, not a duration.
#[test]
fn close_waits_for_a_signal_handler_in_flight_before_closing_the_pipe() {
    use std::sync::atomic::Ordering;
    let sig = rt(4);
    let host = install_host_handler(sig, slow_host_handler);
    let lp = EventLoop::new();
    lp.add_signal_handler(sig, || {}).unwrap();
    // `raise` runs the handler on the raising thread.
    let signaller = std::thread::spawn(move || send(sig));
    while !IN_HANDLER.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    CLOSING.store(true, Ordering::SeqCst);
    lp.close().unwrap();
    CLOSED.store(true, Ordering::SeqCst);
    signaller.join().unwrap();
    assert!(
        !CLOSED_WHILE_IN_HANDLER.load(Ordering::SeqCst),
        "close() returned (and closed the pipe) while a handler was in flight"
    );
    assert_eq!(disposition(sig), host, "the host's handler is back");
}

/// A signal callback whose `Drop` panics, dropped by `close()`: reported
/// to the exception handler like every other `Drop` of the teardown, and
/// the rest of the teardown still happens.
#[test]
fn a_panicking_drop_of_a_signal_callback_is_contained_by_close() {
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("signal callback dropped");
        }
    }
    let sig = rt(5);
    let lp = EventLoop::new();
    let reports = Rc::new(Cell::new(0));
    let r = reports.clone();
    lp.set_exception_handler(Some(move |e: &evloop::Exception<'_>| {
        if e.source() == evloop::ExceptionSource::Drop {
            r.set(r.get() + 1);
        }
    }));
    let bomb = PanicsOnDrop;
    lp.add_signal_handler(sig, move || {
        let _ = &bomb;
    })
    .unwrap();
    let drops = util::Drops::default();
    let (t, c) = (drops.token(), drops.token());
    let _task = lp.ensure_future(async move {
        let _t = t;
        std::future::pending::<()>().await
    });
    let _timer = lp
        .call_later(Duration::from_secs(3600), move || drop(c))
        .unwrap();
    let handle = lp.handle();
    let waiting = std::thread::spawn(move || {
        handle
            .run_coroutine_threadsafe(std::future::pending::<()>)
            .result()
    });
    // The job is queued before the close (run_coroutine_threadsafe pushes
    // it at once); the thread then waits in result().
    std::thread::sleep(Duration::from_millis(20));
    lp.close().unwrap();
    assert_eq!(reports.get(), 1, "the panicking Drop was reported once");
    assert_eq!(drops.count(), 2, "the task and the timer were dropped");
    assert!(util::watchdog(30, move || waiting.join().unwrap()).is_err());
    lp.close().unwrap(); // a second close is a no-op
    assert_eq!(disposition(sig), 0, "the default disposition is back");
}

/// The loop's handler, which calls the host's, installs itself with what
/// the host's asked for while it runs: the same blocked signals and the
/// alternate stack.
#[test]
fn the_loops_handler_keeps_the_hosts_mask_and_alternate_stack() {
    let sig = rt(8);
    let host: extern "C" fn(libc::c_int) = host_handler_ignored;
    let host = host as usize;
    // SAFETY: all-zero is a valid sigaction; the handler does nothing; the
    // set functions get a live `sigset_t`.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = host;
        action.sa_flags = libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaddset(&mut action.sa_mask, libc::SIGUSR2);
        assert_eq!(libc::sigaction(sig, &action, std::ptr::null_mut()), 0);
    }
    let lp = EventLoop::new();
    lp.add_signal_handler(sig, || {}).unwrap();
    // SAFETY: a null `act` only reads the disposition.
    let ours = unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(sig, std::ptr::null(), &mut current), 0);
        current
    };
    assert_ne!(ours.sa_sigaction, host, "ours is in");
    assert_ne!(ours.sa_flags & libc::SA_ONSTACK, 0, "the alternate stack");
    // SAFETY: `sa_mask` is a live, initialised `sigset_t`.
    let blocked = unsafe { libc::sigismember(&ours.sa_mask, libc::SIGUSR2) };
    assert_eq!(blocked, 1, "the host's mask");
    assert!(lp.remove_signal_handler(sig).unwrap());
    assert_eq!(disposition(sig), host, "restored");
}
