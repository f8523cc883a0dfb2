//! A signal delivered while a loop installs (or removes) evloop's handler
//! reaches the host's handler all the same: the handler to chain to is
//! stored before `sigaction` puts evloop's handler in, and a signal that
//! arrives during that call is delivered exactly as it returns.
//!
//! Its own test binary: the signal is aimed at this test's thread, and no
//! other test may touch its disposition.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use evloop::EventLoop;

static HOST_HITS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn host_handler(_: libc::c_int) {
    HOST_HITS.fetch_add(1, SeqCst);
}

/// Another thread keeps sending a real-time signal (queued, never
/// coalesced) to this thread while the loop adds and removes a handler for
/// it 5,000 times; every signal sent must be counted by the host's handler,
/// directly or chained through evloop's. The assertion is a count, so the
/// test passes whatever the timing; before the fix, signals landing in the
/// install window were lost (dozens per run).
#[test]
fn every_signal_reaches_the_host_while_a_loop_adds_and_removes_its_handler() {
    let sig = libc::SIGRTMIN() + 6;
    // SAFETY: all-zero is a valid sigaction; the handler touches an atomic.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = host_handler as *const () as usize;
        assert_eq!(libc::sigaction(sig, &action, std::ptr::null_mut()), 0);
    }
    // SAFETY: plain call.
    let target = unsafe { libc::pthread_self() };
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (stop, sent) = (stop.clone(), sent.clone());
        std::thread::spawn(move || {
            while !stop.load(SeqCst) {
                // SAFETY: `target` is the test thread, alive until this
                // thread is joined.
                if unsafe { libc::pthread_kill(target, sig) } == 0 {
                    sent.fetch_add(1, SeqCst);
                }
                // Paced, so the test thread spends its time in the loop's
                // calls rather than in handlers.
                std::thread::sleep(Duration::from_micros(20));
            }
        })
    };
    let lp = EventLoop::new();
    for _ in 0..5_000 {
        lp.add_signal_handler(sig, || {}).unwrap();
        lp.remove_signal_handler(sig).unwrap();
    }
    stop.store(true, SeqCst);
    sender.join().unwrap();
    // A signal still pending for this thread is delivered as it returns
    // from its next system call: the join was one, these are more.
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let (sent, hits) = (sent.load(SeqCst), HOST_HITS.load(SeqCst));
    assert!(sent > 0);
    assert_eq!(
        hits,
        sent,
        "{} of {sent} signals reached no handler",
        sent - hits
    );
}
