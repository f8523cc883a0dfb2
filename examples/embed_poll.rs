//! Embedding evloop in a host's own `poll(2)` loop (libuv's
//! `uv_backend_fd` / `uv_backend_timeout` pattern): the host watches stdin
//! *and* the loop's fd, waits at most `lp.next_timeout()`, then runs one
//! non-blocking iteration with `lp.run_once(Some(Duration::ZERO))`.
//!
//! Each line typed is handed to the loop as a task that sleeps 500 ms and
//! prints the line reversed; a `call_later` timer prints a tick every
//! second; `quit` or end of input stops reading, lets the pending lines
//! finish, and ends.
//!
//! ```text
//! cargo run --example embed_poll
//! hello
//! olleh                (half a second later)
//! quit
//! ```
//!
//! The host loop is [`run_host`], which takes any readable fd (tests feed it
//! a pipe) and a sink for the output lines.

use std::cell::{Cell, RefCell};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::time::Duration;

use evloop::{EventLoop, TimerHandle};

/// How long a line's task sleeps before printing it reversed.
pub const LINE_DELAY: Duration = Duration::from_millis(500);
/// The period of the loop's tick timer.
pub const TICK: Duration = Duration::from_secs(1);

extern "C" {
    fn poll(fds: *mut PollFd, n: u64, timeout_ms: i32) -> i32;
}

/// `struct pollfd` from `<poll.h>`.
#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

const POLLIN: i16 = 0x001;
const POLLERR: i16 = 0x008;
const POLLHUP: i16 = 0x010;
const POLLNVAL: i16 = 0x020;

/// `poll(2)` over `fds`, retrying on `EINTR`.
fn poll_fds(fds: &mut [PollFd], timeout_ms: i32) -> io::Result<usize> {
    loop {
        // SAFETY: `fds` is a valid, exclusively borrowed array of
        // `fds.len()` `struct pollfd`s (`#[repr(C)]`, same layout), which
        // the kernel may write (`revents`) for the duration of the call.
        let n = unsafe { poll(fds.as_mut_ptr(), fds.len() as u64, timeout_ms) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// `next_timeout` in poll's milliseconds, rounded up (waking before a
/// timer's deadline would only spin): `-1` (forever) when only I/O, stdin
/// or another thread can bring work.
fn timeout_ms(next: Option<Duration>) -> i32 {
    match next {
        None => -1,
        Some(d) => {
            let ms = d.as_millis() + u128::from(d.subsec_nanos() % 1_000_000 != 0);
            ms.min(i32::MAX as u128) as i32
        }
    }
}

/// State shared between the host and the callbacks and tasks on the loop.
struct Shared {
    /// Lines for the host to hand to `out` after each iteration (the
    /// callbacks are `'static`; `out` need not be).
    output: RefCell<Vec<String>>,
    /// Line tasks not yet finished.
    pending: Cell<usize>,
    /// The tick timer, to cancel at the end.
    tick: RefCell<Option<TimerHandle>>,
    ticks: Cell<u64>,
}

impl Shared {
    fn emit(&self, line: String) {
        self.output.borrow_mut().push(line);
    }
}

/// Arms the next tick; each tick re-arms itself (asyncio's periodic
/// `call_later` idiom).
fn schedule_tick(lp: &EventLoop, shared: Rc<Shared>) {
    let s = shared.clone();
    let timer = lp.call_later(TICK, move || {
        s.ticks.set(s.ticks.get() + 1);
        s.emit(format!("tick {}", s.ticks.get()));
        schedule_tick(&EventLoop::current(), s);
    });
    *shared.tick.borrow_mut() = timer.ok();
}

/// Hands one input line to the loop: a task that sleeps, then emits it
/// reversed.
fn start_line(lp: &EventLoop, shared: &Rc<Shared>, line: String) {
    shared.pending.set(shared.pending.get() + 1);
    let s = shared.clone();
    // Detached: dropping the `Task` does not cancel it.
    drop(lp.ensure_future(async move {
        evloop::sleep(LINE_DELAY).await;
        s.emit(line.chars().rev().collect());
        s.pending.set(s.pending.get() - 1);
    }));
}

/// The host loop: reads lines from `input` (any pollable fd: stdin, a pipe,
/// a socket) while driving an evloop, until `quit` or end of input and the
/// pending lines are done. Every line the loop produces goes to `out`, in
/// order, from this thread; the last one is `bye`.
pub fn run_host<R: Read + AsFd>(mut input: R, mut out: impl FnMut(String)) -> io::Result<()> {
    let lp = EventLoop::new();
    let shared = Rc::new(Shared {
        output: RefCell::new(Vec::new()),
        pending: Cell::new(0),
        tick: RefCell::new(None),
        ticks: Cell::new(0),
    });
    schedule_tick(&lp, shared.clone());

    let mut reading = true;
    let mut partial: Vec<u8> = Vec::new();
    // More than std's stdin buffer (8 KiB), so that a `Stdin` reads straight
    // into ours and never holds bytes that poll cannot see.
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !reading && shared.pending.get() == 0 {
            break;
        }
        let mut fds = [
            PollFd {
                fd: lp.as_raw_fd(),
                events: POLLIN,
                revents: 0,
            },
            PollFd {
                fd: input.as_fd().as_raw_fd(),
                events: POLLIN,
                revents: 0,
            },
        ];
        // Once input has ended, watch the loop's fd only.
        let nfds = if reading { 2 } else { 1 };
        poll_fds(&mut fds[..nfds], timeout_ms(lp.next_timeout()))?;

        if reading && fds[1].revents & POLLNVAL != 0 {
            return Err(io::Error::other("input fd is not open"));
        }
        if reading && fds[1].revents & (POLLIN | POLLHUP | POLLERR) != 0 {
            // Readable (or hung up): one read cannot block.
            let n = input.read(&mut buf)?;
            if n == 0 {
                reading = false; // EOF; a last line without '\n' still counts
                if !partial.is_empty() {
                    let line = String::from_utf8_lossy(&partial).into_owned();
                    partial.clear();
                    start_line(&lp, &shared, line);
                }
            }
            partial.extend_from_slice(&buf[..n]);
            while reading {
                let Some(end) = partial.iter().position(|&b| b == b'\n') else {
                    break;
                };
                let raw: Vec<u8> = partial.drain(..=end).collect();
                let line = String::from_utf8_lossy(&raw[..end]);
                let line = line.trim_end_matches('\r');
                if line == "quit" {
                    reading = false;
                } else {
                    start_line(&lp, &shared, line.to_string());
                }
            }
        }

        // Whatever woke us (the loop's fd, a due timer, input just handed
        // over), one non-blocking iteration.
        lp.run_once(Some(Duration::ZERO))
            .map_err(|e| io::Error::other(e.to_string()))?;
        for line in shared.output.borrow_mut().drain(..) {
            out(line);
        }
    }

    if let Some(timer) = shared.tick.borrow_mut().take() {
        timer.cancel();
    }
    out("bye".to_string());
    Ok(())
}

#[allow(dead_code)] // not called when a test includes this file as a module
fn main() {
    if let Err(e) = run_host(io::stdin(), |line| println!("{line}")) {
        eprintln!("embed_poll: {e}");
        std::process::exit(1);
    }
}
