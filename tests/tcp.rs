//! TCP on real loopback sockets: echo under concurrency, half-close, resets,
//! errors.

mod util;

use std::net::Shutdown;
use std::time::Duration;

use evloop::net::{TcpListener, TcpStream};
use evloop::EventLoop;

/// A deterministic payload of `len` bytes for connection `seed`.
fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

async fn echo_server(listener: TcpListener, connections: usize) {
    let mut handlers = Vec::new();
    for _ in 0..connections {
        let (stream, _) = listener.accept().await.unwrap();
        handlers.push(evloop::ensure_future(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = stream.read(&mut buf).await.unwrap();
                if n == 0 {
                    stream.shutdown(Shutdown::Write).unwrap();
                    return;
                }
                stream.write_all(&buf[..n]).await.unwrap();
            }
        }));
    }
    for h in handlers {
        h.await.unwrap();
    }
}

#[test]
fn a_hundred_concurrent_connections_echo_checksummed_payloads() {
    const CONNECTIONS: usize = 100;
    let lp = EventLoop::new();
    let ok = util::watchdog_local(|| {
        lp.run_until_complete(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = evloop::ensure_future(echo_server(listener, CONNECTIONS));
            let clients: Vec<_> = (0..CONNECTIONS as u64)
                .map(|i| {
                    evloop::ensure_future(async move {
                        let len =
                            (payload(i, 8)[0] as usize * 4099 + i as usize * 7919) % (1 << 20) + 1;
                        let data = payload(i, len);
                        let stream = TcpStream::connect(&addr).await.unwrap();
                        let (r, w) = stream.split();
                        let send = async {
                            w.write_all(&data).await.unwrap();
                            w.shutdown().unwrap(); // half-close: the server sees EOF
                        };
                        let recv = async {
                            let mut got = Vec::with_capacity(len);
                            let mut buf = vec![0u8; 32 * 1024];
                            loop {
                                let n = r.read(&mut buf).await.unwrap();
                                if n == 0 {
                                    return got;
                                }
                                got.extend_from_slice(&buf[..n]);
                            }
                        };
                        let (_, got) = join(send, recv).await;
                        (checksum(&got) == checksum(&data)) && got.len() == len
                    })
                })
                .collect();
            let mut all = true;
            for c in clients {
                all &= c.await.unwrap();
            }
            server.await.unwrap();
            all
        })
    });
    assert!(ok.unwrap(), "every payload came back intact");
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

#[test]
fn connection_refused_is_an_error() {
    let err = evloop::run(async {
        // Bind then drop, so the port is (almost certainly) closed.
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        TcpStream::connect(&addr).await.unwrap_err()
    })
    .unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn address_in_use_without_reuseport_peer_is_an_error() {
    evloop::run(async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap(); // no SO_REUSEPORT
        let addr = std_listener.local_addr().unwrap();
        let err = TcpListener::bind(&addr).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    })
    .unwrap();
}

#[test]
fn two_listeners_share_a_port_with_reuseport() {
    evloop::run(async {
        let a = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = a.local_addr().unwrap();
        let b = TcpListener::bind(&addr).await.unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);
    })
    .unwrap();
}

#[test]
fn a_peer_that_resets_mid_write_gives_an_error() {
    let result = evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let s = std::net::TcpStream::connect(addr).unwrap();
            // SO_LINGER 0 makes close send RST.
            let sock = socket_linger_zero(s);
            drop(sock);
        });
        let (stream, _) = listener.accept().await.unwrap();
        peer.join().unwrap();
        evloop::sleep(Duration::from_millis(20)).await;
        let chunk = vec![0u8; 64 * 1024];
        loop {
            if let Err(e) = stream.write_all(&chunk).await {
                return e.kind();
            }
        }
    })
    .unwrap();
    assert!(
        matches!(
            result,
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ),
        "{result:?}"
    );
}

fn socket_linger_zero(s: std::net::TcpStream) -> std::net::TcpStream {
    use std::os::fd::AsRawFd;
    let linger = [1i32, 0i32]; // l_onoff = 1, l_linger = 0
                               // A raw setsockopt, to keep the test free of dependencies.
    extern "C" {
        fn setsockopt(
            fd: i32,
            level: i32,
            name: i32,
            val: *const std::ffi::c_void,
            len: u32,
        ) -> i32;
    }
    // SAFETY: valid socket fd; the option points at two c_ints (struct linger).
    let r = unsafe {
        setsockopt(
            s.as_raw_fd(),
            1,  /* SOL_SOCKET */
            13, /* SO_LINGER */
            linger.as_ptr().cast(),
            8,
        )
    };
    assert_eq!(r, 0);
    s
}

#[test]
fn std_conversions_round_trip() {
    evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let std_listener = listener.into_std().unwrap();
        let listener = TcpListener::from_std(std_listener).unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let client = TcpStream::from_std(client).unwrap();
        client.set_nodelay(true).unwrap();
        assert!(client.nodelay().unwrap());
        let (server, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
        client.write_all(b"abc").await.unwrap();
        let mut buf = [0u8; 3];
        assert_eq!(server.peek(&mut buf).await.unwrap(), 3);
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"abc");
        let std_stream = client.into_std().unwrap();
        drop(std_stream);
        assert_eq!(
            server.read(&mut buf).await.unwrap(),
            0,
            "EOF after the peer closed"
        );
    })
    .unwrap();
}

#[test]
fn a_host_name_is_resolved_on_the_executor() {
    evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accept = evloop::ensure_future(async move { listener.accept().await.map(|_| ()) });
        let stream = TcpStream::connect(&("localhost", port)).await.unwrap();
        assert!(stream.peer_addr().unwrap().ip().is_loopback());
        accept.await.unwrap().unwrap();
        // `.invalid` never resolves (RFC 6761): an error, not a panic or a hang.
        assert!(TcpStream::connect("no-such-host.invalid:80").await.is_err());
    })
    .unwrap();
}

#[test]
fn after_a_short_read_the_next_bytes_still_arrive() {
    // A short read clears the readiness without an `EAGAIN` first: the
    // bytes written afterwards must raise a new edge and be read.
    use std::io::Write;
    let lp = EventLoop::new();
    let got = lp
        .run_until_complete(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let writer = std::thread::spawn(move || {
                let mut peer = std::net::TcpStream::connect(addr).unwrap();
                peer.write_all(b"first").unwrap();
                std::thread::sleep(Duration::from_millis(50));
                peer.write_all(b"second").unwrap();
                peer
            });
            let (stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 64];
            let mut got = Vec::new();
            while got.len() < b"firstsecond".len() {
                let n = stream.read(&mut buf).await.unwrap();
                assert!(n > 0 && n < buf.len(), "short reads: {n}");
                got.extend_from_slice(&buf[..n]);
            }
            drop(writer.join().unwrap());
            got
        })
        .unwrap();
    assert_eq!(got, b"firstsecond");
}
