//! Unix-domain sockets: listener/connect echo on a path, socket pairs,
//! half-close, datagrams, errors, and close on drop.

mod util;

use std::io::ErrorKind;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use evloop::net::{UnixDatagram, UnixListener, UnixStream};
use evloop::EventLoop;

/// Runs `f` on a fresh loop, failing instead of hanging.
fn run<T: 'static>(f: impl std::future::Future<Output = T> + 'static) -> T {
    let lp = EventLoop::new();
    util::watchdog_local(|| lp.run_until_complete(f)).unwrap()
}

/// A socket path unique to this process and `name`, removed when dropped
/// (and before use, in case an earlier run left it behind).
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> TempPath {
        let path =
            std::env::temp_dir().join(format!("evloop-test-{}-{name}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempPath(path)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn listener_accepts_and_echoes() {
    let path = TempPath::new("echo");
    let p = path.0.clone();
    let got = run(async move {
        let listener = UnixListener::bind(&p).unwrap();
        assert_eq!(listener.local_addr().unwrap().as_pathname(), Some(&*p));
        let server = evloop::ensure_future(async move {
            let mut incoming = listener.incoming();
            let stream = incoming.next().await.unwrap();
            let mut buf = [0u8; 1024];
            loop {
                let n = stream.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                stream.write_all(&buf[..n]).await.unwrap();
            }
        });
        let client = UnixStream::connect(&p).await.unwrap();
        assert_eq!(client.peer_addr().unwrap().as_pathname(), Some(&*p));
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut got = vec![0u8; data.len()];
        let send = async {
            client.write_all(&data).await.unwrap();
            client.shutdown(Shutdown::Write).unwrap();
        };
        let (_, ()) = join(send, async { client.read_exact(&mut got).await.unwrap() }).await;
        server.await.unwrap();
        got == data
    });
    assert!(got, "the echo matches");
    assert!(path.0.exists(), "the listener leaves its file (like std)");
}

#[test]
fn a_pair_echoes() {
    run(async {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        b.read_exact(&mut buf).await.unwrap();
        b.write_all(&buf).await.unwrap();
        let mut back = [0u8; 5];
        a.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"hello");
    });
}

#[test]
fn shutting_down_the_write_half_gives_the_peer_eof() {
    run(async {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"last").await.unwrap();
        a.shutdown(Shutdown::Write).unwrap();
        let mut buf = [0u8; 4];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(b.read(&mut buf).await.unwrap(), 0, "EOF");
        // The other direction still works.
        b.write_all(b"back").await.unwrap();
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"back");
    });
}

#[test]
fn a_datagram_pair_round_trips() {
    run(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        a.send(b"one").await.unwrap();
        a.send(b"two").await.unwrap();
        let mut buf = [0u8; 16];
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"one", "datagram boundaries are kept");
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"two");
        b.send(b"reply").await.unwrap();
        let (n, _) = a.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"reply");
    });
}

#[test]
fn datagrams_to_a_bound_path() {
    let path = TempPath::new("dgram");
    let p = path.0.clone();
    run(async move {
        let server = UnixDatagram::bind(&p).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        client.send_to(b"ping", &p).await.unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert!(from.is_unnamed(), "the client is not bound");
        client.connect(&p).unwrap();
        client.send(b"again").await.unwrap();
        let n = server.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"again");
    });
}

#[test]
fn connecting_to_a_missing_path_is_not_found() {
    let path = TempPath::new("missing");
    let p = path.0.clone();
    let err = run(async move { UnixStream::connect(&p).await.unwrap_err() });
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn dropping_a_stream_closes_it() {
    run(async {
        let (a, b) = UnixStream::pair().unwrap();
        // What the fd points at: "socket:[inode]", unique to this socket even
        // if another test reuses the fd number after the drop.
        let link = format!("/proc/self/fd/{}", a.as_raw_fd());
        let target = std::fs::read_link(&link).unwrap();
        drop(a);
        assert_ne!(std::fs::read_link(&link).ok(), Some(target), "fd closed");
        let mut buf = [0u8; 1];
        assert_eq!(b.read(&mut buf).await.unwrap(), 0, "the peer sees EOF");
        let err = b.write(b"x").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    });
}

#[test]
fn std_conversions_round_trip() {
    let path = TempPath::new("std");
    let p = path.0.clone();
    run(async move {
        let listener = UnixListener::bind(&p).unwrap();
        let listener = UnixListener::from_std(listener.into_std().unwrap()).unwrap();
        let client = std::os::unix::net::UnixStream::connect(&p).unwrap();
        let client = UnixStream::from_std(client).unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(b"abc").await.unwrap();
        let server = UnixStream::from_std(server.into_std().unwrap()).unwrap();
        let mut buf = [0u8; 3];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"abc");
        let (a, b) = UnixDatagram::pair().unwrap();
        let a = UnixDatagram::from_std(a.into_std().unwrap()).unwrap();
        a.send(b"d").await.unwrap();
        assert_eq!(b.recv(&mut buf).await.unwrap(), 1);
    });
}

#[cfg(feature = "futures-io")]
#[test]
fn futures_io_traits_read_write_and_close() {
    use futures_io::{AsyncRead, AsyncWrite};
    use std::future::poll_fn;
    use std::pin::Pin;
    run(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let n = poll_fn(|cx| Pin::new(&mut a).poll_write(cx, b"io")).await;
        assert_eq!(n.unwrap(), 2);
        poll_fn(|cx| Pin::new(&mut a).poll_close(cx)).await.unwrap();
        let mut buf = [0u8; 4];
        let n = poll_fn(|cx| Pin::new(&mut b).poll_read(cx, &mut buf)).await;
        assert_eq!(&buf[..n.unwrap()], b"io");
        let n = poll_fn(|cx| Pin::new(&mut b).poll_read(cx, &mut buf)).await;
        assert_eq!(n.unwrap(), 0, "close shut the write half down");
    });
}

/// Polls two futures together (a tiny join, to keep the tests dependency-free).
async fn join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let std::task::Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            std::task::Poll::Ready((ra.take().unwrap(), rb.take().unwrap()))
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}
