//! asyncio's raw fd API: add_reader / add_writer with level-triggered
//! semantics on an edge-triggered poller.

mod util;

use std::cell::Cell;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use evloop::EventLoop;

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

fn run_until(lp: &EventLoop, done: impl Fn() -> bool) {
    util::watchdog_local(|| {
        while !done() {
            lp.run_once(Some(Duration::from_millis(100))).unwrap();
        }
    });
}

#[test]
fn a_reader_runs_every_iteration_while_data_remains() {
    let lp = EventLoop::new();
    let (mut a, b) = pair();
    a.write_all(&[7u8; 10]).unwrap();
    let got = Rc::new(Cell::new(0usize));
    let calls = Rc::new(Cell::new(0usize));
    let (g, c) = (got.clone(), calls.clone());
    let reader = b.try_clone().unwrap();
    lp.add_reader(b.as_raw_fd(), move || {
        c.set(c.get() + 1);
        let mut byte = [0u8; 1]; // read only part of the data each time
        if let Ok(1) = (&reader).read(&mut byte) {
            g.set(g.get() + 1);
        }
    })
    .unwrap();
    run_until(&lp, || got.get() == 10);
    assert_eq!(calls.get(), 10, "one byte per call, a call per iteration");
    assert!(lp.remove_reader(b.as_raw_fd()).unwrap());
    assert!(!lp.remove_reader(b.as_raw_fd()).unwrap(), "already removed");
    a.write_all(b"more").unwrap();
    for _ in 0..3 {
        lp.run_once(Some(Duration::ZERO)).unwrap();
    }
    assert_eq!(calls.get(), 10, "removed readers are not called");
}

#[test]
fn adding_twice_replaces_the_callback() {
    let lp = EventLoop::new();
    let (mut a, b) = pair();
    let which = Rc::new(Cell::new(""));
    let (w1, w2) = (which.clone(), which.clone());
    let fd = b.as_raw_fd();
    lp.add_reader(fd, move || w1.set("first")).unwrap();
    lp.add_reader(fd, move || {
        w2.set("second");
        EventLoop::current().remove_reader(fd).unwrap();
    })
    .unwrap();
    a.write_all(b"x").unwrap();
    run_until(&lp, || !which.get().is_empty());
    assert_eq!(which.get(), "second");
}

#[test]
fn a_writer_fires_on_a_writable_socket() {
    let lp = EventLoop::new();
    let (_a, b) = pair();
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    let fd = b.as_raw_fd();
    lp.add_writer(fd, move || {
        f.set(true);
        EventLoop::current().remove_writer(fd).unwrap();
    })
    .unwrap();
    run_until(&lp, || fired.get());
}

#[test]
fn reader_on_a_pipe() {
    let lp = EventLoop::new();
    let (r, mut w) = util::pipe();
    let fd = r.as_raw_fd();
    let got = Rc::new(std::cell::RefCell::new(Vec::new()));
    let g = got.clone();
    lp.add_reader(fd, move || {
        let mut buf = [0u8; 64];
        let n = (&r).read(&mut buf).unwrap();
        g.borrow_mut().extend_from_slice(&buf[..n]);
        EventLoop::current().remove_reader(fd).unwrap();
    })
    .unwrap();
    w.write_all(b"through a pipe").unwrap();
    run_until(&lp, || !got.borrow().is_empty());
    assert_eq!(&*got.borrow(), b"through a pipe");
}

#[test]
fn bad_fds_and_regular_files_are_errors_not_panics() {
    let lp = EventLoop::new();
    let file = std::fs::File::open("Cargo.toml").unwrap();
    let err = lp.add_reader(file.as_raw_fd(), || {}).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(1),
        "EPERM: epoll refuses regular files"
    );
    let err = lp.add_reader(999_999, || {}).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(9), "EBADF");
    // The failed adds left nothing behind.
    assert!(!lp.remove_reader(file.as_raw_fd()).unwrap());
}

/// The callback is `FnMut`: its own state, no `Cell` needed.
#[test]
fn a_reader_may_keep_mutable_state_of_its_own() {
    let lp = EventLoop::new();
    let (mut a, b) = pair();
    let fd = b.as_raw_fd();
    let done = Rc::new(Cell::new(0));
    let mut total = 0;
    let mut b = b;
    lp.add_reader(fd, {
        let done = done.clone();
        move || {
            let mut buf = [0u8; 1];
            if b.read(&mut buf).unwrap_or(0) == 1 {
                total += 1; // the closure's own state
                done.set(total);
            }
        }
    })
    .unwrap();
    a.write_all(b"abc").unwrap();
    run_until(&lp, || done.get() == 3);
    lp.remove_reader(fd).unwrap();
    assert_eq!(done.get(), 3);
}
