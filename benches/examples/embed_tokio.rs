//! evloop running inside a tokio runtime: a tokio task waits for the loop's
//! fd (epoll, readable when I/O or threadsafe jobs are waiting) through
//! `tokio::io::unix::AsyncFd`, or for `next_timeout` with
//! `tokio::time::sleep`, then runs one non-blocking evloop iteration
//! (`run_once(Some(Duration::ZERO))`) and clears the fd's readiness.
//!
//! Shown working side by side: an evloop timer, a threadsafe job sent from
//! a std thread, an evloop TCP echo server (a tokio client talks to it), and
//! tokio's own interval timer.
//!
//! ```text
//! cargo run -p evloop-benches --example embed_tokio
//! ```
//!
//! It lives in the benches crate because tokio is not a dependency of
//! evloop itself. Current-thread runtime: an `EventLoop` is `!Send`, so the
//! driver runs on the runtime's thread (in a `LocalSet`).

use std::cell::Cell;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use evloop::EventLoop;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::sync::{oneshot, watch};

/// The loop's fd, for `AsyncFd` (which wants to own what it watches; the
/// `EventLoop` stays with the driver).
struct LoopFd(RawFd);

impl AsRawFd for LoopFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// Drives `lp` from tokio until `shutdown` turns true.
async fn drive(lp: &EventLoop, mut shutdown: watch::Receiver<bool>) -> std::io::Result<()> {
    // SAFETY: the fd is the epoll fd of `lp`, which is borrowed for this
    // whole function: it stays open, and the same fd, for as long as the
    // `AsyncFd` (a local, dropped before `drive` returns) is registered.
    let fd =
        unsafe { AsyncFd::register_with_interest(LoopFd(lp.as_raw_fd()), Interest::READABLE) }?;
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        match lp.next_timeout() {
            // Work is ready now: run it, but let tokio's tasks in first.
            Some(Duration::ZERO) => tokio::task::yield_now().await,
            next => {
                let timer = async {
                    match next {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    guard = fd.readable() => {
                        // Edge-triggered in tokio: clear, then run_once
                        // drains evloop's epoll. An event after the clear
                        // is a new edge, so nothing is lost.
                        guard?.clear_ready();
                    }
                    () = timer => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        lp.run_once(Some(Duration::ZERO))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let start = Instant::now();
        let t = move || format!("{:>4} ms", start.elapsed().as_millis());
        let lp = EventLoop::new();
        let (stop_tx, stop_rx) = watch::channel(false);

        // 1. An evloop timer.
        let timer_fired = Rc::new(Cell::new(false));
        let f = timer_fired.clone();
        lp.call_later(Duration::from_millis(150), move || {
            println!("{} evloop: call_later(150 ms) fired", t());
            f.set(true);
        })
        .unwrap();

        // 2. A threadsafe job from a std thread.
        let (job_tx, job_rx) = oneshot::channel::<()>();
        let handle = lp.handle();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(80));
            handle
                .call_soon_threadsafe(move || {
                    println!("{} evloop: threadsafe job from a std thread ran", t());
                    let _ = job_tx.send(());
                })
                .unwrap();
        });

        // 3. An evloop TCP echo server (one connection), on the loop.
        let (addr_tx, addr_rx) = oneshot::channel();
        drop(lp.ensure_future(async move {
            let listener = evloop::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let _ = addr_tx.send(listener.local_addr().unwrap());
            let (stream, peer) = listener.accept().await.unwrap();
            println!("{} evloop: accepted {peer}", t());
            let mut buf = [0u8; 1024];
            loop {
                let n = stream.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                stream.write_all(&buf[..n]).await.unwrap();
            }
            println!("{} evloop: echo connection closed", t());
        }));

        // 4. tokio's own timer, ticking the whole time.
        let ticker = tokio::task::spawn_local(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(50));
            let mut ticks = 0u32;
            loop {
                interval.tick().await;
                ticks += 1;
                if ticks % 4 == 1 {
                    println!("{} tokio: interval tick {ticks}", t());
                }
            }
        });

        // A tokio client for the evloop server, and the end of the demo.
        let client = tokio::task::spawn_local(async move {
            let addr = addr_rx.await.unwrap();
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            for msg in ["hello from tokio", "second message"] {
                s.write_all(msg.as_bytes()).await.unwrap();
                let mut back = vec![0u8; msg.len()];
                s.read_exact(&mut back).await.unwrap();
                assert_eq!(back, msg.as_bytes());
                println!(
                    "{} tokio client: echoed {:?}",
                    t(),
                    String::from_utf8(back).unwrap()
                );
            }
            drop(s);
            job_rx.await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await; // past the evloop timer
            let _ = stop_tx.send(true);
        });

        drive(&lp, stop_rx).await.expect("driving evloop");
        client.await.unwrap();
        ticker.abort();
        sender.join().unwrap();
        assert!(timer_fired.get(), "the evloop timer fired");
        println!(
            "{} done: evloop timer, threadsafe job and TCP echo all ran under tokio",
            t()
        );
    });
}
