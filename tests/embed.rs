//! Driving the loop from a host's own poll loop: only `as_raw_fd`,
//! `next_timeout` and `run_once(Some(0))`. Timers, threadsafe jobs and I/O
//! all make progress.

mod util;

use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use evloop::EventLoop;

extern "C" {
    fn poll(fds: *mut PollFd, n: u64, timeout_ms: i32) -> i32;
}

#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

/// One turn of a host loop: wait on the loop's fd for at most its
/// `next_timeout`, then run one non-blocking iteration.
fn host_turn(lp: &EventLoop) {
    let timeout_ms = match lp.next_timeout() {
        None => 1000, // the host's own tick; nothing due in the loop
        Some(d) => d.as_millis().min(1000) as i32 + i32::from(d.subsec_nanos() % 1_000_000 != 0),
    };
    let mut fds = [PollFd {
        fd: lp.as_raw_fd(),
        events: 1, /* POLLIN */
        revents: 0,
    }];
    // SAFETY: one valid pollfd.
    let n = unsafe { poll(fds.as_mut_ptr(), 1, timeout_ms) };
    assert!(n >= 0);
    lp.run_once(Some(Duration::ZERO)).unwrap();
}

#[test]
fn timers_run_when_driven_from_outside() {
    let lp = EventLoop::new();
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    lp.call_later(Duration::from_millis(5), move || f.set(true))
        .unwrap();
    util::watchdog_local(|| {
        while !fired.get() {
            host_turn(&lp);
        }
    });
}

#[test]
fn threadsafe_jobs_make_the_fd_readable() {
    let lp = EventLoop::new();
    let handle = lp.handle();
    let got = Rc::new(Cell::new(false));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        handle
            .call_soon_threadsafe(move || d.store(true, std::sync::atomic::Ordering::SeqCst))
            .unwrap();
    });
    assert_eq!(lp.next_timeout(), None, "nothing to do: wait on the fd");
    util::watchdog_local(|| {
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            host_turn(&lp);
        }
    });
    got.set(true);
    sender.join().unwrap();
}

#[test]
fn io_makes_progress_when_driven_from_outside() {
    let lp = EventLoop::new();
    let result = Rc::new(Cell::new(None));
    let r = result.clone();
    // A task doing real socket I/O, started inside a run_once.
    lp.call_soon(move || {
        let r = r.clone();
        drop(evloop::ensure_future(async move {
            let listener = evloop::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            std::thread::spawn(move || {
                use std::io::Write;
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(b"from outside").unwrap();
            });
            let (stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 12];
            stream.read_exact(&mut buf).await.unwrap();
            r.set(Some(buf));
        }));
    })
    .unwrap();
    util::watchdog_local(|| {
        while result.get().is_none() {
            host_turn(&lp);
        }
    });
    assert_eq!(&result.get().unwrap(), b"from outside");
}

#[test]
fn run_once_with_zero_never_blocks() {
    let lp = EventLoop::new();
    lp.call_later(Duration::from_secs(3600), || {}).unwrap();
    for _ in 0..100 {
        lp.run_once(Some(Duration::ZERO)).unwrap(); // returns at once, every time
    }
    assert_eq!(lp.stats().parks, 0);
}
