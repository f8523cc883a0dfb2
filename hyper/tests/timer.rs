//! `EvloopTimer` and `EvloopSleep`, and the timeouts hyper arms with them,
//! on loops with virtual time: 30-second timeouts pass at once and
//! exactly.

mod util;

use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use evloop::net::TcpStream;
use evloop::EventLoop;
use evloop_hyper::server::{self, H2_KEEP_ALIVE_INTERVAL, PREFACE_TIMEOUT};
use evloop_hyper::{EvloopSleep, EvloopTimer};
use hyper::rt::Timer;

fn virtual_loop() -> EventLoop {
    EventLoop::builder().virtual_time().build().unwrap()
}

#[test]
fn timer_and_sleep_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<EvloopTimer>();
    send_sync::<EvloopSleep>();
}

#[test]
fn sleep_ends_at_its_deadline_in_loop_time() {
    virtual_loop()
        .run_until_complete(async {
            let start = EvloopTimer.now();
            assert_eq!(start, evloop::time());
            EvloopTimer.sleep(Duration::from_secs(30)).await;
            assert_eq!(evloop::time() - start, Duration::from_secs(30));
            EvloopTimer
                .sleep_until(start + Duration::from_secs(45))
                .await;
            assert_eq!(evloop::time() - start, Duration::from_secs(45));
        })
        .unwrap();
}

#[test]
fn reset_moves_an_armed_sleep_later_and_earlier() {
    virtual_loop()
        .run_until_complete(async {
            let start = evloop::time();
            let mut sleep = EvloopTimer.sleep(Duration::from_secs(10));
            assert!(poll_once(sleep.as_mut()).is_pending()); // armed
            EvloopTimer.reset(&mut sleep, start + Duration::from_secs(20));
            (&mut sleep).await;
            assert_eq!(evloop::time() - start, Duration::from_secs(20));
            // Done, then reset: pending again until the new deadline.
            EvloopTimer.reset(&mut sleep, start + Duration::from_secs(25));
            assert!(poll_once(sleep.as_mut()).is_pending());
            EvloopTimer.reset(&mut sleep, start + Duration::from_secs(22));
            sleep.await;
            assert_eq!(evloop::time() - start, Duration::from_secs(22));
        })
        .unwrap();
}

#[test]
fn dropping_an_armed_sleep_cancels_its_timer() {
    virtual_loop()
        .run_until_complete(async {
            let lp = EventLoop::current();
            let unpolled = EvloopTimer.sleep(Duration::from_secs(100));
            assert_eq!(lp.next_timeout(), None, "armed only when polled");
            let mut armed = EvloopTimer.sleep(Duration::from_secs(100));
            assert!(poll_once(armed.as_mut()).is_pending());
            assert!(lp.next_timeout().is_some());
            drop(armed);
            assert_eq!(lp.next_timeout(), None);
            drop(unpolled);
        })
        .unwrap();
}

/// A client that sends part of a request head and then nothing is cut
/// off by hyper's header-read timeout (30 s by default, once a timer is
/// set), counted as a failed connection; the next client is served.
#[test]
fn header_read_timeout_closes_a_stalled_head() {
    virtual_loop()
        .run_until_complete(async {
            let server = server::start("127.0.0.1:0").await.unwrap();
            let raw = TcpStream::connect(server.local_addr()).await.unwrap();
            let start = evloop::time();
            raw.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nuser-ag")
                .await
                .unwrap();
            let mut rest = Vec::new();
            read_to_end(&raw, &mut rest).await;
            assert_eq!(evloop::time() - start, Duration::from_secs(30));
            assert!(!rest.starts_with(b"HTTP/1.1 200"), "{rest:?}");
            // Told to be HTTP/1 at once: the 30 s were hyper's, not the
            // preface timeout's.
            let stats = server.stats();
            assert_eq!((stats.http1, stats.failed), (1, 1));
            assert_served(&server).await;
        })
        .unwrap();
}

/// A connection that sends nothing at all is closed once the first bytes
/// are overdue.
#[test]
fn silent_connection_is_closed_after_the_preface_timeout() {
    virtual_loop()
        .run_until_complete(async {
            let server = server::start("127.0.0.1:0").await.unwrap();
            let raw = TcpStream::connect(server.local_addr()).await.unwrap();
            let start = evloop::time();
            let mut rest = Vec::new();
            read_to_end(&raw, &mut rest).await;
            assert_eq!(evloop::time() - start, PREFACE_TIMEOUT);
            assert!(rest.is_empty());
            let stats = server.stats();
            assert_eq!((stats.failed, stats.http1, stats.http2), (1, 0, 0));
            assert_served(&server).await;
        })
        .unwrap();
}

