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