fn poll_once<F: Future + ?Sized>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

async fn read_to_end(stream: &TcpStream, out: &mut Vec<u8>) {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

async fn assert_served(server: &server::Server) {
    let mut client = util::http1(server.local_addr()).await;
    let response = client.send_request(util::get("/")).await.unwrap();
    assert_eq!(util::body(response).await, server::HELLO);
}

/// An HTTP/2 peer that stops answering is found by the server's keep-alive
/// ping: quiet for the interval, pinged, unanswered for hyper's 20 s
/// keep-alive timeout, closed.
#[test]
fn http2_keep_alive_closes_an_unanswering_peer() {
    virtual_loop()
        .run_until_complete(async {
            let server = server::start("127.0.0.1:0").await.unwrap();
            let raw = TcpStream::connect(server.local_addr()).await.unwrap();
            let start = evloop::time();
            // The preface and an empty SETTINGS frame (RFC 9113, 6.5), and
            // then nothing: the server's SETTINGS and PING go unanswered.
            raw.write_all(server::PREFACE).await.unwrap();
            raw.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
            let mut frames = Vec::new();
            read_to_end(&raw, &mut frames).await;
            let closed_after = evloop::time() - start;
            let expected = H2_KEEP_ALIVE_INTERVAL + Duration::from_secs(20);
            // Timers fire at the first 1 ms tick at or after their deadline.
            assert!(
                closed_after >= expected && closed_after < expected + Duration::from_millis(10),
                "closed after {closed_after:?}"
            );
            // Frame types the server sent (each frame: a 9-byte header
            // whose fourth byte is the type, then the payload).
            let mut types = Vec::new();
            let mut at = 0;
            while at + 9 <= frames.len() {
                let len = u32::from_be_bytes([0, frames[at], frames[at + 1], frames[at + 2]]);
                types.push(frames[at + 3]);
                at += 9 + len as usize;
            }
            const SETTINGS: u8 = 4;
            const PING: u8 = 6;
            assert_eq!(types.first(), Some(&SETTINGS), "{types:?}");
            assert!(types.contains(&PING), "{types:?}");
            let stats = server.stats();
            assert_eq!((stats.http2, stats.failed), (1, 1));
        })
        .unwrap();
}

/// A quiet HTTP/2 connection whose client answers the pings (hyper's
/// client does) stays open past several keep-alive intervals.
#[test]
fn http2_keep_alive_keeps_an_answering_peer() {
    virtual_loop()
        .run_until_complete(async {
            let server = server::start("127.0.0.1:0").await.unwrap();
            let mut client = util::http2(server.local_addr()).await;
            let response = client.send_request(util::get("/")).await.unwrap();
            assert_eq!(util::body(response).await, server::HELLO);
            evloop::sleep(H2_KEEP_ALIVE_INTERVAL * 5).await;
            let response = client.send_request(util::get("/")).await.unwrap();
            assert_eq!(util::body(response).await, server::HELLO);
            let stats = server.stats();
            assert_eq!((stats.accepted, stats.failed), (1, 0));
        })
        .unwrap();
}

/// hyper's header-read timeout runs from the moment it waits for a head,
/// so an HTTP/1 keep-alive connection left idle for 30 s is closed too
/// (an error for hyper, so counted as failed); a client then needs a new
/// connection.
#[test]
fn idle_http1_keep_alive_is_closed_after_the_header_timeout() {
    virtual_loop()
        .run_until_complete(async {
            let server = server::start("127.0.0.1:0").await.unwrap();
            let mut client = util::http1(server.local_addr()).await;
            let response = client.send_request(util::get("/")).await.unwrap();
            assert_eq!(util::body(response).await, server::HELLO);
            evloop::sleep(Duration::from_secs(29)).await;
            let response = client.send_request(util::get("/")).await.unwrap();
            assert_eq!(util::body(response).await, server::HELLO);
            assert_eq!(server.stats().failed, 0, "29 s idle is within the timeout");
            evloop::sleep(Duration::from_secs(31)).await;
            assert!(client.send_request(util::get("/")).await.is_err());
            let stats = server.stats();
            assert_eq!((stats.accepted, stats.failed), (1, 1));
        })
        .unwrap();
}
